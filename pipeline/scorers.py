"""Scorers: text-video similarity from CLIP-family features (a registry by name).

Each scorer takes L2-normalised features for a block of captions and a block of videos and
returns a (captions x videos) similarity matrix.

* ``mean`` -- CLIP4Clip meanP (Luo et al., 2022, arXiv:2104.08860): the video vector is the
  mask-aware mean of its normalised frame embeddings, re-normalised; score = cosine.
* ``fine`` -- X-CLIP multi-grained similarity (Ma et al., 2022, arXiv:2207.07285): the mean
  of sentence-video, sentence-frame, word-video and word-frame similarities, where each
  fine-grained similarity matrix is pooled by softmax attention over itself
  (``sum(softmax(S / tau) * S)``), over frames or words, then over the other axis.

Frame relevance (:func:`frame_relevance`) is the cosine of the sentence with each frame.

:data:`SCORERS` is the one list of scorer names: config validation reads it, so this module
imports torch inside the functions that use it, never at import (the CLI starts without torch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch


@dataclass
class TextFeatures:
    sentence: torch.Tensor  # (N, D) normalised
    words: torch.Tensor | None = None  # (N, L, D) normalised
    word_mask: torch.Tensor | None = None  # (N, L) bool


@dataclass
class VideoFeatures:
    frames: torch.Tensor  # (M, T, D) normalised, zeros where padded
    frame_mask: torch.Tensor  # (M, T) bool


def mean_video(v: VideoFeatures) -> torch.Tensor:
    """Mask-aware mean of frame embeddings, normalised: (M, D)."""
    import torch.nn.functional as F

    m = v.frame_mask.to(v.frames.dtype).unsqueeze(-1)
    pooled = (v.frames * m).sum(1) / m.sum(1).clamp_min(1.0)
    return F.normalize(pooled, dim=-1)


def score_mean(t: TextFeatures, v: VideoFeatures) -> torch.Tensor:
    return t.sentence @ mean_video(v).T


_MASKED = -1e4  # logit offset of a masked entry: its softmax weight underflows to exactly 0


def _bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """0 where ``mask`` keeps an entry, -1e4 where it drops one (added to logits)."""
    return (mask.to(dtype) - 1.0) * -_MASKED


def _attn_pool(s: torch.Tensor, bias: torch.Tensor, dim: int, tau: float) -> torch.Tensor:
    """sum(softmax((s + bias) / tau) * s) along ``dim``.

    ``bias`` (broadcast to ``s``) is 0 for real entries and -1e4 for padding, whose ``s`` is
    0 (padded features are zero vectors), so padding neither gets weight nor adds to the
    sum. The softmax is written out in place -- one temporary the size of ``s`` instead of
    four -- because the word-frame tensor (captions x videos x words x frames) dominates
    the fine scorer's time.
    """
    import torch

    x = s + bias
    if torch.is_grad_enabled() and x.requires_grad:
        # training through the scorer (pipeline.bootstrap): the in-place ops below would
        # overwrite tensors autograd saved, so take the out-of-place softmax instead
        return torch.linalg.vecdot(torch.softmax(x / tau, dim), s, dim=dim)
    x.sub_(x.amax(dim, keepdim=True)).div_(tau).exp_()
    return torch.linalg.vecdot(x, s, dim=dim) / x.sum(dim)


def score_fine(t: TextFeatures, v: VideoFeatures, tau: float = 0.01) -> torch.Tensor:
    import torch

    if t.words is None or t.word_mask is None:
        raise ValueError("the fine scorer needs word features; encode captions with words=True")
    wm, fm = t.word_mask.bool(), v.frame_mask.bool()  # (N, L), (M, T)
    words = t.words * wm.unsqueeze(-1)  # padding as zero vectors, whatever the caller passed
    frames = v.frames * fm.unsqueeze(-1)
    wb, fb = _bias(wm, words.dtype), _bias(fm, frames.dtype)
    vid = mean_video(v)  # (M, D)
    s_sv = t.sentence @ vid.T  # (N, M)
    # sentence-frame: (N, M, T), pooled over frames
    s_sf = _attn_pool(torch.einsum("nd,mtd->nmt", t.sentence, frames), fb[None], -1, tau)
    # word-video: (N, L, M), pooled over words
    s_wv = _attn_pool(torch.einsum("nld,md->nlm", words, vid), wb[:, :, None], 1, tau)
    # word-frame: (N, M, L, T); pool over frames then words, and over words then frames
    s_wf = torch.einsum("nld,mtd->nmlt", words, frames)
    w2f = _attn_pool(s_wf, fb[None, :, None, :], -1, tau)  # (N, M, L)
    w2f = _attn_pool(w2f, wb[:, None, :], -1, tau)
    f2w = _attn_pool(s_wf, wb[:, None, :, None], 2, tau)  # (N, M, T)
    f2w = _attn_pool(f2w, fb[None], -1, tau)
    return (s_sv + s_sf + s_wv + (w2f + f2w) / 2) / 4


def frame_relevance(t: TextFeatures, v: VideoFeatures) -> torch.Tensor:
    """Cosine of each caption's sentence with each frame of the paired video: (N, T).

    ``t`` and ``v`` are aligned pairs (row i of each belong together); padded frames get NaN.
    """
    import torch

    rel = torch.einsum("nd,ntd->nt", t.sentence, v.frames)
    return rel.masked_fill(~v.frame_mask, float("nan"))


SCORERS: dict[str, Callable[[TextFeatures, VideoFeatures], torch.Tensor]] = {
    "mean": score_mean,
    "fine": score_fine,
}


def get_scorer(name: str):
    try:
        return SCORERS[name]
    except KeyError:
        raise ValueError(f"unknown scorer {name!r}; scorers are {sorted(SCORERS)}") from None
