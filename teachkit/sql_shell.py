"""``teachkit sql``: read-only SQL over a store's views, for people and for scripts.

Results go to stdout (a rich table, CSV, or JSON lines); errors go to stderr as one line,
never a traceback: exit 2 for a statement that is refused or does not parse or bind (a
mistake in the SQL), 1 for one that fails while running. Statements read from stdin keep
going after an error, and the command then exits with the worst code seen, so a script
that pipes SQL in learns that something failed; an interactive prompt (a TTY) exits 0.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import enum
import json
import math
import sys
from typing import Optional

import typer

HELP = (
    "Run a read-only SQL query over the store's views (videos, captions, scores, frames, "
    "runs, current_runs, failures). With no QUERY, open a prompt: statements end with ';', "
    "'.quit' or end of input leaves."
)


class OutputFormat(str, enum.Enum):
    table = "table"
    csv = "csv"
    json = "json"


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.command("sql", help=HELP)(sql_command)


def sql_command(
    query: Optional[str] = typer.Argument(None, help="SQL to run; omit for an interactive prompt."),
    store: str = typer.Option(
        "store", "--store",
        help="Store folder, or a URL such as s3://bucket/prefix (endpoint: AWS_ENDPOINT_URL).",
    ),
    output: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table, csv or json (lines)."),
    max_rows: int = typer.Option(1000, "--max-rows", help="Most rows a table shows (csv/json show all)."),
) -> None:
    import duckdb

    from teachkit.util.errors import RuntimeFailure
    from stores.sql import one_line, open_read_only

    try:
        con = open_read_only(store)
    except (duckdb.Error, OSError) as e:  # StoreError (bad input) reaches the CLI edge itself
        raise RuntimeFailure(f"{store}: {one_line(e)}") from None
    with con:
        code = _execute(con, query, output, max_rows) if query is not None else _prompt(con, output, max_rows)
    if code:
        raise typer.Exit(code)


#: DuckDB errors that mean the statement itself is wrong (exit 2); any other fails at run time (1)
_SQL_MISTAKES = ("ParserException", "BinderException", "CatalogException", "SyntaxException",
                 "InvalidInputException", "ConversionException")


def _execute(con, query: str, output: OutputFormat, max_rows: int) -> int:
    """Run ``query`` and print its results; on error print one line. Return the exit code."""
    import duckdb

    from stores.sql import QueryRefused, one_line, run_query

    try:
        for columns, batches in run_query(con, query):
            _print(columns, batches, output, max_rows)
    except QueryRefused as e:
        _error(e.one_line())
        return e.exit_code
    except duckdb.Error as e:
        _error(one_line(e))
        return 2 if type(e).__name__ in _SQL_MISTAKES else 1
    return 0


def _prompt(con, output: OutputFormat, max_rows: int) -> int:
    """A minimal REPL: accumulate lines until one ends with ';'. Return the exit code
    (0 at a TTY; otherwise the worst code of the statements read)."""
    interactive = sys.stdin.isatty()
    worst = 0
    if interactive:
        typer.echo("teachkit sql: end statements with ';', leave with .quit", err=True)
    buffer: list[str] = []
    while True:
        if interactive:
            typer.echo("sql> " if not buffer else " ...> ", err=True, nl=False)
        line = sys.stdin.readline()
        if not line:
            break
        if not buffer and line.strip() in (".quit", ".exit"):
            break
        buffer.append(line)
        if line.rstrip().endswith(";"):
            text = "".join(buffer)
            buffer = []
            if text.strip(" ;\n\t"):
                worst = max(worst, _execute(con, text, output, max_rows))
    if "".join(buffer).strip():
        worst = max(worst, _execute(con, "".join(buffer), output, max_rows))
    return 0 if interactive else worst


def _print(columns: list[str], batches, output: OutputFormat, max_rows: int) -> None:
    out = sys.stdout
    if output is OutputFormat.csv:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(columns)
        for rows in batches:
            w.writerows([_csv_cell(v) for v in r] for r in rows)
    elif output is OutputFormat.json:
        for rows in batches:
            for r in rows:
                out.write(json.dumps({c: _json_value(v) for c, v in zip(columns, r)}) + "\n")
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(*columns, show_lines=False)
        shown = 0
        more = False
        for rows in batches:
            for r in rows:
                if shown >= max_rows:
                    more = True
                    break
                table.add_row(*(_table_cell(v) for v in r))
                shown += 1
            if more:
                break
        Console(file=out, soft_wrap=False).print(table)
        if more:
            _error(f"showing the first {max_rows} rows; raise --max-rows or use --format csv for all", prefix="note")
    out.flush()


def _table_cell(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _csv_cell(v):
    if v is None:
        return ""
    return v.isoformat() if isinstance(v, (dt.datetime, dt.date)) else v


def _json_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def _error(message: str, prefix: str = "error") -> None:
    typer.echo(f"{prefix}: " + " ".join(message.split()), err=True)
