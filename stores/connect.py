"""Read-only DuckDB views over a store's committed data.

``stores.connect(root)`` returns an in-memory DuckDB connection with the views ``videos``,
``captions``, ``scores``, ``frames``, ``runs``, ``failures`` and ``current_runs``. ``scores``
and ``frames`` show, per teacher, only its latest committed run over the current manifest;
files of running or superseded runs are never read. The views are a snapshot of what was
committed when the connection opened. ``caption_audit`` shows the latest committed caption audit
(:mod:`stores.audit`) and ``exclusions`` its flagged captions, which students leave out.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from .layout import Store

VIEWS = ("videos", "captions", "scores", "frames", "runs", "current_runs", "failures",
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
    "runs": "SELECT NULL::VARCHAR teacher, NULL::VARCHAR fingerprint, NULL::VARCHAR run, "
    "NULL::VARCHAR kind, NULL::VARCHAR status, NULL::VARCHAR config, NULL::VARCHAR manifest, "
    "NULL::BIGINT rows, NULL::VARCHAR timings, NULL::VARCHAR metrics, NULL::VARCHAR code_version, "
    "NULL::TIMESTAMPTZ started_at, NULL::TIMESTAMPTZ finished_at WHERE false",
    "failures": "SELECT NULL::VARCHAR run, NULL::VARCHAR item, NULL::VARCHAR error WHERE false",
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
    root = store.root.resolve()
    m = store.manifest()
    sql = dict(_EMPTY)
    if m is not None:
        for table in ("videos", "captions"):
            f = root / table / f"manifest={m.short}" / "part-0.parquet"
            if f.exists():
                sql[table] = f"SELECT * EXCLUDE (manifest) FROM {_scan([str(f)])}"
    run_files = sorted(root.glob("runs/teacher=*/run-*.parquet"))
    if run_files:
        sql["runs"] = (
            "SELECT teacher, fingerprint, run, kind, status, config, manifest, rows, timings, "
            f"metrics, code_version, started_at, finished_at FROM {_scan([str(f) for f in run_files])}"
        )
    current = store.current_runs()
    cols = {"scores": "caption_id, video_id, score", "frames": "caption_id, video_id, frame, score"}
    for table, c in cols.items():
        globs = [
            str(root / table / f"teacher={t}" / f"run={r['run']}" / "split=*" / "*.parquet")
            for t, r in sorted(current.items())
            if any((root / table / f"teacher={t}" / f"run={r['run']}").glob("split=*/*.parquet"))
        ]
        if globs:
            sql[table] = f"SELECT teacher, split, {c}, run FROM {_scan(globs)}"
    visible = [r["run"] for r in current.values()] + ([m.short] if m else [])
    fail_files = [
        str(f) for r in visible for f in sorted((root / "failures" / f"run={r}").glob("*.parquet"))
    ]
    if fail_files:
        sql["failures"] = f"SELECT run, item, error FROM {_scan(fail_files)}"
    audits = sorted((r for r in current.values() if r["kind"] == "audit"), key=lambda r: r["finished_at"])
    if audits:  # the current audit: the latest committed one (stores.audit)
        a = audits[-1]
        f = root / "caption_audit" / f"teacher={a['teacher']}" / f"run={a['run']}" / "split=*" / "*.parquet"
        sql["caption_audit"] = f"SELECT caption_id, video_id, split, score, flagged, run FROM {_scan([str(f)])}"
    cur = ", ".join(_lit(r["fingerprint"]) for r in current.values()) or "NULL"
    sql["current_runs"] = f"SELECT * FROM runs WHERE fingerprint IN ({cur})"
    return sql


def connect(root: str | Path = "store", threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection with read-only views over the store at ``root``.

    DuckDB is not fork-safe: call this inside each DataLoader worker, never before forking.
    """
    store = Store(root)
    con = duckdb.connect(":memory:")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    views = view_sql(store)
    for name in VIEWS:  # current_runs after runs, which it reads
        con.execute(f"CREATE VIEW {name} AS {views[name]}")
    return con
