"""Dataset adapters: annotation files -> the store's ``videos`` and ``captions`` tables.

The registry below is the one place adapters are found by name; adding a dataset is adding
one module with an ``ADAPTER`` and one line here. :func:`build_manifest` is the entry point
the CLI and the teacher stage use.
"""

from __future__ import annotations

from . import csv_file, jsonl_file, msrvtt, msvd, vatex
from .base import Adapter, Annotations, CaptionRow, DatasetError, ManifestOptions, VideoRow

ADAPTERS: dict[str, Adapter] = {
    a.name: a for a in (msrvtt.ADAPTER, msvd.ADAPTER, vatex.ADAPTER, csv_file.ADAPTER, jsonl_file.ADAPTER)
}


def get_adapter(name: str) -> Adapter:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise DatasetError(f"dataset {name!r} is not one of {sorted(ADAPTERS)}") from None


from .build import build_manifest, manifest_counts, source_fingerprint  # noqa: E402  (uses the registry)

__all__ = [
    "ADAPTERS", "Adapter", "Annotations", "CaptionRow", "DatasetError", "ManifestOptions", "VideoRow",
    "build_manifest", "get_adapter", "manifest_counts", "source_fingerprint",
]
