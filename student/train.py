"""The student trainer: stored teacher knowledge in, a searchable student run out.

:func:`train` reads everything from the store through DuckDB (captions, video paths, the
teachers' scores and frame relevance, their run fingerprints) and never imports the
teacher stage. Frames are decoded once into the frame cache (:mod:`student.frame_cache`). The
loop sums the ``*_loss`` parts of the configured loss modules, steps AdamW with a
warmup + cosine schedule, and times batch assembly against the step so a slow loader
shows up in ``timings.json``. The optimiser, its schedule, the device and the autocast rule
(``train.precision``) are the training layer the bootstrap shares (:mod:`teachkit.util`).

Under ``torchrun`` (:mod:`student.distributed`) every rank trains on its share of each
global batch and the losses see the all-gathered global batch; rank 0 alone evaluates (on
the whole test split, after training; validation too) and writes the run folder and the
training log. The other ranks return ``None``.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import stores
from teachkit.util.atomic import atomic_path, tmp_sibling
from teachkit.util.device import resolve_device
from teachkit.util.optim import TORCH_DEFAULTS, adamw, warmup_cosine_schedule
from teachkit.util.precision import autocast
from stores.truth import read_truth
from stores.layout import Store
from stores.splits import current_teachers, split_pairs, teachers_with_frames

from . import distributed
from .config import ConfigError, ExperimentConfig
from .data import TrainBatches, batch_order, build_train_set, make_loader, split_holdout
from .distributed import SINGLE, Group
from .evaluate import encode_split, evaluate_vectors
from .frame_cache import frame_cache
from .knowledge import knowledge_reader
from .logs import TrainLog
from .losses import build_objective, total_loss
from .model import backbone_identity, build_student, load_tokenizer, save_student
from .sampler import guided_batches
from .runs import save_vectors, write_json


@dataclass
class RunResult:
    folder: Path
    metrics: dict
    timings: dict
    teachers: dict
    first_loss: float
    last_loss: float
    val_metrics: dict | None = None  # on data.holdout_videos train videos, when configured


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def make_optimizer(model: torch.nn.Module, cfg) -> torch.optim.Optimizer:
    """AdamW over ``model``'s trainable parameters with ``cfg`` (a TrainConfig)'s rate and decay.

    torch's default betas and eps, embeddings decayed (:data:`teachkit.util.optim.TORCH_DEFAULTS`):
    the recipe every published student was trained with, not the bootstrap's CLIP constants."""
    return adamw(model, cfg.lr, cfg.weight_decay, TORCH_DEFAULTS)


def objective_parts(model, objective, batch, device: torch.device, group: Group = SINGLE,
                    precision: str = "auto") -> dict[str, torch.Tensor]:
    """The named loss parts of ``batch`` (the trainer minimises the sum of the ``*_loss`` ones),
    the forward pass under ``precision``'s autocast.

    In a process group ``batch`` is this rank's share: the outputs are gathered into the
    global batch first, so every rank computes the same global parts.
    """
    with autocast(device, precision):
        out = model(
            batch.input_ids.to(device, non_blocking=True),
            batch.attention_mask.to(device, non_blocking=True),
            batch.frames.to(device, non_blocking=True),
            batch.frame_mask.to(device, non_blocking=True),
            None if batch.frame_positions is None else batch.frame_positions.to(device),
        )
    if group.active:
        out = distributed.gather_outputs(out, group)
        batch = dataclasses.replace(batch, frame_mask=distributed.gather_mask(batch.frame_mask.to(device), group))
    parts: dict[str, torch.Tensor] = {}
    for module in objective:
        parts.update(module(out, batch))
    return parts


def train_step(model, objective, optimizer, batch, device: torch.device, grad_clip: float = 0.0,
               group: Group = SINGLE, precision: str = "auto"):
    """One optimisation step on ``batch``; returns (detached total loss, parts).

    In a process group the gradients are averaged over the ranks before the clip and the
    step (:func:`student.distributed.average_gradients`).
    """
    parts = objective_parts(model, objective, batch, device, group, precision)
    loss = total_loss(parts)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    distributed.average_gradients(model, group)
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach(), parts


