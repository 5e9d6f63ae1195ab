"""The teachers against each other, and the caption audit against the ground truth.

Agreement is Spearman's rank correlation of two teachers' scores of one caption over the
videos both scored (ranked among those videos only, ties given their average rank: float16
scores tie), one value per caption, on at most ``max_captions`` captions of the split,
picked by a hash so every report picks the same. DuckDB picks them and hands over their
scores; the ranks are numpy's (ranking every pair of teachers in SQL took seconds).

The caption audit (issue 11) is a view ``caption_audit(caption_id, video_id, split, score,
flagged, run)``: higher ``score`` means more likely wrong. Its precision and recall curve
needs to know which captions are wrong, so it is drawn only with a ground truth (the
demo's); a store without the view has no audit, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# the picked captions' scores as integer positions (caption, video, teacher): no strings cross over
PICKED_SQL = """
WITH picked AS (
    SELECT caption_id, row_number() OVER (ORDER BY hash(caption_id), caption_id) - 1 AS ci
    FROM captions WHERE split = $split ORDER BY hash(caption_id), caption_id LIMIT $n
), s AS (
    SELECT teacher, ci, video_id, score FROM scores JOIN picked USING (caption_id) WHERE split = $split
), v AS (
    SELECT video_id, row_number() OVER (ORDER BY video_id) - 1 AS vi FROM (SELECT DISTINCT video_id FROM s)
), t AS (
    SELECT teacher, row_number() OVER (ORDER BY teacher) - 1 AS ti FROM (SELECT DISTINCT teacher FROM s)
)
SELECT ti, ci, vi, score, (SELECT count(*) FROM v) AS videos, (SELECT list(teacher ORDER BY ti) FROM t) AS teachers
FROM s JOIN v USING (video_id) JOIN t USING (teacher)
"""


AUDIT_VIEW = "caption_audit"
AUDIT_SQL = f"SELECT caption_id, score, flagged FROM {AUDIT_VIEW} ORDER BY score DESC, caption_id"


def agreement(con, split: str = "test", max_captions: int = 1000) -> dict[tuple[str, str], np.ndarray]:
    """(teacher a, teacher b) -> per-caption Spearman correlations (NaN-free).

    The picked captions' scores come out of DuckDB once, as one (captions x videos) matrix
    per teacher (NaN where it scored no pair); ranks are taken per caption in numpy, over
    every video when both teachers scored all of them, else over the videos both scored."""
    con.execute("SET enable_progress_bar = false")  # stdout carries the report's path only
    cols = con.execute(PICKED_SQL, {"split": split, "n": max_captions}).fetchnumpy()
    if len(cols["score"]) == 0:
        return {}
    names = list(cols["teachers"][0])
    ti, ci, vi = (np.asarray(cols[k], dtype=np.int64) for k in ("ti", "ci", "vi"))
    mats = np.full((len(names), int(ci.max()) + 1, int(cols["videos"][0])), np.nan)
    mats[ti, ci, vi] = np.asarray(cols["score"], dtype=np.float64)
    mats = dict(zip(names, mats))
    # a teacher's ranks over rows it scored in full serve every pair (ranked once, not per pair)
    full = {name: ~np.isnan(m).any(1) for name, m in mats.items()}
    ranks = {name: average_ranks(np.where(full[name][:, None], m, 0.0)) for name, m in mats.items()}
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            rho = _spearman_rows(mats[a], mats[b], ranks[a], ranks[b], full[a] & full[b])
            rho = rho[np.isfinite(rho)]
            if len(rho):
                out[(a, b)] = rho
    return out


def _spearman_rows(a: np.ndarray, b: np.ndarray, ranks_a: np.ndarray, ranks_b: np.ndarray,
                   full: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row of ``a`` with the same row of ``b``, over the columns both
    have (not NaN); NaN where fewer than two columns are shared or a row is constant. Rows
    both scored in full take their ranks from ``ranks_a`` / ``ranks_b``."""
    both = ~np.isnan(a) & ~np.isnan(b)
    rho = np.full(len(a), np.nan)
    if full.any():
        rho[full] = _pearson_rows(ranks_a[full], ranks_b[full])
    for r in np.flatnonzero(~full & (both.sum(1) >= 2)):
        keep = both[r]
        rho[r] = _pearson_rows(average_ranks(a[r, keep][None]), average_ranks(b[r, keep][None]))[0]
    return rho


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks along each row of ``x``, ties given their average rank (float16 scores tie)."""
    n, m = x.shape
    order = np.argsort(x, axis=1, kind="stable")
    xs = np.take_along_axis(x, order, 1)
    pos = np.broadcast_to(np.arange(1, m + 1), (n, m))
    starts = np.ones((n, m), dtype=bool)
    starts[:, 1:] = xs[:, 1:] != xs[:, :-1]
    ends = np.ones((n, m), dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, pos, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, pos, m + 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty((n, m))
    np.put_along_axis(ranks, order, (first + last) / 2.0, 1)
    return ranks


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = x - x.mean(1, keepdims=True)
    y = y - y.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * y).sum(1) / np.sqrt((x * x).sum(1) * (y * y).sum(1))


def has_view(con, name: str) -> bool:
    return con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()[0] > 0


@dataclass
class AuditCurve:
    precision: np.ndarray  # at each cut (top-k most suspicious captions, k = 1..n)
    recall: np.ndarray
    flagged: tuple[float, float] | None  # (precision, recall) of the audit's own flags
    wrong: int  # wrong captions among the audited ones
    audited: int


def audit_curve(con, ground_truth: dict | None) -> AuditCurve | None | str:
    """The audit's precision/recall curve; None without an audit, a reason string without
    a ground truth to score it against."""
    if not has_view(con, AUDIT_VIEW):
        return None
    rows = con.execute(AUDIT_SQL).fetchall()
    if not rows:
        return None
    if ground_truth is None:
        return f"{len(rows)} captions audited, {sum(bool(f) for _, _, f in rows)} flagged; no ground truth to score them"
    gt = ground_truth.get("captions", {})
    rows = [r for r in rows if r[0] in gt]
    wrong = np.array([bool(gt[c].get("wrong")) for c, _, _ in rows])
    if not rows or not wrong.any():
        return "no audited caption is marked wrong in the ground truth"
    hits = np.cumsum(wrong)
    precision = hits / np.arange(1, len(rows) + 1)
    recall = hits / wrong.sum()
    flags = np.array([bool(f) for _, _, f in rows])
    flagged = None
    if flags.any():
        tp = (flags & wrong).sum()
        flagged = (float(tp / flags.sum()), float(tp / wrong.sum()))
    return AuditCurve(precision, recall, flagged, int(wrong.sum()), len(rows))
