"""Figure 5: ``stream_vs_arrow`` and ``batch_assembly_ms``.

``stream_vs_arrow``: rows/s of teacher scores streamed through DuckDB into torch (the
student's way: arrow batches from ``rel.to_arrow_reader()``, ids mapped to manifest row
indices) over rows/s of ``pyarrow.parquet.read_table`` of the same columns, ids mapped to
the same indices, then to torch. Both end with the same three tensors (caption index, video
index, score). ``batch_assembly_ms``: time to build one 128 x 128 teacher matrix (captions
of a batch x their videos) from the store.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

import stores

from .common import BenchConfig, Figure, log, paired, repeat, spread, summarize, to_torch
from .store_bytes import main_fraction
from .synthetic import TEACHER
from .workspace import Workspace

FIGURES = ("stream_vs_arrow", "batch_assembly_ms")
BATCH = 128
READER_ROWS = 1 << 20

# the student's index space: manifest rows of the split, in id order
_STREAM_SQL = """
WITH c AS (SELECT caption_id, (row_number() OVER (ORDER BY caption_id) - 1)::INTEGER AS ci
           FROM captions WHERE split = $split),
     v AS (SELECT video_id, (row_number() OVER (ORDER BY video_id) - 1)::INTEGER AS vi
           FROM videos WHERE split = $split)
SELECT ci, vi, score FROM scores JOIN c USING (caption_id) JOIN v USING (video_id)
WHERE teacher = $teacher AND split = $split
"""
_BATCH_SQL = """
SELECT caption_id, video_id, score FROM scores
WHERE teacher = $teacher AND split = $split
  AND caption_id IN (SELECT unnest($captions)) AND video_id IN (SELECT unnest($videos))
"""


def duckdb_stream(con, teacher: str, split: str = "train") -> int:
    """Every score row of ``teacher`` into torch, one arrow batch at a time; return rows."""
    rel = con.cursor().sql(_STREAM_SQL, params={"teacher": teacher, "split": split})
    rows = 0
    for batch in rel.to_arrow_reader(READER_ROWS):
        ci = to_torch(batch.column(0).to_numpy())
        vi = to_torch(batch.column(1).to_numpy())
        score = to_torch(batch.column(2).to_numpy())
        rows += len(score)
        del ci, vi
    return rows


def _codes(col: pa.ChunkedArray, values: pa.Array) -> torch.Tensor:
    """Dictionary-encoded ids -> their row index in ``values`` (map each chunk's dictionary)."""
    out = [pc.take(pc.index_in(ch.dictionary, value_set=values), ch.indices).to_numpy(zero_copy_only=False)
           for ch in col.chunks]
    return to_torch(np.concatenate(out))


def arrow_read(files: list[str], captions: pa.Array, videos: pa.Array) -> int:
    """The baseline: one ``read_table`` of the same columns, ids mapped, then to torch."""
    t = pq.read_table(files, columns=["caption_id", "video_id", "score"],
                      read_dictionary=["caption_id", "video_id"])
    ci, vi = _codes(t.column("caption_id"), captions), _codes(t.column("video_id"), videos)
    score = to_torch(t.column("score").to_numpy())
    del ci, vi
    return len(score)


def assemble_batch(con, teacher: str, captions: list[str], videos: list[str], split: str = "train") -> torch.Tensor:
    """The (captions x videos) teacher matrix of one batch; NaN where the store has no score."""
    t = con.cursor().sql(_BATCH_SQL, params={
        "teacher": teacher, "split": split, "captions": captions, "videos": videos,
    }).to_arrow_table()
    row = {c: i for i, c in enumerate(captions)}
    cols: dict[str, list[int]] = {}
    for j, v in enumerate(videos):
        cols.setdefault(v, []).append(j)
    m = torch.full((len(captions), len(videos)), float("nan"))
    s = t.column("score").to_numpy()
    for c, v, x in zip(t.column("caption_id").to_pylist(), t.column("video_id").to_pylist(), s):
        for j in cols[v]:
            m[row[c], j] = float(x)
    return m


def batch_sampler(con, split: str = "train", seed: int = 0):
    """A function returning random batches: BATCH distinct captions and their own videos."""
    pairs = con.cursor().sql(
        "SELECT caption_id, video_id FROM captions WHERE split = ? ORDER BY caption_id", params=[split]
    ).fetchall()
    rng = np.random.default_rng(seed)

    def draw():
        pick = rng.choice(len(pairs), size=min(BATCH, len(pairs)), replace=False)
        return [pairs[i][0] for i in pick], [pairs[i][1] for i in pick]

    return draw


def score_files(root) -> list[str]:
    return [str(p) for p in sorted((root / "scores").rglob("*.parquet"))]


def run(cfg: BenchConfig, ws: Workspace) -> list[Figure]:
    s = ws.synthetic(main_fraction(cfg))
    con = stores.connect(s.root)
    files = score_files(s.root)
    captions = pa.array(sorted(r[0] for r in con.sql("SELECT caption_id FROM captions WHERE split='train'").fetchall()))
    videos = pa.array(sorted(r[0] for r in con.sql("SELECT video_id FROM videos WHERE split='train'").fetchall()))
    rows = s.score_rows
    if duckdb_stream(con, TEACHER) != rows or arrow_read(files, captions, videos) != rows:
        raise RuntimeError("stream and read_table disagree on the store's rows")
    log(f"stream: {rows:,} rows, DuckDB stream vs read_table")
    t_duck, t_arrow, ratios = paired(lambda: duckdb_stream(con, TEACHER),
                                     lambda: arrow_read(files, captions, videos), cfg.repeats)
    speed = [1.0 / r for r in ratios]  # (rows/t_duck) / (rows/t_arrow)
    draw = batch_sampler(con)
    log(f"batch assembly: {BATCH} x {BATCH} teacher matrices")
    ms = [1000 * t for t in repeat(lambda: assemble_batch(con, TEACHER, *draw()), cfg.repeats)]
    detail = {"rows": rows, "videos": s.spec.videos, "captions": s.spec.captions}
    return [
        summarize("stream_vs_arrow", speed, "ratio", ">= 0.8",
                  "DuckDB arrow-reader stream -> torch vs pyarrow read_table -> torch (same tensors)",
                  detail | {"duckdb_rows_per_s": spread([rows / t for t in t_duck]),
                            "arrow_rows_per_s": spread([rows / t for t in t_arrow])}),
        summarize("batch_assembly_ms", ms, "ms", "", f"one {BATCH}x{BATCH} teacher matrix from the store",
                  detail),
    ]
