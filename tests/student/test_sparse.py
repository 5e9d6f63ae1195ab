"""The CSR of top-k teacher runs: built once from the store, equal to the store's rows, batch gathers."""

import numpy as np
import pytest

import stores
from stores.splits import split_pairs, teacher_plans
from student import sparse
from student.knowledge import MatrixReader
from student.sparse import SparseScores
from teachkit_fixtures.store import TOPK_K as K  # the topk_store teacher's k


def _reader(store, cache, teachers):
    with stores.connect(store) as con:
        pairs = [(c, v) for c, v, _ in split_pairs(con, "train")]
    videos = sorted({v for _, v in pairs})
    return MatrixReader(str(store), "train", teachers, [], pairs, videos, cache), pairs, videos


def test_plans_come_from_the_runs_config(topk_store):
    with stores.connect(topk_store) as con:
        plans = teacher_plans(con)
    assert plans["topk_t"] == {"kind": "topk", "k": K}
    assert plans["fine_t"]["kind"] == "full"  # "{}" config: no plan recorded


def test_topk_run_becomes_a_csr_equal_to_the_store(topk_store, tmp_path, monkeypatch):
    # tiny arrow batches and sort blocks: the scatter and the sort cross many block edges
    monkeypatch.setattr(sparse, "READER_ROWS", 5)
    monkeypatch.setattr(sparse, "SORT_BLOCK", 4)
    reader, pairs, videos = _reader(topk_store, tmp_path, ["topk_t", "fine_t"])
    csr_dirs = list(tmp_path.glob("teachers/topk_t-*/train-*.csr"))
    assert len(csr_dirs) == 1 and not list(tmp_path.glob("teachers/topk_t-*/*.npy"))  # no dense matrix
    csr = reader.sparse("topk_t")
    assert reader.sparse("fine_t") is None and len(reader.matrices()) == 1
    indptr, cols, scores = csr.arrays
    assert scores.dtype == np.float16 and cols.dtype == np.int32
    assert csr.nnz == len(pairs) * K and np.all(np.diff(indptr) == K)
    with stores.connect(topk_store) as con:
        rows = con.execute("SELECT caption_id, video_id, score FROM scores WHERE teacher = 'topk_t' "
                           "AND split = 'train'").fetchall()
    expect = {(c, v): s for c, v, s in rows}
    row_of = {c: i for i, (c, _) in enumerate(pairs)}
    for c, i in row_of.items():
        got_cols, got_scores = csr.row(i)
        assert np.all(np.diff(got_cols) > 0)  # sorted, distinct
        assert {videos[j]: float(s) for j, s in zip(got_cols, got_scores)} == pytest.approx(
            {v: s for (cc, v), s in expect.items() if cc == c})
        assert videos[csr.top(i, 1)[0]] == max(((v, s) for (cc, v), s in expect.items() if cc == c),
                                               key=lambda x: x[1])[0]
    # a batch: B x B from the CSR, NaN where unscored, the same entries as the store
    rng = np.random.default_rng(0)
    pick = rng.choice(len(pairs), 6, replace=False)
    cids, vids = [pairs[i][0] for i in pick], [pairs[i][1] for i in pick]
    (k,) = reader.fetch([(cids, vids)])
    assert k.scores.shape == (2, 6, 6)
    for i, c in enumerate(cids):
        for j, v in enumerate(vids):
            if (c, v) in expect:
                assert k.scores[0, i, j] == pytest.approx(expect[(c, v)])
            else:
                assert np.isnan(k.scores[0, i, j])
    assert not np.isnan(np.diagonal(k.scores[0])).any()  # each caption's own video is a candidate
    assert not np.isnan(k.scores[1]).any()  # the full teacher stays dense
    # built once: another reader of the same run and order reuses the files
    stamp = (csr_dirs[0] / "cols.npy").stat().st_mtime_ns
    _reader(topk_store, tmp_path, ["topk_t"])
    assert (csr_dirs[0] / "cols.npy").stat().st_mtime_ns == stamp


def test_gather_against_a_dense_reference(tmp_path):
    rng = np.random.default_rng(1)
    dense = np.where(rng.random((7, 9)) < 0.4, rng.normal(size=(7, 9)), np.nan).astype(np.float32)
    dense[2] = np.nan  # a row with no score
    folder = tmp_path / "x.csr"
    folder.mkdir()
    mask = ~np.isnan(dense)
    np.save(folder / "indptr.npy", np.r_[0, np.cumsum(mask.sum(1))].astype(np.int64))
    np.save(folder / "cols.npy", np.nonzero(mask)[1].astype(np.int32))
    np.save(folder / "scores.npy", dense[mask])
    csr = SparseScores(folder)
    rows, cols = np.array([4, 2, 0, 6]), np.array([8, 0, 3, 5, 1])
    np.testing.assert_array_equal(csr.gather(rows, cols), dense[np.ix_(rows, cols)])
    assert csr.gather(rows, cols[:0]).shape == (4, 0)
