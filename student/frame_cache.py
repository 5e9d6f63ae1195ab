"""Decoded-frame cache: one split's sampled frames, decoded once, memory-mapped after.

Several students and seeds train on the same frames, so decoding happens once per
(manifest, split, sampling, image size): :func:`frame_cache` decodes every video the store's
``videos`` view lists for the split with :func:`teachkit.util.media.decode_frames`, resizes to the
student's image size (shorter side, then centre crop, as CLIP preprocesses) and writes

    <cache>/frames/<key>/frames.npy    uint8 (N, T, S, S, 3), memory-mapped when read
                         mask.npy      bool (N, T), True for real frames
                         indices.npy   int64 (N, T), source frame index, -1 where padded
                         videos.json   video ids (row order) and the videos that failed

into a temporary folder renamed when complete (:func:`teachkit.util.atomic.atomic_path`), so a
crash never leaves a half cache and two processes building the same key cannot corrupt each
other. Video files are found with the store's one resolver (:mod:`stores.videos`: the
``videos`` folder given, else the manifest's recorded root). Videos that fail to decode keep
an all-False mask and are listed; the trainer leaves their captions out.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from teachkit.util.atomic import atomic_path, remove_dead_leftovers
from stores.fingerprint import fingerprint
from teachkit.util.media import MediaError, decode_frames
from stores.splits import split_videos

CACHE_FORMAT = 1


@dataclass
class FrameCache:
    folder: Path
    video_ids: list[str]
    failed: dict[str, str]
    frames: np.ndarray  # memmap (N, T, S, S, 3) uint8
    mask: np.ndarray  # (N, T) bool
    indices: np.ndarray  # (N, T) int64

    @classmethod
    def open(cls, folder: Path) -> FrameCache:
        meta = json.loads((folder / "videos.json").read_text())
        return cls(
            folder,
            meta["video_ids"],
            meta["failed"],
            np.load(folder / "frames.npy", mmap_mode="r"),
            np.load(folder / "mask.npy"),
            np.load(folder / "indices.npy"),
        )

    def rows(self) -> dict[str, int]:
        return {v: i for i, v in enumerate(self.video_ids)}

    def usable(self) -> np.ndarray:
        """Rows with at least one decoded frame."""
        return self.mask.any(1)


def _resize(frames: np.ndarray, size: int) -> np.ndarray:
    """Shorter side to ``size`` (bilinear, antialiased), centre crop: (T, size, size, 3).

    The exported student's loader (:func:`student.hf_loader.resize_frames`) is the one
    implementation, so an exported model sees frames exactly as training did.
    """
    t, h, w, _ = frames.shape
    if h == size and w == size:
        return frames
    import torch

    from .hf_loader import resize_frames

    return resize_frames(torch.from_numpy(np.ascontiguousarray(frames)), size).numpy()


def _decode_one(args):
    path, num_frames, fps, size = args
    try:
        s = decode_frames(path, num_frames, fps or None)
    except MediaError as e:
        return None, str(e)
    return (_resize(s.frames, size), s.mask, s.indices), None


def cache_key(manifest_fp: str, split: str, num_frames: int, fps: float, image_size: int) -> str:
    return fingerprint("student-frames", CACHE_FORMAT, manifest_fp, split, num_frames, fps, image_size)[:16]


def frame_cache(
    con,
    store_root: str | Path,
    manifest_fp: str,
    split: str,
    cache_root: str | Path,
    num_frames: int,
    fps: float,
    image_size: int,
    workers: int = 2,
    progress=None,
    videos: str | Path | None = None,
) -> FrameCache:
    """The split's frame cache, decoding it first if it is missing (see module docstring).

    ``videos`` is the folder the manifest's relative video paths are under, when it is not
    the one the manifest recorded (the videos moved).
    """
    key = cache_key(manifest_fp, split, num_frames, fps, image_size)
    folder = Path(cache_root) / "frames" / key
    if (folder / "videos.json").exists():
        return FrameCache.open(folder)
    rows = split_videos(con, store_root, split, videos)
    if not rows:
        raise ValueError(f"the store lists no videos in split {split!r}")
    remove_dead_leftovers(folder)
    try:
        with atomic_path(folder, replace=False) as tmp:
            tmp.mkdir()
            _decode_into(tmp, rows, num_frames, fps, image_size, workers, progress, split)
    except OSError:  # FileExistsError or ENOTEMPTY: another process finished the same cache first
        if not (folder / "videos.json").exists():
            raise
    return FrameCache.open(folder)


def _decode_into(tmp: Path, rows, num_frames: int, fps: float, image_size: int, workers: int, progress, split: str):
    """Decode ``rows`` (video_id, file) into the cache files under ``tmp``."""
    frames = np.lib.format.open_memmap(
        tmp / "frames.npy", mode="w+", dtype=np.uint8, shape=(len(rows), num_frames, image_size, image_size, 3)
    )
    mask = np.zeros((len(rows), num_frames), dtype=bool)
    indices = np.full((len(rows), num_frames), -1, dtype=np.int64)
    failed: dict[str, str] = {}
    jobs = [(str(path), num_frames, fps, image_size) for _, path in rows]
    task = progress.add_task(f"decoding {split} frames", total=len(rows), unit="videos") if progress else None
    results = _map(jobs, workers)
    for i, ((vid, _), (out, err)) in enumerate(zip(rows, results)):
        if err is not None:
            failed[vid] = err
        else:
            frames[i], mask[i], indices[i] = out
        if progress:
            progress.advance(task)
    frames.flush()
    del frames
    np.save(tmp / "mask.npy", mask)
    np.save(tmp / "indices.npy", indices)
    (tmp / "videos.json").write_text(json.dumps({"video_ids": [v for v, _ in rows], "failed": failed}))


def _map(jobs, workers: int):
    if workers <= 1 or len(jobs) < 8:
        yield from map(_decode_one, jobs)
        return
    import multiprocessing as mp

    # spawn: the caller may hold a DuckDB connection, which must not cross a fork
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        yield from pool.map(_decode_one, jobs, chunksize=16)
