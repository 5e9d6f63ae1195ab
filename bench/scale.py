"""Figure 8: ``scale`` -- a synthetic store at growing fractions of MSR-VTT's training size.

At each size: the write rate through ``RunWriter.write_shard``, bytes on disk, the time to
assemble one 128 x 128 teacher matrix the ``window`` loader's way (its share of a
``KnowledgeReader`` window) and the teacher entries per second that makes, the time to build
the default loader's memory-mapped teacher matrix (``MatrixReader``) and a batch's gather
from it, and the rows/s of a
full DuckDB stream of the store into torch, so growth is visible. MSR-VTT under the
``full`` plan is 180k captions x 9k videos = 1.62e9 rows. A size that would not fit this
machine's disk is skipped and the limit recorded instead (memory is not a limit: shards
are written one at a time and read as streams or per window).
"""

from __future__ import annotations

import shutil

import stores
from student.config import DataConfig

from .common import BenchConfig, Figure, log, spread, timed
from .stream import BATCH, duckdb_stream, matrix_ms, student_batches, window_ms
from .synthetic import MSRVTT_ROWS, TEACHER, SyntheticSpec, main_fraction
from .workspace import Workspace

FIGURES = ("scale",)
BYTES_PER_ROW_BOUND = 2.2  # a little over bytes_per_score, to decide before writing


def fractions(cfg: BenchConfig) -> tuple[float, ...]:
    return cfg.pick(tiny=(1e-6, 1e-5), quick=(0.001, 0.01), full=(0.01, 0.1, 1.0))


def too_big(spec: SyntheticSpec, free_bytes: int) -> str:
    """Why a store of ``spec`` does not fit here, or '' when it does."""
    need = spec.rows * BYTES_PER_ROW_BOUND
    if need > 0.8 * free_bytes:
        return f"disk: needs ~{need / 1e9:.1f} GB, {free_bytes / 1e9:.1f} GB free"
    return ""


def run(cfg: BenchConfig, ws: Workspace) -> list[Figure]:
    sizes, limits = [], []
    keep = main_fraction(cfg)
    for f in fractions(cfg):
        spec = SyntheticSpec.fraction(f)
        why = too_big(spec, shutil.disk_usage(ws.root).free)
        if why:
            log(f"scale: skipping {f * 100:g}% ({spec.rows:,} rows): {why}")
            limits.append({"fraction": f, "rows": spec.rows, "limit": why})
            continue
        s = ws.synthetic(f)
        con = stores.connect(s.root)
        # each repeat scans the whole store: fewer repeats when it is big
        reps = max(1, min(cfg.repeats, int(2e8 // max(1, s.score_rows))))
        log(f"scale {f * 100:g}%: student loader windows and a full stream of {s.score_rows:,} rows, x {reps}")
        window = DataConfig().teacher_window
        pool = student_batches(con, BATCH, window * reps)
        ms = [window_ms(s.root, pool[i * window:(i + 1) * window], [TEACHER]) for i in range(reps)]
        b = len(pool[0][0])
        load_s = []
        for _ in range(reps):
            t, n = timed(lambda: duckdb_stream(con, TEACHER))
            if n != s.score_rows:
                raise RuntimeError(f"the stream read {n} rows of {s.score_rows}")
            load_s.append(t)
        matrix_build_s, matrix_batch_ms = matrix_ms(s.root, con, pool, ws.path(f"matrix-{f:g}"))
        sizes.append({
            "fraction": f,
            "fraction_of_msrvtt_rows": s.score_rows / MSRVTT_ROWS,
            "videos": spec.videos,
            "captions": spec.captions,
            "rows": s.score_rows,
            "bytes": s.score_bytes + s.frame_bytes,
            "score_bytes": s.score_bytes,
            "bytes_per_score": s.score_bytes / s.score_rows,
            "write_rows_per_s": s.score_rows / s.write_s,
            "batch": b,
            "batch_assembly_ms": spread(ms),
            # teacher entries the student's loader delivers per second (B*B per batch)
            "loader_rows_per_s": spread([b * b * 1000 / x for x in ms]),
            "stream_rows_per_s": spread([s.score_rows / t for t in load_s]),
            "matrix_build_s": matrix_build_s,
            "matrix_batch_ms": matrix_batch_ms,
        })
        del con
        if f != keep:
            ws.drop(f)
    return [Figure(
        "scale", float("nan"), float("nan"), float("nan"), "table", 0,
        notes="synthetic full-plan stores written through RunWriter; sizes that do not fit "
        "this machine are listed in detail.limits with the limit that hit",
        detail={"limits": limits}, table=sizes,
    )]
