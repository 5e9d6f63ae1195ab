"""RunWriter: writes one teacher run's shards so that a crash never shows partial data.

A run is identified by its fingerprint. Shards have deterministic names
(``part-<index>.parquet`` per table and split), are written under a temporary name and
renamed when complete. A rerun of the same fingerprint after a crash asks
:meth:`RunWriter.has_shard` and skips what is committed, so every row exists exactly once.
Only :meth:`RunWriter.commit`, which writes the ``runs`` row with ``status=committed``
last, makes the run's rows visible through :func:`stores.connect`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .fingerprint import short
from .layout import TMP_SUFFIX, Store, StoreError, check_name, write_parquet_atomic

SHARD_TABLES = ("scores", "frames", "caption_audit")


def score_row_order(caption_rows, video_rows):
    """The order a ``scores`` shard's rows are best written in: a permutation of the rows.

    Within a shard, the id column that varies fastest costs dictionary codes of
    log2(distinct values) bits per row; the other one collapses into runs. So the rows are
    sorted with the column that has fewer distinct values varying fastest: video-major
    (each video's run of captions) when the shard holds fewer captions than videos, as
    with MSR-VTT's 9,000 test-or-train videos and 1,024-caption shards, caption-major
    otherwise. Readers never rely on row order; this is only about bytes on disk
    (``bytes_per_score`` in ``make bench``).
    """
    import numpy as np

    caption_rows, video_rows = np.asarray(caption_rows), np.asarray(video_rows)
    if len(np.unique(caption_rows)) < len(np.unique(video_rows)):
        return np.lexsort((caption_rows, video_rows))  # video-major
    return np.lexsort((video_rows, caption_rows))  # caption-major


class RunWriter:
    """Writes the shards of one teacher run (see module docstring)."""

    def __init__(
        self,
        store: Store,
        teacher: str,
        kind: str,
        fingerprint: str,
        config_json: str,
        code_version: str,
        score_dtype: str = "float16",
        producer: str = "teachkit",
    ):
        self.store = store
        self.teacher = check_name("teacher", teacher)
        self.kind = kind
        self.fingerprint = fingerprint
        self.run = short(fingerprint)
        self.config_json = config_json
        self.code_version = code_version
        self.score_dtype = score_dtype
        self.producer = producer
        self.manifest = store.require_manifest().fingerprint
        self._runs_path = store.root / "runs" / f"teacher={teacher}" / f"run-{self.run}.parquet"
        self._started_at: dt.datetime | None = None

    # -- lifecycle ------------------------------------------------------------------
    def begin(self) -> int:
        """Mark the run as running (keeping an earlier start time); return committed shards."""
        if self.store.committed_run(self.teacher, self.fingerprint) is not None:
            raise StoreError(f"run {self.run} of teacher {self.teacher} is already committed")
        self._remove_temporaries()
        if self._runs_path.exists():
            self._started_at = pq.read_table(self._runs_path).column("started_at")[0].as_py()
        else:
            self._started_at = _now()
            self._write_run_row("running", rows=0, timings={}, metrics={}, finished=None)
        return sum(1 for _ in self._shard_files())

    def shard_path(self, table: str, split: str, index: int) -> Path:
        if table not in SHARD_TABLES:
            raise ValueError(f"shards are written to {SHARD_TABLES}, not {table!r}")
        check_name("split", split)
        return (
            self.store.root / table / f"teacher={self.teacher}" / f"run={self.run}"
            / f"split={split}" / f"part-{index:05d}.parquet"
        )

    def has_shard(self, table: str, split: str, index: int) -> bool:
        return self.shard_path(table, split, index).exists()

    def write_shard(self, table: str, split: str, index: int, data: pa.Table) -> int:
        """Write one shard atomically; return its rows. Non-finite scores are refused."""
        import pyarrow.compute as pc

        score = data.column("score")
        # min_count=0: an empty shard (e.g. frames of padded clips only) is valid, not "non-finite"
        if score.null_count or not pc.all(pc.is_finite(score.cast(pa.float32())), min_count=0).as_py():
            raise ValueError(
                f"teacher {self.teacher}: non-finite {table} scores in shard {split}/{index}; "
                "nothing written"
            )
        if self.score_dtype == "float16":
            big = pc.max(pc.abs(score.cast(pa.float32()))).as_py() or 0.0
            if big > 65504.0:
                raise ValueError(
                    f"teacher {self.teacher}: {table} score {big} overflows float16; "
                    "set score_dtype = 'float32' for this teacher"
                )
        return write_parquet_atomic(
            self.shard_path(table, split, index), data, table, self.producer,
            self.fingerprint, self.score_dtype,
        )

    def write_failures(self, key: str, failures: list[tuple[str, str]]) -> None:
        """Record inputs this run could not use (item, reason) under a deterministic key."""
        if not failures:
            return
        path = self.store.root / "failures" / f"run={self.run}" / f"part-{check_name('key', key)}.parquet"
        data = pa.table({"item": [f[0] for f in failures], "error": [f[1] for f in failures]})
        write_parquet_atomic(path, data, "failures", self.producer, self.fingerprint)

    def failures(self) -> list[tuple[str, str]]:
        rows = []
        for path in sorted((self.store.root / "failures" / f"run={self.run}").glob("part-*.parquet")):
            t = pq.read_table(path)
            rows += list(zip(t.column("item").to_pylist(), t.column("error").to_pylist()))
        return rows

    def rows(self, table: str = "scores") -> int:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in self._shard_files(table))

    def commit(self, timings: dict | None = None, metrics: dict | None = None) -> dict:
        """Make the run visible: write its ``runs`` row with status ``committed``."""
        if self._started_at is None:
            raise StoreError("commit() before begin()")
        row = self._write_run_row(
            "committed", rows=self.rows("caption_audit" if self.kind == "audit" else "scores"),
            timings=timings or {}, metrics=metrics or {},
            finished=_now(),
        )
        return row

    # -- internals ------------------------------------------------------------------
    def _shard_files(self, table: str | None = None):
        tables = SHARD_TABLES if table is None else (table,)
        for t in tables:
            yield from (self.store.root / t / f"teacher={self.teacher}" / f"run={self.run}").glob(
                "split=*/part-*.parquet"
            )

    def _remove_temporaries(self) -> None:
        """Delete what a killed writer of this run left half-written (never read by anyone)."""
        root = self.store.root
        leftovers = [
            p
            for t in SHARD_TABLES
            for p in (root / t / f"teacher={self.teacher}" / f"run={self.run}").glob(f"split=*/.*{TMP_SUFFIX}")
        ]
        leftovers += (root / "failures" / f"run={self.run}").glob(f".*{TMP_SUFFIX}")
        leftovers += self._runs_path.parent.glob(f".{self._runs_path.name}.*{TMP_SUFFIX}")
        for tmp in leftovers:
            tmp.unlink(missing_ok=True)

    def _write_run_row(self, status, rows, timings, metrics, finished) -> dict:
        row = {
            "fingerprint": self.fingerprint,
            "run": self.run,
            "kind": self.kind,
            "status": status,
            "config": self.config_json,
            "manifest": self.manifest,
            "rows": rows,
            "timings": json.dumps(timings, sort_keys=True),
            "metrics": json.dumps(metrics, sort_keys=True),
            "code_version": self.code_version,
            "started_at": self._started_at,
            "finished_at": finished,
        }
        write_parquet_atomic(self._runs_path, pa.Table.from_pylist([row]), "runs", self.producer, self.fingerprint)
        return row | {"teacher": self.teacher}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
