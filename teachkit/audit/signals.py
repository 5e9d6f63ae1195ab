"""Per-teacher evidence that a caption is wrong, and which teachers may judge which caption.

For each teacher and caption of the audited split the store gives the caption's scores over
every video and, for most teachers, the caption's embedding. The audit reads four kinds of
evidence from them (``audit.signal``, one or several joined by ``+``):

- ``rank``: the rank of the caption's own video among all videos (1 = best; ties count half,
  the metrics' pessimistic rule halved), as ``log(own_rank)``. A caption of some other scene
  drops its own video far down the list; insensitive to the teacher's score scale.
- ``margin``: own score minus the best other video's score, as ``-margin``.
- ``relative``: the caption's own-video score against its sibling captions' (the other
  captions of the same video): ``-(own - mean own of the siblings)``. A caption with one
  wrong attribute still beats most other videos (its rank stays good) but scores below the
  captions that describe its video right; comparing within the video also removes how hard
  the video is.
- ``siblings``: how far the caption's embedding is from its siblings':
  ``-median cos(e_caption, e_sibling)``. Every caption of a video describes one scene, so the
  odd one out is suspect; this needs no video score at all (a text teacher's embeddings serve)
  and is skipped, with a note, for a teacher that stored no caption embeddings.

Each (teacher, signal) is standardised over the captions the teacher judges (median and MAD
scaled to a standard deviation, robust to the very tail the audit is looking for), so
teachers and signals of different scales average on one scale: a teacher's evidence is the
mean over its signals, a caption's noise score the mean over the teachers that may judge it
(:func:`judges`): a teacher that trained on the caption has learnt to agree with it, wrong
or not. ``relative`` and ``siblings`` assume several captions per video (MSR-VTT has 20);
a caption without siblings gets 0 from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from teachkit.util.errors import InputError
from stores.folds import Holdout, HoldoutError, declared_holdout, held_out, parse_holdout
from stores.splits import SPLIT_CAPTIONS_SQL

SIGNALS = ("rank", "margin", "relative", "siblings", "rows")

# the teachers' scores of the split (s) and each caption's own video (c), shared by the queries below
SPLIT_SCORES_CTE = """
WITH s AS (SELECT teacher, caption_id, video_id, score::DOUBLE AS score FROM scores
           WHERE split = $split AND teacher IN (SELECT unnest($teachers::VARCHAR[]))),
c AS (SELECT caption_id, video_id AS own_video FROM captions WHERE split = $split),
"""

OWN_SQL = SPLIT_SCORES_CTE + """
j AS (SELECT s.teacher, s.caption_id, s.score, s.video_id = c.own_video AS is_own
      FROM s JOIN c USING (caption_id)),
o AS (SELECT teacher, caption_id, score AS own FROM j WHERE is_own)
SELECT j.teacher, j.caption_id, any_value(c.own_video) AS own_video, o.own,
       1 + count(*) FILTER (WHERE j.score > o.own) + 0.5 * (count(*) FILTER (WHERE j.score = o.own) - 1) AS own_rank,
       o.own - max(j.score) FILTER (WHERE NOT j.is_own) AS margin,
       count(*) AS scored
FROM j JOIN o USING (teacher, caption_id) JOIN c USING (caption_id)
GROUP BY j.teacher, j.caption_id, o.own
ORDER BY j.teacher, j.caption_id
"""

# corr(z_c, m), m the siblings' mean standardised row, from per-(video, column) sums zs of z:
# with n captions in the group and V = sum_v z_cv^2, z_c . m = (z_c . zs - V) / (n - 1) and
# |m|^2 = (|zs|^2 - 2 z_c . zs + V) / (n - 1)^2 (every z row has mean 0, so m has mean 0
# too); the (n - 1) cancel: corr = (z_c . zs - V) / sqrt(V (|zs|^2 - 2 z_c . zs + V))
ROWS_SQL = SPLIT_SCORES_CTE + """
st AS (SELECT teacher, caption_id, avg(score) AS mu, stddev_pop(score) AS sd FROM s GROUP BY ALL),
z AS (SELECT s.teacher, s.caption_id, c.own_video, s.video_id, (s.score - st.mu) / st.sd AS z
      FROM s JOIN st USING (teacher, caption_id) JOIN c USING (caption_id) WHERE st.sd > 0),
g AS (SELECT teacher, own_video, video_id, sum(z) AS zs FROM z GROUP BY ALL),
n AS (SELECT teacher, own_video, count(DISTINCT caption_id) AS n FROM z GROUP BY ALL),
b AS (SELECT teacher, own_video, sum(zs * zs) AS bb FROM g GROUP BY ALL),
a AS (SELECT z.teacher, z.caption_id, z.own_video, sum(z.z * g.zs) AS az, sum(z.z * z.z) AS vv
      FROM z JOIN g USING (teacher, own_video, video_id) GROUP BY ALL)
