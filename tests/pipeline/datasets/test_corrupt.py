"""``teachkit data corrupt``: NCR's shuffle on a small jsonl dataset, read back through the adapter."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import stores
from pipeline.datasets import build_manifest
from pipeline.datasets.corrupt import corrupt_captions
from teachkit.cli import app


@pytest.fixture
def dataset(tmp_path, write_mp4):
    data = tmp_path / "data"
    rows = []
    for i in range(6):
        write_mp4(data / f"v{i}.mp4", n_frames=4)
        rows += [{"path": f"v{i}.mp4", "caption": f"video {i} caption {j}", "split": "train",
                  "video_id": f"v{i}", "caption_id": f"v{i}#{j}"} for j in range(3)]
    write_mp4(data / "q.mp4", n_frames=4)
    rows.append({"path": "q.mp4", "caption": "a test caption", "split": "test", "video_id": "q", "caption_id": "q#0"})
    src = data / "ann.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    build_manifest(tmp_path / "store", "jsonl", src, progress=False)
    return tmp_path


def _captions(root):
    with stores.connect(root) as con:
        return {c: (v, s, t) for c, v, s, t in con.execute("SELECT caption_id, video_id, split, text FROM captions").fetchall()}


def test_corrupt_moves_a_fraction_to_other_videos_and_records_which(dataset):
    out, rec = dataset / "noisy.jsonl", dataset / "noisy.truth.json"
    r = CliRunner().invoke(app, ["data", "corrupt", "--fraction", "0.34", "--store", str(dataset / "store"),
                                 "--out", str(out), "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert "6 train captions moved" in r.output
    record = json.loads(rec.read_text())
    moved = record["captions"]
    assert len(moved) == round(0.34 * 18) == 6
    before = _captions(dataset / "store")
    build_manifest(dataset / "noisy_store", "jsonl", out, progress=False)
    after = _captions(dataset / "noisy_store")
    assert set(after) == set(before)
    for cid, (vid, split, text) in after.items():
        if cid in moved:
            assert vid == moved[cid]["video_id"] != moved[cid]["original_video_id"] == before[cid][0]
            assert (split, text, moved[cid]["noise"], moved[cid]["wrong"]) == ("train", before[cid][2], "other_video", True)
        else:
            assert (vid, split, text) == before[cid]  # everything else, the test split included, is untouched
    # the moved captions are a permutation of their videos (NCR shuffles within the picked set)
    assert sorted(m["video_id"] for m in moved.values()) == sorted(m["original_video_id"] for m in moved.values())


def test_corrupt_is_seeded_and_refuses_bad_fractions(dataset):
    rows = [{"caption_id": f"v{i}#{j}", "video_id": f"v{i}", "split": "train"} for i in range(5) for j in range(4)]
    assert corrupt_captions(rows, 0.5, seed=1) == corrupt_captions(rows, 0.5, seed=1)
    assert corrupt_captions(rows, 0.5, seed=1) != corrupt_captions(rows, 0.5, seed=2)
    for bad in ("0", "1.5"):
        r = CliRunner().invoke(app, ["data", "corrupt", "--fraction", bad, "--store", str(dataset / "store"),
                                     "--out", str(dataset / "x.jsonl")])
        assert r.exit_code == 2 and "--fraction must be in (0, 1)" in r.output
    assert not (dataset / "x.jsonl").exists()
