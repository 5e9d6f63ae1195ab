"""Data-parallel training: ``torchrun`` with 2 CPU processes (gloo on 127.0.0.1) takes the
steps one process takes on the same global batch, and only rank 0 writes.

The run distils both synthetic teachers (coarse KL over ``fine_t`` and the half-scored
``sparse_t``, fine frame CE and relational KL + structure discrimination over ``fine_t``)
beside InfoNCE, so the gathered embeddings, the gathered frame weights and mask, and the
global teacher matrices (scores, frame relevance, intra-modal cosines) all enter the losses.
Steps after the first compare the updates too: equal losses at step s need equal
gradients at steps < s.
"""

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from student.config import load_experiment
from student.data import rank_share
from student.logs import read_jsonl
from student.train import train

ROOT = Path(__file__).resolve().parents[2]
STEPS = 4
RTOL = 1e-5  # relative, per logged value (measured: see README "Data-parallel training")

RUN_FILES = {"config.json", "backbone.json", "teachers.json", "metrics.json", "timings.json", "train_log.jsonl", "student.safetensors",
             "student.json", "tokenizer", "captions.npy", "videos.npy", "vectors.json", "videos.faiss"}


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    return "[" + ", ".join(_toml_value(x) for x in v) + "]"


def _toml(tables: dict) -> str:
    """A TOML text of ``{"section.sub": {key: scalar or list}}``."""
    return "".join(f"[{name}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in keys.items()) + "\n"
                   for name, keys in tables.items())


def _config(path: Path, store, tok, cache) -> Path:
    path.write_text(_toml({
        "model": {"tokenizer": str(tok), "head": "afa", "num_frames": 4, "max_words": 12},
        "model.tiny": {"image_size": 32, "patch_size": 16, "hidden_size": 32, "intermediate_size": 64,
                       "layers": 1, "heads": 2, "projection_dim": 32},
        "data": {"store": str(store), "cache": str(cache), "batch_size": 4, "teacher_window": 3,
                 "decode_workers": 1, "eval_batch_size": 8},
        "train": {"steps": STEPS, "lr": 2e-3, "warmup_steps": 1, "log_every": 1, "device": "cpu", "threads": 1},
        "loss.coarse": {"kind": "kl", "teachers": ["fine_t", "sparse_t"], "teacher_temperature": 0.5,
                        "bank_weight": 1.0},
        "loss.fine": {"weight": 1.0, "teachers": ["fine_t"]},
        "loss.relational": {"kind": "relational", "teachers": ["fine_t"], "weight": 1.0, "discrimination": 0.5},
    }))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rank_share_cuts_a_global_batch_into_contiguous_equal_slices():
    batch = np.arange(10, 18)
    shares = [rank_share(batch, r, 4) for r in range(4)]
    assert [s.tolist() for s in shares] == [[10, 11], [12, 13], [14, 15], [16, 17]]
    assert np.array_equal(np.concatenate(shares), batch)  # gathered in rank order: the global batch
    with pytest.raises(ValueError, match="equal shares"):
        rank_share(batch, 0, 3)


def test_torchrun_two_cpu_processes_take_the_single_process_steps(synthetic_store, tmp_path):
    store, tok, _ = synthetic_store
    config = _config(tmp_path / "tiny.toml", store, tok, tmp_path / "cache")
    assert "WORLD_SIZE" not in os.environ
    single = train(load_experiment(config), tmp_path / "runs" / "single")  # also decodes the cache

    logs = tmp_path / "torchrun-logs"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), "--log-dir", str(logs), "--redirects", "3",
           "-m", "teachkit", "student", "train", "--config", str(config), "--out", str(tmp_path / "runs" / "ddp"),
           "--no-progress"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr + "".join(
        p.read_text() for p in sorted(logs.rglob("*.log")))

    # the first steps' losses and every logged part match the single process within RTOL
    ddp_rows = read_jsonl(tmp_path / "runs" / "ddp")
    single_rows = read_jsonl(single.folder)
    assert [r["step"] for r in ddp_rows] == list(range(STEPS)) == [r["step"] for r in single_rows]
    worst = 0.0
    for one, two in zip(single_rows, ddp_rows):
        assert set(one) == set(two) >= {"loss", "retrieval_loss", "kl_distill_loss", "frame_distill_loss",
                                         "coarse/fine_t", "coarse/sparse_t", "relational_distill_loss",
                                         "discrimination_distill_loss", "bank_distill_loss", "bank/videos_filled",
                                         "bank/captions_filled"}
        for key in one:
            assert math.isclose(two[key], one[key], rel_tol=RTOL, abs_tol=1e-7), (one["step"], key, one[key], two[key])
            worst = max(worst, abs(two[key] - one[key]) / max(abs(one[key]), 1e-12))
    print(f"\n2 processes vs 1, {STEPS} steps: largest relative difference of a logged value {worst:.2e}")
    assert ddp_rows[-1]["loss"] != ddp_rows[0]["loss"]  # the steps did change the student

    # only rank 0 wrote: one complete run, no leftovers, and rank 1 printed nothing
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["ddp", "single"]
    assert {p.name for p in (tmp_path / "runs" / "ddp").iterdir()} == RUN_FILES
    assert json.loads((tmp_path / "runs" / "ddp" / "timings.json").read_text())["world_size"] == 2
    stdout = {p.parent.name: p.read_text() for p in logs.rglob("stdout.log")}
    assert set(stdout) == {"0", "1"}
    assert "t2v" in stdout["0"] and stdout["1"] == ""
