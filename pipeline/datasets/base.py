"""What a dataset adapter is and returns.

An adapter turns a dataset's own annotation files into plain rows (:class:`Annotations`);
it never touches the store or the video files. :mod:`pipeline.datasets.build` finds and
probes the videos and writes the manifest, so every adapter gets the same failure handling,
fingerprinting and skip logic.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stores import check_name
from teachkit.util.errors import InputError


class DatasetError(InputError, ValueError):
    """Annotation files that cannot be read as the adapter expects (message names the file)."""


@dataclass(frozen=True)
class ManifestOptions:
    """Options some adapters take; the adapter lists those it understands in ``Adapter.options``."""

    train_split: str | None = None  # msrvtt: "9k" (default) or "7k"


@dataclass(frozen=True)
class VideoRow:
    video_id: str
    split: str
    path: str | None = None  # as written in the annotations; None: found by id under --videos


@dataclass(frozen=True)
class CaptionRow:
    caption_id: str
    video_id: str
    split: str
    text: str


@dataclass
class Annotations:
    videos: list[VideoRow]
    captions: list[CaptionRow]
    failures: list[tuple[str, str]] = field(default_factory=list)  # (item, reason): dropped rows
    base: Path | None = None  # folder that relative ``VideoRow.path`` values are relative to


@dataclass(frozen=True)
class Adapter:
    """One dataset format: ``inputs`` lists its annotation files without parsing them (the
    source fingerprint hashes them, so an unchanged dataset is skipped quickly), ``read``
    parses them. ``videos_by_id`` adapters need ``--videos`` and find ``<video_id>.<ext>``
    there; the others read each video's path from the annotations."""

    name: str
    help: str
    inputs: Callable[[Path, ManifestOptions], list[Path]]
    read: Callable[[Path, ManifestOptions], Annotations]
    videos_by_id: bool
    options: frozenset[str] = frozenset()


def find_file(source: Path, name: str) -> Path:
    """``name`` in ``source`` or up to two folders below it (the layouts datasets ship in)."""
    source = Path(source)
    if source.is_file():
        if source.name == name:
            return source
        source = source.parent
    for pattern in (name, f"*/{name}", f"*/*/{name}"):
        hits = sorted(source.glob(pattern))
        if hits:
            return hits[0]
    raise DatasetError(f"cannot find {name} in {source} (searched two folders deep)")


def require_folder(source: Path, dataset: str) -> Path:
    if not Path(source).exists():
        raise DatasetError(f"{dataset}: source {source} does not exist")
    return Path(source)


#: delimiters annotation CSVs are found with (the widely shared MSRVTT_JSFUSION_test.csv uses ';')
CSV_DELIMITERS = (",", ";", "\t", "|")


def csv_reader(f, path: Path, columns: tuple[str, ...]) -> csv.DictReader:
    """A ``DictReader`` over an open annotation CSV, its delimiter taken from the header line.

    The header is the one line without free text, so the delimiter is the candidate that
    splits it into the most fields (captions are free to contain any of them). Line endings
    (LF or CRLF) are handled by opening with ``newline=""``. ``columns`` must all be present.
    """
    header = f.readline()
    f.seek(0)
    delimiter = max(CSV_DELIMITERS, key=lambda d: len(header.split(d)))
    reader = csv.DictReader(f, delimiter=delimiter)
    fields = [n.strip() for n in (reader.fieldnames or [])]
    reader.fieldnames = fields
    missing = [c for c in columns if c not in fields]
    if missing:
        raise DatasetError(f"{path}: missing columns {missing} (the header has {fields})")
    return reader


def clean_text(text) -> str:
    """Captions as one line with single spaces (tabs and newlines in a caption break CSV users)."""
    return re.sub(r"\s+", " ", str(text)).strip()


def check_split(split: str, where: str) -> str:
    try:
        return check_name("split", split)
    except ValueError as e:
        raise DatasetError(f"{where}: {e}") from None
