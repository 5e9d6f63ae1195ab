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


VIDEO_DETAILS_SQL = """
SELECT v.video_id, v.path, list(c.text ORDER BY c.caption_id) FILTER (WHERE c.text IS NOT NULL)
FROM videos v LEFT JOIN captions c USING (video_id)
WHERE v.video_id IN (SELECT unnest(?::VARCHAR[]))
GROUP BY v.video_id, v.path
"""


def run_store(run: str | Path) -> str | None:
    """The store a run was trained from (its ``config.json``), if recorded."""
    import json

    cfg = Path(run) / "config.json"
    return json.loads(cfg.read_text()).get("data", {}).get("store") if cfg.exists() else None


def video_details(store_root: str | Path, video_ids: list[str]) -> dict[str, dict]:
    """Video id -> {"path": resolved video path, "captions": [its captions]} from the store."""
    import stores

    from stores.videos import VideosRootError, video_paths

    with stores.connect(store_root) as con:
        rows = con.execute(VIDEO_DETAILS_SQL, [list(video_ids)]).fetchall()
    resolve = video_paths(store_root)

    def where(p: str) -> str:
        try:
            return str(resolve(p))
        except VideosRootError:  # the videos are not on this machine: show the manifest's path
            return p

    return {v: {"path": where(p), "captions": list(caps or [])} for v, p, caps in rows}
