"""The encode pass: decode each video once for every encoding that needs it, store its features.

An *encoding* is what one teacher's ``encode_videos`` computes (:class:`Encoder`; teachers
that differ only in how they score share one, see :mod:`.prepare`). Its output is encode
shards (:class:`stores.writer.FeatureShards`): shard ``i`` of a split holds videos ``[i * n,
(i + 1) * n)`` with ``n = [engine] shard_videos``, one row per video, in split order, with the
video's features as the teacher gave them (serialised, bit for bit) or why it could not be
decoded. The unit of work is :func:`encode_shard`: one shard for every encoding that needs it,
each video decoded once. Engines only decide where it runs: :func:`encode_split` runs it
here with a thread pool decoding ahead of the encoders (PyAV releases the GIL) and each
teacher's ``prepare`` (resize + crop) in the same worker, deduplicated by ``prepare_key``;
the Ray engine decodes in CPU tasks and encodes in actors (:mod:`.ray_engine`).

Within a shard a teacher encodes its decodable videos in ``video_batch`` runs, so the batches
-- and the features -- are the same whichever engine ran the shard. A video that cannot be
decoded becomes a failure ``(video_id, reason)`` of every visual teacher and is left out of
its scores; it stops nothing. One that decoded past corrupt packets is used and becomes a
warning (the ``failures`` view, ``level = 'warning'``). The score pass reads a split's
shards back with :func:`load_features`.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from teachkit.util.errors import RuntimeFailure
from teachkit.util.media import MediaError, decode_frames
from stores.splits import SplitData
from stores.writer import FeatureShards

from ..config import FramesConfig
from ..teachers.protocol import Features, VideoBatch, concat_features, to_device


@dataclass
class EncodedVideos:
    """One encoding's video features for a split; row r is split video ``ok[r]``."""

    features: Features | None
    ok: np.ndarray
    failures: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)


class Encoder:
    """One encoding being computed: where its shards go and the teacher that computes them."""

    def __init__(self, shards: FeatureShards, teacher, cfg):
        self.shards, self.teacher, self.cfg = shards, teacher, cfg
        self.timings: dict[str, float] = defaultdict(float)

    @property
    def needs_frames(self) -> bool:
        return bool(self.teacher.needs_frames)

    def add_time(self, stage: str, seconds: float) -> None:
        self.timings[stage] += seconds


class Failed:
    """A video that could not be decoded, and why."""

    def __init__(self, reason: str):
        self.reason = reason


def shard_ranges(split: SplitData, shard_videos: int) -> list[range]:
    """The split's encode shards: ranges of video positions."""
    n = len(split.video_ids)
    return [range(lo, min(lo + shard_videos, n)) for lo in range(0, n, shard_videos)]


def preparations(encoders: list[Encoder]) -> tuple[dict[int, object], dict[object, object]]:
    """(encoder position -> prepare key, prepare key -> function) of the visual encoders."""
    keys, fns = {}, {}
    for i, e in enumerate(encoders):
        if e.needs_frames:
            key = getattr(e.teacher, "prepare_key", None) or ("encoder", i)
            keys[i] = key
            fns.setdefault(key, getattr(e.teacher, "prepare", None) or _identity)
    return keys, fns


def decode_video(path, frames: FramesConfig, prepares: dict | None):
    """``(prepared per key, warning)`` of one video, or :class:`Failed`; with ``prepares=None``
    ``(sampled frames, warning)`` (the Ray engine prepares in its encoder actors)."""
    try:
        sampled = decode_frames(path, frames.num_frames, frames.fps)
    except MediaError as e:  # its message names the file once
        return Failed(e.one_line())
    except Exception as e:  # a decoder bug on one file: skip it, never stop
        return Failed(f"{path}: {type(e).__name__}: {e}")
    if prepares is None:
        return sampled, sampled.warning
    return {key: fn(sampled) for key, fn in prepares.items()}, sampled.warning


def prepare_decoded(decoded: list, prepares: dict) -> list:
    """What :func:`decode_video` with ``prepares`` returns, from its ``prepares=None`` results."""
    return [d if isinstance(d, Failed) or d is None else ({k: fn(d[0]) for k, fn in prepares.items()}, d[1])
            for d in decoded]


