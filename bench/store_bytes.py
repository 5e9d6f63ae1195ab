"""Figure 4: bytes on disk per stored teacher score (``bytes_per_score``,
``bytes_per_frame_score``).

Store bytes (every Parquet file of the table, footers included) / rows, for a synthetic
``full``-plan store written through ``RunWriter``. Random scores do not compress, so this is
the bound a real float16 store stays under; the ids cost what is left above 2 bytes.
"""

from __future__ import annotations

from .common import BenchConfig, Figure, summarize
from .workspace import Workspace

FIGURES = ("bytes_per_score", "bytes_per_frame_score")
GOAL = "<= 2.1"


def main_fraction(cfg: BenchConfig) -> float:
    """The store size the store-level figures use (shared with :mod:`bench.stream`)."""
    return cfg.pick(tiny=1e-5, quick=0.01, full=0.1)


def run(cfg: BenchConfig, ws: Workspace) -> list[Figure]:
    s = ws.synthetic(main_fraction(cfg))
    detail = {"fraction_of_msrvtt": s.spec.rows / 1.62e9, "videos": s.spec.videos,
              "captions": s.spec.captions, "score_dtype": s.spec.score_dtype}
    per_score = s.score_bytes / s.score_rows
    per_frame = s.frame_bytes / s.frame_rows
    note = "synthetic full-plan store, random float16 scores, zstd + dictionary ids"
    return [
        summarize("bytes_per_score", [per_score], "bytes/row", GOAL, note,
                  detail | {"bytes": s.score_bytes, "rows": s.score_rows}),
        summarize("bytes_per_frame_score", [per_frame], "bytes/row", GOAL,
                  f"{s.spec.num_frames} frames per caption, own video only",
                  detail | {"bytes": s.frame_bytes, "rows": s.frame_rows}),
    ]
