"""Text-to-video search with a trained student run: the student's text tower and the run's
faiss index over its video vectors. Nothing else is loaded (no teacher, no store)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .model import load_student, tokenize
from .runs import load_index


@torch.no_grad()
def search(run: str | Path, queries: list[str], k: int = 10) -> list[list[tuple[str, float]]]:
    """For each query, the top ``k`` (video_id, score) of the run's indexed videos."""
    model, tokenizer, spec = load_student(run)
    index, video_ids = load_index(run)
    ids, mask = tokenize(tokenizer, queries, spec["max_words"])
    vectors = model.encode_text(ids, mask).numpy().astype(np.float32)
    scores, rows = index.search(vectors, min(k, len(video_ids)))
    return [
        [(video_ids[r], float(s)) for r, s in zip(row, score) if r >= 0] for row, score in zip(rows, scores)
    ]
