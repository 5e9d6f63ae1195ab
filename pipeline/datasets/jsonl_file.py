"""Generic JSON-lines annotations: one object per caption with ``path``, ``caption``,
``split`` and optionally ``video_id``, ``caption_id`` (the bundled demo writes this).

See :mod:`pipeline.datasets.generic` for the fields' meaning.
"""

from __future__ import annotations

import json
from pathlib import Path

from .base import Adapter, Annotations, DatasetError, ManifestOptions
from .generic import annotations_from_rows


def inputs(source: Path, options: ManifestOptions) -> list[Path]:
    if not Path(source).is_file():
        raise DatasetError(f"jsonl: source {source} is not a file")
    return [Path(source)]


def _rows(source: Path):
    with open(source, encoding="utf-8") as f:
        for line, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except ValueError as e:
                raise DatasetError(f"{source}:{line}: not JSON: {e}") from None
            if not isinstance(row, dict):
                raise DatasetError(f"{source}:{line}: expected a JSON object, got {type(row).__name__}")
            yield line, row


def read(source: Path, options: ManifestOptions) -> Annotations:
    return annotations_from_rows(_rows(Path(source)), Path(source))


ADAPTER = Adapter(
    name="jsonl",
    help="JSON lines {path, caption, split[, video_id, caption_id]}; paths relative to the file",
    inputs=inputs,
    read=read,
    videos_by_id=False,
)
