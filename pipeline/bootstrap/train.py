"""Train a small CLIP from scratch with the objective its teacher will be scored by.

The text and frame features come from :mod:`pipeline.clip_features` and the similarity from
:mod:`pipeline.scorers`, the very functions the teacher stage scores with, so what is
trained is what is scored. The loss is CLIP's symmetric InfoNCE over a batch of videos,
each paired with one of its captions drawn at random every step:

    L = (CE(s * S, I) + CE(s * S^T, I)) / 2,    S = scorer(captions, videos),  s = exp(logit_scale)

(Radford et al., 2021, arXiv:2103.00020; with S = meanP this is CLIP4Clip, arXiv:2104.08860;
with S = X-CLIP's multi-grained similarity it is X-CLIP's loss, arXiv:2207.07285). A CLIP
trained only through its pooled EOS token gives the word features the fine scorer reads no
signal at all, which is why the fine teacher trains through the fine scorer.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from pipeline.clip_features import encode_frames, encode_text
from pipeline.scorers import get_scorer
from teachkit.util.contrastive import symmetric_infonce
from teachkit.util.optim import CLIP_FROM_SCRATCH, adamw, warmup_cosine_schedule
from teachkit.util.precision import autocast as precision_autocast
from teachkit.util.slots import training_slots

from .data import FrameSet, normalise
from .options import BootstrapOptions

MAX_LOGIT_SCALE = math.log(100.0)  # CLIP's clamp


def build_clip(opts: BootstrapOptions, tokenizer):
    """A randomly initialised ``CLIPModel`` of the size ``opts`` asks for, with the tokenizer's ids."""
    from transformers import CLIPConfig, CLIPModel

    if tokenizer.eos_token_id == 2:
        # transformers' CLIP text model would pool the highest token id, not EOS
        raise ValueError("a CLIP tokenizer must not use eos_token_id 2 (legacy pooling)")
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=opts.text_hidden,
        intermediate_size=4 * opts.text_hidden,
        num_hidden_layers=opts.text_layers,
        num_attention_heads=opts.text_heads,
        max_position_embeddings=opts.max_words,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        projection_dim=opts.embed_dim,
    )
    vision = dict(
        hidden_size=opts.vision_hidden,
        intermediate_size=4 * opts.vision_hidden,
        num_hidden_layers=opts.vision_layers,
        num_attention_heads=opts.vision_heads,
        image_size=opts.image_size,
        patch_size=opts.patch_size,
        projection_dim=opts.embed_dim,
    )
    torch.manual_seed(opts.seed)
    return CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=opts.embed_dim))


def load_clip(folder: str):
    """The CLIPModel of ``folder`` (an artefact to fine-tune from), in training precision."""
    from transformers import CLIPModel

    return CLIPModel.from_pretrained(folder, dtype=torch.float32)


def contrastive_logits(model, objective: str, input_ids, attention_mask, pixel_values, frame_mask,
                       temporal=None, positions=None):
    """Scaled similarities of a batch, through the teacher stage's feature and scorer code
    (``temporal``: the teacher's temporal encoder, fed each frame's slot in ``positions``)."""
    t = encode_text(model, input_ids, attention_mask, words=objective == "fine")
    v = encode_frames(model, pixel_values, frame_mask)
    if temporal is not None:
        v = temporal(v, positions)
    return model.logit_scale.exp() * get_scorer(scorer_of(objective))(t, v)


def scorer_of(objective: str) -> str:
    """The scorer an objective trains through (``image``: meanP over one frame is CLIP's own loss)."""
    return "mean" if objective == "image" else objective


