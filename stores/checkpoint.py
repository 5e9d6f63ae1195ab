"""A checkpoint folder's identity: the record both stages keep of the weights they start from.

The teacher stage fine-tunes a bootstrapped CLIP from another (``init``) and the student
starts from a backbone folder; each records which weights those were, the teacher in its
fingerprint, the student in its run's ``backbone.json``. One rule, here, gives both the
same answer for the same folder:

* a folder the bootstrap committed (its ``bootstrap.json`` marker, written last, holds the
  fingerprints of its options, training data and, recursively, its own init) is identified
  by those fingerprints, so the same artefact rebuilt on another machine -- whose weight
  bytes differ in the last bits -- keeps its identity;
* any other folder by a checksum of its files' names and bytes.

Never by its path: a moved folder is the same checkpoint, and a retrained one in the same
place is not.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .fingerprint import FingerprintError, file_checksum, fingerprint

#: the bootstrap's commit marker in a checkpoint folder (pipeline.bootstrap.checkpoint)
MARKER = "bootstrap.json"

#: the marker's fields that identify the artefact (the rest is its training record)
IDENTITY_KEYS = ("options_fingerprint", "data_fingerprint", "init_fingerprint")


def read_marker(folder: str | Path) -> dict[str, Any] | None:
    """The ``bootstrap.json`` of ``folder``, or None when it has none (or an unreadable one)."""
    try:
        return json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None


def folder_checksum(root: str | Path) -> str:
    """sha256 over the relative names and bytes of the files under ``root`` (hidden ones skipped)."""
    root = Path(root)
    files = sorted(
        p for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise FingerprintError(f"model folder {root} holds no files")
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(root).as_posix()).encode() + b"\0" + file_checksum(p).encode() + b"\0")
    return h.hexdigest()


def checkpoint_identity(folder: str | Path) -> str:
    """The identity of the checkpoint in ``folder`` (see the module): a fingerprint of its
    bootstrap marker's identity fields, else :func:`folder_checksum`."""
    marker = read_marker(folder)
    if marker is not None and "options_fingerprint" in marker:
        return fingerprint("bootstrap-init", {k: marker.get(k) for k in IDENTITY_KEYS})
    return folder_checksum(folder)
