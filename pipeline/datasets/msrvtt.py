"""MSR-VTT with the splits CLIP4Clip and its successors report.

Train: the 9k split (``MSRVTT_train.9k.csv``, 9,000 videos) or the 7k split
(``MSRVTT_train.7k.csv``), each video with its 20 captions from ``MSRVTT_data.json``
(``sentences``: ``{video_id, caption, sen_id}``); caption ids are the ``sen_id`` values.
Test: 1k-A (``MSRVTT_JSFUSION_test.csv``: ``key,vid_key,video_id,sentence``; the copy many
repositories share uses ``;`` and CRLF, found from the header), one caption per video; caption ids are the ``key`` values (``ret0`` ... ``ret999``), so a matrix
exported in the CSV's row order can be imported with ``cut -d, -f1``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from .base import (
    Adapter, Annotations, CaptionRow, DatasetError, ManifestOptions, VideoRow, clean_text, csv_reader, find_file,
)

TRAIN_FILES = {"9k": "MSRVTT_train.9k.csv", "7k": "MSRVTT_train.7k.csv"}
TEST_FILE = "MSRVTT_JSFUSION_test.csv"
DATA_FILE = "MSRVTT_data.json"


def _train_split(options: ManifestOptions) -> str:
    split = options.train_split or "9k"
    if split not in TRAIN_FILES:
        raise DatasetError(f"train_split: msrvtt has {sorted(TRAIN_FILES)}, got {split!r}")
    return split


def inputs(source: Path, options: ManifestOptions) -> list[Path]:
    return [
        find_file(source, TRAIN_FILES[_train_split(options)]),
        find_file(source, TEST_FILE),
        find_file(source, DATA_FILE),
    ]


def _csv_rows(path: Path, columns: tuple[str, ...]) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv_reader(f, path, columns))


def read(source: Path, options: ManifestOptions) -> Annotations:
    train_csv, test_csv, data_json = inputs(source, options)
    train_ids = list(dict.fromkeys(r["video_id"].strip() for r in _csv_rows(train_csv, ("video_id",))))
    test_rows = _csv_rows(test_csv, ("key", "video_id", "sentence"))
    try:
        sentences = json.loads(data_json.read_text(encoding="utf-8"))["sentences"]
    except (ValueError, KeyError, TypeError) as e:
        raise DatasetError(f"{data_json}: expected a JSON object with 'sentences': {e}") from None

    by_video: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for i, s in enumerate(sentences):
        try:
            by_video[s["video_id"]].append((str(s.get("sen_id", i)), clean_text(s["caption"])))
        except (KeyError, TypeError):
            raise DatasetError(f"{data_json}: sentence {i} lacks video_id/caption: {s!r}") from None

    videos, captions, failures = [], [], []
    for vid in train_ids:
        caps = by_video.get(vid)
        if not caps:
            failures.append((vid, f"no captions in {DATA_FILE}; video dropped"))
            continue
        videos.append(VideoRow(vid, "train"))
        captions += [CaptionRow(cid, vid, "train", text) for cid, text in caps]
    test_videos: dict[str, None] = {}
    for r in test_rows:
        vid = r["video_id"].strip()
        test_videos.setdefault(vid)
        captions.append(CaptionRow(r["key"].strip(), vid, "test", clean_text(r["sentence"])))
    overlap = sorted(set(test_videos) & {v.video_id for v in videos})
    if overlap:
        raise DatasetError(f"{test_csv}: test videos also in {train_csv.name}, e.g. {overlap[:3]}")
    videos += [VideoRow(vid, "test") for vid in test_videos]
    return Annotations(videos, captions, failures)


ADAPTER = Adapter(
    name="msrvtt",
    help="MSR-VTT: 9k/7k train split + 1k-A (JSFUSION) test; --source is the annotation folder",
    inputs=inputs,
    read=read,
    videos_by_id=True,
    options=frozenset({"train_split"}),
)