def build_temporal(model, opts: BootstrapOptions):
    """The teacher's temporal encoder (pipeline.temporal), or None without temporal_layers."""
    if not opts.temporal_layers:
        return None
    from pipeline.temporal import TemporalEncoder

    dim = model.config.projection_dim
    # one head per 32 dimensions, not CLIP4Clip's 64 (the student's seqTransf head): the
    # bootstrap's embeddings are small (the demo's 64) and one 64-wide head would see a single
    # view of time. Part of every bootstrapped temporal teacher's weights: kept.
    heads = next(h for h in range(max(1, dim // 32), 0, -1) if dim % h == 0)
    torch.manual_seed(opts.seed + 1)
    return TemporalEncoder(dim, opts.temporal_layers, heads, opts.num_frames)


@dataclass
class TrainSummary:
    """What a bootstrap run records of its training (``bootstrap.json``'s ``train``)."""

    steps: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of all threads: comparable across runs on a shared machine
    losses: list[float] = field(default_factory=list)  # mean loss of each logging interval
    logit_scale: float = 0.0


def warmup_steps(opts: BootstrapOptions) -> int:
    """The warmup of ``opts`` in steps: its ``warmup`` fraction of the run, at least one."""
    return max(1, int(opts.warmup * opts.steps))


def train_clip(
    model,
    processor,
    frameset: FrameSet,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    caption_video: np.ndarray,
    opts: BootstrapOptions,
    device: torch.device,
    temporal=None,
    label: str | None = None,
) -> TrainSummary:
    """Train ``model`` in place for ``opts.steps`` steps; return the loss curve and timing.

    ``input_ids``/``attention_mask`` hold every train caption; ``caption_video[c]`` is the
    row of ``frameset`` caption ``c`` describes. Each epoch visits the videos in a new
    random order, each with one random caption of its own.
    """
    rng = np.random.default_rng(opts.seed)
    frame_rng = np.random.default_rng([opts.seed, 1])  # the frames each step trains on
    n_videos = len(frameset.video_ids)
    captions_of = [np.flatnonzero(caption_video == v) for v in range(n_videos)]
    if any(len(c) == 0 for c in captions_of):
        raise ValueError("every training video needs at least one caption")
    batch = min(opts.batch_size, n_videos)
    frames = torch.from_numpy(frameset.frames)  # stays uint8 on the host
    fmask = torch.from_numpy(frameset.mask)

    model.to(device).train()
    params = torch.nn.ModuleList([model] + ([temporal.to(device).train()] if temporal is not None else []))
    autocast = precision_autocast(device, opts.precision)
    order, pos = rng.permutation(n_videos), 0

    def step_loss(step: int) -> torch.Tensor:
        nonlocal order, pos
        if pos + batch > n_videos:
            order, pos = rng.permutation(n_videos), 0
        vids = order[pos : pos + batch]
        pos += batch
        caps = np.array([rng.choice(captions_of[v]) for v in vids])
        ids, am = input_ids[caps], attention_mask[caps]
        width = int(am.sum(1).max())  # trim padding shared by the whole batch
        ids, am = ids[:, :width].to(device), am[:, :width].to(device)
        clip, cmask = frames[vids], fmask[vids]
        slots = torch.arange(clip.shape[1]).expand(len(vids), -1)
        if opts.train_frames is not None and opts.train_frames < clip.shape[1]:
            slots = torch.from_numpy(training_slots(cmask.numpy(), opts.train_frames, frame_rng,
                                                    opts.frame_sampling))
            clip = clip[torch.arange(len(vids))[:, None], slots]
            cmask = cmask.gather(1, slots)
        pix = normalise(clip.to(device), processor)
        with autocast:
            logits = contrastive_logits(model, opts.objective, ids, am, pix, cmask.to(device),
                                        temporal, slots.to(device))
            return symmetric_infonce(logits.float())

    def clamp_scale() -> None:
        with torch.no_grad():
            model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)

    log = optimise(params, opts, label or f"bootstrap {opts.objective}", step_loss, clamp_scale)
    log.logit_scale = float(model.logit_scale.detach().exp())
    params.eval()
    return log


def optimise(params: torch.nn.Module, opts: BootstrapOptions, label: str, step_loss,
             after_step=None) -> TrainSummary:
    """The loop every bootstrap objective shares: ``opts.steps`` steps of AdamW with CLIP's
    constants (:data:`teachkit.util.optim.CLIP_FROM_SCRATCH`), linear warmup then cosine
    decay, gradients clipped to norm 1; the mean loss of every ``opts.log_every`` steps on
    the progress line and in the returned summary.

    ``step_loss(step)`` draws step ``step``'s batch and returns its loss; ``after_step()``, if
    given, runs after each optimiser step (CLIP's temperature clamp)."""
    from teachkit.util.progress import progress as progress_display

    optimizer = adamw(params, opts.lr, opts.weight_decay, CLIP_FROM_SCRATCH)
    schedule = warmup_cosine_schedule(optimizer, warmup_steps(opts), opts.steps)
    log, window = TrainSummary(), []
    start, cpu_start = time.perf_counter(), time.process_time()
    with progress_display() as progress:
        task = progress.add_task(label, total=opts.steps, unit="steps")
        for step in range(opts.steps):
            loss = step_loss(step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            if after_step is not None:
                after_step()
            window.append(float(loss.detach()))
            if (step + 1) % opts.log_every == 0 or step + 1 == opts.steps:
                log.losses.append(float(np.mean(window)))
                window = []
                progress.update(task, description=f"{label} loss {log.losses[-1]:.3f}")
            progress.advance(task)
    log.steps = opts.steps
    log.seconds = time.perf_counter() - start
    log.cpu_seconds = time.process_time() - cpu_start
    return log
