"""MSVD in the layout CLIP4Clip uses.

``raw-captions.pkl`` maps each video id to its captions as token lists
(``{"-4wsuPCjDBc_5_15": [["a", "man", "is", ...], ...]}``); ``train_list.txt``,
``val_list.txt`` and ``test_list.txt`` hold one video id per line (1,200 / 100 / 670
videos). Caption ids are ``<video_id>#<n>``, ``n`` counting the video's captions from 0 in
the pickle's order. The videos (``YouTubeClips/*.avi``) are found by id under ``--videos``.

The pickle is read with an unpickler that builds only plain lists, dicts and strings:
loading a downloaded pickle must not be able to run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from .base import Adapter, Annotations, CaptionRow, DatasetError, ManifestOptions, VideoRow, clean_text, find_file

CAPTIONS_FILE = "raw-captions.pkl"
SPLIT_FILES = {"train": "train_list.txt", "val": "val_list.txt", "test": "test_list.txt"}


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise DatasetError(
            f"{CAPTIONS_FILE} refers to {module}.{name}; only plain dicts, lists and strings are read"
        )


def inputs(source: Path, options: ManifestOptions) -> list[Path]:
    return [find_file(source, CAPTIONS_FILE)] + [find_file(source, f) for f in SPLIT_FILES.values()]


def _caption(tokens) -> str:
    return clean_text(" ".join(map(str, tokens)) if isinstance(tokens, (list, tuple)) else tokens)


def read(source: Path, options: ManifestOptions) -> Annotations:
    captions_pkl, *lists = inputs(source, options)
    try:
        with open(captions_pkl, "rb") as f:
            raw = _PlainUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError) as e:
        raise DatasetError(f"{captions_pkl}: not a readable pickle: {e}") from None
    if not isinstance(raw, dict):
        raise DatasetError(f"{captions_pkl}: expected a dict video_id -> captions, got {type(raw).__name__}")

    videos, captions, failures = [], [], []
    for split, path in zip(SPLIT_FILES, lists):
        ids = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        for vid in dict.fromkeys(ids):
            caps = raw.get(vid)
            if not caps:
                failures.append((vid, f"no captions in {CAPTIONS_FILE}; video dropped"))
                continue
            videos.append(VideoRow(vid, split))
            captions += [CaptionRow(f"{vid}#{n}", vid, split, _caption(c)) for n, c in enumerate(caps)]
    return Annotations(videos, captions, failures)


ADAPTER = Adapter(
    name="msvd",
    help="MSVD: raw-captions.pkl + train/val/test_list.txt; --source is their folder",
    inputs=inputs,
    read=read,
    videos_by_id=True,
)
