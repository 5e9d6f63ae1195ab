"""The loaders' teacher entries against direct SQL, masking, exclusions, frame alignment."""

import numpy as np
import pytest

import stores
from stores.splits import split_pairs
from student.knowledge import KnowledgeReader, MatrixReader, align_relevance


def _batches(con, rng, n_batches, size):
    pairs = split_pairs(con, "train")
    out = []
    for _ in range(n_batches):
        pick = rng.choice(len(pairs), size, replace=False)
        out.append(([pairs[i][0] for i in pick], [pairs[i][1] for i in pick]))
    return out


def _matrix_reader(store, cache, score_teachers, frame_teachers, relational_teachers=()):
    with stores.connect(store) as con:
        pairs = [(c, v) for c, v, _ in split_pairs(con, "train")]
    videos = sorted({v for _, v in pairs})
    return MatrixReader(str(store), "train", score_teachers, frame_teachers, pairs, videos, cache,
                        relational_teachers=relational_teachers)


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
    assert all(s._mat is None for s in clone._sources)  # memory maps are reopened, not pickled
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


def _stored_vectors(con, kind):
    rows = con.execute("SELECT id, vector FROM embeddings WHERE teacher = 'fine_t' AND split = 'train' AND kind = ?",
                       [kind]).fetchall()
    return {i: np.array(v, dtype=np.float64) for i, v in rows}


def _cos(vectors, ids):
    out = np.full((len(ids), len(ids)), np.nan)
    for a, x in enumerate(ids):
        for b, y in enumerate(ids):
            if x in vectors and y in vectors:
                u, v = vectors[x], vectors[y]
                out[a, b] = u @ v / np.linalg.norm(u) / np.linalg.norm(v)
    return out


@pytest.mark.parametrize("source", ["window", "matrix"])
def test_intra_modal_matrices_are_the_stored_embeddings_cosines(synthetic_store, tmp_path, source):
    store, _, _ = synthetic_store
    if source == "window":
        reader = KnowledgeReader(str(store), "train", [], [], relational_teachers=["fine_t"])
    else:
        reader = _matrix_reader(store, tmp_path, [], [], relational_teachers=["fine_t"])
    with stores.connect(store) as con:
        videos, captions = _stored_vectors(con, "video"), _stored_vectors(con, "caption")
        pairs = split_pairs(con, "train")
    # every train video once (one caption each): the last one has no embedding
    first = {}
    for c, v, _ in pairs:
        first.setdefault(v, c)
    vids = sorted(first)
    cids = [first[v] for v in vids]
    (k,) = reader.fetch([(cids, vids)])
    assert k.video_sims.shape == k.caption_sims.shape == (1, len(vids), len(vids))
    np.testing.assert_allclose(k.video_sims[0], _cos(videos, vids), atol=1e-5)
    np.testing.assert_allclose(k.caption_sims[0], _cos(captions, cids), atol=1e-5)
    missing = vids.index(max(vids))
    assert np.isnan(k.video_sims[0, missing]).all() and np.isnan(k.video_sims[0, :, missing]).all()
    assert not np.isnan(np.delete(np.delete(k.video_sims[0], missing, 0), missing, 1)).any()


def test_embedding_cache_is_built_once_in_the_stores_precision(synthetic_store, tmp_path):
    store, _, _ = synthetic_store
    _matrix_reader(store, tmp_path, [], [], relational_teachers=["fine_t"])
    files = sorted(tmp_path.glob("teachers/fine_t-*/train-*-embeddings.npy"))
    assert [f.name.split("-")[-2] for f in files] == ["caption", "video"]
    assert all(np.load(f).dtype == np.float16 for f in files)  # float16 in the store: float16 here
    stamps = [f.stat().st_mtime_ns for f in files]
    _matrix_reader(store, tmp_path, [], [], relational_teachers=["fine_t"])  # another student, same run
    assert [f.stat().st_mtime_ns for f in files] == stamps
    assert not list(tmp_path.glob("teachers/*/.*tmp"))


def test_relational_teacher_without_embeddings_is_refused(synthetic_store, tmp_path):
    from student.knowledge import EmbeddingsMissing

    store, _, _ = synthetic_store
    with pytest.raises(EmbeddingsMissing, match="loss.relational.teachers: teacher 'sparse_t' .* stored no video embeddings"):
        _matrix_reader(store, tmp_path, [], [], relational_teachers=["sparse_t"])


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
