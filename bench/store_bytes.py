"""Figure 4: bytes on disk per stored teacher score (``bytes_per_score``,
``bytes_per_frame_score``).

Store bytes (every Parquet file of the table, footers included) / rows, for a synthetic
``full``-plan store written through ``RunWriter`` in the teacher stage's row order
(``stores.writer.score_row_order``). What a row costs depends on how many videos each caption is
scored against, not on the store's size, so the store has MSR-VTT's 9,000 videos and as
many captions as the mode affords. Random scores barely compress, so this bounds a real
float16 store; the ids cost what is above the score's share. Frame rows (12 per caption,
own video) are read off the larger store the stream figures share.
"""

from __future__ import annotations

import shutil

from .common import BenchConfig, Figure, log, summarize
from .synthetic import MSRVTT_VIDEOS, SyntheticSpec, build, main_fraction
from .workspace import Workspace

FIGURES = ("bytes_per_score", "bytes_per_frame_score")
GOAL = "<= 2.1"


def run(cfg: BenchConfig, ws: Workspace) -> list[Figure]:
    spec = SyntheticSpec(videos=MSRVTT_VIDEOS, only_captions=cfg.pick(tiny=16, quick=1024, full=8192))
    root = ws.path("bytes-store")
    shutil.rmtree(root)
    log(f"bytes: {spec.captions:,} captions x {spec.videos:,} videos ({spec.rows:,} score rows)")
    s = build(root, spec)
    shutil.rmtree(root, ignore_errors=True)
    detail = {"videos": spec.videos, "captions": spec.captions, "score_dtype": spec.score_dtype,
              "row_order": f"stores.writer.score_row_order: {spec.captions_per_shard:,} captions x {spec.videos:,} videos per shard"}
    per_score = s.score_bytes / s.score_rows
    # frame rows grow with captions only (12 per caption): read them off the larger shared store
    f = ws.synthetic(main_fraction(cfg))
    per_frame = f.frame_bytes / f.frame_rows
    note = "synthetic full-plan store, 9,000 videos per caption, random float16 scores"
    return [
        summarize("bytes_per_score", [per_score], "bytes/row", GOAL, note,
                  detail | {"bytes": s.score_bytes, "rows": s.score_rows}),
        summarize("bytes_per_frame_score", [per_frame], "bytes/row", GOAL,
                  f"{f.spec.num_frames} frames per caption, own video only",
                  {"videos": f.spec.videos, "captions": f.spec.captions, "score_dtype": f.spec.score_dtype,
                   "bytes": f.frame_bytes, "rows": f.frame_rows}),
    ]
