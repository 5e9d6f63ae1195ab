"""DuckDB views: which run is current, manifest changes, empty stores, dtypes, versions;
the same views over a store on S3 (moto on loopback)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

import stores
from stores import IncompatibleStoreError, RunWriter, Store, StoreError
from teachkit_fixtures.store import build_store


def _commit_run(store: Store, teacher: str, fp: str, scores: list[float], dtype: str = "float16") -> None:
    w = RunWriter(store, teacher, "test", fp, "{}", "0", score_dtype=dtype)
    w.begin()
    w.write_shard("scores", "test", 0, pa.table({
        "caption_id": [f"v{k}#0" for k in range(len(scores))],
        "video_id": [f"v{k}" for k in range(len(scores))],
        "score": pa.array(scores, pa.float32()),
    }))
    w.commit()


def _rows(store: Store, sql: str):
    with stores.connect(store.root) as con:
        return con.execute(sql).fetchall()


def test_second_committed_run_of_a_teacher_supersedes_the_first(any_store):
    small_store = any_store
    _commit_run(small_store, "clip", "1" * 64, [0.5, 0.25])
    _commit_run(small_store, "clip", "2" * 64, [1.5, 1.25, 1.0])
    _commit_run(small_store, "other", "3" * 64, [0.75])
    assert _rows(small_store, "SELECT teacher, run, count(*), sum(score) FROM scores GROUP BY ALL ORDER BY teacher") == [
        ("clip", "2" * 16, 3, 3.75),
        ("other", "3" * 16, 1, 0.75),
    ]
    assert _rows(small_store, "SELECT teacher, run FROM current_runs ORDER BY teacher") == [
        ("clip", "2" * 16), ("other", "3" * 16)
    ]
    assert _rows(small_store, "SELECT count(*) FROM runs") == [(3,)]


def test_changed_manifest_hides_runs_over_the_old_one(any_store):
    small_store = any_store
    _commit_run(small_store, "clip", "1" * 64, [0.5, 0.25])
    old = small_store.manifest()
    videos = pa.table({"video_id": ["z"], "split": ["test"], "path": ["/z.mp4"], "duration": [1.0],
                       "fps": [8.0], "frames": pa.array([8], pa.int32())})
    captions = pa.table({"caption_id": ["z#0"], "video_id": ["z"], "split": ["test"], "text": ["a z"]})
    new = small_store.write_manifest("other", videos, captions, [("y", "missing")])
    assert new.fingerprint != old.fingerprint
    assert _rows(small_store, "SELECT count(*) FROM scores") == [(0,)]
    assert _rows(small_store, "SELECT count(*) FROM current_runs") == [(0,)]
    assert _rows(small_store, "SELECT count(*) FROM runs") == [(1,)]  # history stays queryable
    assert _rows(small_store, "SELECT video_id FROM videos") == [("z",)]
    assert _rows(small_store, "SELECT run, item, error FROM failures") == [(new.short, "y", "missing")]


def test_empty_store_views_work(store_root):
    Store(store_root, create=True)
    with stores.connect(store_root) as con:
        for view in stores.VIEWS:
            assert con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,)
        cols = [d[0] for d in con.execute("SELECT * FROM scores").description]
    assert cols == ["teacher", "split", "caption_id", "video_id", "score", "run"]


def test_scores_round_trip_in_float16_and_float32(any_store):
    small_store = any_store
    values = [0.1234, -0.5, 0.999, 12.34]
    _commit_run(small_store, "half", "4" * 64, values, "float16")
    _commit_run(small_store, "single", "5" * 64, values, "float32")
    got = dict(_rows(small_store, "SELECT teacher, list(score ORDER BY caption_id) FROM scores GROUP BY teacher"))
    np.testing.assert_array_equal(np.float32(got["half"]), np.float16(values).astype(np.float32))
    np.testing.assert_array_equal(np.float32(got["single"]), np.float32(values))
    assert _rows(small_store, "SELECT DISTINCT typeof(score) FROM scores") == [("FLOAT",)]


def test_incompatible_schema_version_is_refused_with_a_clear_message(small_store):
    marker = small_store.root / "store.json"
    marker.write_text(json.dumps({"schema_version": stores.SCHEMA_VERSION + 98}))
    with pytest.raises(IncompatibleStoreError) as err:
        stores.connect(small_store.root)
    msg = str(err.value)
    assert f"schema version {stores.SCHEMA_VERSION + 98}" in msg
    assert f"reads version {stores.SCHEMA_VERSION}" in msg and "\n" not in msg


def test_missing_store_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="no teachkit store"):
        stores.connect(tmp_path / "nothing")


def test_s3_store_takes_storage_options_and_file_urls_are_local(s3_server, tmp_path, monkeypatch):
    from stores.fs import LocalFS

    root = f"s3://{s3_server.bucket()}/opts"
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # the endpoint now comes from the options alone
    store = build_store(root, [("v0", "test")], [("v0#0", "v0", "test", "a v0")],
                        options={"endpoint_url": s3_server.endpoint})
    assert store.root == root and not store.fs.local
    _commit_run(store, "clip", "6" * 64, [0.5])
    assert _rows(store, "SELECT teacher, score FROM scores") == [("clip", 0.5)]
    assert stores.connect(root).execute("SELECT count(*) FROM runs").fetchone() == (1,)  # options remembered

    local = Store(f"file://{tmp_path}/viaurl", create=True)
    assert isinstance(local.fs, LocalFS) and (tmp_path / "viaurl" / "store.json").exists()
