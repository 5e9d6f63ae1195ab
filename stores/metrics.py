"""Retrieval metrics with CLIP4Clip's semantics, shared by both stages.

Ranks are 1-based. A query's rank is the number of candidates scoring at least as high as
its ground truth (ties count against the query: a constant similarity matrix scores R@1 = 0
rather than 100). Missing similarities (NaN, e.g. pairs a ``topk`` plan did not score) rank
below every scored candidate.

* t2v: every caption is a query; its ground truth is its own video.
* v2t: every video is a query over all captions; with several captions per video the rank
  is that of its best-ranked caption (CLIP4Clip's multi-sentence evaluation).

R@K are percentages; MdR is the median rank, MnR the mean rank.
"""

from __future__ import annotations

import numpy as np

DEFAULT_KS = (1, 5, 10, 50)


def _clean(sim: np.ndarray) -> np.ndarray:
    sim = np.asarray(sim, dtype=np.float64)
    if sim.ndim != 2:
        raise ValueError(f"similarity must be 2-D (captions x videos), got shape {sim.shape}")
    return np.where(np.isnan(sim), -np.inf, sim)


def t2v_ranks(sim: np.ndarray, caption_video: np.ndarray) -> np.ndarray:
    """Rank of each caption's own video among all videos; ``sim`` is captions x videos."""
    sim = _clean(sim)
    gt = np.asarray(caption_video)
    if gt.shape != (sim.shape[0],):
        raise ValueError(f"caption_video has shape {gt.shape}, expected ({sim.shape[0]},)")
    if sim.shape[1] == 0 or gt.min(initial=0) < 0 or gt.max(initial=0) >= sim.shape[1]:
        raise ValueError("caption_video holds a video index outside the similarity matrix")
    pos = sim[np.arange(sim.shape[0]), gt]
    return (sim >= pos[:, None]).sum(axis=1)


def v2t_ranks(sim: np.ndarray, caption_video: np.ndarray) -> np.ndarray:
    """Per video, the rank of its best-ranked caption among all captions.

    The rank is 1 + the number of *other videos'* captions scoring at least as high as the
    video's best caption: its own captions never push each other down (MSR-VTT has
    duplicate sentences per video, whose scores tie exactly).
    """
    sim = _clean(sim).T  # videos x captions
    gt = np.asarray(caption_video)
    n_videos, n_captions = sim.shape
    if gt.shape != (n_captions,) or gt.min(initial=0) < 0 or gt.max(initial=0) >= n_videos:
        raise ValueError("caption_video must give each caption a video index inside the similarity matrix")
    if np.bincount(gt, minlength=n_videos).min(initial=1) == 0:
        raise ValueError("every video needs at least one caption for v2t metrics")
    own = np.zeros(sim.shape, dtype=bool)
    own[gt, np.arange(n_captions)] = True
    best = np.where(own, sim, -np.inf).max(axis=1)
    return 1 + ((sim >= best[:, None]) & ~own).sum(axis=1)


def summarize(ranks: np.ndarray, ks=DEFAULT_KS) -> dict[str, float]:
    ranks = np.asarray(ranks, dtype=np.float64)
    out = {f"R@{k}": float(100.0 * (ranks <= k).mean()) for k in ks}
    out["MdR"] = float(np.median(ranks))
    out["MnR"] = float(ranks.mean())
    return out


def retrieval_metrics(sim: np.ndarray, caption_video: np.ndarray, ks=DEFAULT_KS) -> dict:
    """``{"t2v": {...}, "v2t": {...}}`` for a captions x videos similarity matrix."""
    return {
        "t2v": summarize(t2v_ranks(sim, caption_video), ks),
        "v2t": summarize(v2t_ranks(sim, caption_video), ks),
    }


def format_table(rows: dict[str, dict], keys=("R@1", "R@5", "R@10", "MdR", "MnR")) -> str:
    """A plain-text table, one line per named metrics dict (results go to stdout)."""
    head = f"{'model':<28}" + "".join(f"{'t2v ' + k:>10}" for k in keys) + "".join(
        f"{'v2t ' + k:>10}" for k in keys
    )
    lines = [head, "-" * len(head)]
    for name, m in rows.items():
        cells = [m["t2v"].get(k, float("nan")) for k in keys] + [m["v2t"].get(k, float("nan")) for k in keys]
        lines.append(f"{name:<28}" + "".join(f"{c:>10.1f}" for c in cells))
    return "\n".join(lines)