SELECT a.teacher, a.caption_id,
       CASE WHEN n.n > 1 AND b.bb - 2 * a.az + a.vv > 1e-12
            THEN (a.az - a.vv) / sqrt(a.vv * (b.bb - 2 * a.az + a.vv)) ELSE 0 END AS agreement
FROM a JOIN n USING (teacher, own_video) JOIN b USING (teacher, own_video)
ORDER BY a.teacher, a.caption_id
"""

TEACHER_RUNS_SQL = """
SELECT teacher, fingerprint, run, kind, config FROM current_runs
WHERE kind <> 'audit' AND teacher IN (SELECT DISTINCT teacher FROM scores WHERE split = ?)
ORDER BY teacher
"""

EMBEDDINGS_SQL = """
SELECT e.id AS caption_id, c.video_id, e.vector FROM embeddings e JOIN captions c ON c.caption_id = e.id
WHERE e.teacher = ? AND e.split = ? AND e.kind = 'caption' AND c.split = e.split
"""

CAPTIONS_SQL = SPLIT_CAPTIONS_SQL  # the split's (caption_id, video_id), as the folds are dealt


class AuditError(InputError, ValueError):
    """An audit that cannot run as asked (no scores, unknown teacher, bad holdout)."""


@dataclass(frozen=True)
class TeacherRun:
    name: str
    fingerprint: str
    run: str
    holdout: Holdout | None  # what it did not train on; None: unknown (trained on everything)


def teacher_runs(con, split: str, names: tuple[str, ...], declared: dict[str, str]) -> list[TeacherRun]:
    """The current teacher runs with scores of ``split`` (only ``names`` when given), with holdouts.

    A holdout comes from the audit config's ``holdout`` table (``declared``) or else from the
    teacher run's own config (``holdout`` field of the teacher stage's config).
    """
    rows = con.execute(TEACHER_RUNS_SQL, [split]).fetchall()
    have = {r[0]: r for r in rows}
    unknown = sorted(set(names) - set(have))
    if unknown:
        raise AuditError(f"audit.teachers: no current teacher run with {split} scores named {unknown}; "
                         f"teachers with scores are {sorted(have)}")
    stray = sorted(set(declared) - set(have))
    if stray:
        raise AuditError(f"audit.holdout names teachers without {split} scores: {stray}")
    out = []
    for name in names or sorted(have):
        _, fp, run, _, config = have[name]
        text = declared.get(name, declared_holdout(config))
        try:
            holdout = None if text is None else parse_holdout(text, f"holdout of teacher {name}")
        except HoldoutError as e:
            raise AuditError(str(e)) from None
        out.append(TeacherRun(name, fp, run, holdout))
    if not out:
        raise AuditError(f"no teacher has scores of split {split!r}; run the teacher stage first")
    return out


def signal_parts(signal: str) -> tuple[str, ...]:
    """``"rank+siblings"`` -> ``("rank", "siblings")``; unknown or repeated parts are an error."""
    parts = tuple(p.strip() for p in signal.split("+"))
    bad = [p for p in parts if p not in SIGNALS]
    if bad or len(set(parts)) != len(parts):
        raise AuditError(f"audit.signal must be one or more of {list(SIGNALS)} joined by '+', got {signal!r}")
    return parts


def evidence(con, split: str, teachers: list[TeacherRun], signal: str,
             notes: list[str] | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """``{teacher: {signal: {caption_id: raw evidence}}}`` (higher: more likely wrong)."""
    parts = signal_parts(signal)
    out: dict[str, dict[str, dict[str, float]]] = {x.name: {} for x in teachers}
    if set(parts) & {"rank", "margin", "relative"}:
        t = con.execute(OWN_SQL, {"split": split, "teachers": [x.name for x in teachers]}).fetchnumpy()
        for name in dict.fromkeys(t["teacher"].tolist()):
            m = t["teacher"] == name
            ids = t["caption_id"][m].tolist()
            raw = {
                "rank": lambda: np.log(t["own_rank"][m].astype(np.float64)),
                "margin": lambda: -t["margin"][m].astype(np.float64),
                "relative": lambda: -_against_siblings(t["own_video"][m], t["own"][m].astype(np.float64)),
            }
            for p in parts:
                if p in raw:
                    out[name][p] = dict(zip(ids, raw[p]().tolist()))
    if "rows" in parts:
        r = con.execute(ROWS_SQL, {"split": split, "teachers": [x.name for x in teachers]}).fetchnumpy()
        for name in dict.fromkeys(r["teacher"].tolist()):
            m = r["teacher"] == name
            out[name]["rows"] = dict(zip(r["caption_id"][m].tolist(), (-r["agreement"][m].astype(np.float64)).tolist()))
    if "siblings" in parts:
        for x in teachers:
            e = con.sql(EMBEDDINGS_SQL, params=[x.name, split]).to_arrow_table()
            if e.num_rows == 0:
                if notes is not None:
                    notes.append(f"teacher {x.name} stored no {split} caption embeddings: no 'siblings' evidence")
                continue
            vec = e.column("vector").combine_chunks()
            emb = vec.flatten().to_numpy(zero_copy_only=False).astype(np.float64).reshape(e.num_rows, -1)
            emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
            video = e.column("video_id").to_numpy(zero_copy_only=False)
            out[x.name]["siblings"] = dict(zip(e.column("caption_id").to_pylist(),
                                               (-_sibling_agreement(video, emb)).tolist()))
    return {k: v for k, v in out.items() if v}


def _groups(video: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(group index per row, rows per group)`` of a column of video ids."""
    _, inverse, counts = np.unique(video, return_inverse=True, return_counts=True)
    return inverse, counts


