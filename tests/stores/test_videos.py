"""The one video-path resolver: relative manifest paths, the recorded root, the override."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pytest

import stores
from stores import Store
from stores.videos import VideosRootError, relative_paths, video_paths


def _manifest(store: Store, paths: list[str], videos_root=None):
    vids = [f"v{i}" for i in range(len(paths))]
    return store.write_manifest(
        "t",
        pa.table({"video_id": vids, "split": ["test"] * len(vids), "path": paths,
                  "duration": pa.array([1.0] * len(vids), pa.float32()),
                  "fps": pa.array([8.0] * len(vids), pa.float32()), "frames": pa.array([8] * len(vids), pa.int32())}),
        pa.table({"caption_id": [f"{v}#0" for v in vids], "video_id": vids, "split": ["test"] * len(vids),
                  "text": ["x"] * len(vids)}),
        videos_root=videos_root,
    )


def test_relative_paths_only_for_files_under_the_root(tmp_path):
    root = tmp_path / "videos"
    got = relative_paths([str(root / "a.mp4"), str(root / "sub" / "b.mp4"), "/elsewhere/c.mp4", "d.mp4"], root)
    assert got == ["a.mp4", "sub/b.mp4", "/elsewhere/c.mp4", "d.mp4"]


def test_manifest_holds_relative_paths_and_the_same_fingerprint_anywhere(tmp_path):
    a, b = tmp_path / "a" / "videos", tmp_path / "b" / "clips"
    m_a = _manifest(Store(tmp_path / "s1", create=True), [str(a / "x.mp4"), str(a / "y.mp4")], a)
    m_b = _manifest(Store(tmp_path / "s2", create=True), [str(b / "x.mp4"), str(b / "y.mp4")], b)
    assert m_a.fingerprint == m_b.fingerprint  # no machine path in it
    assert m_a.videos_root == str(a.resolve()) and m_b.videos_root == str(b.resolve())
    with stores.connect(tmp_path / "s1") as con:
        assert con.execute("SELECT path FROM videos ORDER BY video_id").fetchall() == [("x.mp4",), ("y.mp4",)]
    # without a root the paths stay as given, and so does the fingerprint's input
    m_c = _manifest(Store(tmp_path / "s3", create=True), [str(a / "x.mp4"), str(a / "y.mp4")])
    assert m_c.fingerprint != m_a.fingerprint and m_c.videos_root == ""


def test_resolution_order_override_then_recorded_root(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    store = Store(tmp_path / "store", create=True)
    _manifest(store, [str(old / "x.mp4"), "/abs/y.mp4"], old)
    assert video_paths(store)("x.mp4") == old.resolve() / "x.mp4"  # the recorded root
    assert video_paths(store)("/abs/y.mp4").as_posix() == "/abs/y.mp4"  # absolute stays
    shutil.move(old, new)
    assert video_paths(store, new)("x.mp4") == new.resolve() / "x.mp4"  # the override wins
    stale = video_paths(store)
    with pytest.raises(VideosRootError, match=r"videos root .*old is not a folder here \(moved\?\); pass .*--videos"):
        stale("x.mp4")
    assert stale("/abs/y.mp4").as_posix() == "/abs/y.mp4"  # only relative paths need the root
    with pytest.raises(VideosRootError, match="videos: .*nowhere is not a folder"):
        video_paths(store, tmp_path / "nowhere")
    # the teacher stage records where the videos are now; readers then need no override
    store.set_videos_root(new)
    assert video_paths(store)("x.mp4") == new.resolve() / "x.mp4"
    assert Store(store.root).manifest().videos_root == str(new.resolve())


def test_a_manifest_without_a_root_needs_one_for_relative_paths(tmp_path):
    store = Store(tmp_path / "store", create=True)
    _manifest(store, ["x.mp4"])
    with pytest.raises(VideosRootError, match="records no videos root; pass the videos folder"):
        video_paths(store)("x.mp4")
    (tmp_path / "v").mkdir()
    assert video_paths(store, tmp_path / "v")("x.mp4") == (tmp_path / "v").resolve() / "x.mp4"
