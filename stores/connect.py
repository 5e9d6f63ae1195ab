"""Read-only DuckDB views over a store's committed data.

``stores.connect(root)`` returns an in-memory DuckDB connection with the views ``videos``,
``captions``, ``scores``, ``frames``, ``embeddings``, ``runs``, ``failures`` and ``current_runs``.
``scores``, ``frames`` and ``embeddings`` show, per teacher, only its latest committed run
over the current manifest (``embeddings.vector`` is a ``FLOAT[]`` list, for DuckDB's
``list_cosine_similarity``; cast to ``FLOAT[n]`` for the ``array_*`` functions);
files of running or superseded runs are never read. The views are a snapshot of what was
committed when the connection opened: every view names its files, listed at connect time.
``caption_audit`` shows the current caption audit, the one committed or asked for last (:mod:`teachkit.audit`) and
``exclusions`` its flagged captions, which students leave out.

A store on an object store is read through its fsspec filesystem registered with DuckDB
(``register_filesystem``; DuckDB's own httpfs extension is not needed, nor installed).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from .layout import Store

VIEWS = ("videos", "captions", "scores", "frames", "embeddings", "runs", "current_runs", "failures",
         "caption_audit", "exclusions")  # creation order

_EMPTY = {
    "videos": "SELECT NULL::VARCHAR video_id, NULL::VARCHAR split, NULL::VARCHAR path, "
    "NULL::FLOAT duration, NULL::FLOAT fps, NULL::INTEGER frames WHERE false",
    "captions": "SELECT NULL::VARCHAR caption_id, NULL::VARCHAR video_id, NULL::VARCHAR split, "
    "NULL::VARCHAR text WHERE false",
    "scores": "SELECT NULL::VARCHAR teacher, NULL::VARCHAR split, NULL::VARCHAR caption_id, "
    "NULL::VARCHAR video_id, NULL::FLOAT score, NULL::VARCHAR run WHERE false",
    "frames": "SELECT NULL::VARCHAR teacher, NULL::VARCHAR split, NULL::VARCHAR caption_id, "
    "NULL::VARCHAR video_id, NULL::SMALLINT frame, NULL::FLOAT score, NULL::VARCHAR run WHERE false",
    "embeddings": "SELECT NULL::VARCHAR teacher, NULL::VARCHAR split, NULL::VARCHAR kind, "
    "NULL::VARCHAR id, NULL::FLOAT[] vector, NULL::VARCHAR run WHERE false",
    "runs": "SELECT NULL::VARCHAR teacher, NULL::VARCHAR fingerprint, NULL::VARCHAR run, "
    "NULL::VARCHAR kind, NULL::VARCHAR status, NULL::VARCHAR config, NULL::VARCHAR manifest, "
    "NULL::BIGINT rows, NULL::VARCHAR timings, NULL::VARCHAR metrics, NULL::VARCHAR code_version, "
    "NULL::TIMESTAMPTZ started_at, NULL::TIMESTAMPTZ finished_at WHERE false",
    "failures": "SELECT NULL::VARCHAR run, NULL::VARCHAR item, NULL::VARCHAR error, NULL::VARCHAR source, "
    "NULL::VARCHAR level WHERE false",
    "caption_audit": "SELECT NULL::VARCHAR caption_id, NULL::VARCHAR video_id, NULL::VARCHAR split, "
    "NULL::FLOAT score, NULL::BOOLEAN flagged, NULL::VARCHAR run WHERE false",
    # the flagged captions of the current audit: what the student leaves out (data.drop_excluded)
    "exclusions": "SELECT caption_id, video_id, split, score FROM caption_audit WHERE flagged",
}


def _scan(globs: list[str]) -> str:
    files = ", ".join(_lit(g) for g in globs)
    return (
        f"read_parquet([{files}], hive_partitioning = true, hive_types_autocast = false, "
        "union_by_name = true)"
    )


def _lit(s: str | Path) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def view_sql(store: Store) -> dict[str, str]:
    """The SELECT behind each view, with the committed files resolved now."""
    fs = store.fs
    m = store.manifest()
    sql = dict(_EMPTY)
    if m is not None:
        for table in ("videos", "captions"):
            key = f"{table}/manifest={m.short}/part-0.parquet"
            if fs.exists(key):
                sql[table] = f"SELECT * EXCLUDE (manifest) FROM {_scan([fs.uri(key)])}"
    run_files = store.run_files()
    if run_files:
        sql["runs"] = (
            "SELECT teacher, fingerprint, run, kind, status, config, manifest, rows, timings, "
            f"metrics, code_version, started_at, finished_at FROM {_scan([fs.uri(k) for k in run_files])}"
        )
    current = store.current_runs(m)
    cols = {"scores": "caption_id, video_id, score", "frames": "caption_id, video_id, frame, score",
            "embeddings": "kind, id, vector::FLOAT[] AS vector"}
    for table, c in cols.items():
        files = [fs.uri(k) for t, r in sorted(current.items()) for k in store.shard_files(table, t, r["run"])]
        if files:
            sql[table] = f"SELECT teacher, split, {c}, run FROM {_scan(files)}"
    visible = [r["run"] for r in current.values()] + ([m.short] if m else [])
    fail_keys = [k for r in visible for k in fs.glob(f"failures/run={r}/*.parquet")]
    fail_files = [fs.uri(k) for k in fail_keys]
    if fail_files:
        # source: whether the manifest (probing) or a teacher run recorded the row; level:
        # error (input not used) or warning (used in part); files from before `level` are errors
        source = f"CASE WHEN run = {_lit(m.short)} THEN 'manifest' ELSE 'run' END" if m else "'run'"
        has_level = any("level" in fs.parquet_schema(k).names for k in fail_keys)
        level = "coalesce(level, 'error')" if has_level else "'error'"
        sql["failures"] = (f"SELECT run, item, error, {source} AS source, {level} AS level "
                           f"FROM {_scan(fail_files)}")
    audits = sorted((r for r in current.values() if r["kind"] == "audit"), key=lambda r: r["selected_at"])
    if audits:  # the current audit: the one committed or asked for last (teachkit.audit)
        a = audits[-1]
        files = [fs.uri(k) for k in store.shard_files("caption_audit", a["teacher"], a["run"])]
        if files:
            sql["caption_audit"] = f"SELECT caption_id, video_id, split, score, flagged, run FROM {_scan(files)}"
    cur = ", ".join(_lit(r["fingerprint"]) for r in current.values()) or "NULL"
    sql["current_runs"] = f"SELECT * FROM runs WHERE fingerprint IN ({cur})"
    return sql


def duckdb_for(store: Store, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A bare in-memory DuckDB connection that can read ``store``'s files by their :meth:`uri`."""
    con = duckdb.connect(":memory:")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if not store.fs.local:
        # never fetch httpfs from the network for s3:// paths: the registered filesystem reads them
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.register_filesystem(store.fs.duckdb_filesystem())
    return con


def connect(
    root: str | Path | Store = "store", threads: int | None = None, options: dict | None = None
) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection with read-only views over the store at ``root``
    (a folder, an fsspec URL such as ``s3://bucket/prefix`` with storage ``options``, or a Store).

    DuckDB is not fork-safe: call this inside each DataLoader worker, never before forking.
    """
    store = root if isinstance(root, Store) else Store(root, options=options)
    con = duckdb_for(store, threads)
    views = view_sql(store)
    for name in VIEWS:  # current_runs after runs, which it reads
        con.execute(f"CREATE VIEW {name} AS {views[name]}")
    return con
