"""Build a store's dataset manifest from an adapter's annotations and the video files.

Every video is probed (duration, fps, frame count) in a thread pool: PyAV releases the GIL
while it demuxes and decodes, and most of a probe is waiting on the disk. A missing or
unreadable video is a failure ``(video_id, reason)``, never fatal: its row stays in
``videos`` with null duration/fps/frames, so both stages can tell it apart from a video the
dataset never listed.

Video paths are stored relative to the *videos root* (``--videos``, or the annotation
file's folder for csv/jsonl; :mod:`stores.videos`), so a store and its videos can move:
neither the manifest's fingerprint nor the source fingerprint holds a machine path.

The manifest records a *source fingerprint*: the adapter, its options, a checksum of every
annotation file and the root-relative name, size and mtime of every video file.
:func:`build_manifest` returns the store's manifest untouched when that fingerprint has not
changed, without parsing annotations (for datasets found by id) or probing anything, so the
teacher stage can call it on every run; it only records the videos root when that moved.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

import pyarrow as pa

from stores import Manifest, Store, file_checksum, fingerprint
from teachkit.util.media import MediaError, VideoInfo, probe
from stores.videos import relative_paths

from . import get_adapter
from .base import Adapter, Annotations, DatasetError, ManifestOptions

#: bump when an adapter turns the same files into different rows, so stores rebuild
MANIFEST_FORMAT = 1
DEFAULT_WORKERS = 8


@dataclass(frozen=True)
class VideoFolder:
    """The files under ``--videos``, indexed by name without extension."""

    root: Path
    by_id: dict[str, Path]
    signature: list[tuple[str, int, int]]  # (relative path, size, mtime_ns) of every file

    @classmethod
    def scan(cls, root: Path) -> "VideoFolder":
        root = Path(root).resolve()
        files: list[Path] = []
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            files += [Path(folder) / n for n in sorted(names) if not n.startswith(".")]
        by_id: dict[str, Path] = {}
        signature = []
        for p in files:
            st = p.stat()
            signature.append((str(p.relative_to(root)), st.st_size, st.st_mtime_ns))
            prev = by_id.get(p.stem)
            # several files per id (clip.mp4 + clip.webm): take .mp4, then the first by name
            if prev is None or (p.suffix.lower() == ".mp4" and prev.suffix.lower() != ".mp4"):
                by_id[p.stem] = p
        return cls(root, by_id, signature)


def _options(adapter: Adapter, train_split: str | None) -> ManifestOptions:
    options = ManifestOptions(train_split=train_split)
    for f in fields(options):
        if getattr(options, f.name) is not None and f.name not in adapter.options:
            raise DatasetError(f"{f.name}: dataset {adapter.name} has no {f.name} option")
    return options


def _videos_root(ann: Annotations, videos: Path | None) -> Path:
    """The folder an annotation file's relative video paths are relative to (``--videos`` or the file's)."""
    return Path(videos if videos is not None else ann.base).resolve()


def _video_paths(ann: Annotations, root: Path) -> list[Path]:
    """Absolute paths of the videos an annotation file names (relative ones under ``root``)."""
    out = []
    for v in ann.videos:
        p = Path(v.path)
        out.append((p if p.is_absolute() else root / p).resolve())
    return out


def _stat(p: Path, root: Path) -> tuple[str, int, int] | tuple[str, None, None]:
    (name,) = relative_paths([str(p)], root)  # no machine path in the fingerprint
    try:
        st = p.stat()
    except OSError:
        return (name, None, None)
    return (name, st.st_size, st.st_mtime_ns)


def _source_fingerprint(
    adapter: Adapter, source: Path, options: ManifestOptions, folder: VideoFolder | None,
    paths: list[Path] | None, root: Path,
) -> str:
    annotations = [(p.name, file_checksum(p)) for p in adapter.inputs(source, options)]
    if folder is not None:
        videos = folder.signature  # names relative to the root
    else:
        videos = [_stat(p, root) for p in paths]
    return fingerprint("manifest-source", MANIFEST_FORMAT, adapter.name, options, annotations, videos)


def source_fingerprint(dataset: str, source: str | Path, videos: str | Path | None = None, *, train_split=None) -> str:
    """The fingerprint :func:`build_manifest` compares with the store's manifest."""
    adapter = get_adapter(dataset)
    options = _options(adapter, train_split)
    folder, ann, paths, root = _locate(adapter, Path(source), videos, options)
    return _source_fingerprint(adapter, Path(source), options, folder, paths, root)


def _locate(adapter: Adapter, source: Path, videos, options):
    """(video folder or None, annotations or None, listed video paths or None, videos root)."""
    videos = Path(videos) if videos is not None else None
    if videos is not None and not videos.is_dir():
        raise DatasetError(f"videos: {videos} is not a folder")
    if adapter.videos_by_id:
        if videos is None:
            raise DatasetError(f"videos: dataset {adapter.name} finds videos by id; pass --videos DIR")
        folder = VideoFolder.scan(videos)
        return folder, None, None, folder.root
    ann = adapter.read(source, options)
    root = _videos_root(ann, videos)
    return None, ann, _video_paths(ann, root), root


