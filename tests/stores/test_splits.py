"""Split reading shared by both stages: SplitData, pairs, current teachers, teachers with frames,
and the Store's path helpers that stand in for spelling out the layout."""

from __future__ import annotations

import pyarrow as pa
import pytest

import stores
from stores import RunWriter
from stores.splits import (
    caption_splits, current_teachers, load_split, load_splits, split_counts, split_pairs, split_videos,
    teachers_with_frames, video_splits,
)
from teachkit_fixtures.store import build_store


def _run(store, teacher, fp, dtype="float32", frames=True):
    w = RunWriter(store, teacher, "synthetic", fp, "{}", "test", score_dtype=dtype)
    w.begin()
    w.write_shard("scores", "test", 0, pa.table({"caption_id": ["v0#0", "v0#1"], "video_id": ["v0", "v1"],
                                                 "score": [0.5, 0.25]}))
    w.write_shard("scores", "test", 1, pa.table({"caption_id": ["v1#0"], "video_id": ["v1"], "score": [0.75]}))
    if frames:
        w.write_shard("frames", "test", 0, pa.table({"caption_id": ["v0#0"] * 3, "video_id": ["v0"] * 3,
                                                     "frame": [0, 1, 2], "score": [0.1, 0.2, 0.3]}))
    return w.commit()


def test_splits_in_manifest_order_with_resolved_paths(small_store):
    splits = load_splits(small_store)
    assert sorted(splits) == ["test", "train"]
    test = splits["test"]
    assert test.video_ids == ["v0", "v1", "v2", "v3"]
    assert test.caption_ids == ["v0#0", "v0#1", "v1#0", "v1#1", "v2#0", "v2#1", "v3#0", "v3#1"]
    assert test.caption_video.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert [p.as_posix() for p in test.paths] == [f"/nowhere/{v}.mp4" for v in test.video_ids]
    assert test.video_captions[1] == [(2, "caption v1#0"), (3, "caption v1#1")]
    assert [list(r) for r in test.shards(3)] == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert test.captions()[2] == ("v1#0", "v1", "caption v1#0")
    assert load_split(small_store.root, "train").video_ids == ["t0", "t1"]
    assert load_split(small_store, "val") is None
    with stores.connect(small_store.root) as con:
        assert [v for v, _ in split_videos(con, small_store, "train")] == ["t0", "t1"]
        assert split_pairs(con, "train") == [("t0#0", "t0", "caption t0#0"), ("t1#0", "t1", "caption t1#0")]
        assert caption_splits(con)["v1#1"] == ("v1", "test") and len(caption_splits(con)) == 10
        assert video_splits(con) == {"v0": "test", "v1": "test", "v2": "test", "v3": "test", "t0": "train", "t1": "train"}
    assert split_counts(small_store) == [{"split": "test", "videos": 4, "captions": 8, "unreadable": 0},
                                         {"split": "train", "videos": 2, "captions": 2, "unreadable": 0}]


def test_current_teachers_and_teachers_with_frames(small_store):
    _run(small_store, "alpha", "alpha-fp")
    row = _run(small_store, "beta", "beta-fp", dtype="float16", frames=False)
    with stores.connect(small_store.root) as con:
        cur = current_teachers(con)
        assert cur == {"alpha": {"fingerprint": "alpha-fp", "run": "alpha-fp", "kind": "synthetic"},
                       "beta": {"fingerprint": "beta-fp", "run": row["run"], "kind": "synthetic"}}
        assert teachers_with_frames(con, "test") == ["alpha"]
        assert teachers_with_frames(con, "train") == []
    # the path helpers (keys relative to the root, a folder or a bucket prefix): shards by run
    # and split, footer row counts, the stored score type
    run = cur["alpha"]["run"]
    keys = small_store.shard_files("scores", "alpha", run, "test")
    assert [k.rsplit("/", 1)[1] for k in keys] == ["part-00000.parquet", "part-00001.parquet"]
    assert keys[0].rsplit("/", 1)[0] == small_store.shard_dir("scores", "alpha", run, "test") == f"scores/teacher=alpha/run={run}/split=test"
    assert small_store.shard_rows("scores", "alpha", run) == 3
    assert small_store.shard_rows("frames", "alpha", run) == 3
    assert small_store.shard_rows("frames", "beta", cur["beta"]["run"]) == 0
    assert small_store.score_dtype("alpha", run, "test") == "float32"
    assert small_store.score_dtype("beta", cur["beta"]["run"], "test") == "float16"
    with pytest.raises(ValueError, match="teacher name"):
        small_store.shard_dir("scores", "../x", run, "test")
    with pytest.raises(ValueError, match="not 'runs'"):
        small_store.run_dir("runs", "alpha", run)


def test_exclusions_switch(small_store):
    with stores.connect(small_store.root) as con:
        everything = split_pairs(con, "test", drop_excluded=True)  # no exclusions view: no-op
        assert len(everything) == len(split_pairs(con, "test", drop_excluded=False)) == 8
        dropped = [everything[0][0], everything[3][0]]
        con.execute("CREATE TEMP TABLE exclusions AS SELECT unnest(?::VARCHAR[]) AS caption_id", [dropped])
        kept = split_pairs(con, "test", drop_excluded=True)
        assert len(kept) == len(everything) - 2
        assert not {c for c, _, _ in kept} & set(dropped)
        assert len(split_pairs(con, "test", drop_excluded=False)) == len(everything)


def test_captions_of_videos_from_another_split_are_refused(tmp_path):
    store = build_store(tmp_path / "s", [("a", "test"), ("b", "train")],
                        [("a#0", "a", "test", "x"), ("b#0", "a", "train", "y")])
    with pytest.raises(ValueError, match=r"split train: captions of videos from another split, e.g. \['b#0'\]"):
        load_splits(store)
