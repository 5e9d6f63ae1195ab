"""stores.fs: one interface over a local folder and an S3 prefix (moto on loopback)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from stores.fs import LocalFS, ObjectFS, open_fs


def test_reads_writes_and_globs_behave_alike(store_root):
    fs = open_fs(store_root)
    assert isinstance(fs, LocalFS if fs.local else ObjectFS)
    with pytest.raises(FileNotFoundError):
        fs.read_bytes("nothing.json")
    assert not fs.exists("a/b.json")
    fs.write_json("a/b.json", {"x": 1})
    fs.write_bytes("a/c/d.bin", b"123")
    fs.write_bytes("a/c/e.bin", b"4")
    fs.write_bytes("a/cc.bin", b"5")
    assert fs.exists("a/b.json") and fs.read_json("a/b.json") == {"x": 1}
    # '*' stays within one path part, as in pathlib
    assert fs.glob("a/*.bin") == ["a/cc.bin"]
    assert fs.glob("a/c/*.bin") == ["a/c/d.bin", "a/c/e.bin"]
    assert fs.glob("a/*/*.bin") == ["a/c/d.bin", "a/c/e.bin"]
    fs.write_bytes("a/cc.bin", b"6")  # replaced whole
    assert fs.read_bytes("a/cc.bin") == b"6"
    fs.remove("a/cc.bin")
    fs.remove("a/cc.bin")  # removing what is gone is not an error
    assert fs.glob("a/*.bin") == []

    fs.create_bytes("lease", b"mine")
    with pytest.raises(FileExistsError):
        fs.create_bytes("lease", b"theirs")  # on S3 a conditional PUT (If-None-Match)
    assert fs.read_bytes("lease") == b"mine"

    t = pa.table({"a": [1, 2, 3]})
    fs.write_parquet("t/part-0.parquet", t)
    assert fs.read_parquet("t/part-0.parquet").equals(t)
    assert fs.parquet_rows("t/part-0.parquet") == 3
    assert fs.parquet_schema("t/part-0.parquet").names == ["a"]
    assert fs.uri("t/part-0.parquet").endswith("/t/part-0.parquet")
    if fs.local:
        assert fs.remove_leftovers("a") == 0 and not list(fs.root.rglob("*.tmp"))
    else:
        assert fs.uri("t/part-0.parquet") == f"{store_root}/t/part-0.parquet"


def test_a_missing_filesystem_package_is_a_store_error():
    from stores import StoreError

    with pytest.raises(StoreError, match="nosuchproto"):
        open_fs("nosuchproto://bucket/store")
