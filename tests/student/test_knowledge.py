"""The loaders' teacher entries against direct SQL, masking, exclusions, frame alignment."""

import numpy as np
import pytest

import stores
from student.knowledge import KnowledgeReader, MatrixReader, align_relevance, current_teachers, split_pairs


def _batches(con, rng, n_batches, size):
    pairs = split_pairs(con, "train")
    out = []
    for _ in range(n_batches):
        pick = rng.choice(len(pairs), size, replace=False)
        out.append(([pairs[i][0] for i in pick], [pairs[i][1] for i in pick]))
    return out


def _matrix_reader(store, cache, score_teachers, frame_teachers):
    with stores.connect(store) as con:
        pairs = [(c, v) for c, v, _ in split_pairs(con, "train")]
    videos = sorted({v for _, v in pairs})
    return MatrixReader(str(store), "train", score_teachers, frame_teachers, pairs, videos, cache)


@pytest.mark.parametrize("source", ["window", "matrix"])
def test_reader_matches_direct_sql_and_masks_unscored(synthetic_store, teacher_frames, tmp_path, source):
    store, _, _ = synthetic_store
    if source == "window":
        reader = KnowledgeReader(str(store), "train", ["sparse_t", "fine_t"], ["fine_t"])
    else:
        reader = _matrix_reader(store, tmp_path, ["sparse_t", "fine_t"], ["fine_t"])
    with stores.connect(store) as con:
        batches = _batches(con, np.random.default_rng(0), 3, 5)
        got = reader.fetch(batches)
        assert len(got) == 3
        seen_missing = 0
        for (cids, vids), k in zip(batches, got):
            assert k.scores.shape == (2, 5, 5)
            for ti, teacher in enumerate(["sparse_t", "fine_t"]):
                for i, c in enumerate(cids):
                    for j, v in enumerate(vids):
                        row = con.execute(
                            "SELECT score FROM scores WHERE teacher = ? AND split = 'train' "
                            "AND caption_id = ? AND video_id = ?",
                            [teacher, c, v],
                        ).fetchall()
                        if row:
                            assert k.scores[ti, i, j] == pytest.approx(row[0][0])
                        else:
                            assert np.isnan(k.scores[ti, i, j])
                            seen_missing += 1
            assert k.relevance.shape == (1, 5, teacher_frames)
            for i, (c, v) in enumerate(zip(cids, vids)):
                rows = con.execute(
                    "SELECT frame, score FROM frames WHERE teacher = 'fine_t' AND caption_id = ? "
                    "AND video_id = ? ORDER BY frame",
                    [c, v],
                ).fetchall()
                assert [f for f, _ in rows] == list(range(teacher_frames))
                assert k.relevance[0, i] == pytest.approx(np.array([s for _, s in rows], dtype=np.float32))
        assert seen_missing > 0  # the sparse teacher left pairs out: they are NaN, not 0


def test_matrix_cache_is_built_once_and_survives_pickling(synthetic_store, tmp_path):
    import pickle

    store, _, _ = synthetic_store
    first = _matrix_reader(store, tmp_path, ["fine_t", "sparse_t"], [])
    files = sorted(tmp_path.glob("teachers/*/train-*.npy"))
    assert [f.parent.name.split("-")[0] for f in files] == ["fine_t", "sparse_t"]
    assert np.load(files[0]).dtype == np.float32  # the precision this store keeps: nothing is rounded
    stamps = [f.stat().st_mtime_ns for f in files]
    second = _matrix_reader(store, tmp_path, ["fine_t", "sparse_t"], [])  # another student, same store
    assert [f.stat().st_mtime_ns for f in files] == stamps
    assert not list(tmp_path.glob("teachers/*/.*tmp"))
    with stores.connect(store) as con:
        batches = _batches(con, np.random.default_rng(1), 2, 4)
    clone = pickle.loads(pickle.dumps(second))  # what a spawned DataLoader worker receives
    assert clone._mats is None
    for a, b in zip(first.fetch(batches), clone.fetch(batches)):
        np.testing.assert_array_equal(a.scores, b.scores)
    with pytest.raises(KeyError, match="not among the pairs"):
        first.fetch([(["no-such-caption"], [batches[0][1][0]])])


def test_reader_without_teachers_asks_nothing(synthetic_store):
    store, _, _ = synthetic_store
    reader = KnowledgeReader(str(store), "train", [], [])
    got = reader.fetch([(["a", "b"], ["x", "y"])])
    assert got[0].scores.shape == (0, 2, 2)
    assert reader._con is None


