"""Training batches: captions, their videos' cached frames, and the teachers' knowledge.

:func:`batch_plan` fixes every batch of a run in advance from the seed: each epoch
shuffles the videos and gives each one caption (a random one of its captions), so a batch
never holds the same video twice (a duplicate would be an in-batch false negative). The
plain and the distilled student of a seed therefore see exactly the same batches.

:class:`TrainBatches` is an ``IterableDataset`` of whole batches. With ``num_workers`` n,
worker k assembles batches k, k+n, ... (so the DataLoader's round-robin keeps the planned
order) in windows of ``teacher_window`` batches, one DuckDB query per window and teacher
table (:mod:`student.knowledge`). Frames come from the memory-mapped frame cache.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .frames import FrameCache
from .knowledge import KnowledgeReader, align_relevance
from .model import tokenize


@dataclass
class TrainSet:
    """The usable training pairs (captions whose video has decoded frames), tokenized once."""

    caption_ids: list[str]
    texts: list[str]
    video_rows: np.ndarray  # (N,) row of each caption's video in the frame cache
    video_ids: list[str]  # cache row -> video id
    input_ids: torch.Tensor  # (N, L)
    attention_mask: torch.Tensor  # (N, L)

    def __len__(self) -> int:
        return len(self.caption_ids)


def build_train_set(pairs: list[tuple[str, str, str]], cache: FrameCache, tokenizer, max_words: int) -> TrainSet:
    rows = cache.rows()
    usable = cache.usable()
    keep = [(c, v, t) for c, v, t in pairs if v in rows and usable[rows[v]]]
    if not keep:
        raise ValueError("no training caption has a decodable video")
    texts = [t for _, _, t in keep]
    input_ids, attention_mask = tokenize(tokenizer, texts, max_words)
    return TrainSet(
        [c for c, _, _ in keep],
        texts,
        np.array([rows[v] for _, v, _ in keep], dtype=np.int64),
        list(cache.video_ids),
        input_ids,
        attention_mask,
    )


def split_holdout(pairs: list[tuple[str, str, str]], n_videos: int) -> tuple[list, list]:
    """(training pairs, held-out pairs): the ``n_videos`` videos first in sha1 order are held out.

    The choice depends only on the video ids, so every run and seed holds out the same videos.
    """
    if n_videos <= 0:
        return pairs, []
    import hashlib

    videos = sorted({v for _, v, _ in pairs}, key=lambda v: hashlib.sha1(v.encode()).hexdigest())
    if n_videos >= len(videos):
        raise ValueError(f"data.holdout_videos ({n_videos}) must be below the {len(videos)} training videos")
    held = set(videos[:n_videos])
    return [p for p in pairs if p[1] not in held], [p for p in pairs if p[1] in held]


def batch_plan(video_rows: np.ndarray, batch_size: int, steps: int, seed: int) -> list[np.ndarray]:
    """``steps`` batches of caption indices, one caption per distinct video per batch."""
    by_video: dict[int, list[int]] = {}
    for i, v in enumerate(video_rows.tolist()):
        by_video.setdefault(v, []).append(i)
    videos = np.array(sorted(by_video), dtype=np.int64)
    if len(videos) < batch_size:
        raise ValueError(f"data.batch_size ({batch_size}) exceeds the {len(videos)} training videos")
    rng = np.random.default_rng(seed)
    plan: list[np.ndarray] = []
    while len(plan) < steps:
        order = rng.permutation(videos)
        picks = np.array([by_video[v][rng.integers(len(by_video[v]))] for v in order.tolist()], dtype=np.int64)
        for start in range(0, len(picks) - batch_size + 1, batch_size):
            plan.append(picks[start : start + batch_size])
            if len(plan) == steps:
                break
    return plan


@dataclass
class Batch:
    caption_ids: list[str]
    video_ids: list[str]
    input_ids: torch.Tensor  # (B, L)
    attention_mask: torch.Tensor  # (B, L)
    frames: torch.Tensor  # (B, T, S, S, 3) uint8
    frame_mask: torch.Tensor  # (B, T) bool
    teacher_scores: torch.Tensor  # (K, B, B) float32, NaN = not scored
    teacher_relevance: torch.Tensor  # (Kf, B, T) float32 at the student's frames, NaN = none
    assembly_s: float  # seconds spent assembling this batch (its share of the window query)
    # (Kr, B, B) float32 teachers' video x video / caption x caption cosines, NaN = no embedding
    teacher_video_sims: torch.Tensor | None = None
    teacher_caption_sims: torch.Tensor | None = None
    # (B, T') frame index of each slot when training on a subset of the frames (train.train_frames)
    frame_positions: torch.Tensor | None = None

    def pin_memory(self):
        for name in ("input_ids", "attention_mask", "frames", "frame_mask", "teacher_scores", "teacher_relevance",
                     "teacher_video_sims", "teacher_caption_sims"):
            setattr(self, name, getattr(self, name).pin_memory())
        return self


class TrainBatches(IterableDataset):
    def __init__(
        self,
        train: TrainSet,
        plan: list[np.ndarray],
        cache_folder,
        reader: KnowledgeReader,
        window: int,
    ):
        self.train = train
        self.plan = plan
        self.cache_folder = cache_folder
        self.reader = reader
        self.window = window
        self._cache: FrameCache | None = None

    def __len__(self) -> int:
        return len(self.plan)

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        if self._cache is None:
            self._cache = FrameCache.open(self.cache_folder)
        mine = list(range(worker, len(self.plan), workers))
        for start in range(0, len(mine), self.window):
            yield from self._window([self.plan[i] for i in mine[start : start + self.window]])

    def _window(self, batches: list[np.ndarray]):
        t0 = time.perf_counter()
        t = self.train
        ids = [([t.caption_ids[i] for i in b], [t.video_ids[t.video_rows[i]] for i in b]) for b in batches]
        knowledge = self.reader.fetch(ids)
        share = (time.perf_counter() - t0) / len(batches)
        for b, (cids, vids), k in zip(batches, ids, knowledge):
            t1 = time.perf_counter()
            rows = t.video_rows[b]
            order = np.argsort(rows)  # memmap reads in file order, then back to batch order
            frames = np.empty((len(rows),) + self._cache.frames.shape[1:], dtype=np.uint8)
            frames[order] = self._cache.frames[rows[order]]
            mask = self._cache.mask[rows]
            index = torch.from_numpy(b)
            relevance = align_relevance(k.relevance, mask[None]) if k.relevance.shape[0] else np.zeros(
                (0, len(rows), mask.shape[1]), dtype=np.float32
            )
            yield Batch(
                cids,
                vids,
                t.input_ids[index],
                t.attention_mask[index],
                torch.from_numpy(frames),
                torch.from_numpy(mask.copy()),
                torch.from_numpy(k.scores.copy()),
                torch.from_numpy(relevance),
                share + time.perf_counter() - t1,
                torch.from_numpy(np.ascontiguousarray(k.video_sims, dtype=np.float32)),
                torch.from_numpy(np.ascontiguousarray(k.caption_sims, dtype=np.float32)),
            )


def subsample_frames(batch: Batch, k: int, generator: torch.Generator) -> Batch:
    """``batch`` with ``k`` of each video's real frames, in temporal order, drawn at random.

    The frame relevance the teachers gave those frames goes with them, and
    ``frame_positions`` keeps each frame's index, so the temporal transformer sees a frame at
    the position it has when every frame is encoded at test time. A video with fewer than
    ``k`` real frames keeps all of them (the other slots stay padding)."""
    mask = batch.frame_mask.bool()
    if k >= mask.shape[1]:
        return batch
    keys = torch.rand(mask.shape, generator=generator) + (~mask).float() * 2  # real frames first
    slots = keys.argsort(dim=1)[:, :k].sort(dim=1).values  # (B, k)
    rows = torch.arange(mask.shape[0])[:, None]
    relevance = batch.teacher_relevance
    if relevance.shape[0]:
        relevance = relevance.gather(2, slots[None].expand(relevance.shape[0], -1, -1))
    else:
        relevance = relevance[:, :, :k]
    return dataclasses.replace(batch, frames=batch.frames[rows, slots], frame_mask=batch.frame_mask.gather(1, slots),
                               teacher_relevance=relevance, frame_positions=slots)


def make_loader(dataset: TrainBatches, num_workers: int, pin_memory: bool = False):
    from torch.utils.data import DataLoader

    return DataLoader(
        dataset,
        batch_size=None,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=False,
        prefetch_factor=4 if num_workers else None,
        multiprocessing_context="fork" if num_workers else None,
    )
