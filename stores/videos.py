"""Where a manifest's videos are: the one video-path resolver of both stages.

A manifest stores each video's path *relative to a videos root* (the ``[dataset] videos``
folder, or the annotation file's folder for csv/jsonl datasets), so neither the manifest's
fingerprint nor any teacher run over it holds a machine path: a store moved to another
folder or machine, with its videos under another folder, still has every run ``cached``.
A path outside the root stays absolute (it cannot move with it).

Which root a reader uses, in this order:

1. the one it is given (``teachkit teachers run --videos DIR``, ``[dataset] videos``,
   ``teachkit student train --videos DIR``, ``[data] videos``);
2. the root the manifest recorded when it was last built (``manifest.json``'s
   ``videos_root``; the teacher stage updates it whenever its ``[dataset]`` points
   elsewhere).

Nothing else is searched (not the working folder, not the store's folder): a video that is
not where the root says is a decoding failure that names the path it tried.
"""

from __future__ import annotations

import os
from pathlib import Path

from teachkit.util.errors import InputError
from .layout import Store, StoreError


class VideosRootError(StoreError, InputError):
    """No usable videos root: none given, and the manifest's recorded one is not there."""


def relative_paths(paths: list[str], root: Path) -> list[str]:
    """Each path relative to ``root`` (POSIX separators) when it lies under it; else as given.

    ``root`` must be absolute and resolved; relative ``paths`` are taken as already relative.
    """
    out = []
    for p in paths:
        path = Path(p)
        if not path.is_absolute():
            out.append(path.as_posix())
            continue
        try:
            out.append(Path(os.path.normpath(path)).relative_to(root).as_posix())
        except ValueError:
            out.append(str(path))
    return out


class VideoPaths:
    """Turns the manifest's ``path`` values into files to open (see module docstring)."""

    def __init__(self, root: Path | None, why: str = ""):
        self.root = root
        self._why = why  # why there is no root, for the error a relative path then raises

    def __call__(self, path: str) -> Path:
        p = Path(path)
        if p.is_absolute():
            return p
        if self.root is None:
            raise VideosRootError(f"video path {path!r} is relative and {self._why}")
        return self.root / p

    def all(self, paths: list[str]) -> list[Path]:
        return [self(p) for p in paths]


def video_paths(store: Store | str | Path, videos: str | Path | None = None) -> VideoPaths:
    """The resolver for ``store``'s current manifest, with ``videos`` as the root if given.

    Raises :class:`VideosRootError` when ``videos`` is not a folder, or when it is not given
    and the recorded root is gone (the store or the videos moved): the message says to
    pass the new folder.
    """
    if videos is not None and str(videos) != "":
        root = Path(videos).expanduser()
        if not root.is_dir():
            raise VideosRootError(f"videos: {root} is not a folder")
        return VideoPaths(root.resolve())
    store = store if isinstance(store, Store) else Store(store)
    recorded = store.require_manifest().videos_root
    if not recorded:
        return VideoPaths(None, f"the manifest of store {store.root} records no videos root; "
                                "pass the videos folder (--videos DIR)")
    if not Path(recorded).is_dir():
        return VideoPaths(None, f"the manifest's videos root {recorded} is not a folder here (moved?); "
                                "pass the videos folder (--videos DIR)")
    return VideoPaths(Path(recorded))
