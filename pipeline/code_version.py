"""Code version of a teacher run: package version + a hash of the source that shapes its scores.

Part of every teacher fingerprint, so editing a scorer, the frame sampling or a teacher's
encoder recomputes the teachers it affects and leaves the others cached. The hash covers
the source bytes of the modules below common to every kind, then those its kind lists
(``Kind.code`` in :mod:`pipeline.teachers.kinds`), plus, for plugins, the module of the
user's class; the package version alone would miss edits made in a checkout.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from functools import lru_cache

from .teachers.kinds import kind_of

#: modules that decide which pairs are scored and how frames are sampled, for every kind
COMMON_MODULES = (
    "teachkit.util.media",
    "pipeline.plans",
    "pipeline.teachers.protocol",
    "pipeline.run.shards",
)

def package_version() -> str:
    try:
        return importlib.metadata.version("teachkit")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


@lru_cache(maxsize=None)
def source_hash(modules: tuple[str, ...]) -> str:
    """sha256 over the names and source bytes of ``modules`` (found without importing them)."""
    h = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin or not spec.has_location:
            raise RuntimeError(f"code version: cannot locate the source of module {name!r}")
        h.update(name.encode() + b"\0")
        with open(spec.origin, "rb") as f:
            h.update(f.read())
        h.update(b"\0")
    return h.hexdigest()


def code_version(kind: str, extra_modules: tuple[str, ...] = ()) -> str:
    """``<version>+<hash12>`` for a teacher of ``kind`` (plus, e.g., a plugin's own module)."""
    modules = COMMON_MODULES + kind_of(kind).code + tuple(extra_modules)
    return f"{package_version()}+{source_hash(modules)[:12]}"
