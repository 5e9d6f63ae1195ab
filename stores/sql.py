"""Read-only SQL over a store: the engine behind ``teachkit sql``.

Two independent locks keep a query from changing anything:

1. :func:`check_read_only` lets through only ``SELECT`` statements (which include
   ``DESCRIBE``, ``SHOW``, ``SUMMARIZE``, ``FROM x``, ``VALUES``) and ``EXPLAIN [ANALYZE]``
   of one; COPY, EXPORT, INSERT, CREATE, ATTACH, SET, INSTALL, LOAD, PRAGMA, CALL and the
   rest are refused before anything runs. DuckDB's own parser decides the statement type,
   so comments or odd spacing cannot disguise one.
2. :func:`open_read_only` then disables DuckDB's external access, allowing only the store
   folder (the views read their Parquet files lazily, at query time), and locks the
   configuration, so a query can read no other file and no statement can undo the lock.
   A store on an object store is allowed by its URL prefix (``s3://bucket/prefix/``): DuckDB
   applies ``allowed_directories`` to the registered fsspec filesystem too, so
   ``read_parquet('s3://other-bucket/...')`` and local files are refused alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import duckdb

from .connect import connect
from .layout import Store
from teachkit.util.errors import UsageError

_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(ANALY[SZ]E\s+)?", re.IGNORECASE)


class QueryRefused(UsageError, ValueError):
    """A statement that could change the store or its surroundings."""


def check_read_only(sql: str) -> list[str]:
    """The statements of ``sql`` if every one is a read; raise :class:`QueryRefused` otherwise.

    Parse errors propagate as :class:`duckdb.ParserException`.
    """
    statements = duckdb.extract_statements(sql)
    out = []
    for s in statements:
        text = str(s.query).strip()
        kind = s.type
        if kind == duckdb.StatementType.EXPLAIN:
            # EXPLAIN ANALYZE runs its statement: judge the statement, not the wrapper
            inner = duckdb.extract_statements(_EXPLAIN.sub("", text, count=1))
            kind = inner[0].type if len(inner) == 1 else kind
        if kind != duckdb.StatementType.SELECT:
            name = kind.name if hasattr(kind, "name") else str(kind)
            raise QueryRefused(
                f"refused {name} statement: teachkit sql only reads the store "
                f"(SELECT, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN); got {_clip(text)!r}"
            )
        out.append(text)
    return out


def open_read_only(root: str | Path = "store", options: dict | None = None) -> duckdb.DuckDBPyConnection:
    """``stores.connect(root)`` locked against reading outside the store and reconfiguring."""
    store = Store(root, options=options)
    con = connect(store)
    allowed = store.fs.uri().rstrip("/") + "/"
    con.execute(f"SET allowed_directories = [{_lit(allowed)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


def run_query(
    con: duckdb.DuckDBPyConnection, sql: str, batch: int = 10_000
) -> Iterator[tuple[list[str], Iterator[list[tuple]]]]:
    """For each read statement of ``sql``: its column names and its rows in batches.

    Every statement is checked before the first one runs, so ``SELECT 1; COPY ...`` runs
    nothing. Consume each statement's batches before asking for the next statement.
    """
    statements = check_read_only(sql)
    for text in statements:
        cur = con.cursor()
        rel = cur.execute(text)
        columns = [d[0] for d in rel.description] if rel.description else []
        yield columns, _batches(rel, batch)


def _batches(rel, n: int) -> Iterator[list[tuple]]:
    while rows := rel.fetchmany(n):
        yield rows


def one_line(error: BaseException) -> str:
    """A DuckDB error as one line: drop the ``LINE 1: ...`` echo and its caret."""
    lines = [ln.strip() for ln in str(error).splitlines()]
    keep = [ln for ln in lines if ln and not ln.startswith("LINE ") and set(ln) != {"^"}]
    return " ".join(keep) or type(error).__name__


def _clip(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"
