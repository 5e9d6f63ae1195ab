"""Decode each video of a split once and hand it to every teacher that is being computed.

A thread pool decodes videos ahead of the encoders (PyAV releases the GIL) and runs each
teacher's ``prepare`` (resize + crop) in the same worker, deduplicated by ``prepare_key``;
the main thread feeds the results, in order, to every teacher's ``encode_videos`` in that
teacher's own ``video_batch``. Features stay in memory (on the teacher's device) for the
scoring that follows. A video that cannot be decoded becomes a failure ``(video_id,
reason)`` of every visual teacher and is left out of its scores; it stops nothing. A video
that decoded past corrupt packets is used and becomes a warning ``(video_id, what was
recovered)`` (the ``failures`` view, ``level = 'warning'``).
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from stores.media import MediaError, decode_frames

from ..config import FramesConfig
from ..teachers.protocol import Features, VideoBatch, concat_features
from stores.splits import SplitData


@dataclass
class EncodedVideos:
    """One teacher's video features for a split; row r is split video ``ok[r]``."""

    features: Features | None
    ok: np.ndarray
    failures: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)


class _Failed:
    def __init__(self, reason: str):
        self.reason = reason


def _identity(frames):
    return frames


class _Buffer:
    """Videos waiting for one teacher's next ``encode_videos`` call."""

    def __init__(self, job):
        self.job = job
        self.index: list[int] = []
        self.items: list = []
        self.parts: list[Features] = []
        self.ok: list[int] = []
        self.failures: list[tuple[str, str]] = []
        self.warnings: list[tuple[str, str]] = []

    def add(self, i: int, item, split: SplitData) -> None:
        self.index.append(i)
        self.items.append(item)
        if len(self.index) >= self.job.cfg.video_batch:
            self.flush(split)

    def flush(self, split: SplitData) -> None:
        if not self.index:
            return
        t = self.job.teacher
        batch = VideoBatch(
            video_ids=[split.video_ids[i] for i in self.index],
            frames=list(self.items) if t.needs_frames else None,
            captions=[split.video_captions[i] for i in self.index],
        )
        start = time.perf_counter()
        self.parts.append(t.encode_videos(batch))
        self.job.add_time("encode_videos", time.perf_counter() - start)
        self.ok += self.index
        self.index, self.items = [], []

    def result(self) -> EncodedVideos:
        feats = concat_features(self.parts) if self.parts else None
        return EncodedVideos(feats, np.array(self.ok, dtype=np.int64), self.failures, self.warnings)


def encode_split(split: SplitData, jobs: list, frames: FramesConfig, progress=None) -> dict[str, EncodedVideos]:
    """Every job's :class:`EncodedVideos` for ``split`` (decoding each video at most once)."""
    buffers = {j.name: _Buffer(j) for j in jobs}
    visual = [j for j in jobs if j.teacher.needs_frames]
    keys, prepares = {}, {}
    for j in visual:
        key = getattr(j.teacher, "prepare_key", None) or ("job", j.name)
        keys[j.name] = key
        prepares.setdefault(key, getattr(j.teacher, "prepare", None) or _identity)

    def work(i: int):
        path = split.paths[i]
        try:
            sampled = decode_frames(path, frames.num_frames, frames.fps)
        except MediaError as e:  # its message names the file once
            return _Failed(e.one_line())
        except Exception as e:  # a decoder bug on one file: skip it, never stop
            return _Failed(f"{path}: {type(e).__name__}: {e}")
        return {key: fn(sampled) for key, fn in prepares.items()}, sampled.warning

    n = len(split.video_ids)
    task = progress.add_task(f"{split.name}: videos", total=n, unit="videos") if progress else None
    ahead = 2 * max(j.cfg.video_batch for j in jobs) + frames.decode_workers
    pool = ThreadPoolExecutor(frames.decode_workers, thread_name_prefix="decode")
    try:
        results = _ordered(pool, work, n, ahead) if visual else ((None, 0.0) for _ in range(n))
        for i, (res, waited) in enumerate(results):
            for j in visual:
                j.add_time("decode_wait", waited)
            for j in jobs:
                b = buffers[j.name]
                if not j.teacher.needs_frames:
                    b.add(i, None, split)
                elif isinstance(res, _Failed):
                    b.failures.append((split.video_ids[i], res.reason))
                else:
                    prepared, warning = res
                    if warning:
                        b.warnings.append((split.video_ids[i], warning))
                    b.add(i, prepared[keys[j.name]], split)
            if task is not None:
                progress.advance(task)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # an encoder error must not decode on
    for b in buffers.values():
        b.flush(split)
    return {name: b.result() for name, b in buffers.items()}


def _ordered(pool: ThreadPoolExecutor, fn, n: int, ahead: int):
    """``(fn(i), seconds waited)`` for i in 0..n-1, in order, at most ``ahead`` in flight."""
    pending: deque = deque()
    nxt = 0
    for _ in range(n):
        while nxt < n and len(pending) < ahead:
            pending.append(pool.submit(fn, nxt))
            nxt += 1
        start = time.perf_counter()
        res = pending.popleft().result()
        yield res, time.perf_counter() - start
