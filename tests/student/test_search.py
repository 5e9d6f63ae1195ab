"""`teachkit search`: each hit's path and captions, and a --json form for scripts."""

import json

import pytest
from typer.testing import CliRunner

import stores
from student.search import search
from student.train import train
from teachkit.cli import app


@pytest.fixture
def run(synthetic_store, tiny_config, tmp_path):
    store, tok, _ = synthetic_store
    return train(tiny_config(store, tok, tmp_path / "cache", tmp_path / "runs", **{"train.steps": 2})).folder


def _store_videos(store):
    with stores.connect(store) as con:
        paths = dict(con.execute("SELECT video_id, path FROM videos").fetchall())
        caps = {}
        for v, t in con.execute("SELECT video_id, text FROM captions ORDER BY caption_id").fetchall():
            caps.setdefault(v, []).append(t)
    return paths, caps


def test_json_hits_carry_score_path_and_captions(run, synthetic_store):
    store = synthetic_store[0]
    res = CliRunner().invoke(app, ["search", "a red square moves left", "--run", str(run), "-k", "4", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["query"] == "a red square moves left" and out["run"] == str(run)
    expected = search(run, ["a red square moves left"], 4)[0]
    assert [(h["video_id"], h["score"]) for h in out["hits"]] == [(v, pytest.approx(s)) for v, s in expected]
    assert [h["rank"] for h in out["hits"]] == [1, 2, 3, 4]
    paths, caps = _store_videos(store)
    for h in out["hits"]:
        assert h["path"] == paths[h["video_id"]]  # absolute in the synthetic manifest
        assert h["captions"] == caps[h["video_id"]] and len(h["captions"]) == 2


def test_text_output_lists_captions_under_each_hit(run, synthetic_store):
    res = CliRunner().invoke(app, ["search", "a blue square moves right", "--run", str(run), "-k", "2"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    paths, caps = _store_videos(synthetic_store[0])
    assert len(lines) == 2 * 3  # a hit line and its two captions, twice
    for i in (0, 3):
        rank, score, video, path = lines[i].split()
        assert path == paths[video]
        assert [line.strip() for line in lines[i + 1:i + 3]] == caps[video]


def test_without_a_store_hits_have_ids_only(run, tmp_path):
    res = CliRunner().invoke(app, ["search", "a red square", "--run", str(run), "-k", "1", "--json",
                                   "--store", str(tmp_path / "nowhere")])
    assert res.exit_code == 0, res.output
    hit = json.loads(res.stdout)["hits"][0]
    assert hit["path"] is None and hit["captions"] == []
    assert "no store at" in res.stderr