def _against_siblings(video: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Per caption, its own-video score minus the mean of its siblings' (0 without siblings)."""
    g, n = _groups(video)
    total = np.bincount(g, weights=own)
    others = n[g] - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        out = own - (total[g] - own) / others
    return np.where(others > 0, out, 0.0)


def _sibling_agreement(video: np.ndarray, emb: np.ndarray) -> np.ndarray:
    """Per caption, the median cosine of its (unit) embedding with its siblings' (0 without
    siblings). The median, not the mean: a correct caption beside one wrong sibling keeps its
    agreement with the others, so the wrong caption stands alone."""
    order = np.argsort(video, kind="stable")
    bounds = np.flatnonzero(np.r_[True, video[order][1:] != video[order][:-1], True])
    out = np.zeros(len(video))
    for a, b in zip(bounds[:-1], bounds[1:]):
        rows = order[a:b]
        if len(rows) < 2:
            continue
        gram = emb[rows] @ emb[rows].T
        off = gram[~np.eye(len(rows), dtype=bool)].reshape(len(rows), len(rows) - 1)
        out[rows] = np.median(off, axis=1)
    return out


def robust_z(x: np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 MAD): a z-score the noisy tail does not inflate."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0)
    med = np.median(x)
    mad = 1.4826 * np.median(np.abs(x - med))
    if mad <= 0:
        mad = x.std() or 1.0
    return (x - med) / mad


def judges(captions: list[tuple[str, str]], teachers: list[TeacherRun]) -> tuple[dict[str, list[str]], list[str]]:
    """``({caption_id: [teachers that may judge it]}, notes)``.

    When no teacher declares a holdout, every teacher judges every caption (a user's own
    pretrained teachers: a printed note says the scores are in-sample). Otherwise a teacher
    judges only the captions it held out, and a caption no such teacher covers falls back to
    every teacher (also noted).
    """
    names = [t.name for t in teachers]
    notes = []
    if all(t.holdout is None for t in teachers):
        notes.append(
            "no teacher declares a holdout (teacher config `holdout = \"all\"` or \"fold:i/n\"): every "
            "teacher judges every caption, including captions it may have trained on"
        )
        return {cid: list(names) for cid, _ in captions}, notes
    covered = {t.name: held_out(captions, t.holdout) for t in teachers if t.holdout is not None}
    out, fallback = {}, 0
    for cid, _ in captions:
        who = [n for n, ids in covered.items() if cid in ids]
        if not who:
            who, fallback = list(names), fallback + 1
        out[cid] = who
    unused = [t.name for t in teachers if t.holdout is None]
    if unused:
        notes.append(f"teachers without a holdout judge no caption (they trained on them): {unused}")
    if fallback:
        notes.append(f"{fallback} captions are held out by no teacher: judged by every teacher")
    return out, notes


def combine(captions: list[tuple[str, str]], who: dict[str, list[str]],
            ev: dict[str, dict[str, dict[str, float]]]) -> np.ndarray:
    """Per caption, the mean over its judges of their evidence: each (teacher, signal)
    standardised (:func:`robust_z`) over the captions that teacher judges, then averaged over
    the teacher's signals; NaN when no judge scored it."""
    z: dict[str, dict[str, float]] = {}
    for name, by_signal in ev.items():
        per_caption: dict[str, list[float]] = {}
        for raw in by_signal.values():
            ids = [cid for cid, _ in captions if name in who[cid] and cid in raw]
            if ids:
                for cid, v in zip(ids, robust_z(np.array([raw[c] for c in ids])).tolist()):
                    per_caption.setdefault(cid, []).append(v)
        if per_caption:
            z[name] = {cid: float(np.mean(v)) for cid, v in per_caption.items()}
    out = np.full(len(captions), np.nan)
    for i, (cid, _) in enumerate(captions):
        vals = [z[t][cid] for t in who[cid] if cid in z.get(t, {})]
        if vals:
            out[i] = float(np.mean(vals))
    return out
