"""Cross-fitted teachers: a fold teacher teaches only the captions its fold left out of its training."""

import json

import numpy as np
import pyarrow as pa
import pytest

import stores
from stores.folds import caption_folds
from stores.layout import Store
from stores.splits import cross_fitted_captions, teacher_holdouts
from stores.writer import RunWriter
from student.config import DataConfig
from student.knowledge import KnowledgeReader, MatrixReader, knowledge_reader
from teachkit_fixtures.store import build_store

N_VIDEOS, PER_VIDEO = 12, 4


@pytest.fixture
def fold_store(tmp_path):
    """A train split of 12 videos x 4 captions and teachers f0, f1 (holdouts fold:0/2, fold:1/2),
    whole (no holdout) and text (holdout all), each with random scores of every pair."""
    vids = [f"v{i:02d}" for i in range(N_VIDEOS)]
    caps = [(f"{v}#{j}", v) for v in vids for j in range(PER_VIDEO)]
    store = build_store(tmp_path / "store", [(v, "train") for v in vids],
                        [(c, v, "train", f"text {c}") for c, v in caps])
    rng = np.random.default_rng(0)
    for name, holdout in [("f0", "fold:0/2"), ("f1", "fold:1/2"), ("whole", None), ("text", "all")]:
        config = {"kind": "clip"} | ({"holdout": holdout} if holdout else {})
        w = RunWriter(store, name, "clip", (name * 16)[:16], json.dumps(config), "0", score_dtype="float32")
        w.begin()
        w.write_shard("scores", "train", 0, pa.table({
            "caption_id": [c for c, _ in caps for _ in vids], "video_id": vids * len(caps),
            "score": pa.array(rng.normal(size=len(caps) * N_VIDEOS), pa.float32())}))
        w.commit()
    return store.root, caps, vids


def test_fold_teachers_get_their_fold_and_the_others_every_caption(fold_store):
    root, caps, _ = fold_store
    folds = caption_folds(caps, 2)
    with stores.connect(root) as con:
        assert {t: str(h) if h else None for t, h in teacher_holdouts(con, ["f0", "f1", "whole", "text"]).items()} == {
            "f0": "fold:0/2", "f1": "fold:1/2", "whole": None, "text": "all"}
        got = cross_fitted_captions(con, "train", ["f0", "f1", "whole", "text"])
        assert got["f0"] == {c for c, f in folds.items() if f == 0}
        assert got["f1"] == {c for c, f in folds.items() if f == 1}
        assert got["f0"] | got["f1"] == {c for c, _ in caps} and not got["f0"] & got["f1"]
        assert got["whole"] is None and got["text"] is None
        # no fold teacher among them: nothing to cross-fit
        assert cross_fitted_captions(con, "train", ["whole", "text"]) == {"whole": None, "text": None}


@pytest.mark.parametrize("source", ["window", "matrix"])
def test_readers_mask_the_rows_a_fold_teacher_trained_on(fold_store, tmp_path, source):
    root, caps, vids = fold_store
    teachers = ["f0", "f1", "whole"]
    data = DataConfig(store=str(root), cache=str(tmp_path / "cache"), teacher_source=source)
    rng = np.random.default_rng(1)
    pick = rng.choice(len(caps), 16, replace=False)  # 16 captions of distinct or shared videos
    pairs = [caps[i] for i in pick]
    batch = ([c for c, _ in pairs], [v for _, v in pairs])
    plain = knowledge_reader(data, teachers, [], pairs, vids).fetch([batch])[0].scores
    fitted_reader = knowledge_reader(data, teachers, [], pairs, vids, cross_fit=True)
    assert isinstance(fitted_reader, KnowledgeReader if source == "window" else MatrixReader)
    fitted = fitted_reader.fetch([batch])[0].scores
    assert not np.isnan(plain).any()
    folds = caption_folds(caps, 2)
    for k, teacher in enumerate(teachers):
        for i, c in enumerate(batch[0]):
            if teacher == "whole" or folds[c] == int(teacher[1]):
                np.testing.assert_array_equal(fitted[k, i], plain[k, i])  # the scores themselves, untouched
            else:
                assert np.isnan(fitted[k, i]).all()  # an in-sample row: unscored
    # every caption is taught by exactly one fold teacher
    assert (~np.isnan(fitted[:2, :, 0])).sum(0).tolist() == [1] * len(batch[0])


def test_cross_fit_without_a_fold_teacher_is_refused(fold_store, tmp_path):
    from student.config import ConfigError

    root, caps, vids = fold_store
    data = DataConfig(store=str(root), cache=str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match=r"cross_fit: none of the teachers \['whole', 'text'\] declares a fold holdout"):
        knowledge_reader(data, ["whole", "text"], [], caps[:4], vids, cross_fit=True)


def test_the_trainer_reads_fold_teachers_cross_fitted(synthetic_store, tiny_config, tmp_path):
    """A fold teacher added to a copy of the synthetic store covers every in-batch entry
    without cross_fit and only its fold's rows with it (timings' teacher_coverage)."""
    import shutil

    from student.train import train

    src, tok, _ = synthetic_store
    store = tmp_path / "store"
    shutil.copytree(src, store)
    with stores.connect(store) as con:
        pairs = con.execute("SELECT caption_id, video_id FROM captions WHERE split = 'train'").fetchall()
        vids = [v for (v,) in con.execute("SELECT video_id FROM videos WHERE split = 'train'").fetchall()]
    w = RunWriter(Store(store), "fold_t", "synthetic", "fold_t-fp", json.dumps({"holdout": "fold:0/2"}), "test",
                  score_dtype="float32")
    w.begin()
    w.write_shard("scores", "train", 0, pa.table({
        "caption_id": [c for c, _ in pairs for _ in vids], "video_id": vids * len(pairs),
        "score": pa.array(np.random.default_rng(0).normal(size=len(pairs) * len(vids)), pa.float32())}))
    w.commit()
    coverage = {}
    for fit in (False, True):
        cfg = tiny_config(store, tok, tmp_path / "cache", tmp_path / f"runs{fit}", **{
            "train.steps": 3, "loss.coarse.teachers": ["fine_t", "fold_t"], "loss.coarse.cross_fit": fit})
        coverage[fit] = train(cfg).timings["teacher_coverage"]
    assert coverage[False] == {"fine_t": 1.0, "fold_t": 1.0}
    assert coverage[True]["fine_t"] == 1.0 and 0.0 < coverage[True]["fold_t"] < 1.0
