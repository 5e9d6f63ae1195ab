"""Fixtures for the ``teachkit`` app: a small store and a trained run group, built in seconds.

The synthetic store and the tiny experiment are the student tests' own
(:mod:`teachkit_fixtures.store`, :mod:`teachkit_fixtures.experiment`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from teachkit_fixtures.experiment import tiny_experiment
from teachkit_fixtures.store import synthetic_store


def synthetic_ground_truth(store: Path) -> dict:
    """A demo-style ground truth for the synthetic store: each caption's one event (the square
    moving) spans source frames 1-4 of the 6; caption ``#1`` of the first train video is wrong."""
    import stores

    with stores.connect(store) as con:
        caps = con.execute("SELECT caption_id, video_id, split, text FROM captions ORDER BY caption_id").fetchall()
    out = {}
    for cid, vid, split, text in caps:
        words = text.split()  # "a <colour> square moves <dir> take <k>"
        out[cid] = {"video_id": vid, "split": split, "wrong": cid == "train000#1",
                    "events": [{"shape": "square", "colour": words[1], "action": "move", "param": words[4],
                                "frames": [1, 2, 3, 4]}]}
    return {"version": 2, "captions": out}


def bench_results(path: Path) -> Path:
    """A ``bench/results.json`` with a two-row scale table (the keys ``bench.scale`` writes)."""
    rows = [
        {"fraction": f, "rows": n, "bytes_per_score": 1.9, "write_rows_per_s": w,
         "batch_assembly_ms": {"median": b, "min": b, "max": b}, "stream_rows_per_s": {"median": s, "min": s, "max": s},
         "matrix_build_s": m, "matrix_batch_ms": 0.5}
        for f, n, w, b, s, m in ((0.01, 16_200_000, 1.0e7, 5.0, 6.8e7, 0.48), (0.1, 162_000_000, 1.2e7, 23.3, 7.2e7, 3.5))
    ]
    path.write_text(json.dumps({"figures": {"scale": {"unit": "table", "table": rows}}}))
    return path


@pytest.fixture(scope="session")
def run_group(tmp_path_factory):
    """A synthetic store and a demo run group (2 seeds x plain/distilled, 6 steps, validation
    every 2 steps, jsonl and TensorBoard logs); returns a dict of paths."""
    import torch

    from student.config import ComparisonConfig
    from student.comparison import run_comparison

    root = tmp_path_factory.mktemp("report")
    store, tok = synthetic_store(root)
    exp = tiny_experiment(
        store, tok, root / "cache", root / "unused",
        **{"train.steps": 6, "train.eval_every": 2, "data.holdout_videos": 3, "train.log": ["jsonl", "tensorboard"]},
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_comparison(ComparisonConfig(seeds=[0, 1], out=str(root / "runs" / "demo"), experiment=exp).check(), log=lambda *a: None)
    finally:
        torch.set_num_threads(threads)
    gt = root / "ground_truth.json"
    gt.write_text(json.dumps(synthetic_ground_truth(store)))
    return {"root": root, "store": store, "runs": root / "runs" / "demo", "ground_truth": gt,
            "bench": bench_results(root / "results.json"), "tokenizer": tok}
