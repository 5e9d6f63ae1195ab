"""A store can move: store, videos, annotations and checkpoints moved to new folders (the old
ones deleted) still print ``cached`` for every teacher, load no model, and train a student.

Manifests hold video paths relative to the videos root, teacher fingerprints identify models
by checksum, and neither holds a machine path (:mod:`stores.videos`).
"""

from __future__ import annotations

import json
import shutil
import textwrap

import numpy as np
import pytest
from typer.testing import CliRunner

import stores
from pipeline.teachers.testing import random_frames, tiny_clip, tiny_text_encoder, word_tokenizer, write_video
from teachkit.cli import app

VIDEOS = {"a": "test", "b": "test", "c": "test", "d": "train", "e": "train", "f": "train"}
CAPTIONS = {"a": ["a red ball", "red box"], "b": ["a green ball"], "c": ["blue box", "a blue ball"],
            "d": ["red ball moves"], "e": ["green box moves"], "f": ["a blue box", "blue"]}
WORDS = sorted({w for texts in CAPTIONS.values() for t in texts for w in t.split()})


def _config(path, store, source, clip, text):
    path.write_text(textwrap.dedent(f"""
        [store]
        root = "{store}"
        [dataset]
        adapter = "jsonl"
        source = "{source}"
        [frames]
        num_frames = 3
        [[teachers]]
        name = "clip"
        kind = "clip"
        model = "{clip}"
        scorer = "fine"
        score_dtype = "float32"
        [[teachers]]
        name = "text"
        kind = "text"
        model = "{text}"
        score_dtype = "float32"
    """))
    return path


@pytest.fixture
def project(tmp_path):
    """tmp/a: annotations (paths relative to the videos folder), videos, two checkpoints."""
    a = tmp_path / "a"
    rng = np.random.default_rng(0)
    lines = []
    for vid, split in VIDEOS.items():
        write_video(a / "clips" / f"{vid}.mp4", random_frames(rng, 5))
        for k, text in enumerate(CAPTIONS[vid]):
            lines.append({"video_id": vid, "caption_id": f"{vid}_{k}", "path": f"{vid}.mp4",
                          "caption": text, "split": split})
    (a / "ann").mkdir()
    (a / "ann" / "annotations.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    tiny_clip(a / "models" / "clip", WORDS)
    tiny_text_encoder(a / "models" / "text", WORDS)
    word_tokenizer(WORDS).save_pretrained(a / "tokenizer")
    return tmp_path


def _teachers_run(config, *args):
    result = CliRunner().invoke(app, ["teachers", "run", "--config", str(config), "--no-progress", *args])
    assert result.exit_code == 0, result.output
    status = {}
    for line in result.stdout.splitlines():  # one outcome line per teacher, then the metrics table
        if line.startswith(("clip ", "text ")):
            status.setdefault(line.split()[0], line.split()[1])
    return status


def test_moved_store_and_videos_stay_cached_and_train_a_student(project, monkeypatch):
    import pipeline.teachers

    a, b = project / "a", project / "b"
    config_a = _config(project / "a.toml", a / "store", a / "ann" / "annotations.jsonl", a / "models" / "clip",
                       a / "models" / "text")
    assert _teachers_run(config_a, "--videos", str(a / "clips")) == {"clip": "computed", "text": "computed"}
    before = stores.Store(a / "store")
    runs_before = {t: r["fingerprint"] for t, r in before.current_runs().items()}
    manifest_before = before.manifest().fingerprint
    with stores.connect(a / "store") as con:
        # no machine path in what the store holds and fingerprints
        assert sorted(p for (p,) in con.execute("SELECT path FROM videos").fetchall()) == [f"{v}.mp4" for v in "abcdef"]
        configs = [c for (c,) in con.execute("SELECT config FROM runs").fetchall()]
    assert configs and not any(str(project) in c for c in configs)

    # move everything to other folders, each somewhere else, and delete the old tree
    (b / "elsewhere").mkdir(parents=True)
    (b / "media").mkdir()
    shutil.move(a / "store", b / "elsewhere" / "store")
    shutil.move(a / "clips", b / "media" / "videos")
    shutil.move(a / "ann", b / "ann")
    shutil.move(a / "models", b / "checkpoints")
    shutil.move(a / "tokenizer", b / "tokenizer")
    shutil.rmtree(a)
    config_b = _config(project / "b.toml", b / "elsewhere" / "store", b / "ann" / "annotations.jsonl",
                       b / "checkpoints" / "clip", b / "checkpoints" / "text")

    built = []
    real_build = pipeline.teachers.build_teacher
    monkeypatch.setattr(pipeline.teachers, "build_teacher", lambda *a_, **k: built.append(a_) or real_build(*a_, **k))
    assert _teachers_run(config_b, "--videos", str(b / "media" / "videos")) == {"clip": "cached", "text": "cached"}
    assert built == []  # no model loaded
    moved = stores.Store(b / "elsewhere" / "store")
    assert moved.manifest().fingerprint == manifest_before
    assert moved.manifest().videos_root == str((b / "media" / "videos").resolve())  # recorded for readers
    assert {t: r["fingerprint"] for t, r in moved.current_runs().items()} == runs_before

    # the student decodes its frames from the moved videos (fresh cache) and distils the moved scores
    from student.config import ExperimentConfig, from_dict
    from student.train import train

    cfg = from_dict(ExperimentConfig, {
        "model": {"tokenizer": str(b / "tokenizer"), "head": "afa", "num_frames": 3, "max_words": 8,
                  "tiny": {"image_size": 32, "patch_size": 16, "hidden_size": 32, "intermediate_size": 64,
                           "layers": 1, "heads": 2, "projection_dim": 32}},
        "data": {"store": str(b / "elsewhere" / "store"), "videos": str(b / "media" / "videos"),
                 "cache": str(project / "cache"), "batch_size": 2, "decode_workers": 1, "eval_batch_size": 8},
        "train": {"steps": 2, "lr": 1e-3, "warmup_steps": 1, "log_every": 1},
        "loss": {"coarse": {"kind": "kl", "teachers": ["clip", "text"]}, "fine": {"weight": 1.0, "teachers": ["clip"]}},
        "output": {"runs": str(project / "runs"), "name": "moved"},
    }).check()
    result = train(cfg)
    assert set(result.teachers) == {"clip", "text"}
    assert {t: r["fingerprint"] for t, r in result.teachers.items()} == runs_before
    frames = [json.loads(p.read_text()) for p in (project / "cache" / "frames").glob("*/videos.json")]
    assert len(frames) == 2 and all(f["failed"] == {} for f in frames)  # every moved video decoded
    assert (result.folder / "metrics.json").is_file() and np.isfinite(result.last_loss)