def build_manifest(
    store_root: str | Path,
    dataset: str,
    source: str | Path,
    videos: str | Path | None = None,
    *,
    train_split: str | None = None,
    workers: int = DEFAULT_WORKERS,
    force: bool = False,
    progress: bool = True,
) -> Manifest:
    """Make the store's manifest describe ``dataset`` read from ``source``; skip if unchanged.

    Raises :class:`DatasetError` for annotations that cannot be used; missing or unreadable
    videos are recorded as failures in the manifest instead.
    """
    adapter = get_adapter(dataset)
    options = _options(adapter, train_split)
    source = Path(source)
    store = Store(store_root, create=True)
    folder, ann, paths, root = _locate(adapter, source, videos, options)
    source_fp = _source_fingerprint(adapter, source, options, folder, paths, root)
    current = store.manifest()
    if not force and current is not None and current.source == source_fp and current.dataset == adapter.name:
        return store.set_videos_root(root)  # the same data, possibly under another folder now

    if ann is None:
        ann = adapter.read(source, options)
    _check_ids(ann, adapter.name)
    failures = list(ann.failures)
    captions = []
    for c in ann.captions:
        if c.text:
            captions.append(c)
        else:
            failures.append((c.caption_id, "empty caption; caption dropped"))

    if folder is not None:
        paths = []
        for v in ann.videos:
            p = folder.by_id.get(v.video_id)
            if p is None:
                p = folder.root / f"{v.video_id}.mp4"
            paths.append(p)
    if not any(p.is_file() for p in paths):
        # the videos moved and the root was not updated: refuse, never replace the manifest
        # (and with it every teacher run) with one in which every video is missing
        raise DatasetError(
            f"{adapter.name}: none of the {len(paths)} video files exists under {root} (e.g. {paths[0]}); "
            "pass the folder the videos are in (--videos DIR or [dataset] videos)"
        )
    infos = _probe_all(paths, workers, progress)
    for v, p, info in zip(ann.videos, paths, infos):
        if isinstance(info, str):
            if folder is not None and v.video_id not in folder.by_id and not p.exists():  # a folder x.mp4: probe says so
                info = f"no file named {v.video_id}.* under {folder.root}"
            failures.append((v.video_id, info))

    def col(name):
        return [None if isinstance(i, str) else getattr(i, name) for i in infos]

    videos_tbl = pa.table(
        {
            "video_id": [v.video_id for v in ann.videos],
            "split": [v.split for v in ann.videos],
            "path": [str(p) for p in paths],
            "duration": pa.array(col("duration"), pa.float32()),
            "fps": pa.array(col("fps"), pa.float32()),
            "frames": pa.array(col("frames"), pa.int32()),
        }
    )
    captions_tbl = pa.table(
        {
            "caption_id": [c.caption_id for c in captions],
            "video_id": [c.video_id for c in captions],
            "split": [c.split for c in captions],
            "text": [c.text for c in captions],
        }
    )
    return store.write_manifest(adapter.name, videos_tbl, captions_tbl, failures, source=source_fp, videos_root=root)


def _check_ids(ann: Annotations, dataset: str) -> None:
    """Refuse duplicate ids before minutes of probing, naming a few."""
    for what, ids in (
        ("video_id", [v.video_id for v in ann.videos]),
        ("caption_id", [c.caption_id for c in ann.captions]),
    ):
        seen, dups = set(), []
        for i in ids:
            if i in seen:
                dups.append(i)
            seen.add(i)
        if dups:
            raise DatasetError(f"{dataset}: {len(dups)} duplicate {what} values, e.g. {sorted(set(dups))[:3]}")
    known = {v.video_id for v in ann.videos}
    orphans = sorted({c.video_id for c in ann.captions} - known)
    if orphans:
        raise DatasetError(f"{dataset}: captions of videos the dataset does not list, e.g. {orphans[:3]}")
    if not ann.videos:
        raise DatasetError(f"{dataset}: the annotations list no usable videos")


def _probe_one(path: Path) -> VideoInfo | str:
    try:
        return probe(path)
    except MediaError as e:
        return str(e)
    except Exception as e:  # a decoder bug on one file must not stop a 10k-video build
        return f"cannot probe {path}: {type(e).__name__}: {e}"


def _probe_all(paths: list[Path], workers: int, progress: bool) -> list[VideoInfo | str]:
    """Probe every video (thread pool); each result is a VideoInfo or a failure reason."""
    from teachkit.util.progress import progress as progress_display

    workers = max(1, int(workers))
    out: list[VideoInfo | str] = []
    with progress_display(enabled=progress, transient=True) as bar, ThreadPoolExecutor(workers) as pool:
        task = bar.add_task("probing videos", total=len(paths), unit="videos")
        for result in pool.map(_probe_one, paths):
            out.append(result)
            bar.advance(task)
    return out


def manifest_counts(store_root: str | Path) -> list[dict]:
    """Per split of the current manifest: videos, captions and unreadable videos."""
    from stores.splits import split_counts

    return split_counts(store_root)