class ShardEncoder:
    """Encodes one encode shard as its videos arrive, in order, and writes it at the end.

    Each encoder takes its decodable videos in runs of ``video_batch`` as they come (so the
    local engine encodes while later videos are still decoding); the runs -- and so the
    features -- depend only on the shard, whichever engine fed it.
    """

    def __init__(self, split: SplitData, index: int, videos: range, encoders: list[Encoder], keys: dict[int, object]):
        self.split, self.index, self.videos, self.encoders, self.keys = split, index, videos, encoders, keys
        self.decoded: list = []
        self.pending: list[list[int]] = [[] for _ in encoders]
        self.blobs: list[dict[int, bytes]] = [{} for _ in encoders]

    def add(self, decoded) -> None:
        """The next video's :func:`decode_video` result (None when no encoder needs frames)."""
        r = len(self.decoded)
        self.decoded.append(decoded)
        for pos, enc in enumerate(self.encoders):
            if enc.needs_frames and isinstance(decoded, Failed):
                continue
            self.pending[pos].append(r)
            if len(self.pending[pos]) == enc.cfg.video_batch:
                self._encode(pos)

    def finish(self) -> None:
        """Encode what is left and write the shard of every encoder."""
        if len(self.decoded) != len(self.videos):
            raise ValueError(f"encode shard {self.index}: {len(self.decoded)} of {len(self.videos)} videos given")
        for pos, enc in enumerate(self.encoders):
            if self.pending[pos]:
                self._encode(pos)
            start = time.perf_counter()
            level, note = [], []
            for d in self.decoded:
                if enc.needs_frames and isinstance(d, Failed):
                    level.append("error"), note.append(d.reason)
                elif enc.needs_frames and d[1]:
                    level.append("warning"), note.append(d[1])
                else:
                    level.append(None), note.append(None)
            enc.shards.write(self.split.name, self.index, pa.table({
                "video_id": [self.split.video_ids[i] for i in self.videos],
                "features": pa.array([self.blobs[pos].get(r) for r in range(len(self.videos))], pa.large_binary()),
                "level": pa.array(level, pa.string()),
                "note": pa.array(note, pa.string()),
            }))
            enc.add_time("write", time.perf_counter() - start)

    def _encode(self, pos: int) -> None:
        enc, rows = self.encoders[pos], self.pending[pos]
        idx = [self.videos[r] for r in rows]
        batch = VideoBatch(
            video_ids=[self.split.video_ids[i] for i in idx],
            frames=[self.decoded[r][0][self.keys[pos]] for r in rows] if enc.needs_frames else None,
            captions=[self.split.video_captions[i] for i in idx],
        )
        start = time.perf_counter()
        feats = enc.teacher.encode_videos(batch)
        enc.add_time("encode_videos", time.perf_counter() - start)
        start = time.perf_counter()
        self.blobs[pos].update({r: pack(feats, j) for j, r in enumerate(rows)})
        enc.add_time("write", time.perf_counter() - start)
        self.pending[pos] = []


def encode_shard(split: SplitData, index: int, videos: range, decoded: list, encoders: list[Encoder],
                 keys: dict[int, object]) -> None:
    """Encode and write shard ``index`` of ``split`` for each of ``encoders``: the encode
    pass's unit of work.

    ``decoded[r]`` is :func:`decode_video`'s result for split video ``videos[r]`` (None when
    no encoder needs frames); ``keys`` maps an encoder's position to its prepare key.
    """
    shard = ShardEncoder(split, index, videos, encoders, keys)
    for d in decoded:
        shard.add(d)
    shard.finish()


