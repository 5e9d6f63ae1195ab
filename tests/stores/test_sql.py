"""``teachkit sql``: output formats, one-line errors, and that nothing can change the store."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pytest
from typer.testing import CliRunner

import stores
from stores import RunWriter
from stores.sql import QueryRefused, check_read_only
from teachkit.cli import app

runner = CliRunner()


@pytest.fixture
def scored_store(small_store):
    w = RunWriter(small_store, "clip", "test", "c" * 64, "{}", "0", score_dtype="float32")
    w.begin()
    w.write_shard("scores", "test", 0, pa.table({
        "caption_id": ["v0#0", "v0#0", "v1#0"],
        "video_id": ["v0", "v1", "v1"],
        "score": pa.array([0.5, -0.25, 0.75], pa.float32()),
    }))
    w.commit()
    return small_store


def _sql(store, *args, input=None):
    return runner.invoke(app, ["sql", *args, "--store", str(store.root)], input=input)


def _snapshot(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))


def test_csv_and_json_output_parse_back(scored_store):
    q = "SELECT caption_id, video_id, score FROM scores ORDER BY caption_id, video_id"
    r = _sql(scored_store, q, "--format", "csv")
    assert r.exit_code == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(x["caption_id"], x["video_id"], float(x["score"])) for x in rows] == [
        ("v0#0", "v0", 0.5), ("v0#0", "v1", -0.25), ("v1#0", "v1", 0.75)
    ]
    r = _sql(scored_store, q, "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert [json.loads(line) for line in r.stdout.splitlines()] == [
        {"caption_id": "v0#0", "video_id": "v0", "score": 0.5},
        {"caption_id": "v0#0", "video_id": "v1", "score": -0.25},
        {"caption_id": "v1#0", "video_id": "v1", "score": 0.75},
    ]
    r = _sql(scored_store, "SELECT started_at, finished_at FROM runs", "--format", "json")
    row = json.loads(r.stdout)
    assert row["started_at"] <= row["finished_at"] and "T" in row["started_at"]


def test_table_output_and_several_statements(scored_store):
    r = _sql(scored_store, "SELECT count(*) AS n_captions FROM captions; SELECT 42 AS answer")
    assert r.exit_code == 0, r.stderr
    assert "n_captions" in r.stdout and "10" in r.stdout and "answer" in r.stdout and "42" in r.stdout


def test_interactive_prompt_reads_until_semicolon_and_quits(scored_store):
    r = _sql(scored_store, "--format", "csv",
             input="SELECT count(*)\n  AS n FROM videos;\nSELECT nope FROM videos;\nSELECT 7 AS x;\n.quit\nSELECT 8;\n")
    assert r.stdout.splitlines() == ["n", "6", "x", "7"]  # the error did not end the session
    assert r.stderr.count("error:") == 1
    assert r.exit_code == 2  # ... but a script piping SQL in learns that a statement failed


def test_statements_from_stdin_exit_zero_only_when_all_succeed(scored_store):
    ok = _sql(scored_store, "--format", "csv", input="SELECT 1 AS a;\nSELECT 2 AS b;\n")
    assert ok.exit_code == 0 and ok.stdout.splitlines() == ["a", "1", "b", "2"]
    refused = _sql(scored_store, input="SELECT 1;\nDROP VIEW scores;\n")
    assert refused.exit_code == 2 and refused.stderr.startswith("error: refused")


@pytest.mark.parametrize(
    "query, words",
    [
        ("SELECT * FROM nosuchtable", ["nosuchtable", "does not exist"]),
        ("SELECT nosuchcolumn FROM videos", ["nosuchcolumn", "not found"]),
        ("SELEC 1", ["syntax error"]),
    ],
)
def test_sql_errors_are_one_line_on_stderr(scored_store, query, words):
    r = _sql(scored_store, query)
    assert r.exit_code == 2 and r.stdout == ""  # a mistake in the SQL: exit 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert all(w in lines[0] for w in words) and "Traceback" not in r.stderr


def test_incompatible_store_is_one_line(scored_store):
    (scored_store.root / "store.json").write_text(json.dumps({"schema_version": 999}))
    r = _sql(scored_store, "SELECT 1")
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "schema version 999" in lines[0]


@pytest.mark.parametrize(
    "query",
    [
        "COPY scores TO '{root}/leak.csv'",
        "COPY (SELECT 1) TO '{root}/leak.parquet' (FORMAT parquet)",
        "CREATE TABLE t AS SELECT * FROM scores",
        "INSERT INTO scores VALUES ('x', 'test', 'c', 'v', 1.0, 'r')",
        "DROP VIEW scores",
        "ATTACH '{root}/x.duckdb' AS x",
        "SET enable_external_access = true",
        "INSTALL httpfs",
        "LOAD httpfs",
        "PRAGMA enable_profiling",
        "EXPORT DATABASE '{root}/dump'",
        "SELECT 1; COPY scores TO '{root}/leak.csv'",
        "EXPLAIN ANALYZE COPY scores TO '{root}/leak.csv'",
        "/* harmless */ COPY scores TO '{root}/leak.csv'",
    ],
)
def test_writes_are_refused_and_the_store_is_unchanged(scored_store, query):
    before = _snapshot(scored_store.root)
    r = _sql(scored_store, query.format(root=scored_store.root))
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith("error: refused")
    assert _snapshot(scored_store.root) == before


def test_files_outside_the_store_cannot_be_read(scored_store, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    r = _sql(scored_store, f"SELECT * FROM read_csv('{secret}')")
    assert r.exit_code == 1 and "secret.csv" in r.stderr and r.stdout == ""


def test_read_only_check_allows_reads():
    assert len(check_read_only("DESCRIBE scores; SHOW TABLES; SUMMARIZE videos; FROM runs; EXPLAIN SELECT 1")) == 5
    with pytest.raises(QueryRefused, match="UPDATE"):
        check_read_only("UPDATE videos SET split = 'x'")


def test_views_still_read_after_the_lock(scored_store):
    from stores.sql import open_read_only

    with open_read_only(scored_store.root) as con:
        assert con.execute("SELECT count(*) FROM scores").fetchone() == (3,)
        with pytest.raises(Exception, match="locked"):
            con.execute("SET enable_external_access = true")
    assert stores.connect(scored_store.root).execute("SELECT count(*) FROM scores").fetchone() == (3,)
