"""A teacher's retrieval quality on the test split, computed from the scores it stored.

Reading the shards back (DuckDB over the run's Parquet files, before the run is committed)
checks what was written, not what was held in memory. Captions with no stored score (their
video could not be decoded, or a text teacher had nothing to compare them with) are left
out; t2v ranks each remaining caption among all decodable test videos (unscored pairs rank
last, see :mod:`stores.metrics`), v2t ranks captions for each video that has one.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from stores.connect import duckdb_for
from stores.metrics import summarize, t2v_ranks, v2t_ranks

from .data import SplitData

EVAL_SPLIT = "test"

_SQL = """
SELECT c.i, v.j, s.score
FROM read_parquet(?) s
JOIN cap_index c USING (caption_id)
JOIN vid_index v USING (video_id)
"""


def stored_metrics(writer, split: SplitData, failed: set[str]) -> dict:
    """``{"split", "captions", "videos", "t2v": {...}, "v2t": {...}}`` or {} when nothing is scored."""
    files = writer.shard_uris("scores", split.name)
    if not files:
        return {}
    ok = [i for i, v in enumerate(split.video_ids) if v not in failed]
    vid_pos = {split.video_ids[i]: j for j, i in enumerate(ok)}
    con = duckdb_for(writer.store)
    try:
        con.register("cap_index", pa.table({"caption_id": split.caption_ids,
                                            "i": np.arange(len(split.caption_ids))}))
        con.register("vid_index", pa.table({"video_id": list(vid_pos), "j": np.arange(len(vid_pos))}))
        i, j, score = con.execute(_SQL, [files]).fetchnumpy().values()
    finally:
        con.close()
    sim = np.full((len(split.caption_ids), len(ok)), np.nan)
    sim[np.asarray(i), np.asarray(j)] = np.asarray(score, dtype=np.float64)
    gt = np.array([vid_pos.get(split.video_ids[v], -1) for v in split.caption_video], dtype=np.int64)
    rows = (gt >= 0) & ~np.all(np.isnan(sim), axis=1)
    if not rows.any():
        return {}
    sim, gt = sim[rows], gt[rows]
    with_caption = np.unique(gt)
    remap = np.full(len(ok), -1)
    remap[with_caption] = np.arange(len(with_caption))
    return {
        "split": split.name,
        "captions": int(rows.sum()),
        "videos": len(ok),
        "t2v": summarize(t2v_ranks(sim, gt)),
        "v2t": summarize(v2t_ranks(sim[:, with_caption], remap[gt])),
    }
