"""Reranker teachers: another run's top-k candidates, scored pair by pair, no embeddings, fingerprinted."""

from __future__ import annotations

import json

import pytest

import stores
from pipeline.config import ConfigError, parse_config
from pipeline.run import run_teachers
from pipeline.teachers.testing import tiny_clip, write_dataset
from teachkit_fixtures.colour import PAIR_ONLY, PLUGIN
from teachkit_fixtures.vocab import CORRUPT, VIDEOS, WORDS

@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("reranker")
    source = write_dataset(root / "data", VIDEOS, frames=4, corrupt=CORRUPT)
    return root, source, tiny_clip(root / "clip", WORDS)


def _config(root, source, teachers):
    raw = {"store": {"root": str(root / "store")}, "dataset": {"source": str(source)},
           "frames": {"num_frames": 3}, "teachers": teachers}
    return parse_config(raw, root)


def _scores(store, teacher):
    with stores.connect(store) as con:
        rows = con.execute("SELECT caption_id, video_id, score FROM scores WHERE teacher = ?", [teacher]).fetchall()
    out: dict[str, dict[str, float]] = {}
    for c, v, s in rows:
        out.setdefault(c, {})[v] = s
    return out


def test_reranker_scores_the_candidate_runs_top_k(dataset, tmp_path):
    root, source, clip = dataset
    cands = {"name": "cands", "kind": "plugin", "plugin": PLUGIN, "score_dtype": "float32"}
    rerankers = [
        {"name": "rr", "kind": "reranker", "plugin": PAIR_ONLY, "options": {"scale": 2.0},
         "candidates": "cands", "plan": "topk", "k": 2, "score_dtype": "float32"},
        {"name": "rr_fine", "kind": "reranker", "model": str(clip), "scorer": "fine", "candidates": "cands",
         "plan": "topk", "k": 2, "score_dtype": "float32"},
    ]
    # listed before their candidate teacher: they still run after it, in one call
    outcomes = run_teachers(_config(tmp_path, source, rerankers + [cands]), out=lambda _: None, progress=False)
    assert [(o.name, o.status) for o in outcomes] == [("rr", "computed"), ("rr_fine", "computed"), ("cands", "computed")]
    store = tmp_path / "store"
    full, rr, fine = _scores(store, "cands"), _scores(store, "rr"), _scores(store, "rr_fine")
    assert set(rr) == set(fine) == set(full)
    for c, row in full.items():
        top2 = sorted(row, key=lambda v: (-row[v], v))[:2]
        positive = c.rsplit("_", 1)[0]
        assert set(rr[c]) == set(fine[c]) == set(top2) | {positive}  # the candidates' top-2 plus the positive
        for v, s in rr[c].items():  # scored by the reranker itself
            assert s == pytest.approx(-2.0 * row[v], abs=1e-6)
    with stores.connect(store) as con:
        assert con.execute("SELECT DISTINCT teacher FROM embeddings ORDER BY 1").fetchall() == [("cands",)]
        runs = dict(con.execute("SELECT teacher, config FROM current_runs").fetchall())
        fps = dict(con.execute("SELECT teacher, fingerprint FROM current_runs").fetchall())
        # the X-CLIP scorer's frame relevance passes through
        assert con.execute("SELECT count(*) FROM frames WHERE teacher = 'rr_fine'").fetchone()[0] > 0
    assert json.loads(runs["rr"])["candidates"] == {"teacher": "cands", "run": fps["cands"]}
    assert json.loads(runs["rr"])["plan"] == {"kind": "topk", "k": 2}

    # nothing changed: all cached; a new candidate run means a new reranker run
    again = run_teachers(_config(tmp_path, source, rerankers + [cands]), out=lambda _: None, progress=False)
    assert {o.status for o in again} == {"cached"}
    changed = dict(cands, shard_captions=3)
    third = run_teachers(_config(tmp_path, source, [rerankers[0], changed]), out=lambda _: None, progress=False)
    assert [(o.name, o.status) for o in third] == [("rr", "computed"), ("cands", "computed")]
    assert third[0].run != outcomes[0].run


def test_reranker_config_is_checked(tmp_path):
    base = {"name": "rr", "kind": "reranker", "model": "m", "plan": "topk", "k": 5}
    source = tmp_path / "a.jsonl"
    for teacher, msg in [
        (base, "candidates: a reranker needs"),
        (dict(base, candidates="rr"), "cannot rerank its own run"),
        (dict(base, candidates="c", plan="full", k=None), "plan: a reranker scores a top-k plan"),
        ({"name": "c", "kind": "clip", "model": "m", "candidates": "x"}, "candidates is only used by kind = 'reranker'"),
    ]:
        with pytest.raises(ConfigError, match=msg):
            _config(tmp_path, source, [teacher])


def test_reranker_without_a_candidate_run_is_refused(dataset, tmp_path):
    from pipeline.run.candidates import CandidatesMissing

    _, source, _ = dataset
    rr = {"name": "rr", "kind": "reranker", "plugin": PAIR_ONLY, "candidates": "nobody",
          "plan": "topk", "k": 2}
    with pytest.raises(CandidatesMissing, match="candidates = 'nobody' has no committed run"):
        run_teachers(_config(tmp_path, source, [rr]), out=lambda _: None, progress=False)
