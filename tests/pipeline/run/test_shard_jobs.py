"""Array jobs without Ray: ``teachers run --shard i/n`` in 3 real processes gives what one process
gives, row for row; ``teachers commit`` refuses an incomplete run and commits a complete one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import stores
from pipeline.config import load_config
from pipeline.run import commit_teachers, run_teachers
from pipeline.teachers.testing import write_dataset
from teachkit.util.errors import RuntimeFailure
from teachkit_fixtures import SUPPORT
from teachkit_fixtures.colour import PLUGIN
from teachkit_fixtures.vocab import CORRUPT, VIDEOS

ROOT = Path(__file__).resolve().parents[3]

QUERIES = [
    "SELECT teacher, split, caption_id, video_id, score FROM scores ORDER BY ALL",
    "SELECT teacher, split, caption_id, video_id, frame, score FROM frames ORDER BY ALL",
    "SELECT teacher, split, kind, id, vector FROM embeddings ORDER BY teacher, split, kind, id",
    "SELECT teacher, run, rows, metrics FROM current_runs ORDER BY ALL",
    "SELECT run, item FROM failures WHERE source = 'run' ORDER BY ALL",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    source = write_dataset(root / "data", VIDEOS, frames=5, corrupt=CORRUPT)
    return root, source


def _config(project, store: Path, wait: float = 60.0) -> Path:
    root, source = project
    path = store.parent / f"{store.name}.toml"
    path.write_text(textwrap.dedent(f"""
        [store]
        root = "{store}"
        [dataset]
        source = "{source}"
        [frames]
        num_frames = 3
        decode_workers = 1
        [engine]
        shard_videos = 2
        wait_seconds = {wait}
        [[teachers]]
        name = "full"
        kind = "plugin"
        plugin = "{PLUGIN}"
        score_dtype = "float32"
        shard_captions = 3
        [[teachers]]
        name = "top2"
        kind = "plugin"
        plugin = "{PLUGIN}"
        plan = "topk"
        k = 2
        frame_relevance = "all"
        shard_captions = 4
    """))
    return path


def _tables(store) -> list:
    with stores.connect(store) as con:
        return [con.execute(q).fetchall() for q in QUERIES]


def test_three_array_jobs_equal_one_process(project, tmp_path):
    one = run_teachers(load_config(_config(project, tmp_path / "one")), out=lambda s: None, progress=False)
    assert [o.status for o in one] == ["computed", "computed"]

    config = _config(project, tmp_path / "array")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SUPPORT), str(ROOT)]))
    procs = [subprocess.Popen([sys.executable, "-m", "teachkit.cli", "teachers", "run", "--config", str(config),
                               "--no-progress", "--shard", f"{i}/3"], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e for _, e in outs]
    computed = sorted(line.split()[0] for o, _ in outs for line in o.splitlines() if line.split()[1:2] == ["computed"])
    assert computed == ["full", "top2"]  # each run committed once, by a job that completed it
    assert _tables(tmp_path / "array") == _tables(tmp_path / "one")
    assert not list((tmp_path / "array").glob("features/**/*.parquet"))  # dropped at commit


def test_commit_refuses_an_incomplete_run_and_commits_a_complete_one(project, tmp_path):
    run_teachers(load_config(_config(project, tmp_path / "one")), out=lambda s: None, progress=False)
    cfg = load_config(_config(project, tmp_path / "array", wait=0))
    out = []
    # job 0 of 2 alone: it finds no job 1 and encodes everything, but scores only its share
    assert run_teachers(cfg, out=out.append, progress=False, shard=(0, 2)) == []
    assert [line.split()[:2] for line in out[:2]] == [["full", "pending"], ["top2", "pending"]]
    with pytest.raises(RuntimeFailure, match=r"teacher full misses \d+ caption shard\(s\), teacher top2"):
        commit_teachers(cfg, out=lambda s: None)

    from teachkit.cli import app

    r = CliRunner().invoke(app, ["teachers", "commit", "--config", str(_config(project, tmp_path / "array"))])
    assert r.exit_code == 1 and r.stderr.startswith("error: not complete: teacher full misses")
    # job 1 of 2 scores the rest from the stored features and, finding the runs complete, commits
    done = run_teachers(cfg, out=lambda s: None, progress=False, shard=(1, 2))
    assert [o.status for o in done] == ["computed", "computed"]
    assert _tables(tmp_path / "array") == _tables(tmp_path / "one")
    assert [o.status for o in commit_teachers(cfg, out=lambda s: None)] == ["cached", "cached"]
