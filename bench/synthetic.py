"""Synthetic stores: random scores written through the real ``stores`` API, no model.

The layout copies MSR-VTT's training split (9k videos, 20 captions each, 180k captions)
scaled to a fraction of its ``full``-plan rows (every caption scored against every video,
180k x 9k = 1.62e9 rows). A fraction ``f`` of the rows is a dataset ``sqrt(f)`` as big in
videos and captions, so 20 captions per video hold at every size. Scores are random
normal floats: incompressible, so the bytes are the honest upper bound for real scores.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from stores import RunWriter, Store, canonical_json, fingerprint

MSRVTT_VIDEOS = 9_000
CAPTIONS_PER_VIDEO = 20
MSRVTT_ROWS = MSRVTT_VIDEOS * CAPTIONS_PER_VIDEO * MSRVTT_VIDEOS  # 1.62e9
NUM_FRAMES = 12
TEACHER = "synthetic"


@dataclass(frozen=True)
class SyntheticSpec:
    videos: int
    captions_per_video: int = CAPTIONS_PER_VIDEO
    num_frames: int = NUM_FRAMES
    shard_rows: int = 1 << 23  # ~8M score rows per shard (whole captions)
    score_dtype: str = "float16"
    seed: int = 0
    only_captions: int = 0  # > 0: just this many captions (of the first videos), each vs every video

    @classmethod
    def fraction(cls, f: float, **kw) -> "SyntheticSpec":
        """The spec whose full-plan rows are ``f`` of MSR-VTT's training split."""
        return cls(videos=max(2, round(MSRVTT_VIDEOS * math.sqrt(f))), **kw)

    @property
    def captions(self) -> int:
        return self.only_captions or self.videos * self.captions_per_video

    @property
    def rows(self) -> int:
        return self.captions * self.videos

    @property
    def captions_per_shard(self) -> int:
        return max(1, self.shard_rows // self.videos)


def main_fraction(cfg) -> float:
    """The store size the stream figures read (the ``scale`` run keeps it for them)."""
    return cfg.pick(tiny=1e-5, quick=0.01, full=0.1)


@dataclass
class SyntheticStore:
    root: Path
    spec: SyntheticSpec
    write_s: float  # seconds inside RunWriter.write_shard for the scores (the product's cost)
    frames_write_s: float
    score_bytes: int
    frame_bytes: int
    score_rows: int
    frame_rows: int


def video_ids(n: int) -> list[str]:
    return [f"video{i}" for i in range(n)]  # MSR-VTT's own naming (video0 .. video9999)


def caption_ids(spec: SyntheticSpec) -> list[str]:
    """Caption i belongs to video i // captions_per_video (MSR-VTT's ``video12#3`` style)."""
    k = spec.captions_per_video
    return [f"video{i // k}#{i % k}" for i in range(spec.captions)]


def write_manifest(store: Store, spec: SyntheticSpec) -> None:
    vids = video_ids(spec.videos)
    caps = caption_ids(spec)
    cap_video = [vids[i // spec.captions_per_video] for i in range(spec.captions)]
    videos = pa.table({
        "video_id": vids,
        "split": ["train"] * spec.videos,
        "path": [f"videos/{v}.mp4" for v in vids],
        "duration": pa.array([15.0] * spec.videos, pa.float32()),
        "fps": pa.array([30.0] * spec.videos, pa.float32()),
        "frames": pa.array([450] * spec.videos, pa.int32()),
    })
    captions = pa.table({
        "caption_id": caps,
        "video_id": cap_video,
        "split": ["train"] * spec.captions,
        "text": [f"synthetic caption {i}" for i in range(spec.captions)],
    })
    store.write_manifest("synthetic", videos, captions)


def build(root: str | Path, spec: SyntheticSpec, on_shard=None) -> SyntheticStore:
    """Write a synthetic store at ``root`` (manifest, one committed run of scores + frames).

    Shards hold whole captions, each scored against every video (the ``full`` plan), rows in
    the order the teacher stage writes them (:func:`stores.writer.score_row_order`). Only :meth:`RunWriter.write_shard` is timed: generating random numbers
    is not the product's work.
    """
    root = Path(root)
    store = Store(root, create=True)
    write_manifest(store, spec)
    config = {"teacher": TEACHER, "spec": spec}
    fp = fingerprint("synthetic-run", config, store.require_manifest().fingerprint)
    writer = RunWriter(store, TEACHER, "synthetic", fp, canonical_json(config), "bench",
                       score_dtype=spec.score_dtype)
    writer.begin()
    rng = np.random.default_rng(spec.seed)
    cap_dict = pa.array(caption_ids(spec))
    vid_dict = pa.array(video_ids(spec.videos))
    step = spec.captions_per_shard
    write_s = frames_s = 0.0
    for shard, start in enumerate(range(0, spec.captions, step)):
        stop = min(start + step, spec.captions)
        n = stop - start
        # the row order pipeline/run/shards.py writes (stores.writer.score_row_order): built
        # directly, as the permutation of 8M rows would double the memory
        if n < spec.videos:  # video-major
            cap_idx = np.tile(np.arange(start, stop, dtype=np.int32), spec.videos)
            vid_idx = np.repeat(np.arange(spec.videos, dtype=np.int32), n)
        else:  # caption-major
            cap_idx = np.repeat(np.arange(start, stop, dtype=np.int32), spec.videos)
            vid_idx = np.tile(np.arange(spec.videos, dtype=np.int32), n)
        scores = pa.table({
            "caption_id": pa.DictionaryArray.from_arrays(cap_idx, cap_dict),
            "video_id": pa.DictionaryArray.from_arrays(vid_idx, vid_dict),
            "score": (rng.standard_normal(n * spec.videos, dtype=np.float32) * 0.1).astype(spec.score_dtype),
        })
        del cap_idx, vid_idx
        t0 = time.perf_counter()
        writer.write_shard("scores", "train", shard, scores)
        write_s += time.perf_counter() - t0
        del scores
        # frame relevance of each caption with its own video's sampled frames
        own = np.arange(start, stop, dtype=np.int32) // spec.captions_per_video
        frames = pa.table({
            "caption_id": pa.DictionaryArray.from_arrays(
                np.repeat(np.arange(start, stop, dtype=np.int32), spec.num_frames), cap_dict),
            "video_id": pa.DictionaryArray.from_arrays(np.repeat(own, spec.num_frames), vid_dict),
            "frame": np.tile(np.arange(spec.num_frames, dtype=np.int16), n),
            "score": (rng.standard_normal(n * spec.num_frames, dtype=np.float32) * 0.1).astype(spec.score_dtype),
        })
        t0 = time.perf_counter()
        writer.write_shard("frames", "train", shard, frames)
        frames_s += time.perf_counter() - t0
        if on_shard is not None:
            on_shard(stop, spec.captions)
    writer.commit(timings={"write_s": write_s})
    return SyntheticStore(
        root, spec, write_s, frames_s,
        table_bytes(root, "scores"), table_bytes(root, "frames"),
        writer.rows("scores"), writer.rows("frames"),
    )


def table_bytes(root: str | Path, table: str) -> int:
    """Bytes on disk of a table's Parquet files (every run, split and shard)."""
    return sum(p.stat().st_size for p in (Path(root) / table).rglob("*.parquet"))