def _check_teachers(cfg: ExperimentConfig, current: dict, with_frames: list[str]) -> dict:
    """The current runs of the teachers the losses read; errors name the config field."""
    used = {}
    if cfg.loss.coarse.active:
        for t in cfg.loss.coarse.teachers:
            if t not in current:
                raise ConfigError(f"loss.coarse.teachers: the store has no committed run of {t!r} (has {sorted(current)})")
            used[t] = current[t]
    if cfg.loss.fine.active:
        for t in cfg.loss.fine.teachers:
            if t not in current:
                raise ConfigError(f"loss.fine.teachers: the store has no committed run of {t!r} (has {sorted(current)})")
            if t not in with_frames:
                raise ConfigError(f"loss.fine.teachers: teacher {t!r} stored no frame relevance for the training split")
            used[t] = current[t]
    if cfg.loss.relational.used:
        for t in cfg.loss.relational.teachers:
            if t not in current:
                raise ConfigError(f"loss.relational.teachers: the store has no committed run of {t!r} (has {sorted(current)})")
            used[t] = current[t]
    return used


@dataclass
class StoreInputs:
    """What a run reads from the store, once, before training."""

    manifest: str
    current: dict  # teacher -> its current run
    used: dict  # the teachers the losses read -> their runs
    train_pairs: list
    holdout_pairs: list
    test_pairs: list
    caches: dict  # split -> FrameCache


def read_store(cfg: ExperimentConfig, image_size: int, progress=None) -> StoreInputs:
    """Captions, teacher runs and (decoding them once) frames of the run's splits."""
    manifest = Store(cfg.data.store).require_manifest()
    m = cfg.model
    with stores.connect(cfg.data.store) as con:  # closed before any DataLoader worker forks
        current = current_teachers(con)
        used = _check_teachers(cfg, current, teachers_with_frames(con, cfg.data.train_split))
        train_pairs = split_pairs(con, cfg.data.train_split, cfg.data.drop_excluded)
        if cfg.data.exclude_captions:
            wrong = read_truth(cfg.data.exclude_captions)
            train_pairs = [p for p in train_pairs if p[0] not in wrong]
        test_pairs = split_pairs(con, cfg.data.test_split, drop_excluded=False)
        caches = {
            split: frame_cache(
                con, cfg.data.store, manifest.fingerprint, split, cfg.data.cache, m.num_frames, m.fps,
                image_size, cfg.data.decode_workers, progress, cfg.data.videos or None,
            )
            for split in (cfg.data.train_split, cfg.data.test_split)
        }
    train_pairs, holdout_pairs = split_holdout(train_pairs, cfg.data.holdout_videos)
    return StoreInputs(manifest.fingerprint, current, used, train_pairs, holdout_pairs, test_pairs, caches)


def prepare_frames(cfg: ExperimentConfig, progress=None) -> None:
    """Decode the frame caches a student of ``cfg`` reads, in this process: students started
    side by side then find them, instead of each decoding the same videos at once."""
    tokenizer = load_tokenizer(cfg.model.tokenizer or cfg.model.backbone)
    read_store(cfg, build_student(cfg.model, tokenizer, cfg.train.logit_scale_init, cfg.train.seed).image_size,
               progress)


def validate(cfg: ExperimentConfig, model, tokenizer, inputs: StoreInputs, device: torch.device) -> dict:
    """t2v / v2t metrics on the held-out train videos (``data.holdout_videos``)."""
    enc = encode_split(model, tokenizer, cfg.model.max_words, inputs.holdout_pairs,
                       inputs.caches[cfg.data.train_split], device, cfg.data.eval_batch_size, cfg.train.precision)
    return evaluate_vectors(enc.text, enc.video, enc.caption_video)


def val_row(step: int, metrics: dict) -> dict:
    """The training-log row of a validation pass: flat ``val/<direction>/<metric>`` keys."""
    return {"step": step, **{f"val/{d}/{k}": float(metrics[d][k]) for d in ("t2v", "v2t") for k in ("R@1", "R@5")}}


