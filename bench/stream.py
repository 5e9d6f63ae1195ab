"""Figure 5: ``stream_vs_arrow`` and ``batch_assembly_ms``.

``stream_vs_arrow``: rows/s of teacher scores streamed through the store's DuckDB views
into torch (arrow batches from ``rel.to_arrow_reader()``, ids mapped to manifest row indices
in the same query) over rows/s of ``pyarrow.parquet.read_table`` of the same columns, ids
mapped to the same indices (through each chunk's dictionary), then to torch. Both end with the same three tensors (caption index, video
index, score). ``batch_assembly_ms``: time to build one 128 x 128 teacher matrix (captions
of a batch x their videos) the student loader's way -- its share of one
``student.knowledge.KnowledgeReader`` window (``data.teacher_window`` batches per query).
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

import stores

from .common import BenchConfig, Figure, log, paired, spread, summarize, to_torch
from .synthetic import TEACHER, main_fraction
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


def student_batches(con, batch: int, count: int, split: str = "train", seed: int = 0):
    """``count`` training batches of the student's own plan: (caption ids, their video ids)."""
    from stores.splits import split_pairs
    from student.data import batch_order

    pairs = split_pairs(con, split)
    videos = {v: i for i, v in enumerate(sorted({v for _, v, _ in pairs}))}
    rows = np.array([videos[v] for _, v, _ in pairs], dtype=np.int64)
    plan = batch_order(rows, min(batch, len(videos)), count, seed)
    return [([pairs[i][0] for i in b], [pairs[i][1] for i in b]) for b in plan]


def window_ms(root, batches, score_teachers, frame_teachers=()) -> float:
    """Milliseconds per batch of one ``KnowledgeReader.fetch`` over a window of ``batches``
    (the student loader's way: one DuckDB query per window and table). The reader connects
    before the clock starts: a training run connects once, not once per window."""
    from student.knowledge import KnowledgeReader

    reader = KnowledgeReader(str(root), "train", list(score_teachers), list(frame_teachers))
    reader._connection()  # connecting is per run, not per window  # noqa: SLF001
    t0 = time.perf_counter()
    out = reader.fetch(batches)
    seconds = time.perf_counter() - t0
    if np.isnan(out[0].scores).all():
        raise RuntimeError("the reader found no teacher scores for the batch")
    return 1000 * seconds / len(batches)


def matrix_ms(root, con, batches, cache) -> tuple[float, float]:
    """(seconds to build the teacher matrix cache, milliseconds per batch fetched from it):
    ``student.knowledge.MatrixReader``, the loader's default (``data.teacher_source``). The
    cache folder is removed afterwards."""
    import shutil

    from stores.splits import split_pairs
    from student.knowledge import MatrixReader

    pairs = [(c, v) for c, v, _ in split_pairs(con, "train")]
    videos = sorted({v for _, v in pairs})
    t0 = time.perf_counter()
    reader = MatrixReader(str(root), "train", [TEACHER], [], pairs, videos, cache)
    build = time.perf_counter() - t0
    reader.fetch(batches[:1])  # opens the memory map
    t0 = time.perf_counter()
    out = reader.fetch(batches)
    ms = 1000 * (time.perf_counter() - t0) / len(batches)
    if np.isnan(out[0].scores).all():
        raise RuntimeError("the matrix reader found no teacher scores for the batch")
    del reader, out
    shutil.rmtree(cache, ignore_errors=True)
    return build, ms


def assembly(root, con, cfg: BenchConfig) -> dict:
    """Per-batch milliseconds to assemble BATCH x BATCH teacher matrices, the student's way."""
    from student.config import DataConfig

    window = DataConfig().teacher_window
    reps = max(2, cfg.repeats)
    pool = student_batches(con, BATCH, window * reps + reps)
    windowed = [window_ms(root, pool[i * window:(i + 1) * window], [TEACHER]) for i in range(reps)]
    lone = [window_ms(root, [pool[-(i + 1)]], [TEACHER]) for i in range(reps)]
    with_frames = [window_ms(root, pool[i * window:(i + 1) * window], [TEACHER], [TEACHER]) for i in range(reps)]
    return {"batch": len(pool[0][0]), "window": window, "windowed_ms": windowed, "lone_batch_ms": lone,
            "windowed_with_frames_ms": with_frames}


def score_files(root) -> list[str]:
    return [str(p) for p in sorted((root / "scores").rglob("*.parquet"))]


def run(cfg: BenchConfig, ws: Workspace) -> list[Figure]:
    s = ws.synthetic(main_fraction(cfg))
    con = stores.connect(s.root)
    files = score_files(s.root)
    from stores.splits import split_pairs

    pairs = split_pairs(con, "train")  # every synthetic video has captions
    captions = pa.array(sorted(c for c, _, _ in pairs))
    videos = pa.array(sorted({v for _, v, _ in pairs}))
    rows = s.score_rows
    if duckdb_stream(con, TEACHER) != rows or arrow_read(files, captions, videos) != rows:
        raise RuntimeError("stream and read_table disagree on the store's rows")
    log(f"stream: {rows:,} rows, DuckDB stream vs read_table")
    t_duck, t_arrow, ratios = paired(lambda: duckdb_stream(con, TEACHER),
                                     lambda: arrow_read(files, captions, videos), cfg.repeats)
    speed = [1.0 / r for r in ratios]  # (rows/t_duck) / (rows/t_arrow)
    log(f"batch assembly: {BATCH} x {BATCH} teacher matrices through student.knowledge.KnowledgeReader")
    a = assembly(s.root, con, cfg)
    detail = {"rows": rows, "videos": s.spec.videos, "captions": s.spec.captions}
    return [
        summarize("stream_vs_arrow", speed, "ratio", ">= 0.8",
                  "DuckDB arrow-reader stream -> torch vs pyarrow read_table -> torch (same tensors)",
                  detail | {"duckdb_rows_per_s": spread([rows / t for t in t_duck]),
                            "arrow_rows_per_s": spread([rows / t for t in t_arrow])}),
        summarize("batch_assembly_ms", a["windowed_ms"], "ms", "",
                  f"one {a['batch']}x{a['batch']} teacher matrix, its share of a {a['window']}-batch "
                  "KnowledgeReader window (the student loader's way)",
                  detail | {"batch": a["batch"], "window": a["window"],
                            "lone_batch_ms": spread(a["lone_batch_ms"]),
                            "windowed_with_frame_relevance_ms": spread(a["windowed_with_frames_ms"])}),
    ]
