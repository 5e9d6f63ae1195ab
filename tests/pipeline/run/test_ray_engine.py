"""The ray engine on a real local Ray cluster (``ray.init(num_cpus=2)``): on a store in the S3
test server, the same scores, frames and embeddings as the local engine, bit for bit on CPU;
and a driver killed mid-run (SIGKILL) that resumes without a duplicate row. Each Ray run
starts its actor pools (about 10 s here), so these are the only two."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

import stores
from pipeline.config import parse_config
from pipeline.run import run_teachers
from pipeline.teachers.testing import tiny_clip, write_dataset
from teachkit_fixtures import SUPPORT
from teachkit_fixtures.colour import PLUGIN
from teachkit_fixtures.vocab import CORRUPT, VIDEOS, WORDS

ray = pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[ray]')")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine")
    source = write_dataset(root / "data", VIDEOS, frames=5, corrupt=CORRUPT)
    clip = tiny_clip(root / "clip", WORDS)
    return root, source, clip


@pytest.fixture(scope="module")
def cluster(s3_server):
    """A 2-CPU Ray cluster whose workers import this checkout and the colour plugin teacher (and
    see the S3 test server's environment, set before it starts)."""
    from pipeline.run.ray_engine import runtime_env

    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(SUPPORT), saved) if p)
    try:
        ray.init(num_cpus=2, runtime_env=runtime_env(), include_dashboard=False, log_to_driver=False)
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def _config(root, source, teachers, store, engine="local", **extra):
    raw = {"store": {"root": str(store)}, "dataset": {"source": str(source)},
           "frames": {"num_frames": 3}, "teachers": teachers,
           "engine": {"kind": engine, "shard_videos": 2, **extra}}
    return parse_config(raw, root)


def _rows(store, sql):
    with stores.connect(store) as con:
        return con.execute(sql).fetchall()


def _teachers(clip):
    # two teachers over one encoding (same model and frames), different scorers, plans and frame modes
    return [
        {"name": "fine", "kind": "clip", "model": str(clip), "scorer": "fine", "score_dtype": "float32",
         "embeddings": "float32", "frame_relevance": "all", "shard_captions": 3},
        {"name": "top2", "kind": "clip", "model": str(clip), "scorer": "mean", "plan": "topk", "k": 2,
         "score_dtype": "float32", "shard_captions": 4},
    ]


TABLES = {
    "scores": "SELECT teacher, split, caption_id, video_id, score FROM scores ORDER BY ALL",
    "frames": "SELECT teacher, split, caption_id, video_id, frame, score FROM frames ORDER BY ALL",
    "embeddings": "SELECT teacher, split, kind, id, vector FROM embeddings ORDER BY teacher, split, kind, id",
    "runs": "SELECT teacher, run, rows FROM current_runs ORDER BY ALL",
    "failures": "SELECT run, item FROM failures WHERE source = 'run' ORDER BY ALL",
}


def test_ray_engine_on_s3_equals_the_local_engine_bit_for_bit(project, cluster, tmp_path, s3_root):
    """Two teachers over one encoding, on a store in the S3 test server, 2 scoring actors."""
    root, source, clip = project
    # each Ray actor holds one CPU (one torch thread); on some CPUs (AMD EPYC with AVX-512 here)
    # oneDNN's float sums differ in the last bits with the thread count, so the local engine
    # runs on one thread too: equal to the bit for equal threads
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = run_teachers(_config(root, source, _teachers(clip), tmp_path / "local"), out=lambda s: None,
                             progress=False)
    finally:
        torch.set_num_threads(threads)
    remote = run_teachers(_config(root, source, _teachers(clip), s3_root, "ray", score_actors=2),
                          out=lambda s: None, progress=False)
    assert [(o.status, o.run, o.rows, o.frame_rows, o.skipped_videos) for o in remote] == [
        ("computed", o.run, o.rows, o.frame_rows, 1) for o in local]
    assert [o.metrics for o in remote] == [o.metrics for o in local]
    for name, sql in TABLES.items():
        got, want = _rows(s3_root, sql), _rows(tmp_path / "local", sql)
        assert got == want and got, name  # exact floats: == on every value
    # the encode shards went once the runs committed ([engine] keep_features = false)
    assert not stores.Store(s3_root).fs.glob("features/*/*/*.parquet")
    assert remote[0].timings["encode_videos"] > 0 and remote[0].timings["score"] > 0
    again = run_teachers(_config(root, source, _teachers(clip), s3_root, "ray"), out=lambda s: None,
                         progress=False)
    assert [o.status for o in again] == ["cached", "cached"]


def test_a_killed_ray_driver_resumes_without_duplicates(project, cluster, tmp_path):
    """SIGKILL a real `teachkit teachers run --engine ray --address ...` driver mid-way; the rerun
    keeps every shard it wrote, adds the rest, and every row exists once."""
    root, source, _ = project
    flag = tmp_path / "slow"
    flag.write_text("")
    config = tmp_path / "slow.toml"
    config.write_text(textwrap.dedent(f"""
        [store]
        root = "{tmp_path / 'store'}"
        [dataset]
        source = "{source}"
        [frames]
        num_frames = 3
        [engine]
        shard_videos = 2
        [[teachers]]
        name = "slow"
        kind = "plugin"
        plugin = "{PLUGIN}"
        options = {{ flag = "{flag}" }}
        score_dtype = "float32"
        shard_captions = 1
    """))
    proc = subprocess.Popen(
        [sys.executable, "-m", "teachkit.cli", "teachers", "run", "--config", str(config), "--no-progress",
         "--engine", "ray", "--address", cluster],
        env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    shards = tmp_path / "store" / "scores" / "teacher=slow"
    # a driver that ends fails at once (poll); the deadline only bounds a live one, which on a
    # loaded 2-core machine (Ray's start-up, actors, model loads) took over 90 s once
    deadline = time.time() + 240
    try:
        while len(list(shards.glob("run=*/split=*/part-*.parquet"))) < 3:
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "no shards after 240 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    time.sleep(1.0)  # the killed job's actors go with it
    before = {p: p.stat().st_mtime_ns for p in shards.glob("run=*/split=*/part-*.parquet")}
    total = 8 + 4  # one caption per shard: 8 test captions (one of the undecodable video), 4 train
    assert 3 <= len(before) < total
    assert _rows(tmp_path / "store", "SELECT count(*) FROM runs WHERE status = 'committed'")[0][0] == 0

    from pipeline.config import load_config

    flag.unlink()
    log = []
    cfg = load_config(config)
    cfg = dataclasses.replace(cfg, engine=dataclasses.replace(cfg.engine, kind="ray"))
    (o,) = run_teachers(cfg, out=lambda s: None, log=log.append, progress=False)
    assert o.status == "computed" and any("resuming run" in line for line in log)
    after = {p: p.stat().st_mtime_ns for p in shards.glob("run=*/split=*/part-*.parquet")}
    assert len(after) == total and all(after[p] == t for p, t in before.items())  # kept, not rewritten
    rows = _rows(tmp_path / "store", "SELECT caption_id, video_id FROM scores")
    assert len(rows) == len(set(rows)) == 7 * 5 + 4 * 3
    # and the same rows as the local engine computes in one go
    local = dataclasses.replace(cfg, store=dataclasses.replace(cfg.store, root=tmp_path / "local"),
                                engine=dataclasses.replace(cfg.engine, kind="local"))
    assert run_teachers(local, out=lambda s: None, progress=False)[0].run == o.run
    for name in ("scores", "failures", "runs"):
        assert _rows(tmp_path / "store", TABLES[name]) == _rows(tmp_path / "local", TABLES[name]), name