def fit(cfg: ExperimentConfig, model, tokenizer, inputs: StoreInputs, device: torch.device, label: str, progress=None,
        log: TrainLog | None = None, group: Group = SINGLE):
    """The training loop; returns (loss per step, logged rows, timings).

    In a process group every rank runs it on its share of each batch; rank 0 alone
    validates and logs (``progress`` and ``log`` should be rank 0's only).
    """
    log = log if log is not None else TrainLog([], Path("."))
    eval_every = cfg.train.eval_every if inputs.holdout_pairs and group.is_main else 0
    trainset = build_train_set(inputs.train_pairs, inputs.caches[cfg.data.train_split], tokenizer, cfg.model.max_words)
    bank_v2t = cfg.loss.coarse.bank and "v2t" in cfg.loss.coarse.directions  # the bank's rows by video
    with distributed.main_first(group):  # rank 0 builds the teacher matrices, the others open them
        reader = knowledge_reader(
            cfg.data,
            cfg.loss.coarse.teachers if cfg.loss.coarse.active else [],
            cfg.loss.fine.teachers if cfg.loss.fine.active else [],
            list(zip(trainset.caption_ids, (trainset.video_ids[r] for r in trainset.video_rows))),
            trainset.video_ids,
            progress,
            cfg.loss.relational.teachers if cfg.loss.relational.used else [],
            cross_fit=cfg.loss.coarse.active and cfg.loss.coarse.cross_fit,
            columns=bank_v2t,
        )
        if cfg.data.sampler == "guided":  # the guiding teacher's CSR: the reader's, or built here
            order = guided_batches(cfg, trainset, reader, progress)
        else:
            order = batch_order(trainset.video_rows, cfg.data.batch_size, cfg.train.steps, cfg.train.seed)
    score_teachers = cfg.loss.coarse.teachers if cfg.loss.coarse.active else []
    covered = np.zeros(len(score_teachers))  # summed per-batch coverage of each score teacher
    dataset = TrainBatches(trainset, order, inputs.caches[cfg.data.train_split].folder, reader, cfg.data.teacher_window,
                           group.rank, group.world, cfg.train.train_frames, cfg.train.seed,
                           cfg.train.frame_sampling, full_rows=cfg.loss.coarse.bank and "t2v" in cfg.loss.coarse.directions,
                           full_columns=bank_v2t)
    loader = make_loader(dataset, cfg.data.num_workers, pin_memory=device.type == "cuda")
    model.to(device).train()
    distributed.broadcast_parameters(model, group)
    objective = build_objective(cfg.loss, cfg.train.logit_scale_max).to(device)
    optimizer = make_optimizer(model, cfg.train)
    scheduler = warmup_cosine_schedule(optimizer, cfg.train.warmup_steps, cfg.train.steps)
    _seed_everything(cfg.train.seed)
    losses = []
    wait = step_time = assembly = eval_time = 0.0
    task = progress.add_task(f"training {label}", total=cfg.train.steps, unit="steps") if progress else None
    t0 = time.perf_counter()
    it = iter(loader)
    for step in range(cfg.train.steps):
        t1 = time.perf_counter()
        batch = next(it)
        t2 = time.perf_counter()
        wait += t2 - t1  # what the step waited for its batch
        assembly += batch.assembly_s  # what assembling it cost (in a worker, when there are any)
        step_coverage = (~torch.isnan(batch.teacher_scores)).float().mean((1, 2)).numpy() if score_teachers else covered
        covered += step_coverage
        loss, parts = train_step(model, objective, optimizer, batch, device, cfg.train.grad_clip, group,
                                 cfg.train.precision)
        scheduler.step()
        value = float(loss)
        if not math.isfinite(value):
            raise FloatingPointError(f"non-finite loss at step {step}: { {k: float(v) for k, v in parts.items()} }")
        losses.append(value)
        step_time += time.perf_counter() - t2
        if step % cfg.train.log_every == 0 or step == cfg.train.steps - 1:
            row = {"step": step, "loss": value, "lr": scheduler.get_last_lr()[0],
                   "logit_scale": float(model.logit_scale.detach().exp())}
            row.update({k: float(v.detach()) for k, v in parts.items()})
            row.update({f"coverage/{t}": float(c) for t, c in zip(score_teachers, step_coverage)})
            log.log(row)
        if eval_every and ((step + 1) % eval_every == 0 or step == cfg.train.steps - 1):
            t3 = time.perf_counter()
            log.log(val_row(step, validate(cfg, model, tokenizer, inputs, device)))
            model.train()
            eval_time += time.perf_counter() - t3
        if progress:
            progress.update(task, advance=1, description=f"training {label} loss {value:.3f}")
    del it, loader
    n = cfg.train.steps
    timings = {
        "train_s": time.perf_counter() - t0 - eval_time,
        "val_s": eval_time,
        "steps": n,
        "step_ms": 1000 * step_time / n,
        "batch_wait_ms": 1000 * wait / n,
        "batch_assembly_ms": 1000 * assembly / n,
        "num_workers": cfg.data.num_workers,
        "world_size": group.world,
        # the fraction of in-batch entries each coarse teacher scored, mean over the steps
        "teacher_coverage": {t: float(c / n) for t, c in zip(score_teachers, covered)},
    }
    return losses, log.rows, timings


