"""Reading a store's splits: videos, captions, pairs and teachers, for both stages.

The teacher stage scores a split's captions against its videos (:class:`SplitData`), the
bootstrap trains on one split, the student trains on a split's (caption, video) pairs and
reads the teachers' current runs. All of them read the store through the SQL constants
here and resolve video paths through :mod:`stores.videos`, so both stages agree on what a
split holds and in which order.

Captions are ordered by ``caption_id`` within a split (the manifest's order) and videos by
``video_id``; shard ``i`` of a teacher run -- captions ``[i * shard_captions, (i + 1) *
shard_captions)`` -- names the same captions on every run over the same manifest, which is
what makes resumption exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from .connect import connect
from .layout import Store
from .videos import video_paths

VIDEOS_SQL = "SELECT split, video_id, path FROM videos ORDER BY split, video_id"
CAPTIONS_SQL = "SELECT split, caption_id, video_id, text FROM captions ORDER BY split, caption_id"
SPLIT_VIDEOS_SQL = "SELECT video_id, path FROM videos WHERE split = ? ORDER BY video_id"

PAIRS_SQL = """
SELECT c.caption_id, c.video_id, c.text
FROM captions c JOIN videos v ON c.video_id = v.video_id
WHERE c.split = ? AND v.split = ?
{exclude}
ORDER BY c.caption_id
"""

CAPTION_IDS_SQL = "SELECT caption_id, video_id, split FROM captions"
VIDEO_IDS_SQL = "SELECT video_id, split FROM videos"

SPLIT_COUNTS_SQL = """
SELECT v.split, v.videos, coalesce(c.captions, 0), v.unreadable
FROM (SELECT split, count(*) AS videos, count(*) FILTER (WHERE frames IS NULL) AS unreadable
      FROM videos GROUP BY split) v
LEFT JOIN (SELECT split, count(*) AS captions FROM captions GROUP BY split) c USING (split)
ORDER BY v.split
"""

CURRENT_TEACHERS_SQL = "SELECT teacher, fingerprint, run, kind FROM current_runs ORDER BY teacher"
TEACHERS_WITH_FRAMES_SQL = "SELECT DISTINCT teacher FROM frames WHERE split = ? ORDER BY teacher"
TEACHER_CONFIGS_SQL = "SELECT teacher, config FROM current_runs ORDER BY teacher"
SPLIT_CAPTIONS_SQL = "SELECT caption_id, video_id FROM captions WHERE split = ? ORDER BY caption_id"

#: an optional ``exclusions(caption_id)`` table or view: captions a student leaves out
EXCLUSIONS = "exclusions"


def _store(store: Store | str | Path) -> Store:
    return store if isinstance(store, Store) else Store(store)


@dataclass
class SplitData:
    """One split of the current manifest: videos (ids, files) and captions (ids, texts, own video)."""

    name: str
    video_ids: list[str]
    paths: list[Path]
    caption_ids: list[str]
    texts: list[str]
    caption_video: np.ndarray  # (captions,) index into video_ids

    def __post_init__(self):
        self.video_array = pa.array(self.video_ids, pa.string())
        self.caption_array = pa.array(self.caption_ids, pa.string())
        per_video: list[list[tuple[int, str]]] = [[] for _ in self.video_ids]
        for i, (v, text) in enumerate(zip(self.caption_video, self.texts)):
            per_video[v].append((i, text))
        self.video_captions = per_video

    def shards(self, shard_captions: int) -> list[range]:
        """Caption ranges of a run's shards: shard ``i`` holds ``[i * n, (i + 1) * n)``."""
        n = len(self.caption_ids)
        return [range(lo, min(lo + shard_captions, n)) for lo in range(0, n, shard_captions)]

    def captions(self) -> list[tuple[str, str, str]]:
        """(caption_id, video_id, text) of every caption, in caption order."""
        return [(c, self.video_ids[v], t) for c, v, t in zip(self.caption_ids, self.caption_video, self.texts)]


def load_splits(store: Store | str | Path, videos: str | Path | None = None) -> dict[str, SplitData]:
    """Every split of the store's current manifest, video paths resolved against ``videos``
    (or the manifest's recorded videos root, :func:`stores.videos.video_paths`)."""
    store = _store(store)
    resolve = video_paths(store, videos)
    with connect(store.root) as con:
        video_rows = con.execute(VIDEOS_SQL).fetchall()
        caption_rows = con.execute(CAPTIONS_SQL).fetchall()
    out: dict[str, SplitData] = {}
    for split in sorted({s for s, _, _ in video_rows}):
        vids = [(v, p) for s, v, p in video_rows if s == split]
        row = {v: i for i, (v, _) in enumerate(vids)}
        caps = [(c, v, t) for s, c, v, t in caption_rows if s == split]
        strays = [c for c, v, _ in caps if v not in row]
        if strays:
            raise ValueError(f"split {split}: captions of videos from another split, e.g. {strays[:3]}")
        out[split] = SplitData(
            name=split,
            video_ids=[v for v, _ in vids],
            paths=resolve.all([p for _, p in vids]),
            caption_ids=[c for c, _, _ in caps],
            texts=[t for _, _, t in caps],
            caption_video=np.array([row[v] for _, v, _ in caps], dtype=np.int64),
        )
    return out


