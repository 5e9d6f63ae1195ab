"""RunWriter: writes one teacher run's shards so that a crash never shows partial data.

A run is identified by its fingerprint. Shards have deterministic names
(``part-<index>.parquet`` per table and split) and are written whole (:mod:`stores.fs`:
temporary name and rename locally, one write-once object on an object store). One writer
at a time holds the run's lock (:mod:`stores.lock`) from :meth:`RunWriter.begin` to
:meth:`RunWriter.commit`; a second one is refused, naming the holder. A rerun of the same fingerprint after a crash asks
:meth:`RunWriter.has_shard` and skips what is committed, so every row exists exactly once.
Only :meth:`RunWriter.commit`, which writes the ``runs`` row with ``status=committed``
last, makes the run's rows visible through :func:`stores.connect`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa

from teachkit.util.atomic import TMP_GLOB, TMP_SUFFIX
from teachkit.util.errors import RuntimeFailure
from .fingerprint import short
from .layout import RUN_TABLES, Store, StoreError, check_name, write_table
from .lock import LEASE_SECONDS, run_lock

SHARD_TABLES = RUN_TABLES


class ShardRefused(RuntimeFailure, ValueError):
    """Scores a shard cannot hold (non-finite, or too large for float16); nothing is written."""


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


class ShardWriter:
    """Writes shards of one teacher run without owning it: what a worker of a distributed engine
    holds (a Ray actor, one ``--shard i/n`` process). It takes no lock and writes no ``runs`` row;
    shards have deterministic names and are written whole, so two workers (or a retried task)
    writing the same shard leave one copy of the same rows. :class:`RunWriter` adds the lock and
    the commit, which only the driver holds."""

    def __init__(
        self,
        store: Store,
        teacher: str,
        fingerprint: str,
        score_dtype: str = "float16",
        producer: str = "teachkit",
        embedding_dtype: str = "float16",
    ):
        self.store = store
        self.teacher = check_name("teacher", teacher)
        self.fingerprint = fingerprint
        self.run = short(fingerprint)
        self.score_dtype = score_dtype
        self.embedding_dtype = embedding_dtype
        self.producer = producer

    def shard_key(self, table: str, split: str, index: int, kind: str = "") -> str:
        """The key of one shard, relative to the store root: ``part-<index>``; embeddings
        shards name their kind too (``part-video-00000``)."""
        if table not in SHARD_TABLES:
            raise ValueError(f"shards are written to {SHARD_TABLES}, not {table!r}")
        check_name("split", split)
        return (f"{self.store.run_dir(table, self.teacher, self.run)}/split={split}/"
                f"part-{_kind_part(table, kind)}{index:05d}.parquet")

    def shard_path(self, table: str, split: str, index: int, kind: str = "") -> Path | str:
        """Where one shard lives: a local path, or its URL on an object store."""
        key = self.shard_key(table, split, index, kind)
        return self.store.root / key if self.store.fs.local else self.store.fs.uri(key)

    def shard_uris(self, table: str, split: str) -> list[str]:
        """Every written shard of ``table`` and ``split``, as DuckDB names them (see :func:`stores.connect.duckdb_for`)."""
        return [self.store.fs.uri(k) for k in self.store.shard_files(table, self.teacher, self.run, split)]

    def has_shard(self, table: str, split: str, index: int, kind: str = "") -> bool:
        return self.store.fs.exists(self.shard_key(table, split, index, kind))

    def write_shard(self, table: str, split: str, index: int, data: pa.Table, kind: str = "") -> int:
        """Write one shard atomically; return its rows. Non-finite scores are refused."""
        import pyarrow.compute as pc

        if table == "embeddings":
            data = _embedding_rows(data, kind)
        score = data.column("score") if table != "embeddings" else pc.list_flatten(data.column("vector"))
        # min_count=0: an empty shard (e.g. frames of padded clips only) is valid, not "non-finite"
        if score.null_count or not pc.all(pc.is_finite(score.cast(pa.float32())), min_count=0).as_py():
            raise ShardRefused(
                f"teacher {self.teacher}: non-finite {table} scores in shard {split}/{index}; "
                "nothing written"
            )
        dtype = self.embedding_dtype if table == "embeddings" else self.score_dtype
        if dtype == "float16":
            big = pc.max(pc.abs(score.cast(pa.float32()))).as_py() or 0.0
            if big > 65504.0:
                raise ShardRefused(
                    f"teacher {self.teacher}: {table} score {big} overflows float16; "
                    f"set {'embeddings' if table == 'embeddings' else 'score_dtype'} = 'float32' for this teacher"
                )
        self._check_writer()
        return write_table(
            self.store.fs, self.shard_key(table, split, index, kind), data, table, self.producer,
            self.fingerprint, dtype,
        )

    def rows(self, table: str = "scores") -> int:
        return self.store.shard_rows(table, self.teacher, self.run)

    def _check_writer(self) -> None:
        """Hook before every shard write (the run's lock, for :class:`RunWriter`)."""


class RunWriter(ShardWriter):
    """Writes the shards of one teacher run and commits it (see module docstring)."""

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
        embedding_dtype: str = "float16",
        lease_seconds: float = LEASE_SECONDS,
    ):
        super().__init__(store, teacher, fingerprint, score_dtype, producer, embedding_dtype)
        self.kind = kind
        self.config_json = config_json
        self.code_version = code_version
        self.manifest = store.require_manifest().fingerprint
        self._runs_key = store.run_key(self.teacher, self.run)
        self._started_at: dt.datetime | None = None
        self._lock = run_lock(store.fs, store.lock_key(self.teacher, self.run),
                              f"teacher {self.teacher} run {self.run}", lease_seconds=lease_seconds)
        self._locked = False

    # -- lifecycle ------------------------------------------------------------------
    def begin(self) -> int:
        """Take the run's writer lock and mark the run as running (keeping an earlier start
        time); return the shards already committed. Raises :class:`stores.layout.LockHeld`
        while another writer holds the run."""
        if self.store.committed_run(self.teacher, self.fingerprint) is not None:
            raise StoreError(f"run {self.run} of teacher {self.teacher} is already committed")
        if not self._locked:
            self._lock.acquire()
            self._locked = True
            if self.store.committed_run(self.teacher, self.fingerprint) is not None:
                self.release()  # the holder it waited for committed in between
                raise StoreError(f"run {self.run} of teacher {self.teacher} is already committed")
        self._remove_temporaries()  # only now: a live writer's temporaries are not leftovers
        fs = self.store.fs
        if fs.exists(self._runs_key):
            self._started_at = fs.read_parquet(self._runs_key).column("started_at")[0].as_py()
        else:
            self._started_at = _now()
        self._write_run_row("running", rows=0, timings={}, metrics={}, finished=None)  # also over `failed`
        return sum(1 for _ in self._shard_files())

    def release(self) -> None:
        """Give the writer lock back without committing (commit() releases it too)."""
        if self._locked:
            self._lock.release()
            self._locked = False

    def _check_writer(self) -> None:
        self._lock.check()

    def write_failures(self, key: str, failures: list[tuple[str, str]], level: str = "error") -> None:
        """Record inputs this run could not use (item, reason) under a deterministic key;
        ``level = "warning"`` for inputs it used in part (a video decoded past bad packets)."""
        if not failures:
            return
        key = f"failures/run={self.run}/part-{check_name('key', key)}.parquet"
        data = pa.table({"item": [f[0] for f in failures], "error": [f[1] for f in failures],
                         "level": [level] * len(failures)})
        write_table(self.store.fs, key, data, "failures", self.producer, self.fingerprint)

    def failures(self, level: str = "error") -> list[tuple[str, str]]:
        """(item, reason) of this run's failures of ``level`` (files without a level are errors)."""
        rows = []
        for key in self.store.fs.glob(f"failures/run={self.run}/part-*.parquet"):
            t = self.store.fs.read_parquet(key)
            levels = t.column("level").to_pylist() if "level" in t.column_names else ["error"] * t.num_rows
            rows += [(i, e) for i, e, lv in zip(t.column("item").to_pylist(), t.column("error").to_pylist(), levels)
                     if lv == level]
        return rows

    def commit(self, timings: dict | None = None, metrics: dict | None = None) -> dict:
        """Make the run visible: write its ``runs`` row with status ``committed``."""
        if self._started_at is None:
            raise StoreError("commit() before begin()")
        self._lock.check(read=True)  # the commit is the one write that must be this writer's
        row = self._write_run_row(
            "committed", rows=self.rows("caption_audit" if self.kind == "audit" else "scores"),
            timings=timings or {}, metrics=metrics or {},
            finished=_now(),
        )
        self.store.make_current(self.teacher, row)
        self.release()
        return row

    def fail(self, error: str) -> None:
        """Record that this run stopped on ``error`` (status ``failed``, the error in ``metrics``).

        Nothing becomes visible; a rerun of the same fingerprint resumes it like a killed run.
        """
        if self._started_at is None:
            return
        self._write_run_row("failed", rows=self.rows("scores"), timings={}, metrics={"error": error},
                            finished=_now())
        self.release()

    # -- internals ------------------------------------------------------------------
    def _shard_files(self, table: str | None = None):
        tables = SHARD_TABLES if table is None else (table,)
        for t in tables:
            yield from self.store.shard_files(t, self.teacher, self.run)

    def _remove_temporaries(self) -> None:
        """Delete what a killed writer of this run left half-written (never read by anyone;
        an object store has none: its objects appear whole or not at all)."""
        fs = self.store.fs
        folders = [f"{self.store.run_dir(t, self.teacher, self.run)}/split=*" for t in SHARD_TABLES]
        patterns = [f"{f}/{TMP_GLOB}" for f in folders] + [f"failures/run={self.run}/{TMP_GLOB}"]
        folder, name = self._runs_key.rsplit("/", 1)
        patterns.append(f"{folder}/.{name}.*{TMP_SUFFIX}")  # this run's row only
        for key in [k for p in patterns for k in fs.glob(p)]:
            fs.remove(key)

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
        write_table(self.store.fs, self._runs_key, pa.Table.from_pylist([row]), "runs", self.producer, self.fingerprint)
        return row | {"teacher": self.teacher}


