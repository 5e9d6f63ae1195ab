"""Fingerprints: stable hashes of canonical configs, files and code.

A teacher run's fingerprint hashes its canonical config (model identity with a weights
checksum or revision, scorer, frame sampling, score plan), the dataset manifest's
fingerprint and a code version. Anything that cannot be hashed raises
:class:`FingerprintError`; there is never a random fallback (a random key would silently
defeat the cache or, worse, hide a stale one).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
from pathlib import Path
from typing import Any

from teachkit.util.errors import InputError


class FingerprintError(InputError, TypeError):
    """Raised when a value has no canonical, hashable form."""


def canonical(value: Any) -> Any:
    """Turn ``value`` into plain JSON data with a single canonical form."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FingerprintError(f"cannot fingerprint non-finite float {value!r}")
        return repr(value)  # exact, unlike json's float formatting choices
    if isinstance(value, enum.Enum):
        return canonical(value.value)
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise FingerprintError(f"cannot fingerprint dict key {k!r} of type {type(k).__name__}")
            out[k] = canonical(v)
        return dict(sorted(out.items()))
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    raise FingerprintError(f"cannot fingerprint value of type {type(value).__name__}: {value!r}")


def canonical_json(value: Any) -> str:
    return json.dumps(canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(*parts: Any) -> str:
    """sha256 hex digest of the canonical JSON of ``parts``."""
    return hashlib.sha256(canonical_json(list(parts)).encode()).hexdigest()


def file_checksum(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of one file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def tree_checksum(root: str | Path, suffixes: tuple[str, ...] | None = None) -> str:
    """sha256 over the relative names and bytes of every file under ``root``."""
    root = Path(root)
    if not root.exists():
        raise FingerprintError(f"cannot fingerprint missing path {root}")
    if root.is_file():
        return file_checksum(root)
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file())
    if suffixes is not None:
        files = [p for p in files if p.suffix in suffixes]
    if not files:
        raise FingerprintError(f"cannot fingerprint {root}: no files")
    for p in files:
        h.update(str(p.relative_to(root)).encode())
        h.update(b"\0")
        h.update(file_checksum(p).encode())
    return h.hexdigest()


def short(fp: str) -> str:
    """The 16-character form of a fingerprint used in paths."""
    return fp[:16]
