"""Frame relevance of a few captions, on one axis: the source frames of the caption's video.

Each teacher stored one relevance per frame *it sampled* (``frames`` view, frame 0..n-1);
the teacher's config in ``current_runs`` says how it sampled (``frames.num_frames``,
``frames.fps``), so :func:`teachkit.util.media.sample_indices` gives back the source frame of
each value. The student's AFA weights come from running the student's video tower on the
frames it was trained on (the run's frame cache, or a fresh decode when the cache is gone),
whose source indices the cache records. The demo's ground truth names the source frames of
each event the caption mentions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from teachkit.util.media import sample_indices

FRAMES_SQL = """
SELECT teacher, frame, score FROM frames
WHERE caption_id = ? AND video_id = ? ORDER BY teacher, frame
"""
CAPTION_SQL = """
SELECT c.caption_id, c.video_id, c.text, c.split, v.path, v.frames, v.fps
FROM captions c JOIN videos v USING (video_id) WHERE c.caption_id = ?
"""
CANDIDATES_SQL = """
SELECT DISTINCT f.caption_id FROM frames f JOIN captions c USING (caption_id)
WHERE c.split = ? ORDER BY f.caption_id LIMIT ?
"""


@dataclass
class Row:
    """One heatmap row: values at source frames (NaN where the model did not look)."""

    label: str
    positions: np.ndarray  # source frame indices
    values: np.ndarray


@dataclass
class CaptionRelevance:
    caption_id: str
    video_id: str
    text: str
    n_frames: int
    rows: list[Row] = field(default_factory=list)
    events: list[tuple[str, list[int]]] = field(default_factory=list)  # (event label, source frames)


def pick_captions(con, split: str, ground_truth: dict | None, n: int) -> list[str]:
    """``n`` captions of ``split`` that teachers stored relevance for; with a ground truth,
    correct captions with events, one per video."""
    ids = [r[0] for r in con.execute(CANDIDATES_SQL, [split, 50 * n]).fetchall()]
    if ground_truth is not None:
        gt = ground_truth.get("captions", {})
        ids = [c for c in ids if c in gt and not gt[c].get("wrong") and gt[c].get("events")]
    picked, videos = [], set()
    for c in ids:
        video = c.split("#")[0]
        if video not in videos:
            picked.append(c)
            videos.add(video)
        if len(picked) == n:
            break
    return picked


def teacher_sampling(con) -> dict[str, tuple[int, float | None]]:
    """Teacher -> (num_frames, fps) from its current run's config."""
    out = {}
    for teacher, config in con.execute("SELECT teacher, config FROM current_runs").fetchall():
        frames = json.loads(config or "{}").get("frames") or {}
        if frames.get("num_frames"):
            out[teacher] = (int(frames["num_frames"]), frames.get("fps"))
    return out


def caption_relevance(con, caption_id: str, ground_truth: dict | None, student=None) -> CaptionRelevance:
    """Teachers' relevance, the student's AFA weights and the true event frames of a caption."""
    row = con.execute(CAPTION_SQL, [caption_id]).fetchone()
    if row is None:
        from teachkit.util.errors import InputError

        raise InputError(f"--caption {caption_id}: not a caption of the store's manifest")
    _, video_id, text, split, path, n_frames, video_fps = row
    out = CaptionRelevance(caption_id, video_id, text, int(n_frames))
    sampling = teacher_sampling(con)
    by_teacher: dict[str, list[tuple[int, float]]] = {}
    for teacher, frame, score in con.execute(FRAMES_SQL, [caption_id, video_id]).fetchall():
        by_teacher.setdefault(teacher, []).append((int(frame), float(score)))
    for teacher, vals in by_teacher.items():
        frames = np.array([f for f, _ in vals])
        num, fps = sampling.get(teacher, (int(frames.max()) + 1, None))
        source = sample_indices(out.n_frames, num, float(video_fps or 0.0), fps)
        keep = frames < len(source)
        out.rows.append(Row(f"teacher {teacher}", source[frames[keep]], np.array([s for _, s in vals])[keep]))
    if student is not None:
        weights = student.frame_weights(split, video_id, path)
        if weights is not None:
            out.rows.append(Row(f"student AFA ({student.name})", *weights))
    if ground_truth is not None:
        gt = ground_truth.get("captions", {}).get(caption_id, {})
        for e in gt.get("events", []):
            label = " ".join(str(e[k]) for k in ("colour", "shape", "action", "param") if e.get(k))
            out.events.append((label, [int(f) for f in e.get("frames", [])]))
    return out


class StudentFrames:
    """AFA frame weights of one student run for the videos of its store."""

    def __init__(self, run: Path, store_root: str | Path):
        from student.model import load_student

        self.run = Path(run)
        self.name = self.run.name
        self.model, _, self.spec = load_student(self.run)
        self.store_root = Path(store_root)
        cfg = json.loads((self.run / "config.json").read_text())
        self.cache_root = Path(cfg["data"]["cache"])
        self._caches: dict[str, object] = {}

    def _cache(self, split: str):
        """The run's frame cache of ``split`` when it is still on disk."""
        if split not in self._caches:
            from stores.layout import Store
            from student.frame_cache import FrameCache, cache_key

            manifest = Store(self.store_root).manifest()
            key = cache_key(manifest.fingerprint, split, self.spec["num_frames"], self.spec["fps"], self.spec["image_size"])
            folder = self.cache_root / "frames" / key
            self._caches[split] = FrameCache.open(folder) if (folder / "videos.json").exists() else None
        return self._caches[split]

    def frame_weights(self, split: str, video_id: str, path: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(source frame indices, AFA weights) of a video, or None for a head without weights."""
        import torch

        cache = self._cache(split)
        if cache is not None and video_id in cache.rows():
            r = cache.rows()[video_id]
            frames, mask, indices = np.array(cache.frames[r]), cache.mask[r], cache.indices[r]
        else:
            from teachkit.util.media import decode_frames
            from stores.videos import video_paths

            s = decode_frames(video_paths(self.store_root)(path), self.spec["num_frames"], self.spec["fps"] or None)
            frames, mask, indices = s.frames, s.mask, s.indices
        with torch.no_grad():
            _, w = self.model.encode_video(torch.from_numpy(np.ascontiguousarray(frames))[None], torch.from_numpy(mask)[None])
        if w is None:
            return None
        return indices[mask], w[0].numpy()[mask]
