"""Code version of a teacher run: package version + a hash of the source that shapes its scores.

Part of every teacher fingerprint, so editing a scorer, the frame sampling or a teacher's
encoder recomputes the teachers it affects and leaves the others cached. The hash covers
the source bytes of the modules listed per kind below (plus, for plugins, the module of
the user's class); the package version alone would miss edits made in a checkout.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from functools import lru_cache

#: modules that decide which pairs are scored and how frames are sampled, for every kind
COMMON_MODULES = (
    "teachkit.util.media",
    "pipeline.plans",
    "pipeline.teachers.protocol",
    "pipeline.run.shards",
)

#: modules that compute the numbers of each built-in kind
KIND_MODULES: dict[str, tuple[str, ...]] = {
    "clip": (
        "pipeline.teachers.clip",
        "pipeline.teachers.image_processing",
        "pipeline.clip_features",
        "pipeline.scorers",
        "pipeline.temporal",
    ),
    "text": ("pipeline.teachers.text",),
    "plugin": ("pipeline.teachers.plugin",),
    "imported": (),
    # a reranker runs a clip scorer or a plugin, on candidates read from another run
    "reranker": (
        "pipeline.teachers.reranker",
        "pipeline.run.candidates",
        "pipeline.teachers.plugin",
        "pipeline.teachers.clip",
        "pipeline.teachers.image_processing",
        "pipeline.clip_features",
        "pipeline.scorers",
    ),
}


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
    try:
        modules = COMMON_MODULES + KIND_MODULES[kind] + tuple(extra_modules)
    except KeyError:
        raise ValueError(f"unknown teacher kind {kind!r}; kinds are {sorted(KIND_MODULES)}") from None
    return f"{package_version()}+{source_hash(modules)[:12]}"
