"""Batch plans, the frame cache, and batch assembly with one DuckDB connection per worker."""

import json

import numpy as np
import torch

import stores
from stores.splits import split_pairs
from student.data import TrainBatches, batch_order, build_train_set, make_loader
from student.frame_cache import FrameCache, frame_cache
from student.knowledge import KnowledgeReader
from student.model import load_tokenizer
from teachkit_fixtures.store import build_store


def test_batch_plan_has_distinct_videos_and_depends_only_on_the_seed():
    rows = np.repeat(np.arange(10), 3)  # 10 videos x 3 captions
    order = batch_order(rows, batch_size=4, steps=7, seed=3)
    assert len(order) == 7 and all(len(b) == 4 for b in order)
    assert all(len(set(rows[b])) == 4 for b in order)
    assert all(np.array_equal(a, b) for a, b in zip(order, batch_order(rows, 4, 7, seed=3)))
    assert not all(np.array_equal(a, b) for a, b in zip(order, batch_order(rows, 4, 7, seed=4)))


def _cache(store, cache_root, workers=1):
    manifest = json.loads((store / "manifest.json").read_text())["fingerprint"]
    with stores.connect(store) as con:
        return frame_cache(con, store, manifest, "train", cache_root, 4, 0.0, 32, workers=workers)


def test_frame_cache_decodes_once_and_matches_the_videos(synthetic_store, tmp_path):
    from teachkit.util.media import decode_frames

    store, _, _ = synthetic_store
    cache = _cache(store, tmp_path)
    assert cache.frames.shape == (12, 4, 32, 32, 3) and cache.mask.all()
    with stores.connect(store) as con:
        path = con.execute("SELECT path FROM videos WHERE video_id = ?", [cache.video_ids[5]]).fetchone()[0]
    direct = decode_frames(path, 4)
    assert np.array_equal(cache.frames[5], direct.frames)
    assert np.array_equal(cache.indices[5], direct.indices)
    stamp = (cache.folder / "frames.npy").stat().st_mtime_ns
    again = _cache(store, tmp_path)  # a second student reuses the decoded frames
    assert again.folder == cache.folder and (again.folder / "frames.npy").stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob("frames/.*tmp"))


def test_loader_keeps_the_plan_order_with_workers(synthetic_store, tmp_path):
    store, tok, _ = synthetic_store
    cache = _cache(store, tmp_path)
    with stores.connect(store) as con:
        pairs = split_pairs(con, "train")
    ts = build_train_set(pairs, cache, load_tokenizer(str(tok)), 12)
    order = batch_order(ts.video_rows, 4, 5, seed=0)
    reader = KnowledgeReader(str(store), "train", ["fine_t"], ["fine_t"])
    ds = TrainBatches(ts, order, cache.folder, reader, window=2)
    serial = list(make_loader(ds, num_workers=0))
    parallel = list(make_loader(ds, num_workers=2))
    assert [b.caption_ids for b in serial] == [[ts.caption_ids[i] for i in p] for p in order]
    assert [b.caption_ids for b in parallel] == [b.caption_ids for b in serial]
    for a, b in zip(serial, parallel):
        assert torch.equal(a.frames, b.frames)
        assert torch.allclose(a.teacher_scores, b.teacher_scores, equal_nan=True)
    b = serial[0]
    assert b.frames.dtype == torch.uint8 and b.frames.shape == (4, 4, 32, 32, 3)
    # a caption's own video is on the diagonal, and the teacher favours it (scores +2 there)
    diag = torch.diagonal(b.teacher_scores[0])
    assert diag.mean() > b.teacher_scores[0].mean()
    assert not torch.isnan(b.teacher_relevance).any()


def test_failed_videos_are_listed_and_left_out(tmp_path, write_mp4, synthetic_store):
    good = [write_mp4(tmp_path / f"v{i}.mp4") for i in range(3)]
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    paths = [str(p) for p in good] + [str(bad)]
    vids = ["v0", "v1", "v2", "broken"]
    store = build_store(tmp_path / "store", list(zip(vids, ["train"] * 4, paths)),
                        [(f"{v}#0", v, "train", "x") for v in vids])
    m = store.manifest()
    with stores.connect(store.root) as con:
        cache = frame_cache(con, store.root, m.fingerprint, "train", tmp_path / "cache", 4, 0.0, 16, workers=1)
        pairs = split_pairs(con, "train")
    assert set(cache.failed) == {"broken"}
    assert not cache.mask[cache.rows()["broken"]].any()
    assert cache.frames.shape[2:] == (16, 16, 3)  # resized to the student's image size
    ts = build_train_set(pairs, cache, load_tokenizer(str(synthetic_store[1])), 8)
    assert sorted(ts.caption_ids) == ["v0#0", "v1#0", "v2#0"]
    assert isinstance(FrameCache.open(cache.folder), FrameCache)


def test_holdout_is_a_fixed_set_of_whole_videos():
    from student.data import split_holdout

    pairs = [(f"v{v}#{k}", f"v{v}", "t") for v in range(10) for k in range(3)]
    train, held = split_holdout(pairs, 3)
    assert len(held) == 9 and len(train) == 21
    assert not {v for _, v, _ in train} & {v for _, v, _ in held}
    assert split_holdout(list(reversed(pairs)), 3)[1] == list(reversed(held))
    assert split_holdout(pairs, 0) == (pairs, [])


def test_train_frames_subset_carries_its_frames_relevance_and_positions(synthetic_store, tmp_path):
    store, tok, _ = synthetic_store
    cache = _cache(store, tmp_path)
    with stores.connect(store) as con:
        pairs = split_pairs(con, "train")
    ts = build_train_set(pairs, cache, load_tokenizer(str(tok)), 12)
    order = batch_order(ts.video_rows, 4, 3, seed=0)
    reader = KnowledgeReader(str(store), "train", ["fine_t"], ["fine_t"])
    full = list(make_loader(TrainBatches(ts, order, cache.folder, reader, window=2), num_workers=0))
    sub = list(make_loader(TrainBatches(ts, order, cache.folder, reader, window=2, train_frames=2, seed=7), num_workers=0))
    again = list(make_loader(TrainBatches(ts, order, cache.folder, reader, window=3, train_frames=2, seed=7), num_workers=2))
    for f, s, a in zip(full, sub, again):
        pos = s.frame_positions
        assert pos.shape == (4, 2) and full[0].frame_positions is None
        rows = torch.arange(4)[:, None]
        assert torch.equal(s.frames, f.frames[rows, pos])  # the frames at those slots
        assert torch.equal(s.frame_mask, f.frame_mask[rows, pos])
        assert torch.equal(s.teacher_relevance, f.teacher_relevance[:, rows, pos])  # their relevance with them
        assert torch.equal(a.frame_positions, pos)  # the same draw whatever the window or workers
