"""Training batches: captions, their videos' cached frames, and the teachers' knowledge.

:func:`batch_order` fixes every batch of a run in advance from the seed: each epoch
shuffles the videos and gives each one caption (a random one of its captions), so a batch
never holds the same video twice (a duplicate would be an in-batch false negative). The
plain and the distilled student of a seed therefore see exactly the same batches.

:class:`TrainBatches` is an ``IterableDataset`` of whole batches. With ``num_workers`` n,
worker k assembles batches k, k+n, ... (so the DataLoader's round-robin keeps the planned
order) in windows of ``teacher_window`` batches, one DuckDB query per window and teacher
table (:mod:`student.knowledge`). Frames come from the memory-mapped frame cache.

Data-parallel runs (:mod:`student.distributed`): ``batch_order`` yields the *global*
batches (``data.batch_size`` is the global batch, whatever the number of processes) and
:func:`rank_share` cuts each into the ranks' contiguous slices; every rank builds the same
order from the seed and assembles only its slice's tokens and frames. The teacher knowledge
of a batch stays global (K x B x B, gathered from the teacher matrices by the global
batch's caption and video ids), because the losses compare the all-gathered embeddings of
the whole batch. A sampler that orders batches differently replaces ``batch_order`` and
keeps ``rank_share``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from teachkit.util.slots import training_slots

from .frame_cache import FrameCache
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


def captions_by_video(video_rows: np.ndarray, batch_size: int) -> tuple[dict[int, list[int]], np.ndarray]:
    """(video -> its caption indices, the sorted videos); a batch larger than the videos is an error."""
    by_video: dict[int, list[int]] = {}
    for i, v in enumerate(video_rows.tolist()):
        by_video.setdefault(v, []).append(i)
    videos = np.array(sorted(by_video), dtype=np.int64)
    if len(videos) < batch_size:
        raise ValueError(f"data.batch_size ({batch_size}) exceeds the {len(videos)} training videos")
    return by_video, videos


def batch_order(video_rows: np.ndarray, batch_size: int, steps: int, seed: int) -> list[np.ndarray]:
    """``steps`` batches of caption indices, one caption per distinct video per batch."""
    by_video, videos = captions_by_video(video_rows, batch_size)
    rng = np.random.default_rng(seed)
    batches: list[np.ndarray] = []
    while len(batches) < steps:
        order = rng.permutation(videos)
        picks = np.array([by_video[v][rng.integers(len(by_video[v]))] for v in order.tolist()], dtype=np.int64)
        for start in range(0, len(picks) - batch_size + 1, batch_size):
            batches.append(picks[start : start + batch_size])
            if len(batches) == steps:
                break
    return batches


def rank_share(batch: np.ndarray, rank: int, world: int) -> np.ndarray:
    """Rank ``rank``'s slice of a global batch: rows ``rank * B/world`` to ``(rank + 1) * B/world``.

    Contiguous slices in rank order, so the ranks' rows all-gathered in rank order are the
    global batch in batch order. ``B`` must be a multiple of ``world`` (the gathers need equal
    shares; :func:`student.train.train` checks it).
    """
    if len(batch) % world:
        raise ValueError(f"a batch of {len(batch)} does not split into {world} equal shares")
    n = len(batch) // world
    return batch[rank * n : (rank + 1) * n]


@dataclass
class Batch:
    """One rank's share of a global batch of B captions (b = B / ranks; b = B in one process).

    The model inputs hold the share's b rows; the teacher knowledge covers all B rows and
    columns of the global batch, which the losses see after the embeddings are gathered.
    """

    caption_ids: list[str]  # (b,) this rank's captions
    video_ids: list[str]  # (b,) their videos
    input_ids: torch.Tensor  # (b, L)
    attention_mask: torch.Tensor  # (b, L)
    frames: torch.Tensor  # (b, T, S, S, 3) uint8
    frame_mask: torch.Tensor  # (b, T) bool
    teacher_scores: torch.Tensor  # (K, B, B) float32, NaN = not scored
    teacher_relevance: torch.Tensor  # (Kf, B, T) float32 at the student's frames, NaN = none
    assembly_s: float  # seconds spent assembling this batch (its share of the window query)
    # (Kr, B, B) float32 teachers' video x video / caption x caption cosines, NaN = no embedding
    teacher_video_sims: torch.Tensor | None = None
    teacher_caption_sims: torch.Tensor | None = None
    # (B, T') frame index of each slot when training on a subset of the frames (train.train_frames)
    frame_positions: torch.Tensor | None = None
    # the bank term (loss.coarse.bank_weight): (K, B, V) float32 the score teachers' rows of the
    # global batch's captions over every train video, NaN = not scored; (B,) each batch video's
    # index among the train videos; for its v2t direction (K, B, C) the teachers' scores of
    # every train caption with each batch video, and (B,) each batch caption's index
    teacher_rows: torch.Tensor | None = None
    video_columns: torch.Tensor | None = None
    teacher_columns: torch.Tensor | None = None
    caption_rows: torch.Tensor | None = None

    def pin_memory(self):
        for name in ("input_ids", "attention_mask", "frames", "frame_mask", "teacher_scores", "teacher_relevance",
                     "teacher_video_sims", "teacher_caption_sims", "teacher_rows", "teacher_columns"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name).pin_memory())
        return self


class TrainBatches(IterableDataset):
    def __init__(
        self,
        train: TrainSet,
        order: list[np.ndarray],
        cache_folder,
        reader: KnowledgeReader,
        window: int,
        rank: int = 0,
        world: int = 1,
        train_frames: int = 0,
        seed: int = 0,
        frame_sampling: str = "segment",
        full_rows: bool = False,
        full_columns: bool = False,
    ):
        self.train = train
        # also the teachers' rows over every train video (MatrixReader.full_rows) and their
        # columns over every train caption (MatrixReader.full_columns), for the bank term
        self.full_rows = full_rows
        self.full_columns = full_columns
        # frames per video per step (train.train_frames; 0: all): drawn per global batch from
        # (seed, batch index), so every rank and worker draws the same slots for a batch
        self.train_frames = train_frames
        self.frame_sampling = frame_sampling  # teachkit.util.slots.training_slots: segment | random
        self.seed = seed
        self.order = order  # global batches
        self.rank = rank
        self.world = world
        self.cache_folder = cache_folder
        self.reader = reader
        self.window = window
        self._cache: FrameCache | None = None

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        if self._cache is None:
            self._cache = FrameCache.open(self.cache_folder)
        mine = list(range(worker, len(self.order), workers))
        for start in range(0, len(mine), self.window):
            yield from self._window(mine[start : start + self.window])

    def _window(self, indices: list[int]):
        batches = [self.order[i] for i in indices]
        t0 = time.perf_counter()
        t = self.train
        ids = [([t.caption_ids[i] for i in b], [t.video_ids[t.video_rows[i]] for i in b]) for b in batches]
        knowledge = self.reader.fetch(ids)
        share = (time.perf_counter() - t0) / len(batches)
        for n, b, k, (caption_ids, video_ids) in zip(indices, batches, knowledge, ids):
            t1 = time.perf_counter()
            mine = rank_share(b, self.rank, self.world)
            rows = t.video_rows[mine]
            mask = self._cache.mask[t.video_rows[b]]  # the global batch's (the relevance is global)
            index = torch.from_numpy(mine)
            relevance = align_relevance(k.relevance, mask[None]) if k.relevance.shape[0] else np.zeros(
                (0, len(b), mask.shape[1]), dtype=np.float32
            )
            own = slice(self.rank * len(mine), (self.rank + 1) * len(mine))
            positions = None
            if 0 < self.train_frames < mask.shape[1]:
                # an ordered subset of each video's frames (train.frame_sampling); the teachers' relevance of
                # those frames goes with them, and each keeps its index for the temporal head
                slots = training_slots(mask, self.train_frames, np.random.default_rng([self.seed, n]), self.frame_sampling)
                relevance = np.take_along_axis(relevance, slots[None], 2)
                mask = np.take_along_axis(mask, slots, 1)
                positions = slots[own]
            order = np.argsort(rows)  # memmap reads in file order, then back to batch order
            cache = self._cache.frames  # only the frames the step uses are read from it
            read = cache[rows[order]] if positions is None else cache[rows[order][:, None], positions[order]]
            frames = np.empty_like(read)
            frames[order] = read
            teacher_rows = torch.from_numpy(self.reader.full_rows(caption_ids)) if self.full_rows else None
            teacher_columns = torch.from_numpy(self.reader.full_columns(video_ids)) if self.full_columns else None
            yield Batch(
                [t.caption_ids[i] for i in mine],
                [t.video_ids[r] for r in rows],
                t.input_ids[index],
                t.attention_mask[index],
                torch.from_numpy(frames),
                torch.from_numpy(mask[own].copy()),
                torch.from_numpy(k.scores.copy()),
                torch.from_numpy(relevance),
                share + time.perf_counter() - t1,
                torch.from_numpy(np.ascontiguousarray(k.video_sims, dtype=np.float32)),
                torch.from_numpy(np.ascontiguousarray(k.caption_sims, dtype=np.float32)),
                None if positions is None else torch.from_numpy(positions),
                teacher_rows,
                torch.from_numpy(t.video_rows[b].astype(np.int64)) if self.full_rows else None,
                teacher_columns,
                torch.from_numpy(np.asarray(b, dtype=np.int64)) if self.full_columns else None,
            )


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
