"""The two passes of the local engine: encode shards fingerprinted apart from scoring, so a new
scorer, k or frame-relevance mode re-scores from stored features without decoding a video;
and the CLI's answer when the ray engine is asked for without Ray installed."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

import stores
from pipeline.config import parse_config
from pipeline.run import run_teachers
from pipeline.run.prepare import identify_teacher
from pipeline.teachers.testing import tiny_clip, write_dataset
from teachkit_fixtures.vocab import CORRUPT, VIDEOS, WORDS


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("two-passes")
    return root, write_dataset(root / "data", VIDEOS, frames=5, corrupt=CORRUPT), tiny_clip(root / "clip", WORDS)


def _config(project, store, teacher: dict, keep: bool = True, num_frames: int = 3):
    root, source, clip = project
    raw = {"store": {"root": str(store)}, "dataset": {"source": str(source)}, "frames": {"num_frames": num_frames},
           "engine": {"keep_features": keep, "shard_videos": 3},
           "teachers": [{"name": "clip", "kind": "clip", "model": str(clip), "score_dtype": "float32"} | teacher]}
    return parse_config(raw, root)


def _scores(store):
    with stores.connect(store) as con:
        return (con.execute("SELECT split, caption_id, video_id, score FROM scores ORDER BY ALL").fetchall(),
                con.execute("SELECT split, caption_id, video_id, frame, score FROM frames ORDER BY ALL").fetchall())


def test_a_new_scorer_k_or_frame_mode_rescores_from_stored_features(project, tmp_path, monkeypatch):
    import pipeline.run.videos as videos
    from pipeline.teachers.clip import ClipTeacher

    calls = {"decode": 0, "encode": 0}
    decode, encode = videos.decode_frames, ClipTeacher.encode_videos

    def counted_decode(*a, **k):
        calls["decode"] += 1
        return decode(*a, **k)

    def counted_encode(self, batch):
        calls["encode"] += 1
        return encode(self, batch)

    monkeypatch.setattr(videos, "decode_frames", counted_decode)
    monkeypatch.setattr(ClipTeacher, "encode_videos", counted_encode)
    store = tmp_path / "store"
    (first,) = run_teachers(_config(project, store, {"scorer": "fine"}), out=lambda s: None, progress=False)
    assert first.status == "computed" and calls["decode"] == len(VIDEOS) and calls["encode"] > 0
    assert list(store.glob("features/*/split=*/part-*.parquet"))  # kept: [engine] keep_features

    changed = {"scorer": "mean", "plan": "topk", "k": 2, "frame_relevance": "all"}
    calls.update(decode=0, encode=0)
    (second,) = run_teachers(_config(project, store, changed), out=lambda s: None, progress=False)
    assert second.status == "computed" and second.run != first.run
    assert calls == {"decode": 0, "encode": 0}  # scored from the stored features only

    # the same as computing that config from scratch, bit for bit
    (fresh,) = run_teachers(_config(project, tmp_path / "fresh", changed, keep=False), out=lambda s: None,
                            progress=False)
    assert fresh.run == second.run
    got = _scores(store)  # the views show each teacher's latest committed run: the re-scored one
    assert got == _scores(tmp_path / "fresh") and got[0]
    assert not list((tmp_path / "fresh").glob("features/**/*.parquet"))  # dropped at commit by default


def test_the_encode_and_score_parts_are_fingerprinted_apart(project, tmp_path):
    root = project[0]
    run_teachers(_config(project, tmp_path / "s", {}), out=lambda s: None, progress=False)
    manifest = stores.Store(tmp_path / "s").require_manifest()

    def ident(teacher: dict, **kw):
        cfg = _config(project, tmp_path / "s", teacher, **kw)
        return identify_teacher(cfg.teachers[0], cfg.frames, manifest, cfg.engine.shard_videos)

    base = ident({"scorer": "fine"})
    for score_only in ({"scorer": "mean"}, {"frame_relevance": "all"}, {"shard_captions": 2},
                       {"plan": "topk", "k": 3}, {"score_dtype": "float16"}):
        p = ident({"scorer": "fine"} | score_only)
        assert p.encode_fingerprint == base.encode_fingerprint, score_only
        assert p.score_fingerprint != base.score_fingerprint and p.fingerprint != base.fingerprint, score_only
    assert ident({"scorer": "fine"}, num_frames=2).encode_fingerprint != base.encode_fingerprint
    assert ident({"scorer": "fine", "max_length": 8}).encode_fingerprint != base.encode_fingerprint
    assert root  # the project fixture built the data


def test_the_cli_says_what_to_install_without_ray(project, tmp_path, monkeypatch):
    from teachkit.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as without the extra
    config = tmp_path / "c.toml"
    config.write_text(f'[dataset]\nsource = "{project[1]}"\n[[teachers]]\nname = "t"\nkind = "plugin"\n'
                      'plugin = "x:Y"\n')
    r = CliRunner().invoke(app, ["teachers", "run", "--config", str(config), "--engine", "ray"])
    assert r.exit_code == 2
    assert r.stderr == "error: the ray engine needs Ray: pip install 'teachkit[ray]'\n"