class FeatureShards:
    """The encode pass's shards of one encoding (``features/encode=<e>/split=<s>/part-<i>``).

    An encoding is what a teacher's ``encode_videos`` computes, fingerprinted apart from its
    scoring (``pipeline.run.prepare``): teachers that differ only in scorer, score plan or
    frame relevance share it, and a rerun with a new scorer reads it instead of decoding.
    Shard ``i`` holds split videos ``[i * n, (i + 1) * n)`` (n fixed by the fingerprint); like
    run shards they are written whole under deterministic names, so a retried or repeated
    encode task leaves one copy. They are kept until the runs that read them commit, or
    longer when the engine is told to keep them.
    """

    def __init__(self, store: Store, fingerprint: str, producer: str = "teachkit"):
        self.store = store
        self.fingerprint = fingerprint
        self.encode = short(fingerprint)
        self.producer = producer

    def key(self, split: str, index: int) -> str:
        return self.store.features_key(self.encode, split, index)

    def has(self, split: str, index: int) -> bool:
        return self.store.fs.exists(self.key(split, index))

    def write(self, split: str, index: int, data: pa.Table) -> int:
        """Write one encode shard whole; return its rows (one per video of the shard)."""
        return write_table(self.store.fs, self.key(split, index), data, "features", self.producer, self.fingerprint)

    def read(self, split: str, index: int, columns: list[str] | None = None) -> pa.Table:
        return self.store.fs.read_parquet(self.key(split, index), columns)

    def remove(self) -> int:
        return self.store.remove_features(self.encode)


def _kind_part(table: str, kind: str) -> str:
    from .schema import EMBEDDING_KINDS

    if table != "embeddings":
        if kind:
            raise ValueError(f"{table} shards have no kind (got {kind!r})")
        return ""
    if kind not in EMBEDDING_KINDS:
        raise ValueError(f"embeddings shards need a kind in {EMBEDDING_KINDS}, got {kind!r}")
    return f"{kind}-"


def _embedding_rows(data: pa.Table, kind: str) -> pa.Table:
    """An embeddings shard holds one kind, and every vector of it has the same width."""
    import pyarrow.compute as pc

    if "kind" not in data.column_names:
        data = data.append_column("kind", pa.array([kind] * data.num_rows, pa.string()))
    elif data.num_rows and pc.any(pc.not_equal(data.column("kind"), kind)).as_py():
        raise ValueError(f"an embeddings shard of kind {kind!r} holds rows of another kind")
    widths = pc.unique(pc.list_value_length(data.column("vector")))
    if len(widths) > 1:
        raise ValueError(f"embeddings of kind {kind!r} have different widths {sorted(widths.to_pylist())}")
    return data


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
