"""The teacher runner end to end on tiny data: plugins by dotted path, undecodable videos,
caching per teacher, resumption after a real SIGKILL, and refusal of non-finite scores."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import stores
from pipeline.config import parse_config
from pipeline.run import run_teachers
from pipeline.run.shards import NonFiniteScoreError
from pipeline.teachers.testing import tiny_clip, write_dataset
from teachkit_fixtures import SUPPORT
from teachkit_fixtures.colour import PLUGIN
from teachkit_fixtures.vocab import CORRUPT, N_TEST_CAPTIONS, N_TEST_VIDEOS, VIDEOS, WORDS


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("runner")
    source = write_dataset(root / "data", VIDEOS, frames=5, corrupt=CORRUPT)
    clip = tiny_clip(root / "clip", WORDS)
    return root, source, PLUGIN.split(":")[0], clip


@pytest.fixture
def plugin_path(dataset):
    """The colour teacher's module, by the dotted name the plugin loader imports."""
    return dataset[2]


def _config(root, source, teachers, store="store", **frames):
    raw = {"store": {"root": str(root / store)}, "dataset": {"source": str(source)},
           "frames": {"num_frames": 3, **frames}, "teachers": teachers}
    return parse_config(raw, root)


def _rows(store, sql, params=()):
    with stores.connect(store) as con:
        return con.execute(sql, list(params)).fetchall()


def test_plugin_by_dotted_path_full_and_topk_plans(dataset, plugin_path, tmp_path):
    root, source, _, _ = dataset
    teachers = [
        {"name": "full", "kind": "plugin", "plugin": f"{plugin_path}:ColourTeacher", "score_dtype": "float32"},
        {"name": "top2", "kind": "plugin", "plugin": f"{plugin_path}.ColourTeacher", "plan": "topk", "k": 2,
         "score_dtype": "float32", "shard_captions": 3},
    ]
    out = []
    outcomes = run_teachers(_config(tmp_path, source, teachers), out=out.append, progress=False)
    store = tmp_path / "store"
    assert [(o.name, o.status, o.skipped_videos) for o in outcomes] == [("full", "computed", 1), ("top2", "computed", 1)]

    # full: every caption of a decodable video x every decodable video of its split
    full = _rows(store, "SELECT split, caption_id, video_id, score FROM scores WHERE teacher = 'full'")
    with stores.connect(store) as con:
        expected = con.execute(
            "SELECT c.split, c.caption_id, v.video_id FROM captions c JOIN videos v USING (split) "
            "WHERE c.video_id != 'bad' AND v.video_id != 'bad'"
        ).fetchall()
    assert sorted((s, c, v) for s, c, v, _ in full) == sorted(expected)
    assert len(full) == N_TEST_CAPTIONS * N_TEST_VIDEOS + 4 * 3

    # topk: the teacher's own top-2 (its full scores, since score = holistic cosine) + the positive
    top = _rows(store, "SELECT caption_id, video_id, score FROM scores WHERE teacher = 'top2'")
    full_by_caption: dict[str, dict[str, float]] = {}
    for _, c, v, s in full:
        full_by_caption.setdefault(c, {})[v] = s
    got: dict[str, set] = {}
    for c, v, s in top:
        got.setdefault(c, set()).add(v)
        assert s == pytest.approx(full_by_caption[c][v], abs=1e-6)
    assert set(got) == set(full_by_caption)
    for c, videos in got.items():
        ranked = sorted(full_by_caption[c], key=full_by_caption[c].get, reverse=True)
        positive = c.rsplit("_", 1)[0]
        assert videos == set(ranked[:2]) | {positive}
    assert len(top) == sum(len(v) for v in got.values()) and len(top) == len({(c, v) for c, v, _ in top})

    # own-video frame relevance: 3 sampled frames per caption of a decodable video
    assert _rows(store, "SELECT count(*) FROM frames WHERE teacher = 'full'")[0][0] == 3 * (N_TEST_CAPTIONS + 4)
    assert any("test-split retrieval" in line for line in out)


