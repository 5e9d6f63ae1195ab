"""Rows of the ``embeddings`` table: a teacher's holistic vector per video or caption.

A teacher run stores each split's video embeddings and each shard's caption embeddings
(:class:`stores.writer.RunWriter`, ``kind = "video" | "caption"``), so that relational
distillation can compare instances of one modality (video x video, caption x caption)
without loading the teacher. Vectors are stored as the teacher gives them (normalised by
the built-in teachers), in float16 unless configured: about 2 bytes per dimension.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def vectors_table(ids, vectors) -> pa.Table:
    """``(id, vector)`` rows of an embeddings shard from ids and an (N, D) float array."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"embeddings must be (rows, dim), got shape {vectors.shape}")
    n, d = vectors.shape
    ids = ids if isinstance(ids, (pa.Array, pa.ChunkedArray)) else pa.array(list(ids), pa.string())
    if len(ids) != n:
        raise ValueError(f"{len(ids)} ids for {n} embeddings")
    offsets = pa.array(np.arange(n + 1, dtype=np.int64) * d, pa.int64())
    values = pa.LargeListArray.from_arrays(offsets, pa.array(vectors.ravel()))
    return pa.table({"id": ids, "vector": values.cast(pa.list_(pa.float32()))})
