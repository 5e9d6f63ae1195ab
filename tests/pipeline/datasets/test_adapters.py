"""Dataset adapters on small annotation files and tiny videos written here.

Every dataset folder has playable videos, one missing and one corrupt file, so each test
also checks that those become failures with null probe columns, never errors.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import shutil

import pytest
from typer.testing import CliRunner

import stores
from pipeline.datasets import ADAPTERS, DatasetError, build_manifest
from stores import Store
from teachkit.cli import app


def _rows(store_root, sql):
    with stores.connect(store_root) as con:
        return con.execute(sql).fetchall()


def _corrupt(path):
    path.write_bytes(b"\x1a\x45\xdf\xa3 definitely not a video" * 20)
    return path


@pytest.fixture
def msrvtt(tmp_path, write_mp4):
    ann = tmp_path / "msrvtt" / "msrvtt_data"
    ann.mkdir(parents=True)
    vids = tmp_path / "msrvtt" / "videos"
    with open(ann / "MSRVTT_train.9k.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video_id", "extra"])
        w.writerows([[f"video{k}", k] for k in range(4)] + [["video9", 9]])  # video9 has no sentences
    with open(ann / "MSRVTT_train.7k.csv", "w", newline="") as f:
        csv.writer(f).writerows([["video_id"], ["video0"], ["video1"]])
    with open(ann / "MSRVTT_JSFUSION_test.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["key", "vid_key", "video_id", "sentence"])
        w.writerows([["ret0", "msr7", "video7", "a cat  jumps\tover"], ["ret1", "msr8", "video8", "a dog runs"]])
    sentences = [
        {"video_id": f"video{k}", "caption": f"train caption {j} of {k}", "sen_id": 100 * k + j}
        for k in (0, 1, 2, 3, 7, 8)
        for j in range(2)
    ]
    (ann / "MSRVTT_data.json").write_text(json.dumps({"info": {}, "videos": [], "sentences": sentences}))
    write_mp4(vids / "video0.mp4", n_frames=6)
    write_mp4(vids / "video1.mkv", n_frames=7)  # any extension
    write_mp4(vids / "video2.mp4", n_frames=5)
    write_mp4(vids / "sub" / "video7.mp4", n_frames=8)  # nested folders are searched
    _corrupt(vids / "video8.mp4")
    # video3 has no file at all
    return tmp_path / "msrvtt", vids


def test_msrvtt_9k_and_1ka(tmp_path, msrvtt):
    source, vids = msrvtt
    m = build_manifest(tmp_path / "store", "msrvtt", source, vids, progress=False)
    root = tmp_path / "store"
    assert (m.dataset, m.videos, m.captions) == ("msrvtt", 6, 10)
    assert _rows(root, "SELECT video_id, split, frames, round(duration, 3), fps FROM videos ORDER BY video_id") == [
        ("video0", "train", 6, 0.75, 8.0),
        ("video1", "train", 7, 0.875, 8.0),
        ("video2", "train", 5, 0.625, 8.0),
        ("video3", "train", None, None, None),
        ("video7", "test", 8, 1.0, 8.0),
        ("video8", "test", None, None, None),
    ]
    # paths relative to --videos, which the manifest records (stores.videos resolves them)
    assert _rows(root, "SELECT path FROM videos WHERE video_id IN ('video1', 'video7') ORDER BY 1") == [
        ("sub/video7.mp4",), ("video1.mkv",)]
    assert m.videos_root == str(vids.resolve())
    assert _rows(root, "SELECT caption_id, video_id, text FROM captions WHERE split = 'test' ORDER BY 1") == [
        ("ret0", "video7", "a cat jumps over"), ("ret1", "video8", "a dog runs")
    ]
    assert _rows(root, "SELECT caption_id, text FROM captions WHERE video_id = 'video2' ORDER BY 1") == [
        ("200", "train caption 0 of 2"), ("201", "train caption 1 of 2")
    ]
    failures = dict(_rows(root, "SELECT item, error FROM failures"))
    assert set(failures) == {"video3", "video8", "video9"}
    assert "no file named video3.*" in failures["video3"]
    assert "cannot open" in failures["video8"] and "no captions" in failures["video9"]


def test_msrvtt_jsfusion_with_semicolons_and_crlf_reads_the_same(tmp_path, msrvtt):
    """The MSRVTT_JSFUSION_test.csv many repositories share: ';' separators, CRLF, a BOM."""
    source, vids = msrvtt
    test_csv = source / "msrvtt_data" / "MSRVTT_JSFUSION_test.csv"
    comma = build_manifest(tmp_path / "comma", "msrvtt", source, vids, progress=False)
    test_csv.write_bytes(
        "\ufeffkey;vid_key;video_id;sentence\r\nret0;msr7;video7;a cat, jumps over\r\nret1;msr8;video8;a dog runs\r\n"
        .encode("utf-8")
    )
    semi = build_manifest(tmp_path / "semi", "msrvtt", source, vids, progress=False)
    assert (semi.videos, semi.captions) == (comma.videos, comma.captions) == (6, 10)
    assert _rows(tmp_path / "semi", "SELECT caption_id, video_id, text FROM captions WHERE split = 'test' ORDER BY 1") == [
        ("ret0", "video7", "a cat, jumps over"), ("ret1", "video8", "a dog runs")
    ]


def test_failures_say_where_they_come_from_and_name_the_file_once(tmp_path, msrvtt):
    source, vids = msrvtt
    (vids / "video2.mp4").unlink()
    (vids / "video2.mp4").mkdir()  # a folder named like a video
    build_manifest(tmp_path / "store", "msrvtt", source, vids, progress=False)
    failures = {item: (error, src, level) for item, error, src, level in
                _rows(tmp_path / "store", "SELECT item, error, source, level FROM failures")}
    assert failures["video2"] == (f"{(vids / 'video2.mp4').resolve()} is a directory, not a video file",
                                  "manifest", "error")
    error = failures["video8"][0]
    assert error.count(str(vids / "video8.mp4")) == 1 and error.startswith("cannot open video")


def test_msrvtt_7k_and_option_errors(tmp_path, msrvtt):
    source, vids = msrvtt
    m = build_manifest(tmp_path / "store", "msrvtt", source, vids, train_split="7k", progress=False)
    assert _rows(tmp_path / "store", "SELECT split, count(*) FROM videos GROUP BY 1 ORDER BY 1") == [("test", 2), ("train", 2)]
    assert m.captions == 6
    with pytest.raises(DatasetError, match="train_split"):
        build_manifest(tmp_path / "store", "msrvtt", source, vids, train_split="5k", progress=False)
    with pytest.raises(DatasetError, match="train_split"):
        build_manifest(tmp_path / "s2", "msvd", source, vids, train_split="9k", progress=False)
    with pytest.raises(DatasetError, match="--videos"):
        build_manifest(tmp_path / "store", "msrvtt", source, None, progress=False)
    with pytest.raises(DatasetError, match="not one of"):
        build_manifest(tmp_path / "store", "webvid", source, vids, progress=False)


def test_unchanged_source_skips_and_changes_rebuild(tmp_path, msrvtt, write_mp4):
    source, vids = msrvtt
    root = tmp_path / "store"
    first = build_manifest(root, "msrvtt", source, vids, progress=False)
    stamp = (root / "manifest.json").stat().st_mtime_ns
    assert build_manifest(root, "msrvtt", source, vids, progress=False) == first
    assert (root / "manifest.json").stat().st_mtime_ns == stamp  # nothing rewritten

    write_mp4(vids / "video3.mp4", n_frames=4)  # the missing video appears
    second = build_manifest(root, "msrvtt", source, vids, progress=False)
    assert second.fingerprint != first.fingerprint and second.failures == first.failures - 1
    assert _rows(root, "SELECT frames FROM videos WHERE video_id = 'video3'") == [(4,)]

    data = next(source.rglob("MSRVTT_data.json"))
    doc = json.loads(data.read_text())
    doc["sentences"][0]["caption"] = "an edited caption"
    data.write_text(json.dumps(doc))
    third = build_manifest(root, "msrvtt", source, vids, progress=False)
    assert third.fingerprint != second.fingerprint
    assert _rows(root, "SELECT text FROM captions WHERE caption_id = '0'") == [("an edited caption",)]
    forced = build_manifest(root, "msrvtt", source, vids, force=True, progress=False)
    assert forced.fingerprint == third.fingerprint  # same inputs, same manifest


def test_moved_videos_keep_the_manifest(tmp_path, msrvtt):
    """No machine path in either fingerprint: moved videos are the same manifest, recorded anew."""
    source, vids = msrvtt
    root = tmp_path / "store"
    first = build_manifest(root, "msrvtt", source, vids, progress=False)
    moved = tmp_path / "elsewhere" / "videos"
    moved.parent.mkdir()
    shutil.move(vids, moved)  # keeps mtimes: the same source fingerprint, nothing probed
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"none of the 6 video files exists under .*empty .*--videos DIR"):
        build_manifest(root, "msrvtt", source, tmp_path / "empty", progress=False)
    assert Store(root).manifest() == first  # refused, not replaced by a manifest of missing videos
    again = build_manifest(root, "msrvtt", source, moved, progress=False)
    assert (again.fingerprint, again.source) == (first.fingerprint, first.source)
    assert again.videos_root == str(moved.resolve()) != first.videos_root
    assert Store(root).manifest() == again
    copy = tmp_path / "copy"
    shutil.copytree(moved, copy, copy_function=shutil.copy)  # new mtimes: probed again, same manifest
    third = build_manifest(root, "msrvtt", source, copy, progress=False)
    assert third.fingerprint == first.fingerprint and third.source != first.source
    assert third.videos_root == str(copy.resolve())


def test_msvd(tmp_path, write_mp4):
    src = tmp_path / "msvd"
    src.mkdir()
    raw = {
        "clipA_1_5": [["a", "man", "sings"], ["someone", "is", "singing"]],
        "clipB_2_9": [["a", "dog", "barks"]],
        "clipC_0_3": [["a", "car"]],
        "clipD_0_3": [],
    }
    (src / "raw-captions.pkl").write_bytes(pickle.dumps(raw))
    (src / "train_list.txt").write_text("clipA_1_5\nclipD_0_3\n")
    (src / "val_list.txt").write_text("clipB_2_9\n")
    (src / "test_list.txt").write_text("clipC_0_3\n\n")
    vids = tmp_path / "YouTubeClips"
    write_mp4(vids / "clipA_1_5.avi", n_frames=6)
    _corrupt(vids / "clipB_2_9.avi")
    write_mp4(vids / "clipC_0_3.avi", n_frames=3)
    root = tmp_path / "store"
    m = build_manifest(root, "msvd", src, vids, progress=False)
    assert (m.videos, m.captions, m.failures) == (3, 4, 2)
    assert _rows(root, "SELECT caption_id, split, text FROM captions ORDER BY 1") == [
        ("clipA_1_5#0", "train", "a man sings"),
        ("clipA_1_5#1", "train", "someone is singing"),
        ("clipB_2_9#0", "val", "a dog barks"),
        ("clipC_0_3#0", "test", "a car"),
    ]
    assert _rows(root, "SELECT video_id, frames FROM videos ORDER BY 1") == [
        ("clipA_1_5", 6), ("clipB_2_9", None), ("clipC_0_3", 3)
    ]
    assert dict(_rows(root, "SELECT item, error FROM failures"))["clipD_0_3"].startswith("no captions")


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_msvd_pickle_cannot_run_code(tmp_path, monkeypatch):
    src = tmp_path / "msvd"
    src.mkdir()
    (src / "raw-captions.pkl").write_bytes(pickle.dumps({"x": _Evil()}))
    for name in ("train_list.txt", "val_list.txt", "test_list.txt"):
        (src / name).write_text("x\n")
    (tmp_path / "v").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match="only plain dicts"):
        build_manifest(tmp_path / "store", "msvd", src, tmp_path / "v", progress=False)
    assert not (tmp_path / "pwned").exists()


def _vatex_files(folder):
    folder.mkdir(parents=True)
    (folder / "vatex_training_v1.0.json").write_text(json.dumps([
        {"videoID": "yt1_000001_000011", "enCap": ["A person cooks.", "Someone is cooking food."], "chCap": ["..."]},
        {"videoID": "yt2_000005_000015", "enCap": ["Kids play."]},
    ]))
    (folder / "vatex_validation_v1.0.json").write_text(json.dumps([{"videoID": "yt3_000000_000010", "enCap": ["A dog."]}]))
    (folder / "vatex_public_test_english_v1.1.json").write_text(json.dumps([
        {"videoID": "yt4_000000_000010", "enCap": ["A bird sings."]},
        {"videoID": "yt5_000000_000010"},  # private test: no English captions
    ]))


def test_vatex_folder_and_single_file(tmp_path, write_mp4):
    _vatex_files(tmp_path / "vatex")
    vids = tmp_path / "vids"
    write_mp4(vids / "yt1_000001_000011.mp4", n_frames=5)
    write_mp4(vids / "yt3_000000_000010.mp4", n_frames=5)
    write_mp4(vids / "yt4_000000_000010.mp4", n_frames=5)
    _corrupt(vids / "yt2_000005_000015.mp4")
    root = tmp_path / "store"
    m = build_manifest(root, "vatex", tmp_path / "vatex", vids, progress=False)
    assert (m.videos, m.captions, m.failures) == (4, 5, 2)
    assert _rows(root, "SELECT split, count(*) FROM videos GROUP BY 1 ORDER BY 1") == [("test", 1), ("train", 2), ("val", 1)]
    assert _rows(root, "SELECT caption_id, text FROM captions WHERE video_id = 'yt1_000001_000011' ORDER BY 1") == [
        ("yt1_000001_000011#0", "A person cooks."), ("yt1_000001_000011#1", "Someone is cooking food.")
    ]
    assert set(dict(_rows(root, "SELECT item, error FROM failures"))) == {"yt2_000005_000015", "yt5_000000_000010"}

    single = build_manifest(tmp_path / "s2", "vatex", tmp_path / "vatex" / "vatex_validation_v1.0.json", vids, progress=False)
    assert (single.videos, single.captions, single.failures) == (1, 1, 0)
    (tmp_path / "vatex" / "vatex_train_extra.json").write_text("[]")
    with pytest.raises(DatasetError, match="two train files"):
        build_manifest(tmp_path / "s3", "vatex", tmp_path / "vatex", vids, progress=False)


def _generic_rows():
    return [
        {"path": "clips/a.mp4", "caption": "a red ball", "split": "train"},
        {"path": "clips/a.mp4", "caption": "a ball that is red", "split": "train"},
        {"path": "clips/b.mp4", "caption": "a blue cube", "split": "test", "video_id": "cube", "caption_id": "q1"},
        {"path": "clips/bad.mp4", "caption": "broken", "split": "test"},
        {"path": "clips/gone.mp4", "caption": "missing", "split": "test"},
    ]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_generic_csv_and_jsonl(tmp_path, write_mp4, fmt):
    data = tmp_path / "data"
    write_mp4(data / "clips" / "a.mp4", n_frames=6)
    write_mp4(data / "clips" / "b.mp4", n_frames=4)
    _corrupt(data / "clips" / "bad.mp4")
    rows = _generic_rows()
    src = data / f"ann.{fmt}"
    if fmt == "csv":
        with open(src, "w", newline="") as f:
            w = csv.DictWriter(f, ["path", "caption", "split", "video_id", "caption_id"])
            w.writeheader()
            w.writerows(rows)
    else:
        src.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    root = tmp_path / "store"
    m = build_manifest(root, fmt, src, progress=False)
    assert (m.dataset, m.videos, m.captions, m.failures) == (fmt, 4, 5, 2)
    assert _rows(root, "SELECT caption_id, video_id, split FROM captions ORDER BY 1") == [
        ("a#0", "a", "train"), ("a#1", "a", "train"), ("bad#0", "bad", "test"), ("gone#0", "gone", "test"),
        ("q1", "cube", "test"),
    ]
    assert _rows(root, "SELECT video_id, path, frames FROM videos ORDER BY 1") == [
        ("a", "clips/a.mp4", 6), ("bad", "clips/bad.mp4", None), ("cube", "clips/b.mp4", 4),
        ("gone", "clips/gone.mp4", None),
    ]
    assert m.videos_root == str(data.resolve())  # relative to the annotation file's folder
    # --videos re-bases relative paths
    moved = tmp_path / "elsewhere"
    write_mp4(moved / "clips" / "a.mp4", n_frames=3)
    m2 = build_manifest(tmp_path / "s2", fmt, src, moved, progress=False)
    assert m2.failures == 3 and m2.videos_root == str(moved.resolve())
    assert _rows(tmp_path / "s2", "SELECT frames FROM videos WHERE video_id = 'a'") == [(3,)]


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"path": "a.mp4", "split": "train"}], "missing 'caption'"),
        ([{"path": "a.mp4", "caption": "x", "split": "tr/ain"}], "split name"),
        ([{"path": "a.mp4", "caption": "x", "split": "train"}, {"path": "a.mp4", "caption": "y", "split": "test"}],
         "two splits"),
        ([{"path": "a.mp4", "caption": "x", "split": "train", "caption_id": "c"},
          {"path": "b.mp4", "caption": "y", "split": "train", "caption_id": "c"}], "already used on line 1"),
        ([{"path": "x/a.mp4", "caption": "x", "split": "train"}, {"path": "y/a.mp4", "caption": "y", "split": "train"}],
         "two paths"),
    ],
)
def test_generic_refusals_name_the_line(tmp_path, rows, message):
    src = tmp_path / "ann.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(DatasetError, match=message):
        build_manifest(tmp_path / "store", "jsonl", src, progress=False)
    src.write_text('{"path": "a.mp4"\n')
    with pytest.raises(DatasetError, match="ann.jsonl:1: not JSON"):
        build_manifest(tmp_path / "store", "jsonl", src, progress=False)


def test_registry_is_explicit():
    assert sorted(ADAPTERS) == ["csv", "jsonl", "msrvtt", "msvd", "vatex"]
    assert {n for n, a in ADAPTERS.items() if a.videos_by_id} == {"msrvtt", "msvd", "vatex"}


def test_cli_prints_counts_then_up_to_date(tmp_path, msrvtt):
    source, vids = msrvtt
    args = ["data", "manifest", "--dataset", "msrvtt", "--source", str(source), "--videos", str(vids),
            "--store", str(tmp_path / "store"), "--workers", "2"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "built" in lines[0]
    assert lines[2].split() == ["test", "2", "2", "1"] and lines[3].split() == ["train", "4", "8", "1"]
    assert "failures: 3" in r.stdout and "video3" in r.stdout
    assert f"videos root: {vids.resolve()} (the manifest's video paths are relative to it)" in r.stdout
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "up to date" in again.stdout.splitlines()[0]
    bad = CliRunner().invoke(app, args[:-2] + ["--train-split", "5k"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: train_split")


def test_config_train_split_reaches_the_manifest(tmp_path, msrvtt):
    from pipeline.config import parse_config
    from pipeline.run.prepare import ensure_manifest

    source, vids = msrvtt
    raw = {
        "store": {"root": str(tmp_path / "store")},
        "dataset": {"adapter": "msrvtt", "source": str(source), "videos": str(vids), "train_split": "7k"},
        "teachers": [{"name": "t", "kind": "imported"}],
    }
    m = ensure_manifest(parse_config(raw, base=tmp_path), log=lambda *_: None)
    assert m.captions == 6  # 7k: video0 and video1 (2 captions each) + the 2 JSFUSION test captions
    assert _rows(tmp_path / "store", "SELECT video_id FROM videos WHERE split = 'train' ORDER BY 1") == [
        ("video0",), ("video1",)
    ]
    raw["dataset"] |= {"adapter": "msvd"}
    with pytest.raises(DatasetError, match="train_split"):
        ensure_manifest(parse_config(raw, base=tmp_path), log=lambda *_: None)
