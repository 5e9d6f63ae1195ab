"""VATEX: one JSON file per split, each a list of ``{"videoID": ..., "enCap": [...]}``.

``--source`` is either one such file or a folder of them; a file's split comes from its
name (``vatex_training_v1.0.json`` -> train, ``vatex_validation_v1.0.json`` -> val,
``vatex_public_test_english_v1.1.json`` -> test). Entries without English captions (the
private test set) are dropped and recorded as failures. Caption ids are
``<videoID>#<n>``; videos are found by ``videoID`` under ``--videos``.
"""

from __future__ import annotations

import json
from pathlib import Path

from .base import Adapter, Annotations, CaptionRow, DatasetError, ManifestOptions, VideoRow, clean_text

_SPLIT_WORDS = (("train", "train"), ("val", "val"), ("test", "test"))  # name fragment -> split


def _split_of(path: Path) -> str | None:
    name = path.name.lower()
    for word, split in _SPLIT_WORDS:
        if word in name:
            return split
    return None


def inputs(source: Path, options: ManifestOptions) -> list[Path]:
    source = Path(source)
    if source.is_file():
        files = [source]
    elif source.is_dir():
        files = sorted(p for p in source.glob("*.json") if _split_of(p) is not None)
    else:
        raise DatasetError(f"vatex: source {source} does not exist")
    if not files:
        raise DatasetError(f"vatex: no *.json in {source} with train/val/test in its name")
    seen: dict[str, Path] = {}
    for f in files:
        split = _split_of(f)
        if split is None:
            raise DatasetError(f"vatex: cannot tell the split of {f.name} (needs train, val or test in its name)")
        if split in seen:
            raise DatasetError(f"vatex: two {split} files: {seen[split].name} and {f.name}")
        seen[split] = f
    return files


def read(source: Path, options: ManifestOptions) -> Annotations:
    videos, captions, failures = [], [], []
    for path in inputs(source, options):
        split = _split_of(path)
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise DatasetError(f"{path}: not JSON: {e}") from None
        if not isinstance(entries, list):
            raise DatasetError(f"{path}: expected a list of {{videoID, enCap}}, got {type(entries).__name__}")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or "videoID" not in entry:
                raise DatasetError(f"{path}: entry {i} has no videoID")
            vid = str(entry["videoID"])
            caps = entry.get("enCap") or []
            if not caps:
                failures.append((vid, f"no English captions in {path.name}; video dropped"))
                continue
            videos.append(VideoRow(vid, split))
            captions += [CaptionRow(f"{vid}#{n}", vid, split, clean_text(c)) for n, c in enumerate(caps)]
    return Annotations(videos, captions, failures)


ADAPTER = Adapter(
    name="vatex",
    help="VATEX: JSON lists of {videoID, enCap}, one file per split; --source is a file or folder",
    inputs=inputs,
    read=read,
    videos_by_id=True,
)
