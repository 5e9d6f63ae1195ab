"""Training on tiny models: the loss goes down, runs are complete and searchable, and the
student stage never imports the teacher stage."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import stores
from stores.splits import split_pairs
from student.data import TrainBatches, batch_order, build_train_set
from student.frame_cache import frame_cache
from student.knowledge import KnowledgeReader
from student.losses import build_objective, total_loss
from student.model import build_student, load_student, load_tokenizer
from student.train import make_optimizer, objective_parts, train, train_step


def _first_batch(cfg, store):
    tok = load_tokenizer(cfg.model.tokenizer)
    with stores.connect(store) as con:
        manifest = json.loads((store / "manifest.json").read_text())["fingerprint"]
        pairs = split_pairs(con, "train")
        cache = frame_cache(con, store, manifest, "train", cfg.data.cache, cfg.model.num_frames, 0.0, 32, workers=1)
    ts = build_train_set(pairs, cache, tok, cfg.model.max_words)
    order = batch_order(ts.video_rows, cfg.data.batch_size, 1, seed=0)
    reader = KnowledgeReader(str(store), "train", cfg.loss.coarse.teachers, cfg.loss.fine.teachers)
    batches = TrainBatches(ts, order, cache.folder, reader, window=1)
    return tok, next(iter(batches))


def test_two_training_steps_reduce_the_loss(synthetic_store, tiny_config, tmp_path):
    store, tok, _ = synthetic_store
    cfg = tiny_config(store, tok, tmp_path / "cache", tmp_path / "runs")
    tokenizer, batch = _first_batch(cfg, store)
    assert batch.teacher_scores.shape == (2, 4, 4) and batch.teacher_relevance.shape == (1, 4, 4)
    model = build_student(cfg.model, tokenizer, cfg.train.logit_scale_init, seed=0)
    objective = build_objective(cfg.loss, cfg.train.logit_scale_max)
    optimizer = make_optimizer(model, cfg.train)
    device = torch.device("cpu")
    with torch.no_grad():
        before = objective_parts(model, objective, batch, device)
    assert set(before) >= {"retrieval_loss", "kl_distill_loss", "frame_distill_loss"}
    for _ in range(2):
        train_step(model, objective, optimizer, batch, device)
    with torch.no_grad():
        after = objective_parts(model, objective, batch, device)
    assert total_loss(after).item() < total_loss(before).item()


def test_train_writes_a_complete_searchable_run(synthetic_store, tiny_config, tmp_path):
    store, tok, _ = synthetic_store
    cfg = tiny_config(store, tok, tmp_path / "cache", tmp_path / "runs", **{"train.steps": 2, "data.holdout_videos": 3})
    result = train(cfg)
    assert set(result.val_metrics) == {"t2v", "v2t"}
    assert (result.folder / "val_metrics.json").exists()
    run = result.folder
    assert run == tmp_path / "runs" / "tiny"
    assert json.loads((run / "backbone.json").read_text()) == {"backbone": "tiny"}
    for name in ("config.json", "teachers.json", "metrics.json", "timings.json", "train_log.jsonl",
                 "student.safetensors", "student.json", "captions.npy", "videos.npy", "vectors.json", "videos.faiss"):
        assert (run / name).exists(), name
    teachers = json.loads((run / "teachers.json").read_text())
    assert set(teachers["used"]) == {"fine_t", "sparse_t"}
    assert teachers["used"]["fine_t"]["fingerprint"] == "fine_t-fp-0"
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"t2v", "v2t"} and 0 <= metrics["t2v"]["R@1"] <= 100
    timings = json.loads((run / "timings.json").read_text())
    assert timings["steps"] == 2 and timings["batch_assembly_ms"] > 0
    # the saved student alone reproduces the saved caption vectors
    model, tokenizer, spec = load_student(run)
    vectors = json.loads((run / "vectors.json").read_text())
    with stores.connect(store) as con:
        texts = dict((c, t) for c, _, t in split_pairs(con, "test"))
    from student.model import tokenize

    ids, mask = tokenize(tokenizer, [texts[c] for c in vectors["caption_ids"][:3]], spec["max_words"])
    with torch.no_grad():
        again = model.encode_text(ids, mask).numpy()
    assert np.allclose(again, np.load(run / "captions.npy")[:3], atol=1e-5)
    # search prints through the CLI, loading only the run
    from typer.testing import CliRunner

    from teachkit.cli import app

    out = CliRunner().invoke(app, ["search", "a red square moves left", "--run", str(run), "-k", "3"])
    assert out.exit_code == 0, out.output
    lines = [line for line in out.stdout.strip().splitlines() if not line.startswith(" " * 15)]  # hits, not captions
    assert len(lines) == 3 and all(line.split()[2] in vectors["video_ids"] for line in lines)
    scores = [float(line.split()[1]) for line in lines]
    assert scores == sorted(scores, reverse=True)


def test_plain_run_reads_no_teacher(synthetic_store, tiny_config, tmp_path):
    store, tok, _ = synthetic_store
    cfg = tiny_config(store, tok, tmp_path / "cache", tmp_path / "runs", **{"train.steps": 1, "loss.coarse.kind": "none",
                                                                           "loss.fine.weight": 0.0})
    result = train(cfg)
    assert result.teachers == {}


def test_unknown_teacher_is_a_config_error(synthetic_store, tiny_config, tmp_path):
    from student.config import ConfigError

    store, tok, _ = synthetic_store
    cfg = tiny_config(store, tok, tmp_path / "cache", tmp_path / "runs", **{"loss.coarse.teachers": ["nobody"]})
    with pytest.raises(ConfigError, match="loss.coarse.teachers"):
        train(cfg)
    cfg = tiny_config(store, tok, tmp_path / "cache", tmp_path / "runs", **{"loss.fine.teachers": ["sparse_t"]})
    with pytest.raises(ConfigError, match="loss.fine.teachers.*frame relevance"):
        train(cfg)


def test_student_modules_do_not_import_the_teacher_stage():
    code = (
        "import student.train, student.comparison, student.cli, student.search, student.evaluate, student.data; "
        "import sys; bad = sorted(m for m in sys.modules if m == 'pipeline' or m.startswith('pipeline.')); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
