"""A teacher's retrieval quality on the test split, computed from the scores it stored.

Reading the shards back (DuckDB over the run's Parquet files, before the run is committed)
checks what was written, not what was held in memory. The figures follow the one rule of
:func:`teachkit.util.metrics.teacher_metrics` (videos that failed to decode are left out, a caption
counts when its own pair was scored), the same rule ``student compare`` applies to the
committed scores.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from stores.connect import duckdb_for
from teachkit.util.metrics import teacher_metrics

from stores.splits import SplitData

EVAL_SPLIT = "test"

_SQL = """
SELECT c.i, v.j, s.score
FROM read_parquet(?) s
JOIN cap_index c USING (caption_id)
JOIN vid_index v USING (video_id)
"""


def stored_metrics(writer, split: SplitData) -> dict:
    """``{"split", "captions", "videos", "rule", "t2v", "v2t"}`` (see ``teacher_metrics``), {} when nothing is stored."""
    files = writer.shard_uris("scores", split.name)
    if not files:
        return {}
    con = duckdb_for(writer.store)
    try:
        con.register("cap_index", pa.table({"caption_id": split.caption_ids,
                                            "i": np.arange(len(split.caption_ids))}))
        con.register("vid_index", pa.table({"video_id": split.video_ids, "j": np.arange(len(split.video_ids))}))
        i, j, score = con.execute(_SQL, [files]).fetchnumpy().values()
    finally:
        con.close()
    sim = np.full((len(split.caption_ids), len(split.video_ids)), np.nan)
    sim[np.asarray(i), np.asarray(j)] = np.asarray(score, dtype=np.float64)
    return teacher_metrics(sim, np.asarray(split.caption_video), split.name)
