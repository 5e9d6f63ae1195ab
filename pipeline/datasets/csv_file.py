"""Generic CSV annotations: a header row with ``path,caption,split[,video_id,caption_id]``.

See :mod:`pipeline.datasets.generic` for the columns' meaning.
"""

from __future__ import annotations

from pathlib import Path

from .base import Adapter, Annotations, DatasetError, ManifestOptions, csv_reader
from .generic import REQUIRED, annotations_from_rows


def inputs(source: Path, options: ManifestOptions) -> list[Path]:
    if not Path(source).is_file():
        raise DatasetError(f"csv: source {source} is not a file")
    return [Path(source)]


def read(source: Path, options: ManifestOptions) -> Annotations:
    with open(source, newline="", encoding="utf-8-sig") as f:
        reader = csv_reader(f, Path(source), tuple(REQUIRED))
        # line numbers as an editor shows them: the header is line 1
        return annotations_from_rows(((reader.line_num, row) for row in reader), Path(source))


ADAPTER = Adapter(
    name="csv",
    help="CSV with columns path,caption,split[,video_id,caption_id]; paths relative to the file",
    inputs=inputs,
    read=read,
    videos_by_id=False,
)
