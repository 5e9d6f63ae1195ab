"""Score plans: which (caption, video) pairs of a split a teacher scores.

* ``full`` -- every caption x every video of the split (what distillation of a whole
  similarity matrix needs; the default).
* ``topk`` -- per caption, the teacher's own top-``k`` videos by holistic embedding (an
  exact inner-product faiss index, ``IndexFlatIP``; on the GPU when faiss has GPU support
  and CUDA is present) plus the caption's positive video, so every caption keeps its
  ground truth. Rows: ``min(k, videos)`` per caption, +1 when the positive is not among them.
"""

from __future__ import annotations

import numpy as np

from teachkit.util.extras import require_faiss


def build_index(video_embeddings: np.ndarray):
    """An exact inner-product index over normalised (M, D) float32 video vectors."""
    faiss = require_faiss()

    emb = np.ascontiguousarray(video_embeddings, dtype=np.float32)
    if emb.ndim != 2:
        raise ValueError(f"video embeddings must be (videos, dim), got {emb.shape}")
    index = faiss.IndexFlatIP(emb.shape[1])
    if _faiss_gpu():
        res = faiss.StandardGpuResources()
        index = _WithResources(faiss.index_cpu_to_gpu(res, 0, index), res)
    index.add(emb)
    return index


class _WithResources:
    """A GPU index together with its resources, which must outlive it."""

    def __init__(self, index, resources):
        self.index, self.resources = index, resources

    def __getattr__(self, name):
        return getattr(self.index, name)


def _faiss_gpu() -> bool:
    faiss = require_faiss()

    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() < 1:
        return False
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        return False


def topk_candidates(index, queries: np.ndarray, positives: np.ndarray, k: int) -> np.ndarray:
    """(N, min(k, M) + 1) video indices per caption: its top-k, then its positive (or -1
    when the positive is already in the top-k)."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    n_videos = index.ntotal
    kk = min(k, n_videos)
    if len(q) == 0 or kk == 0:
        return np.full((len(q), kk + 1), -1, dtype=np.int64)
    _, top = index.search(q, kk)
    top = top.astype(np.int64)
    pos = np.asarray(positives, dtype=np.int64)
    extra = np.where((top == pos[:, None]).any(1), -1, pos)
    return np.concatenate([top, extra[:, None]], axis=1)