def train(cfg: ExperimentConfig, folder: str | Path | None = None, progress=None) -> RunResult | None:
    """Train one student as configured and write its run folder (see :mod:`student.runs`).

    Under ``torchrun`` this joins the process group (:func:`student.distributed.init`);
    rank 0 returns the result, the other ranks ``None``.
    """
    cfg.check()
    folder = Path(folder) if folder is not None else Path(cfg.output.runs) / cfg.output.name
    group, device = distributed.init(resolve_device(cfg.train.device, "train.device"))
    try:
        return _train(cfg, folder, group, device, progress if group.is_main else None)
    finally:
        distributed.close(group)


def _train(cfg: ExperimentConfig, folder: Path, group: Group, device: torch.device, progress) -> RunResult | None:
    if cfg.data.batch_size % group.world:
        raise ConfigError(f"data.batch_size ({cfg.data.batch_size}) is the global batch: it must be a multiple of "
                          f"the {group.world} processes")
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    m = cfg.model
    tokenizer = load_tokenizer(m.tokenizer or m.backbone)
    model = build_student(m, tokenizer, cfg.train.logit_scale_init, cfg.train.seed)

    t0 = time.perf_counter()
    with distributed.main_first(group):  # rank 0 decodes the frame cache, the others open it
        inputs = read_store(cfg, model.image_size, progress)
    timings = {"frames_s": time.perf_counter() - t0}
    log = TrainLog(cfg.train.log if group.is_main else [], tmp_sibling(folder.with_name(f"{folder.name}.tensorboard")))
    try:
        losses, _, fit_timings = fit(cfg, model, tokenizer, inputs, device, folder.name, progress, log, group)
    finally:
        log.close()
    timings.update(fit_timings)
    if not group.is_main:
        return None

    t1 = time.perf_counter()
    eval_pairs = {"test": (inputs.test_pairs, cfg.data.test_split), "val": (inputs.holdout_pairs, cfg.data.train_split)}
    encoded, results = {}, {}
    for name, (pairs, split) in eval_pairs.items():
        if pairs:
            encoded[name] = encode_split(
                model, tokenizer, m.max_words, pairs, inputs.caches[split], device, cfg.data.eval_batch_size,
                cfg.train.precision,
            )
            results[name] = evaluate_vectors(encoded[name].text, encoded[name].video, encoded[name].caption_video)
    timings["eval_s"] = time.perf_counter() - t1

    model.cpu()
    with atomic_path(folder) as tmp:  # the run appears whole, replacing an older run of that name
        tmp.mkdir()
        save_student(model, tokenizer, tmp, {"max_words": m.max_words, "num_frames": m.num_frames, "fps": m.fps})
        save_vectors(tmp, encoded["test"])
        write_json(tmp / "config.json", cfg.to_dict())
        write_json(tmp / "backbone.json", backbone_identity(m.backbone))
        write_json(tmp / "teachers.json", {"used": inputs.used, "store_current": inputs.current, "manifest": inputs.manifest})
        write_json(tmp / "metrics.json", results["test"])
        if "val" in results:
            write_json(tmp / "val_metrics.json", results["val"])
        write_json(tmp / "timings.json", timings)
        log.save(tmp)
    tail = losses[-max(1, len(losses) // 10):]
    return RunResult(folder, results["test"], timings, inputs.used, losses[0], float(np.mean(tail)), results.get("val"))


def with_seed(cfg: ExperimentConfig, seed: int, name: str, runs: str) -> ExperimentConfig:
    return dataclasses.replace(
        cfg,
        train=dataclasses.replace(cfg.train, seed=seed),
        output=dataclasses.replace(cfg.output, name=name, runs=runs),
    )
