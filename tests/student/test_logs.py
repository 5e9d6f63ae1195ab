"""The training log's sinks: train_log.jsonl and TensorBoard event files with the same scalars."""


import pytest

from student.config import ConfigError
from student.logs import TrainLog, check_sinks, read_jsonl, tag
from student.train import train


def test_tensorboard_events_hold_every_logged_scalar(synthetic_store, tiny_config, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    store, tok, _ = synthetic_store
    cfg = tiny_config(store, tok, tmp_path / "cache", tmp_path / "runs",
                      **{"train.steps": 4, "train.log": ["jsonl", "tensorboard"], "train.eval_every": 2,
                         "data.holdout_videos": 3})
    run = train(cfg).folder
    rows = read_jsonl(run)
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/retrieval_loss", "train/kl_distill_loss", "train/frame_distill_loss",
            "val/t2v/R@1", "val/v2t/R@1"} <= tags
    for key in ("loss", "retrieval_loss", "val/t2v/R@1"):
        logged = [(r["step"], r[key]) for r in rows if key in r]
        events = [(e.step, e.value) for e in acc.Scalars(tag(key))]
        assert [s for s, _ in events] == [s for s, _ in logged]
        assert [v for _, v in events] == pytest.approx([v for _, v in logged], rel=1e-6)
    assert [r["step"] for r in rows if "val/t2v/R@1" in r] == [1, 3]
    # the live folder TensorBoard watched during training moved into the run
    assert not list(run.parent.glob(".*tensorboard*"))


def test_jsonl_only_writes_no_event_files(synthetic_store, tiny_config, tmp_path):
    store, tok, _ = synthetic_store
    run = train(tiny_config(store, tok, tmp_path / "cache", tmp_path / "runs", **{"train.steps": 2})).folder
    assert not (run / "tensorboard").exists()
    assert [r["step"] for r in read_jsonl(run)] == [0, 1]


def test_tensorboard_only_writes_no_jsonl(tmp_path):
    log = TrainLog(["tensorboard"], tmp_path / ".live.tmp")
    log.log({"step": 0, "loss": 1.5})
    (tmp_path / "run").mkdir()
    log.save(tmp_path / "run")
    assert not (tmp_path / "run" / "train_log.jsonl").exists()
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))


def test_unknown_sink_is_a_config_error(synthetic_store, tiny_config, tmp_path):
    store, tok, _ = synthetic_store
    with pytest.raises(ConfigError, match=r"train\.log: unknown sink 'wandb'"):
        tiny_config(store, tok, tmp_path / "c", tmp_path / "r", **{"train.log": ["jsonl", "wandb"]})
    with pytest.raises(ValueError, match="twice"):
        check_sinks(["jsonl", "jsonl"], "train.log")