def split_counts(store: Store | str | Path) -> list[dict]:
    """Per split of the current manifest: ``split``, ``videos``, ``captions``, ``unreadable`` videos."""
    with connect(_store(store).root) as con:
        rows = con.execute(SPLIT_COUNTS_SQL).fetchall()
    return [dict(zip(("split", "videos", "captions", "unreadable"), r)) for r in rows]


def load_split(store: Store | str | Path, split: str, videos: str | Path | None = None) -> SplitData | None:
    """One split of the current manifest (None when the manifest has no video in it)."""
    return load_splits(store, videos).get(split)


def split_videos(con, store: Store | str | Path, split: str, videos: str | Path | None = None) -> list[tuple[str, Path]]:
    """(video_id, file) of every video of ``split``, in video order, over an open connection."""
    resolve = video_paths(store, videos)
    return [(v, resolve(p)) for v, p in con.execute(SPLIT_VIDEOS_SQL, [split]).fetchall()]


def has_exclusions(con) -> bool:
    """Whether the connection has an ``exclusions(caption_id)`` table or view."""
    n = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [EXCLUSIONS]
    ).fetchone()[0]
    return n > 0


def split_pairs(con, split: str, drop_excluded: bool = True) -> list[tuple[str, str, str]]:
    """(caption_id, video_id, text) of the split, without excluded captions when asked.

    The switch is a no-op on stores without an ``exclusions`` view (later denoising work).
    """
    exclude = ""
    if drop_excluded and has_exclusions(con):
        exclude = f"AND c.caption_id NOT IN (SELECT caption_id FROM {EXCLUSIONS})"
    return con.execute(PAIRS_SQL.format(exclude=exclude), [split, split]).fetchall()


def caption_splits(con) -> dict[str, tuple[str, str]]:
    """caption_id -> (its video_id, its split), for every caption of the manifest."""
    return {c: (v, s) for c, v, s in con.execute(CAPTION_IDS_SQL).fetchall()}


def video_splits(con) -> dict[str, str]:
    """video_id -> its split, for every video of the manifest."""
    return dict(con.execute(VIDEO_IDS_SQL).fetchall())


def current_teachers(con) -> dict[str, dict]:
    """Teacher name -> {fingerprint, run, kind} of its current committed run."""
    return {r[0]: {"fingerprint": r[1], "run": r[2], "kind": r[3]} for r in con.execute(CURRENT_TEACHERS_SQL).fetchall()}


def teachers_with_frames(con, split: str) -> list[str]:
    """Teachers whose current run stored frame relevance for ``split``."""
    return [r[0] for r in con.execute(TEACHERS_WITH_FRAMES_SQL, [split]).fetchall()]


def teacher_plans(con) -> dict[str, dict]:
    """Teacher name -> the score plan of its current run: ``{"kind": "full" | "topk", "k": int | None}``.

    Read from the run's canonical config (``runs.config``); a run whose config names no plan
    (imported scores, synthetic stores) counts as ``full``.
    """
    import json

    out = {}
    for teacher, config in con.execute(TEACHER_CONFIGS_SQL).fetchall():
        try:
            plan = (json.loads(config or "{}") or {}).get("plan") or {}
        except (ValueError, AttributeError):
            plan = {}
        kind = plan.get("kind", "full") if isinstance(plan, dict) else "full"
        out[teacher] = {"kind": kind, "k": plan.get("k") if isinstance(plan, dict) else None}
    return out


def teacher_holdouts(con, teachers: list[str]):
    """Teacher name -> the :class:`stores.folds.Holdout` its current run declares, or None.

    Read from the run's canonical config (the teacher stage's ``holdout`` field); a run
    that declares none (imported scores, most users' checkpoints) maps to None: unknown,
    as if trained on every training caption.
    """
    from .folds import declared_holdout, parse_holdout

    configs = dict(con.execute(TEACHER_CONFIGS_SQL).fetchall())
    texts = {t: declared_holdout(configs.get(t)) for t in teachers}
    return {t: None if text is None else parse_holdout(text, f"holdout of teacher {t}") for t, text in texts.items()}


def cross_fitted_captions(con, split: str, teachers: list[str]) -> dict[str, set[str] | None]:
    """Per teacher, the captions of ``split`` it may teach when its scores are cross-fitted.

    A fold teacher (holdout ``fold:i/n``, :mod:`stores.folds`) was trained without fold ``i``
    of the split's captions, so only its scores of those captions are free of what it learnt
    from them: it gets that fold. Every other teacher (holdout ``all``, or none declared)
    gets None: every caption. The folds are dealt over all of the split's captions, as the
    teacher stage dealt them, whatever subset a student then trains on.
    """
    from .folds import held_out

    holdouts = teacher_holdouts(con, teachers)
    if not any(h is not None and not h.everything for h in holdouts.values()):
        return {t: None for t in teachers}
    captions = con.execute(SPLIT_CAPTIONS_SQL, [split]).fetchall()
    return {t: held_out(captions, h) if h is not None and not h.everything else None for t, h in holdouts.items()}
