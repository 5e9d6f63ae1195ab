"""The teachers against each other, and the caption audit against the ground truth.

Agreement is Spearman's rank correlation of two teachers' scores of one caption over the
videos both scored (ranked among those videos only, ties given their average rank: float16
scores tie), one value per caption, on at most ``max_captions`` captions of the split,
picked by a hash so every report picks the same.

The caption audit (issue 11) is a view ``caption_audit(caption_id, video_id, split, score,
flagged, run)``: higher ``score`` means more likely wrong. Its precision and recall curve
needs to know which captions are wrong, so it is drawn only with a ground truth (the
demo's); a store without the view has no audit, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AGREEMENT_SQL = """
WITH picked AS (
    SELECT caption_id FROM captions WHERE split = ? ORDER BY hash(caption_id) LIMIT ?
), s AS (
    SELECT teacher, caption_id, video_id, score FROM scores JOIN picked USING (caption_id) WHERE split = ?
), pairs AS (
    SELECT a.teacher AS ta, b.teacher AS tb, caption_id, a.score AS sa, b.score AS sb
    FROM s a JOIN s b USING (caption_id, video_id) WHERE a.teacher < b.teacher
), r AS (
    SELECT ta, tb, caption_id,
        (rank() OVER (PARTITION BY ta, tb, caption_id ORDER BY sa)
         + count(*) OVER (PARTITION BY ta, tb, caption_id) + 1
         - rank() OVER (PARTITION BY ta, tb, caption_id ORDER BY sa DESC)) / 2.0 AS ra,
        (rank() OVER (PARTITION BY ta, tb, caption_id ORDER BY sb)
         + count(*) OVER (PARTITION BY ta, tb, caption_id) + 1
         - rank() OVER (PARTITION BY ta, tb, caption_id ORDER BY sb DESC)) / 2.0 AS rb
    FROM pairs
)
SELECT ta, tb, caption_id, corr(ra, rb) AS spearman FROM r GROUP BY ALL
"""

AUDIT_VIEW = "caption_audit"
AUDIT_SQL = f"SELECT caption_id, score, flagged FROM {AUDIT_VIEW} ORDER BY score DESC, caption_id"


def agreement(con, split: str = "test", max_captions: int = 1000) -> dict[tuple[str, str], np.ndarray]:
    """(teacher a, teacher b) -> per-caption Spearman correlations (NaN-free)."""
    con.execute("SET enable_progress_bar = false")  # stdout carries the report's path only
    rows = con.execute(AGREEMENT_SQL, [split, max_captions, split]).fetchall()
    out: dict[tuple[str, str], list[float]] = {}
    for a, b, _, rho in rows:
        if rho is not None and np.isfinite(rho):
            out.setdefault((a, b), []).append(float(rho))
    return {k: np.array(v) for k, v in sorted(out.items())}


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
