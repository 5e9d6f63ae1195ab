"""Per-teacher evidence that a caption is wrong, and which teachers may judge which caption.

For each teacher and caption of the audited split the store gives the caption's scores over
every video; the audit reads two numbers from them (SQL below):

- ``own_rank``: the rank of the caption's own video (1 = best; ties count half, the metrics'
  pessimistic rule halved). A wrong caption describes some other scene, so its own video
  falls down the list. As evidence: ``log(own_rank)``, which grows with the number of videos
  the teacher prefers, and is insensitive to the teacher's score scale.
- ``margin``: own score minus the best other video's score. As evidence: ``-margin``.

Each teacher's evidence is standardised over the captions it judges (median and MAD scaled to a
standard deviation, robust to the very tail the audit is looking for), so teachers of different
score scales and strengths average on one scale. A caption's noise score is the mean of the
standardised evidence of the teachers that may judge it (:func:`judges`): a teacher that trained
on the caption has learnt to agree with it, wrong or not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..folds import Holdout, HoldoutError, held_out, parse_holdout

SIGNALS = ("rank", "margin")

OWN_SQL = """
WITH s AS (SELECT teacher, caption_id, video_id, score::DOUBLE AS score FROM scores
           WHERE split = $split AND teacher IN (SELECT unnest($teachers::VARCHAR[]))),
c AS (SELECT caption_id, video_id AS own_video FROM captions WHERE split = $split),
j AS (SELECT s.teacher, s.caption_id, s.score, s.video_id = c.own_video AS is_own
      FROM s JOIN c USING (caption_id)),
o AS (SELECT teacher, caption_id, score AS own FROM j WHERE is_own)
SELECT j.teacher, j.caption_id,
       1 + count(*) FILTER (WHERE j.score > o.own) + 0.5 * (count(*) FILTER (WHERE j.score = o.own) - 1) AS own_rank,
       o.own - max(j.score) FILTER (WHERE NOT j.is_own) AS margin,
       count(*) AS scored
FROM j JOIN o USING (teacher, caption_id)
GROUP BY j.teacher, j.caption_id, o.own
ORDER BY j.teacher, j.caption_id
"""

TEACHER_RUNS_SQL = """
SELECT teacher, fingerprint, run, kind, config FROM current_runs
WHERE kind <> 'audit' AND teacher IN (SELECT DISTINCT teacher FROM scores WHERE split = ?)
ORDER BY teacher
"""

CAPTIONS_SQL = "SELECT caption_id, video_id FROM captions WHERE split = ? ORDER BY caption_id"


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
        text = declared.get(name, json.loads(config or "{}").get("holdout"))
        try:
            holdout = None if text is None else parse_holdout(text, f"holdout of teacher {name}")
        except HoldoutError as e:
            raise AuditError(str(e)) from None
        out.append(TeacherRun(name, fp, run, holdout))
    if not out:
        raise AuditError(f"no teacher has scores of split {split!r}; run the teacher stage first")
    return out


def evidence(con, split: str, teachers: list[TeacherRun], signal: str) -> dict[str, dict[str, float]]:
    """``{teacher: {caption_id: raw evidence}}`` (higher: more likely wrong)."""
    if signal not in SIGNALS:
        raise AuditError(f"audit.signal must be one of {list(SIGNALS)}, got {signal!r}")
    t = con.execute(OWN_SQL, {"split": split, "teachers": [x.name for x in teachers]}).fetchnumpy()
    out: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(t["teacher"].tolist()):
        m = t["teacher"] == name
        raw = np.log(t["own_rank"][m].astype(np.float64)) if signal == "rank" else -t["margin"][m].astype(np.float64)
        out[name] = dict(zip(t["caption_id"][m].tolist(), raw.tolist()))
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
            ev: dict[str, dict[str, float]]) -> np.ndarray:
    """Per caption, the mean of its judges' evidence, each standardised (:func:`robust_z`) over
    the captions that teacher judges; NaN when no judge scored it."""
    z: dict[str, dict[str, float]] = {}
    for name, raw in ev.items():
        ids = [cid for cid, _ in captions if name in who[cid] and cid in raw]
        if ids:
            z[name] = dict(zip(ids, robust_z(np.array([raw[c] for c in ids])).tolist()))
    out = np.full(len(captions), np.nan)
    for i, (cid, _) in enumerate(captions):
        vals = [z[t][cid] for t in who[cid] if cid in z.get(t, {})]
        if vals:
            out[i] = float(np.mean(vals))
    return out
