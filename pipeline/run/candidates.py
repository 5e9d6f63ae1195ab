"""A reranker's candidates: each caption's top-k videos from another teacher's committed run.

:func:`candidate_run` finds the run (the candidate teacher's current committed run over
the manifest; its fingerprint goes into the reranker's). :class:`CandidateLists` reads, per
split, that run's ``k`` best-scored videos of every caption through the store's DuckDB
views, as video rows of the split. :func:`chunk_candidates` turns them into the
``(captions, k + 1)`` candidate array a ``topk`` plan scores: the k videos, then the
positive (or -1 when it is among them), in the encoded videos' rows, exactly what
:func:`pipeline.plans.topk_candidates` gives a teacher with its own index.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

import stores
from teachkit.util.errors import InputError
from stores.splits import SplitData

TOPK_SQL = """
SELECT c.ci, v.vi, r.rank
FROM (
    SELECT caption_id, video_id,
           row_number() OVER (PARTITION BY caption_id ORDER BY score DESC, video_id) AS rank
    FROM scores WHERE teacher = ? AND split = ? AND run = ?
    QUALIFY rank <= ?
) r
JOIN candidate_captions c ON r.caption_id = c.caption_id
JOIN candidate_videos v ON r.video_id = v.video_id
"""


class CandidatesMissing(InputError):
    """A reranker's candidate teacher has no committed run to rerank."""


def candidate_run(store, t) -> dict:
    """The current committed run of reranker ``t``'s candidate teacher (its ``runs`` row)."""
    row = store.current_runs().get(t.candidates)
    if row is None:
        raise CandidatesMissing(
            f"teacher {t.name}: candidates = {t.candidates!r} has no committed run in the store; "
            "run that teacher first (or list both in one config: rerankers run after their candidates)")
    return row


class CandidateLists:
    """Per split, each caption's ``k`` best videos by the candidate run's stored scores."""

    def __init__(self, store, run: dict, k: int):
        self.store, self.run, self.k = store, run, k

    def for_split(self, split: SplitData) -> np.ndarray:
        """(captions of the split, k) split video rows, best first; -1 where a caption has fewer."""
        out = np.full((len(split.caption_ids), self.k), -1, dtype=np.int64)
        with stores.connect(self.store) as con:
            cur = con.cursor()
            cur.register("candidate_captions", pa.table({
                "caption_id": split.caption_array, "ci": pa.array(np.arange(len(split.caption_ids)))}))
            cur.register("candidate_videos", pa.table({
                "video_id": split.video_array, "vi": pa.array(np.arange(len(split.video_ids)))}))
            t = cur.sql(TOPK_SQL, params=[self.run["teacher"], split.name, self.run["run"], self.k]).to_arrow_table()
            cur.close()
        out[t.column("ci").to_numpy(), t.column("rank").to_numpy() - 1] = t.column("vi").to_numpy()
        return out


def chunk_candidates(lists: np.ndarray, chunk: np.ndarray, own: np.ndarray, row_of: np.ndarray) -> np.ndarray:
    """(len(chunk), k + 1) encoded-video rows: the chunk's candidates, then its positive (-1 if listed).

    ``lists`` are split video rows (:meth:`CandidateLists.for_split`), ``row_of`` maps them
    to encoded rows (-1: undecodable, dropped), ``own`` is each caption's positive (encoded row).
    """
    top = lists[chunk]
    top = np.where(top >= 0, row_of[np.maximum(top, 0)], -1)
    extra = np.where((top == own[:, None]).any(1), -1, own)
    return np.concatenate([top, extra[:, None]], axis=1)
