"""Evaluation: encode a split with the student, rank with faiss, score with teachkit.util.metrics.

The student is one vector per caption and one per video, so retrieval is a maximum inner
product search: an exact ``IndexFlatIP`` over the video vectors (moved to the GPU when faiss
has GPU support and CUDA is present). Each caption searches all videos; the returned scores
are scattered back into a captions x videos matrix and :func:`teachkit.util.metrics.retrieval_metrics`
applies CLIP4Clip's rank semantics (ties against the query, v2t over each video's best
caption for multi-caption test sets).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from teachkit.util.extras import require_faiss
from teachkit.util.metrics import retrieval_metrics
from teachkit.util.precision import autocast

from .model import StudentModel, tokenize


@dataclass
class EncodedSplit:
    caption_ids: list[str]
    video_ids: list[str]
    caption_video: np.ndarray  # (N,) video index of each caption
    text: np.ndarray  # (N, D) float32, normalised
    video: np.ndarray  # (M, D) float32, normalised


@torch.no_grad()
def encode_split(
    model: StudentModel,
    tokenizer,
    max_words: int,
    pairs: list[tuple[str, str, str]],
    cache,
    device: torch.device,
    batch_size: int = 256,
    precision: str = "auto",
) -> EncodedSplit:
    """Vectors of every caption in ``pairs`` whose video decoded, and of those videos, encoded
    under ``precision``'s autocast (:mod:`teachkit.util.precision`)."""
    model.eval()
    rows = cache.rows()
    usable = cache.usable()
    pairs = [p for p in pairs if p[1] in rows and usable[rows[p[1]]]]
    video_ids = sorted({v for _, v, _ in pairs})
    vindex = {v: i for i, v in enumerate(video_ids)}
    texts = []
    for start in range(0, len(pairs), batch_size):
        chunk = [t for _, _, t in pairs[start : start + batch_size]]
        ids, mask = tokenize(tokenizer, chunk, max_words)
        with autocast(device, precision):
            texts.append(model.encode_text(ids.to(device), mask.to(device)).float().cpu())
    videos = []
    for start in range(0, len(video_ids), batch_size):
        r = np.array([rows[v] for v in video_ids[start : start + batch_size]])
        frames = torch.from_numpy(np.ascontiguousarray(cache.frames[r])).to(device)
        mask = torch.from_numpy(cache.mask[r]).to(device)
        with autocast(device, precision):
            videos.append(model.encode_video(frames, mask)[0].float().cpu())
    return EncodedSplit(
        [c for c, _, _ in pairs],
        video_ids,
        np.array([vindex[v] for _, v, _ in pairs], dtype=np.int64),
        torch.cat(texts).numpy().astype(np.float32),
        torch.cat(videos).numpy().astype(np.float32),
    )


def build_index(vectors: np.ndarray):
    """An exact inner-product faiss index over ``vectors`` (on the GPU when available)."""
    faiss = require_faiss()

    index = faiss.IndexFlatIP(vectors.shape[1])
    if hasattr(faiss, "StandardGpuResources") and torch.cuda.is_available():
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def faiss_similarity(index, queries: np.ndarray, n_items: int) -> np.ndarray:
    """Queries x items similarity from a full faiss search (scores scattered by item id)."""
    scores, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), n_items)
    sim = np.full((queries.shape[0], n_items), np.nan, dtype=np.float32)
    np.put_along_axis(sim, np.where(ids < 0, 0, ids), np.where(ids < 0, np.nan, scores), axis=1)
    return sim


def evaluate_vectors(text: np.ndarray, video: np.ndarray, caption_video: np.ndarray) -> dict:
    """t2v and v2t metrics of normalised caption and video vectors, ranked through faiss."""
    index = build_index(video)
    sim = faiss_similarity(index, text, video.shape[0])
    return retrieval_metrics(sim, caption_video)
