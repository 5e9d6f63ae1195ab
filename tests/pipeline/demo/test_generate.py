"""The demo dataset as written to disk: files, captions checked against pixels, noise, reruns."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from pipeline.demo import DemoError, DemoOptions, generate
from pipeline.demo.scenes import Scene
from pipeline.demo.vocab import COLOURS, colour_of_word
from teachkit.util.media import decode_frames, probe

SMALL = DemoOptions(train_videos=12, test_videos=8)
PALETTE = np.array(list(COLOURS.values()), dtype=float)
NAMES = list(COLOURS)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("demo") / "demo", SMALL, log=lambda m: None).out


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "annotations.jsonl").read_text().splitlines()]


def _truth(out: Path) -> dict:
    return json.loads((out / "ground_truth.json").read_text())


def _colour_pixels(frames: np.ndarray) -> np.ndarray:
    """(frames, colours): pixels nearest to each palette colour (within 60 in RGB)."""
    d = np.linalg.norm(frames[..., None, :].astype(float) - PALETTE, axis=-1)
    near, nearest = d.min(-1) < 60, d.argmin(-1)
    return np.stack([((nearest == c) & near).sum(axis=(1, 2)) for c in range(len(NAMES))], axis=1)


def _frames(out: Path, video_id: str) -> np.ndarray:
    sampled = decode_frames(out / "videos" / f"{video_id}.mp4", SMALL.frames)
    assert sampled.mask.all()
    return sampled.frames


def test_files_decode_at_the_right_size_and_length(demo):
    rows = _rows(demo)
    videos = sorted({r["video_id"] for r in rows})
    assert len(videos) == 20 and all(re.fullmatch(r"demo\d{5}", v) for v in videos)
    for v in videos:
        info = probe(demo / "videos" / f"{v}.mp4")
        assert (info.frames, info.fps) == (24, 8.0)
        frames = _frames(demo, v)
        assert frames.shape == (24, 64, 64, 3) and frames.dtype == np.uint8


def test_annotation_rows_follow_the_contract(demo):
    rows = _rows(demo)
    assert all(set(r) == {"video_id", "caption_id", "path", "caption", "split"} for r in rows)
    assert sum(r["split"] == "train" for r in rows) == 12 * 4
    assert sum(r["split"] == "test" for r in rows) == 8 * 2
    for r in rows:
        assert r["caption_id"].startswith(r["video_id"] + "#")
        assert r["path"] == f"videos/{r['video_id']}.mp4" and (demo / r["path"]).is_file()
    ids = [r["caption_id"] for r in rows]
    assert len(set(ids)) == len(ids)
    info = json.loads((demo / "demo.json").read_text())
    assert info["options"] == SMALL.to_json() and len(info["fingerprint"]) == 64


def test_correct_captions_name_exactly_the_colours_in_the_pixels(demo):
    """Named colours fill whole shapes in the event frames; others show at most a few pixels.

    (A few: H.264 keeps colour at half resolution, so a dark edge of a yellow shape can
    read as orange; on the full default dataset such strays stay under 15 pixels a frame,
    while a shape covers 35 or more.)"""
    truth = _truth(demo)
    counts_of = {v: _colour_pixels(_frames(demo, v)) for v in truth["videos"]}
    for row in _rows(demo):
        gt = truth["captions"][row["caption_id"]]
        if gt["wrong"]:
            continue
        named = {c for w in re.findall(r"[a-z]+", row["caption"]) if (c := colour_of_word(w))}
        counts = counts_of[row["video_id"]]
        event_frames = sorted({f for e in gt["events"] for f in e["frames"]})
        for c in named:
            assert counts[event_frames, NAMES.index(c)].max() >= 30, (row["caption"], c)
        for c in set(NAMES) - named:
            assert counts[:, NAMES.index(c)].max() <= 20, (row["caption"], c)


def _mask(frame: np.ndarray, colour: str) -> np.ndarray:
    d = np.linalg.norm(frame[..., None, :].astype(float) - PALETTE, axis=-1)
    return (d.argmin(-1) == NAMES.index(colour)) & (d.min(-1) < 60)


def test_ground_truth_frames_show_each_event(demo):
    """The first and last frame the ground truth names for an event show its change.

    "Absent" allows a few pixels: anti-aliased edges of another colour can come close."""
    truth = _truth(demo)
    checked = set()
    for vid, v in truth["videos"].items():
        frames = _frames(demo, vid)
        scene = Scene.from_json(v["scene"])
        for k, e in enumerate(v["events"]):
            colour = scene.colours_at(k)[e["object"]]
            first, last = frames[e["frames"][0]], frames[e["frames"][-1]]
            a, b = _mask(first, colour), _mask(last, e["param"] if e["action"] == "recolour" else colour)
            if e["action"] == "move":
                ys, xs = np.nonzero(a)
                ye, xe = np.nonzero(b)
                shift = {"left": xs.mean() - xe.mean(), "right": xe.mean() - xs.mean(),
                         "up": ys.mean() - ye.mean(), "down": ye.mean() - ys.mean()}[e["param"]]
                assert shift > 8, (vid, e)
            elif e["action"] == "grow":
                assert b.sum() > 1.4 * a.sum(), (vid, e)
            elif e["action"] == "shrink":
                assert b.sum() < 0.75 * a.sum(), (vid, e)
            elif e["action"] == "appear":
                assert a.sum() <= 5 and b.sum() > 30, (vid, e)
            elif e["action"] == "disappear":
                assert a.sum() > 30 and b.sum() <= 5, (vid, e)
            elif e["action"] == "blink":
                sizes = [_mask(frames[f], colour).sum() for f in e["frames"]]
                assert min(sizes) <= 5 and max(sizes) > 30, (vid, e)
            elif e["action"] == "recolour":
                assert a.sum() > 30 and b.sum() > 30 and _mask(last, colour).sum() <= 5, (vid, e)
            checked.add(e["action"])
    assert len(checked) >= 5  # the small set covers most of the vocabulary


def test_test_content_is_unique_and_held_out(demo):
    truth = _truth(demo)
    keys = {s: [Scene.from_json(v["scene"]).key() for v in truth["videos"].values() if v["split"] == s]
            for s in ("train", "test")}
    assert len(set(keys["test"])) == len(keys["test"]) == 8
    assert not set(keys["test"]) & set(keys["train"])


def test_noise_is_exact_and_only_in_train(demo):
    truth, rows = _truth(demo), _rows(demo)
    wrong = [r for r in rows if truth["captions"][r["caption_id"]]["wrong"]]
    for r in rows:
        gt = truth["captions"][r["caption_id"]]
        if not gt["wrong"]:  # a correct caption's events are the video's, frames and all
            assert gt["described"] == truth["videos"][r["video_id"]]["scene"]
            assert [e["frames"] for e in gt["events"]] == [e["frames"] for e in truth["videos"][r["video_id"]]["events"]]
    train = [r for r in rows if r["split"] == "train"]
    assert len(wrong) == round(SMALL.noise * len(train)) == 5
    assert all(r["split"] == "train" for r in wrong)
    for r in wrong:
        gt = truth["captions"][r["caption_id"]]
        video = truth["videos"][r["video_id"]]
        assert gt["described"] != video["scene"] and gt["description"] != gt["correct_description"]
        assert gt["correct_description"] == video["description"]
        # a wrong caption never matches all of the video's events
        assert any(e["frames"] is None for e in gt["events"]) or gt["noise"] in ("order", "colour", "shape")


def test_same_seed_same_dataset_other_seed_other_dataset(demo, tmp_path):
    again = generate(tmp_path / "again", SMALL, log=lambda m: None).out
    assert (again / "annotations.jsonl").read_bytes() == (demo / "annotations.jsonl").read_bytes()
    assert (again / "ground_truth.json").read_bytes() == (demo / "ground_truth.json").read_bytes()
    for v in ("demo00000", "demo00013"):
        np.testing.assert_array_equal(_frames(again, v), _frames(demo, v))
    assert json.loads((again / "demo.json").read_text())["fingerprint"] == json.loads(
        (demo / "demo.json").read_text())["fingerprint"]
    other = generate(tmp_path / "other", DemoOptions(seed=1, train_videos=12, test_videos=8), log=lambda m: None).out
    assert (other / "annotations.jsonl").read_text() != (demo / "annotations.jsonl").read_text()


def test_pool_writes_the_same_files(tmp_path):
    options = DemoOptions(train_videos=6, test_videos=4)
    one = generate(tmp_path / "one", options, log=lambda m: None).info
    two = generate(tmp_path / "two", options, workers=2, log=lambda m: None).info
    assert one["fingerprint"] == two["fingerprint"]


def test_rerun_says_exists_and_other_options_need_force(tmp_path):
    from typer.testing import CliRunner

    from teachkit.cli import app

    out = tmp_path / "demo"
    args = ["data", "demo", "--out", str(out), "--train-videos", "4", "--test-videos", "2", "--workers", "1"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == str(out)
    stamp = (out / "demo.json").stat().st_mtime_ns
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "exists (same options" in again.output
    assert (out / "demo.json").stat().st_mtime_ns == stamp
    other = CliRunner().invoke(app, args + ["--seed", "3"])
    assert other.exit_code == 2 and "seed" in other.output and "--force" in other.output
    forced = CliRunner().invoke(app, args + ["--seed", "3", "--force"])
    assert forced.exit_code == 0, forced.output
    assert json.loads((out / "demo.json").read_text())["seed"] == 3
    assert not list(tmp_path.glob(".demo.*"))
    # a demo drawn by an older generator is replaced, no --force needed
    info = json.loads((out / "demo.json").read_text())
    (out / "demo.json").write_text(json.dumps({**info, "version": info["version"] - 1}))
    older = CliRunner().invoke(app, args + ["--seed", "3"])
    assert older.exit_code == 0 and "exists (same options" not in older.output
    assert json.loads((out / "demo.json").read_text()) == info


def test_interrupted_output_is_not_taken_for_a_dataset(tmp_path):
    out = tmp_path / "demo"
    (out / "videos").mkdir(parents=True)
    (out / "annotations.jsonl").write_text("")  # what a crash before demo.json could leave
    (tmp_path / ".demo.999999999.tmp").mkdir()  # the temporary folder of a crashed run
    options = DemoOptions(train_videos=3, test_videos=2)
    with pytest.raises(DemoError, match="not a complete demo"):
        generate(out, options, log=lambda m: None)
    result = generate(out, options, force=True, log=lambda m: None)
    assert result.created and len(_rows(out)) == 3 * 4 + 2 * 2
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]
    stranger = tmp_path / "notes"
    stranger.mkdir()
    (stranger / "todo.txt").write_text("mine")
    with pytest.raises(DemoError, match="pick an empty or new folder"):
        generate(stranger, options, force=True, log=lambda m: None)
    assert (stranger / "todo.txt").read_text() == "mine"


@pytest.mark.parametrize(("field", "value"), [("size", 50), ("noise", 1.5), ("frames", 4), ("train_videos", 0)])
def test_bad_options_name_the_field(field, value):
    with pytest.raises(DemoError, match=field):
        DemoOptions(**{field: value}).validate()
