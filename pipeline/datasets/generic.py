"""Rows shared by the generic ``csv`` and ``jsonl`` adapters.

One row per caption with ``path`` (the video file, relative to the annotation file's
folder, or to ``--videos`` when given), ``caption`` and ``split``; optional ``video_id``
(default: the file name without extension) and ``caption_id`` (default:
``<video_id>#<n>``, ``n`` counting that video's captions from 0 in file order).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .base import Annotations, CaptionRow, DatasetError, VideoRow, check_split, clean_text

REQUIRED = ("path", "caption", "split")


def _field(row: dict, name: str, where: str) -> str:
    value = row.get(name)
    if value is None or str(value).strip() == "":
        raise DatasetError(f"{where}: missing {name!r} (rows need {', '.join(REQUIRED)})")
    return str(value).strip()


def annotations_from_rows(rows: Iterable[tuple[int, dict]], source: Path) -> Annotations:
    """Turn ``(line number, row)`` pairs into :class:`Annotations`, checking consistency."""
    videos: dict[str, VideoRow] = {}
    captions: list[CaptionRow] = []
    seen_captions: dict[str, int] = {}
    counts: dict[str, int] = {}
    for line, row in rows:
        where = f"{source}:{line}"
        path = _field(row, "path", where)
        split = check_split(_field(row, "split", where), where)
        text = clean_text(_field(row, "caption", where))
        vid = str(row.get("video_id") or "").strip() or Path(path).stem
        prev = videos.get(vid)
        if prev is None:
            videos[vid] = VideoRow(vid, split, path)
        elif prev.path != path:
            raise DatasetError(f"{where}: video {vid!r} has two paths: {prev.path!r} and {path!r}")
        elif prev.split != split:
            raise DatasetError(f"{where}: video {vid!r} is in two splits: {prev.split!r} and {split!r}")
        n = counts.get(vid, 0)
        counts[vid] = n + 1
        cid = str(row.get("caption_id") or "").strip() or f"{vid}#{n}"
        if cid in seen_captions:
            raise DatasetError(f"{where}: caption_id {cid!r} already used on line {seen_captions[cid]}")
        seen_captions[cid] = line
        captions.append(CaptionRow(cid, vid, split, text))
    if not captions:
        raise DatasetError(f"{source}: no rows")
    return Annotations(list(videos.values()), captions, [], base=Path(source).parent)
