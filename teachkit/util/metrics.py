"""Retrieval metrics with CLIP4Clip's semantics, shared by both stages.

Ranks are 1-based. A query's rank is the number of candidates scoring at least as high as
its ground truth (ties count against the query: a constant similarity matrix scores R@1 = 0
rather than 100). Missing similarities (NaN, e.g. pairs a ``topk`` plan did not score) rank
below every scored candidate.

* t2v: every caption is a query; its ground truth is its own video.
* v2t: every video is a query. With several captions per video, CLIP4Clip
  (``main_task_retrieval.py``: ``compute_metrics(tensor_video_to_text_sim(sim))``) first
  collapses each video's captions into one candidate, the best of them for the query
  video, so a video ranks its own best caption among the *other videos'* best captions
  (not among all their captions): ``rank(v) = #{g : max_{c in g} s(c, v) >= max_{c in v} s(c, v)}``.
  With one caption per video this is the plain transpose. MSVD, VATEX and MSR-VTT 7k/9k
  report v2t this way.

On tie-free scores every figure equals CLIP4Clip's; on ties this module counts the tie
against the query once, where ``compute_metrics`` emits one rank per tied position.

R@K are percentages; MdR is the median rank, MnR the mean rank.

:func:`teacher_metrics` is the one rule for a teacher's figures from its stored scores; the
teacher stage (``current_runs.metrics``), ``scores import`` and ``student compare`` all use it.
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
    """Per video, the rank of its best caption among the other videos' best captions.

    ``group_best[v, g]`` is the best score of video ``g``'s captions for video ``v``
    (CLIP4Clip's ``tensor_video_to_text_sim``); the rank is the number of videos ``g`` whose
    ``group_best[v, g]`` is at least ``group_best[v, v]``, the video itself included. A
    video's own captions never push each other down (MSR-VTT repeats sentences within a
    video, whose scores tie exactly).
    """
    sim = _clean(sim)
    gt = np.asarray(caption_video)
    n_captions, n_videos = sim.shape
    if gt.shape != (n_captions,) or gt.min(initial=0) < 0 or gt.max(initial=0) >= n_videos:
        raise ValueError("caption_video must give each caption a video index inside the similarity matrix")
    counts = np.bincount(gt, minlength=n_videos)
    if counts.min(initial=1) == 0:
        raise ValueError("every video needs at least one caption for v2t metrics")
    order = np.argsort(gt, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    group_best = np.maximum.reduceat(sim[order], starts, axis=0).T  # videos x caption groups
    own = np.diagonal(group_best)
    return (group_best >= own[:, None]).sum(axis=1)


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


#: names the rule :func:`teacher_metrics` follows; stored with every teacher's metrics
METRICS_RULE = "clip4clip-v2t-groups"

NOT_MEASURABLE = (
    "no caption has a score for its own video (a text teacher compares a caption with the video's "
    "other captions; with one caption per video there are none)"
)


def teacher_metrics(sim: np.ndarray, caption_video: np.ndarray, split: str | None = None, ks=DEFAULT_KS) -> dict:
    """A teacher's retrieval figures from its stored scores of one split: the one rule.

    ``sim`` is the split's captions x videos matrix, NaN where the teacher stored no score;
    ``caption_video[c]`` is the column of caption ``c``'s own video. The teacher stage
    (``current_runs.metrics``), ``scores import`` and ``student compare`` all call this, so a
    teacher has one set of figures wherever it is shown:

    * a video the teacher scored for no caption is left out: it failed to decode (or was
      otherwise unusable), so the run holds nothing for it and ranking it would measure
      the data, not the teacher;
    * a caption is a query only when the teacher scored it against its own video (a text
      teacher leaves that pair out when the video has no other caption); other unscored
      pairs rank last;
    * t2v ranks each query among the kept videos; v2t ranks every kept video that has a
      query caption, CLIP4Clip's way (:func:`v2t_ranks`), among those videos.

    Returns ``{"split", "captions", "videos", "rule", "t2v", "v2t"}`` (counts are the queries
    and candidate videos used), or, when no caption can be a query, the counts and
    ``"not_measurable": <reason>`` instead of figures.
    """
    sim = np.asarray(sim, dtype=np.float64)
    gt = np.asarray(caption_video, dtype=np.int64)
    if sim.ndim != 2 or gt.shape != (sim.shape[0],):
        raise ValueError(f"sim {sim.shape} and caption_video {gt.shape} do not match")
    scored = ~np.isnan(sim)
    keep_video = scored.any(axis=0)
    column = np.cumsum(keep_video) - 1  # old column -> kept column
    own_ok = (gt >= 0) & (gt < sim.shape[1])
    own_ok[own_ok] &= keep_video[gt[own_ok]] & scored[np.flatnonzero(own_ok), gt[own_ok]]
    out: dict = {"split": split} if split is not None else {}
    out.update(captions=int(own_ok.sum()), videos=int(keep_video.sum()), rule=METRICS_RULE)
    if not own_ok.any():
        out["not_measurable"] = NOT_MEASURABLE
        return out
    sim, gt = sim[own_ok][:, keep_video], column[gt[own_ok]]
    with_caption = np.unique(gt)
    remap = np.full(sim.shape[1], -1)
    remap[with_caption] = np.arange(len(with_caption))
    out["t2v"] = summarize(t2v_ranks(sim, gt), ks)
    out["v2t"] = summarize(v2t_ranks(sim[:, with_caption], remap[gt]), ks)
    return out


def format_table(rows: dict[str, dict], keys=("R@1", "R@5", "R@10", "MdR", "MnR")) -> str:
    """A plain-text table, one line per named metrics dict (results go to stdout).

    A row without figures (:func:`teacher_metrics`'s ``not_measurable``) says why instead.
    """
    width = max([28] + [len(n) + 2 for n in rows])  # long names widen the first column
    head = f"{'model':<{width}}" + "".join(f"{'t2v ' + k:>10}" for k in keys) + "".join(
        f"{'v2t ' + k:>10}" for k in keys
    )
    lines = [head, "-" * len(head)]
    for name, m in rows.items():
        if "t2v" not in m:
            lines.append(f"{name:<{width}}not measurable: {m.get('not_measurable', 'no figures')}")
            continue
        cells = [m["t2v"].get(k, float("nan")) for k in keys] + [m.get("v2t", {}).get(k, float("nan")) for k in keys]
        lines.append(f"{name:<{width}}" + "".join(f"{c:>10.1f}" for c in cells))
    return "\n".join(lines)