def encode_split(split: SplitData, todo: dict[int, list[Encoder]], shard_videos: int, frames: FramesConfig,
                 progress=None) -> None:
    """Run :func:`encode_shard` here for every shard in ``todo`` (index -> encoders needing it).

    One thread pool decodes ahead across shards, each video once for all the encoders of its
    shard; the encoders take the videos as they arrive (:class:`ShardEncoder`), and a shard
    is written as soon as its last video is encoded.
    """
    ranges = shard_ranges(split, shard_videos)
    order = sorted(todo)
    encoders = list({id(e): e for i in order for e in todo[i]}.values())
    keys, prepares = preparations(encoders)
    visual = [e for e in encoders if e.needs_frames]
    n = sum(len(ranges[i]) for i in order)
    task = progress.add_task(f"{split.name}: videos", total=n, unit="videos") if progress else None
    items = [(i, v) for i in order for v in ranges[i]]

    def work(k: int):
        i, v = items[k]
        if not any(e.needs_frames for e in todo[i]):
            return None
        return decode_video(split.paths[v], frames, prepares)

    ahead = 2 * max(e.cfg.video_batch for e in encoders) + frames.decode_workers
    pool = ThreadPoolExecutor(frames.decode_workers, thread_name_prefix="decode")
    try:
        results = _ordered(pool, work, len(items), ahead) if visual else ((None, 0.0) for _ in items)
        shard = None
        for k, (res, waited) in enumerate(results):
            i = items[k][0]
            for e in todo[i]:
                if e.needs_frames:
                    e.add_time("decode_wait", waited)
            if shard is None:
                ks = {pos: keys[encoders.index(e)] for pos, e in enumerate(todo[i]) if e.needs_frames}
                shard = ShardEncoder(split, i, ranges[i], todo[i], ks)
            shard.add(res)
            if len(shard.decoded) == len(ranges[i]):
                shard.finish()
                shard = None
            if task is not None:
                progress.advance(task)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # an encoder error must not decode on


def load_features(shards: FeatureShards, split: SplitData, shard_videos: int, device=None) -> EncodedVideos:
    """A split's stored features of one encoding, in split order (every shard must exist)."""
    position = {v: i for i, v in enumerate(split.video_ids)}
    parts, ok, failures, warnings = [], [], [], []
    for index in range(len(shard_ranges(split, shard_videos))):
        if not shards.has(split.name, index):
            raise RuntimeFailure(
                f"encoding {shards.encode}: encode shard {split.name}/{index} is missing "
                "(run the encode pass first, e.g. the missing `--shard i/n` job)"
            )
        t = shards.read(split.name, index)
        for vid, blob, level, note in zip(*(t.column(c).to_pylist() for c in ("video_id", "features", "level", "note"))):
            if blob is None:
                failures.append((vid, note))
                continue
            if level == "warning":
                warnings.append((vid, note))
            parts.append(unpack(blob))
            ok.append(position[vid])
    features = concat_features(parts) if parts else None
    if features is not None and device is not None:
        features = to_device(features, device)
    return EncodedVideos(features, np.array(ok, dtype=np.int64), failures, warnings)


def stored_notes(shards: FeatureShards, split: SplitData, shard_videos: int) -> tuple[list, list]:
    """(failures, warnings) an encoding recorded for a split, without reading its features."""
    failures, warnings = [], []
    for index in range(len(shard_ranges(split, shard_videos))):
        if not shards.has(split.name, index):
            continue
        t = shards.read(split.name, index, ["video_id", "level", "note"])
        for vid, level, note in zip(*(t.column(c).to_pylist() for c in ("video_id", "level", "note"))):
            if level == "error":
                failures.append((vid, note))
            elif level == "warning":
                warnings.append((vid, note))
    return failures, warnings


def pack(features: Features, row: int) -> bytes:
    """Row ``row`` of a feature batch as bytes (safetensors: exact dtype and values; key order kept)."""
    from safetensors.torch import save

    rows = {k: v[row : row + 1].detach().cpu().clone() for k, v in features.items()}
    return save(rows, metadata={"keys": json.dumps(list(rows))})


def unpack(blob: bytes) -> Features:
    """The one-row feature batch :func:`pack` wrote."""
    from safetensors.torch import load

    tensors = load(blob)
    order = json.loads(_metadata(blob).get("keys", "null")) or list(tensors)
    return {k: tensors[k] for k in order}


def _metadata(blob: bytes) -> dict:
    """The ``__metadata__`` of a safetensors blob (its header is 8 bytes of length, then JSON)."""
    n = int.from_bytes(blob[:8], "little")
    return json.loads(blob[8 : 8 + n]).get("__metadata__", {})


def _identity(frames):
    return frames


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