def test_undecodable_video_is_a_failure_and_the_run_completes(dataset, plugin_path, tmp_path):
    root, source, _, _ = dataset
    teachers = [{"name": "colour", "kind": "plugin", "plugin": f"{plugin_path}:ColourTeacher"}]
    out = []
    (o,) = run_teachers(_config(tmp_path, source, teachers), out=out.append, progress=False)
    store = tmp_path / "store"
    fails = _rows(store, "SELECT item, error FROM failures WHERE run = ?", [o.run])
    assert [item for item, _ in fails] == ["bad"]
    assert "bad.mp4" in fails[0][1]
    assert _rows(store, "SELECT count(*) FROM scores WHERE video_id = 'bad' OR caption_id = 'bad_0'")[0][0] == 0
    assert _rows(store, "SELECT status FROM runs WHERE teacher = 'colour'") == [("committed",)]
    assert "skipped 1 undecodable video" in out[0]
    assert o.metrics["videos"] == N_TEST_VIDEOS and o.metrics["captions"] == N_TEST_CAPTIONS


def test_holistic_embeddings_are_stored_once_per_run_in_float16(dataset, plugin_path, tmp_path):
    """Video and caption embeddings as the teacher gives them; none for `embeddings = "none"`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root, source, _, clip = dataset
    teachers = [
        {"name": "colour", "kind": "plugin", "plugin": f"{plugin_path}:ColourTeacher", "shard_captions": 2},
        {"name": "bare", "kind": "plugin", "plugin": f"{plugin_path}:ColourTeacher", "embeddings": "none"},
        {"name": "clip", "kind": "clip", "model": str(clip), "embeddings": "float32"},
    ]
    outcomes = run_teachers(_config(tmp_path, source, teachers), out=lambda s: None, progress=False)
    store = tmp_path / "store"
    rows = _rows(store, "SELECT teacher, split, kind, id, vector, run FROM embeddings ORDER BY ALL")
    colour = [r for r in rows if r[0] == "colour"]
    # one row per decodable video and per caption of a decodable video, each exactly once
    assert sorted((k, i) for _, _, k, i, _, _ in colour) == sorted(
        [("video", v) for v in ("t0", "t1", "t2", "t3", "t4", "r0", "r1", "r2")]
        + [("caption", c) for c, _ in _rows(store, "SELECT caption_id, video_id FROM captions WHERE video_id != 'bad'")]
    )
    assert {r[5] for r in colour} == {outcomes[0].run}
    vec = {(k, i): np.array(v) for _, _, k, i, v, _ in colour}
    # "a red ball": colour counts (1.1, 0.1, 0.1), normalised, stored in float16
    red = np.array([1.1, 0.1, 0.1]) / np.linalg.norm([1.1, 0.1, 0.1])
    np.testing.assert_allclose(vec[("caption", "t0_0")], red, atol=1e-3)
    assert not np.allclose(vec[("caption", "t0_0")], red, atol=1e-6)  # float16, not float32
    # the stored video vector is the teacher's holistic_videos: a unit vector with mean-RGB direction
    assert np.linalg.norm(vec[("video", "t0")]) == pytest.approx(1.0, abs=2e-3)
    files = sorted((store / "embeddings" / "teacher=colour").rglob("*.parquet"))
    assert [f.name for f in files if "split=test" in str(f)] == [
        "part-caption-00000.parquet", "part-caption-00001.parquet", "part-caption-00002.parquet",
        "part-caption-00003.parquet", "part-video-00000.parquet"]
    assert pq.read_schema(files[0]).field("vector").type.value_type == pa.float16()
    assert not [r for r in rows if r[0] == "bare"]  # a teacher stores none when told so
    clip_rows = [r for r in rows if r[0] == "clip"]
    assert len(clip_rows) == len(colour)  # CLIP teachers: holistic_videos / holistic_captions
    clip_file = next((store / "embeddings" / "teacher=clip").rglob("part-video-*.parquet"))
    assert pq.read_schema(clip_file).field("vector").type.value_type == pa.float32()
    # the embeddings setting is part of the fingerprint
    assert outcomes[0].run != outcomes[1].run


def test_only_the_changed_teacher_is_recomputed(dataset, plugin_path, tmp_path, monkeypatch):
    import transformers

    root, source, _, clip = dataset
    loads = []
    original = transformers.AutoModel.from_pretrained

    def counted(*args, **kwargs):
        loads.append(str(args[0]))
        return original(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", counted)
    clip_teacher = {"name": "clip", "kind": "clip", "model": str(clip), "scorer": "mean"}
    colour = {"name": "colour", "kind": "plugin", "plugin": f"{plugin_path}:ColourTeacher"}
    cfg = _config(tmp_path, source, [clip_teacher, colour])
    first = run_teachers(cfg, out=lambda s: None, progress=False)
    assert [o.status for o in first] == ["computed", "computed"] and len(loads) == 1
    plugin_inits = importlib.import_module(plugin_path).ColourTeacher.calls
    inits = plugin_inits["init"]

    out = []
    again = run_teachers(cfg, out=out.append, progress=False)
    assert [o.status for o in again] == ["cached", "cached"] and len(loads) == 1
    assert not any(o.loaded for o in again)

    # a different scorer changes the clip teacher's fingerprint only
    cfg = _config(tmp_path, source, [clip_teacher | {"scorer": "fine"}, colour])
    out = []
    changed = run_teachers(cfg, out=out.append, progress=False)
    assert [(o.status, o.loaded) for o in changed] == [("computed", True), ("cached", False)]
    assert len(loads) == 2 and plugin_inits["init"] == inits  # the cached plugin was not built
    assert [line.split()[1] for line in out if line.startswith("colour ")] == ["cached"]
    assert changed[1].run == first[1].run

    # frame sampling is part of every visual teacher's fingerprint
    cfg = _config(tmp_path, source, [clip_teacher | {"scorer": "fine"}, colour], num_frames=2)
    assert [o.status for o in run_teachers(cfg, out=lambda s: None, progress=False)] == ["computed", "computed"]

    # back to the first config: both cached, and their first runs are current again
    cfg = _config(tmp_path, source, [clip_teacher, colour])
    back = run_teachers(cfg, out=lambda s: None, progress=False)
    assert [(o.status, o.run) for o in back] == [("cached", first[0].run), ("cached", first[1].run)]
    with stores.connect(cfg.store.root) as con:
        current = con.execute("SELECT teacher, run FROM current_runs ORDER BY teacher").fetchall()
    assert current == [("clip", first[0].run), ("colour", first[1].run)]


def test_non_finite_scores_fail_and_write_nothing(dataset, plugin_path, tmp_path):
    root, source, _, _ = dataset
    teachers = [{"name": "nan", "kind": "plugin", "plugin": f"{plugin_path}:ColourTeacher",
                 "options": {"nan": True}}]
    with pytest.raises(NonFiniteScoreError, match="teacher nan: 1 non-finite"):
        run_teachers(_config(tmp_path, source, teachers), out=lambda s: None, progress=False)
    assert not list((tmp_path / "store").glob("scores/teacher=nan/*/*/*.parquet"))
    assert _rows(tmp_path / "store", "SELECT count(*) FROM current_runs")[0][0] == 0


def test_killed_run_resumes_without_duplicates(dataset, plugin_path, tmp_path):
    """SIGKILL a real `teachkit teachers run` mid-way; the rerun keeps its shards and adds the rest."""
    root, source, module, _ = dataset
    config = tmp_path / "slow.toml"
    config.write_text(textwrap.dedent(f"""
        [store]
        root = "{tmp_path / 'store'}"
        [dataset]
        source = "{source}"
        [frames]
        num_frames = 3
        [[teachers]]
        name = "slow"
        kind = "plugin"
        plugin = "{module}:ColourTeacher"
        shard_captions = 1
    """))
    env = dict(os.environ, TK_COLOUR_DELAY="0.25",
               PYTHONPATH=os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "teachkit.cli", "teachers", "run", "--config", str(config), "--no-progress"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    shards = tmp_path / "store" / "scores" / "teacher=slow"
    deadline = time.time() + 60
    try:
        while len(list(shards.glob("run=*/split=*/part-*.parquet"))) < 3:
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "no shards after 60s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = {p: p.stat().st_mtime_ns for p in shards.glob("run=*/split=*/part-*.parquet")}
    total_shards = N_TEST_CAPTIONS + 1 + 4  # one caption per shard, incl. the undecodable video's
    assert 3 <= len(before) < total_shards
    assert _rows(tmp_path / "store", "SELECT count(*) FROM runs WHERE status = 'committed'")[0][0] == 0

    from pipeline.config import load_config

    calls = importlib.import_module(plugin_path).ColourTeacher.calls
    scored = calls["score"]
    out, log = [], []
    (o,) = run_teachers(load_config(config), out=out.append, log=log.append, progress=False)
    assert o.status == "computed" and any("resuming run" in line for line in log)
    # only the missing shards were scored (one score call each; shard 0 is the undecodable
    # video's caption, written empty before the kill)
    assert calls["score"] - scored == total_shards - len(before)
    after = {p: p.stat().st_mtime_ns for p in shards.glob("run=*/split=*/part-*.parquet")}
    assert len(after) == total_shards
    assert all(after[p] == t for p, t in before.items())  # kept, not rewritten
    rows = _rows(tmp_path / "store", "SELECT caption_id, video_id FROM scores WHERE teacher = 'slow'")
    assert len(rows) == len(set(rows)) == N_TEST_CAPTIONS * N_TEST_VIDEOS + 4 * 3
    emb = _rows(tmp_path / "store", "SELECT kind, id FROM embeddings WHERE teacher = 'slow'")
    assert len(emb) == len(set(emb)) == N_TEST_CAPTIONS + 4 + N_TEST_VIDEOS + 3  # each exactly once


def test_teacher_stage_on_an_s3_store_matches_the_local_one(dataset, plugin_path, tmp_path, s3_root):
    """`[store] root = "s3://..."`: the same scores as a local store, then cached, then `teachkit sql`."""
    from typer.testing import CliRunner

    from teachkit.cli import app

    root, source, _, _ = dataset
    teachers = [{"name": "colour", "kind": "plugin", "plugin": f"{plugin_path}:ColourTeacher",
                 "score_dtype": "float32", "shard_captions": 4}]
    local = run_teachers(_config(tmp_path, source, teachers), out=lambda s: None, progress=False)
    raw = {"store": {"root": s3_root}, "dataset": {"source": str(source)}, "frames": {"num_frames": 3},
           "teachers": teachers}
    cfg = parse_config(raw, tmp_path)
    assert cfg.store.root == s3_root  # a URL is not a path relative to the config
    (o,) = run_teachers(cfg, out=lambda s: None, progress=False)
    assert (o.status, o.run, o.rows, o.frame_rows) == ("computed", local[0].run, local[0].rows, local[0].frame_rows)
    assert o.metrics == local[0].metrics and o.skipped_videos == 1
    q = "SELECT split, caption_id, video_id, score FROM scores ORDER BY ALL"
    assert _rows(s3_root, q) == _rows(tmp_path / "store", q)
    assert _rows(s3_root, "SELECT item FROM failures WHERE run = ?", [o.run]) == [("bad",)]

    out = []
    (again,) = run_teachers(cfg, out=out.append, progress=False)
    assert again.status == "cached" and not again.loaded and again.frame_rows == o.frame_rows

    r = CliRunner().invoke(app, ["sql", "--store", s3_root, "--format", "csv",
                                 "SELECT teacher, status, rows FROM current_runs"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout == f"teacher,status,rows\ncolour,committed,{o.rows}\n"

