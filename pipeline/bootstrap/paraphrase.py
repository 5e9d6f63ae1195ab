"""``objective = "paraphrase"``: a text encoder fine-tuned so that one video's captions embed together.

A text teacher used as it comes (TeachText's text experts) judges a caption by general
language similarity: "a box" and "a disc" are both small shapes to it, "A, then B" and
"B, then A" nearly the same sentence. Fine-tuned on the train split's own caption sets, where
the captions of one video are paraphrases of each other, it learns which differences this
dataset's wording leaves open (synonyms, templates: "A, then B" and "B after A") and which
change the content (a colour, a shape, an action, the order of events). No video is read.

Loss, over a batch of B videos with two different captions each (supervised SimCSE, Gao et
al., EMNLP 2021, arXiv:2104.08821; sentence-transformers' MultipleNegativesRankingLoss, made
symmetric):

    L = (CE(s * A P^T, I) + CE(s * P A^T, I)) / 2,    s = 20 (temperature 0.05)

A, P: (B, D) unit mean-pooled token states (:func:`pipeline.teachers.text.mean_pool`, what the
``text`` teacher scores with) of one caption and another of the same video.

Batches put half their videos beside the video whose captions share the most words with
theirs (TF-IDF cosine, :func:`nearest_by_words`): the same objects in another order, or in
another colour, are contrasted in the same batch, the hard negatives a random batch of a
large dataset almost never holds (mining by batch composition).

Cross-fitting: with the teacher's ``holdout = "fold:i/n"`` the encoder trains without fold
i's captions, and the caption audit lets it judge only those (stores.folds, teachkit.audit).
The demo's six such judges and what they add: README, Paraphrase judges.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import torch

from teachkit.util.contrastive import symmetric_infonce
from teachkit.util.device import resolve_device
from teachkit.util.precision import autocast as precision_autocast

SCALE = 20.0  # sentence-transformers' MultipleNegativesRankingLoss default
WORD = re.compile(r"\w+")


def load_text_encoder(folder: str):
    """The text encoder of ``folder``: a CLIP checkpoint's text tower (``CLIPTextModel``, which
    saves as a folder ``AutoModel`` loads) or any ``AutoModel`` text encoder (BERT, MiniLM)."""
    from transformers import AutoConfig, AutoModel, CLIPTextModel

    if AutoConfig.from_pretrained(folder).model_type == "clip":
        return CLIPTextModel.from_pretrained(folder)
    return AutoModel.from_pretrained(folder)


def caption_groups(captions: list[tuple[str, str, str]], left_out: set[str]) -> list[list[str]]:
    """Per video with at least two training captions (not in ``left_out``), their texts."""
    by_video: dict[str, list[str]] = {}
    for cid, vid, text in captions:
        if cid not in left_out:
            by_video.setdefault(vid, []).append(text)
    return [texts for texts in by_video.values() if len(texts) >= 2]


def nearest_by_words(groups: list[list[str]], chunk: int = 256) -> np.ndarray:
    """Per group, the index of the other group whose words are most alike: cosine of TF-IDF
    vectors (term counts of the group's texts, lower-cased words, smooth idf) over a sparse
    matrix, ``chunk`` groups at a time (never a groups x groups matrix in memory)."""
    n = len(groups)
    if n < 2:
        raise ValueError("nearest_by_words needs at least two groups")
    counts = [Counter(w for t in texts for w in WORD.findall(t.lower())) for texts in groups]
    vocab = {w: i for i, w in enumerate(sorted({w for c in counts for w in c}))}
    rows = np.concatenate([np.full(len(c), g, dtype=np.int64) for g, c in enumerate(counts)])
    cols = np.array([vocab[w] for c in counts for w in c], dtype=np.int64)
    tf = np.array([v for c in counts for v in c.values()], dtype=np.float64)
    df = np.bincount(cols, minlength=len(vocab))
    val = tf * (np.log((1 + n) / (1 + df[cols])) + 1)
    norm = np.sqrt(np.bincount(rows, weights=val * val, minlength=n))
    val = (val / norm[rows]).astype(np.float32)
    x = torch.sparse_coo_tensor(torch.from_numpy(np.stack([rows, cols])), torch.from_numpy(val), (n, len(vocab)),
                                check_invariants=True)
    out = np.empty(n, dtype=np.int64)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        sel = (rows >= lo) & (rows < hi)
        block = np.zeros((len(vocab), hi - lo), dtype=np.float32)
        block[cols[sel], rows[sel] - lo] = val[sel]
        sims = torch.sparse.mm(x, torch.from_numpy(block))  # (n, hi - lo): cosines with the chunk's groups
        sims[torch.arange(lo, hi), torch.arange(hi - lo)] = -math.inf
        out[lo:hi] = sims.argmax(0).numpy()
    return out


def batch_videos(n: int, nearest: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` distinct group indices: random seeds, each followed by its nearest group."""
    size = min(size, n)
    picked: dict[int, None] = {}
    for seed in rng.permutation(n):
        for g in (int(seed), int(nearest[seed])):
            if len(picked) < size:
                picked.setdefault(g, None)
        if len(picked) == size:
            break
    return np.fromiter(picked, dtype=np.int64)


def paraphrase_loss(anchor: torch.Tensor, positive: torch.Tensor, scale: float = SCALE) -> torch.Tensor:
    """Symmetric InfoNCE between (B, D) unit embeddings whose rows pair up (see the module)."""
    return symmetric_infonce(scale * anchor @ positive.T)


def train_paraphrase(model, tokenizer, groups: list[list[str]], opts, device: torch.device, max_length: int,
                     label: str):
    """Train ``model`` in place for ``opts.steps`` steps; return its :class:`~.train.TrainSummary`."""
    from ..teachers.text import mean_pool
    from .train import optimise

    if len(groups) < 2:
        raise ValueError("a paraphrase bootstrap needs at least two videos with two or more training captions each")
    rng = np.random.default_rng(opts.seed)
    nearest = nearest_by_words(groups)
    # dropout (BERT-like encoders) draws from torch's global generator: seeded here, so the
    # weights follow the options alone, not what ran before in this process
    torch.manual_seed(opts.seed)
    model.to(device).train()
    autocast = precision_autocast(device, opts.precision)

    def step_loss(step: int) -> torch.Tensor:
        videos = batch_videos(len(groups), nearest, opts.batch_size, rng)
        pairs = [rng.choice(len(groups[g]), 2, replace=False) for g in videos]
        texts = [groups[g][i] for g, (i, _) in zip(videos, pairs)] + [groups[g][j] for g, (_, j) in zip(videos, pairs)]
        tok = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(device)
        with autocast:
            states = model(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"]).last_hidden_state
        emb = mean_pool(states.float(), tok["attention_mask"])
        return paraphrase_loss(emb[: len(videos)], emb[len(videos) :])

    log = optimise(model, opts, label, step_loss)
    model.eval()
    return log


def train_into(folder, opts, rows, left_out: set[str], name: str, say) -> dict:
    """Fine-tune ``opts.init``'s text encoder on ``rows``' captions (without ``left_out``) and
    save it, with the init's tokenizer, into ``folder``; return what bootstrap.json records."""
    import transformers
    from transformers import AutoTokenizer

    from ..teachers.text import length_limit

    tokenizer = AutoTokenizer.from_pretrained(opts.init)
    groups = caption_groups(rows.captions, left_out)
    device = resolve_device("auto")
    threads = torch.get_num_threads()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    try:
        model = load_text_encoder(opts.init)
        # the length it trains at (a sentence-transformers folder's max_seq_length included),
        # saved with the tokenizer so the text teacher embeds at that length too
        tokenizer.model_max_length = length_limit(model, tokenizer, opts.init)
        tokenizer.save_pretrained(folder)
        say(f"bootstrap {name}: fine-tuning a paraphrase text encoder ({type(model).__name__}, "
            f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters) on {len(groups)} videos / "
            f"{sum(len(g) for g in groups)} captions, {opts.steps} steps on {device}")
        log = train_paraphrase(model, tokenizer, groups, opts, device, tokenizer.model_max_length,
                               f"bootstrap {name} (paraphrase)")
    finally:
        torch.set_num_threads(threads)
    model.to("cpu").save_pretrained(folder)
    say(f"bootstrap {name}: trained in {log.seconds:.0f}s, loss {log.losses[0]:.3f} -> {log.losses[-1]:.3f}")
    return {
        "options": opts.as_dict(),
        "train": {
            "videos": len(groups),
            "captions": sum(len(g) for g in groups),
            "held_out_captions": len(left_out),
            "steps": log.steps,
            "losses": log.losses,
            "train_seconds": log.seconds,
            "train_cpu_seconds": log.cpu_seconds,
            "device": str(device),
            "threads": opts.threads or threads,
        },
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
