"""The one atomic-write helper: every file or folder teachkit writes appears whole or not at all.

A temporary sibling named ``.<name>.<pid>.tmp`` is written, flushed to disk (``fsync``) and
renamed onto the final name; on an exception it is removed. The rename is the commit, so a
reader (or a rerun after ``kill -9``) sees either the previous file or the new one, never a
half-written one, and leftovers of a killed writer match :data:`TMP_GLOB` and can be
cleaned up. Store shards, run records, manifests, student caches, checkpoints and run
folders all go through here (the tests check that no other module renames files).

Object stores have no rename: :mod:`stores.fs` writes a store's objects once, under their
final key, and uses this module only for local roots.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

TMP_SUFFIX = ".tmp"
#: what a killed writer leaves beside its target (``.<name>.<pid>.tmp``)
TMP_GLOB = f".*{TMP_SUFFIX}"


def tmp_sibling(path: str | Path) -> Path:
    """The temporary name a write of ``path`` uses (hidden, per process, ``.tmp``)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


def _fsync_tree(path: Path) -> None:
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file():
                with open(p, "rb") as f:
                    os.fsync(f.fileno())
    else:
        with open(path, "rb") as f:
            os.fsync(f.fileno())


@contextmanager
def atomic_path(path: str | Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content to (a file, or a folder you create).

    On leaving the block without an exception the temporary is fsynced and renamed onto
    ``path``; a folder that already exists is swapped out and removed when ``replace``, and
    is an error otherwise. On an exception the temporary is removed and ``path`` untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(path)
    _remove(tmp)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"atomic write of {path}: nothing was written to {tmp}")
        _fsync_tree(tmp)
        if tmp.is_dir() and path.exists():
            if not replace:
                raise FileExistsError(f"{path} already exists")
            old = path.with_name(f".{path.name}.{os.getpid()}.old{TMP_SUFFIX}")
            _remove(old)
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON (sorted keys) to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=indent, sort_keys=True) + "\n")


def move_into(src: str | Path, dst: str | Path) -> Path:
    """Move ``src`` (a file or folder) to ``dst``, inside a folder that is not yet published.

    For content that had to live outside the temporary folder while it was written (a
    TensorBoard log a user watches during training); the publishing rename of the enclosing
    :func:`atomic_path` is still the commit.
    """
    shutil.move(str(src), str(dst))
    return Path(dst)


def remove_leftovers(folder: str | Path, pattern: str = TMP_GLOB) -> int:
    """Delete what killed writers left in ``folder`` (matching ``pattern``); return how many."""
    n = 0
    for p in Path(folder).glob(pattern):
        _remove(p)
        n += 1
    return n


def remove_dead_leftovers(path: str | Path) -> int:
    """Delete the temporaries of ``path`` whose writer process is gone; return how many.

    A live writer's temporary is kept (two processes may build the same cache or folder at
    once; the first rename wins), so this is safe to call before every write.
    """
    path = Path(path)
    n = 0
    for p in path.parent.glob(f".{path.name}.*{TMP_SUFFIX}"):
        pid = p.name[len(path.name) + 2 : -len(TMP_SUFFIX)].split(".", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        _remove(p)
        n += 1
    return n


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftover from an earlier, failed attempt
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)