def test_current_teachers_reports_fingerprints(synthetic_store):
    store, _, _ = synthetic_store
    with stores.connect(store) as con:
        cur = current_teachers(con)
    assert set(cur) == {"fine_t", "sparse_t"}
    assert cur["fine_t"]["fingerprint"] == "fine_t-fp-0"


def test_exclusions_switch(synthetic_store):
    store, _, _ = synthetic_store
    with stores.connect(store) as con:
        everything = split_pairs(con, "train", drop_excluded=True)  # no exclusions view: no-op
        assert len(everything) == len(split_pairs(con, "train", drop_excluded=False))
        dropped = [everything[0][0], everything[3][0]]
        con.execute("CREATE TEMP TABLE exclusions AS SELECT unnest(?::VARCHAR[]) AS caption_id", [dropped])
        kept = split_pairs(con, "train", drop_excluded=True)
        assert len(kept) == len(everything) - 2
        assert not {c for c, _, _ in kept} & set(dropped)
        assert len(split_pairs(con, "train", drop_excluded=False)) == len(everything)


def test_align_relevance_interpolates_by_relative_position():
    # teacher: 5 frames at positions 0, .25, .5, .75, 1; student: 3 frames at 0, .5, 1
    rel = np.array([[0.0, 1.0, 2.0, 3.0, 4.0, np.nan]], dtype=np.float32)
    out = align_relevance(rel, np.array([[True, True, True, False]]))
    assert out[0, :3] == pytest.approx([0.0, 2.0, 4.0])
    assert np.isnan(out[0, 3])
    # a student with 4 frames falls between teacher frames
    out = align_relevance(rel, np.array([[True, True, True, True]]))
    assert out[0] == pytest.approx([0.0, 4 / 3, 8 / 3, 4.0])
    # no teacher relevance: nothing to learn from
    assert np.isnan(align_relevance(np.full((1, 3), np.nan), np.ones((1, 2), bool))).all()


def test_align_relevance_equals_np_interp_row_by_row():
    rng = np.random.default_rng(0)
    rel = rng.normal(size=(3, 40, 12)).astype(np.float32)
    n_t = rng.integers(0, 13, size=(3, 40))
    rel[np.arange(12) >= n_t[..., None]] = np.nan  # padded teacher frames (0 to 12 real)
    mask = np.arange(4) < rng.integers(0, 5, size=(40, 1))  # 0 to 4 real student frames
    mask[0] = [True, False, True, True]  # a real frame after a padded one
    got = align_relevance(rel, mask[None])
    for k in range(3):
        for r in range(40):
            t_real, s_real = np.flatnonzero(~np.isnan(rel[k, r])), np.flatnonzero(mask[r])
            if len(t_real) == 0 or len(s_real) == 0:
                assert np.isnan(got[k, r]).all()
                continue
            t_pos = np.linspace(0, 1, len(t_real)) if len(t_real) > 1 else np.zeros(1)
            s_pos = np.linspace(0, 1, len(s_real)) if len(s_real) > 1 else np.zeros(1)
            expected = np.interp(s_pos, t_pos, rel[k, r, t_real]).astype(np.float32)
            np.testing.assert_array_equal(got[k, r, s_real], expected)  # bit for bit: same arithmetic
            assert np.isnan(got[k, r, ~mask[r]]).all()


def test_matrix_cache_from_an_s3_store_equals_the_local_one(synthetic_store, s3_server, tmp_path):
    """The same store uploaded to S3 (moto on loopback): a local memory-mapped cache, same values."""
    import s3fs

    store, _, _ = synthetic_store
    bucket = s3_server.bucket()
    s3fs.S3FileSystem().put(f"{store}/", f"{bucket}/copied/", recursive=True)
    url = f"s3://{bucket}/copied"
    local = _matrix_reader(store, tmp_path / "local", ["fine_t", "sparse_t"], ["fine_t"])
    remote = _matrix_reader(url, tmp_path / "remote", ["fine_t", "sparse_t"], ["fine_t"])
    files = sorted((tmp_path / "remote").glob("teachers/*/train-*.npy"))
    assert [f.parent.name.split("-")[0] for f in files] == ["fine_t", "sparse_t"]
    for a, b in zip(local.matrices(), remote.matrices()):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    assert np.isnan(remote.matrices()[1]).any()  # the sparse teacher's gaps stay NaN
    np.testing.assert_array_equal(local.relevance, remote.relevance)
    with stores.connect(url) as con:
        batches = _batches(con, np.random.default_rng(2), 2, 4)
    window = KnowledgeReader(url, "train", ["fine_t", "sparse_t"], ["fine_t"]).fetch(batches)
    for w, m in zip(window, remote.fetch(batches)):
        np.testing.assert_array_equal(w.scores, m.scores)
