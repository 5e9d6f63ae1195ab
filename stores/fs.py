"""Where a store's bytes live: a local folder or any fsspec filesystem (``s3://``, ``gs://``, ...).

Every read and write of a store goes through one :class:`StoreFS` (datatrove's
``DataFolder`` is the model): it holds the filesystem and the store's root, and callers name
files by their key relative to the root (``"scores/teacher=t/run=r/split=s/part-00000.parquet"``).
Two kinds exist because the two kinds of storage commit differently:

- :class:`LocalFS` (a plain path or ``file://``): a file is written under a temporary sibling,
  fsynced and renamed onto its name (:mod:`teachkit.util.atomic`); a killed writer leaves only
  leftovers named by :func:`teachkit.util.atomic.tmp_sibling`, which :meth:`StoreFS.remove_leftovers` deletes.
- :class:`ObjectFS` (any other protocol): object stores have no rename, so each file is one
  write-once object PUT whole under its final key (a multipart upload too becomes visible only
  when it completes). A killed writer leaves nothing visible, and nothing to clean up.

Storage options (``endpoint_url``, ``key``, ...) are passed to fsspec as given; the standard
environment variables work too (``AWS_ENDPOINT_URL`` for botocore, ``FSSPEC_S3_ENDPOINT_URL``
and the like for fsspec). Options given once for a root are remembered for that root in this
process, so ``stores.connect(store.root)`` deep inside a stage opens it the same way the
configuration did.
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from teachkit.util import atomic

#: options given for a root (its URL), reused by later opens of the same root without options
_OPTIONS: dict[str, dict] = {}


def is_uri(root: str | os.PathLike) -> bool:
    """Whether ``root`` names a filesystem by protocol (``s3://...``, ``file://...``)."""
    return isinstance(root, str) and "://" in root


def open_fs(root: str | os.PathLike, options: dict | None = None) -> "StoreFS":
    """The :class:`StoreFS` for a store root (a path, ``file://`` URL or any fsspec URL)."""
    if isinstance(root, StoreFS):
        return root
    if not is_uri(root):
        return LocalFS(Path(root))
    url = str(root).rstrip("/")
    if url.startswith("file://"):
        return LocalFS(Path(url[len("file://"):]))
    if options is not None:
        _OPTIONS[url] = dict(options)
    return ObjectFS(url, _OPTIONS.get(url, {}))


class StoreFS:
    """A store's root on some filesystem; every method takes keys relative to that root."""

    #: what the store's root is called in messages and what DuckDB reads (path or URL)
    url: str
    local: bool

    def uri(self, key: str = "") -> str:
        """``key`` as DuckDB and pyarrow name it: an absolute path, or ``protocol://bucket/...``."""
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def glob(self, pattern: str) -> list[str]:
        """Keys matching ``pattern`` (``*`` within one path part), sorted."""
        raise NotImplementedError

    def read_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write ``key`` so that a reader sees the whole of ``data`` or the previous content."""
        raise NotImplementedError

    def create_bytes(self, key: str, data: bytes) -> None:
        """Write ``key`` only if it does not exist; raise :class:`FileExistsError` otherwise."""
        raise NotImplementedError

    def open_input(self, key: str):
        """A binary file object for reading ``key`` (pyarrow reads Parquet footers through it)."""
        raise NotImplementedError

    def remove(self, key: str) -> None:
        raise NotImplementedError

    def remove_leftovers(self, folder: str, pattern: str = atomic.TMP_GLOB) -> int:
        """Delete what killed writers left in ``folder``; object stores have no leftovers."""
        return 0

    # -- built on the above ----------------------------------------------------------
    def read_json(self, key: str) -> Any:
        return json.loads(self.read_bytes(key))

    def write_json(self, key: str, obj) -> None:
        self.write_bytes(key, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())

    def write_parquet(self, key: str, table: pa.Table, **options) -> None:
        """Write ``table`` as one Parquet file at ``key`` (``options`` go to ``pq.write_table``)."""
        buf = pa.BufferOutputStream()
        pq.write_table(table, buf, **options)
        self.write_bytes(key, buf.getvalue().to_pybytes())

    def read_parquet(self, key: str, columns: list[str] | None = None) -> pa.Table:
        with self.open_input(key) as f:
            return pq.read_table(f, columns=columns)

    def parquet_rows(self, key: str) -> int:
        """Rows of a Parquet file, from its footer."""
        with self.open_input(key) as f:
            return pq.ParquetFile(f).metadata.num_rows

    def parquet_schema(self, key: str) -> pa.Schema:
        with self.open_input(key) as f:
            return pq.read_schema(f)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


class LocalFS(StoreFS):
    """A store in a local folder: temporary sibling, fsync, rename (:mod:`teachkit.util.atomic`)."""

    local = True

    def __init__(self, root: Path):
        self.root = Path(root)
        self.url = str(self.root)

    def path(self, key: str = "") -> Path:
        return self.root / key if key else self.root

    def uri(self, key: str = "") -> str:
        return str(self.path(key).resolve())

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def glob(self, pattern: str) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.glob(pattern))

    def read_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def write_bytes(self, key: str, data: bytes) -> None:
        atomic.write_bytes(self.path(key), data)

    def write_parquet(self, key: str, table: pa.Table, **options) -> None:
        # written straight to the temporary file: no second copy of a large shard in memory
        with atomic.atomic_path(self.path(key)) as tmp:
            pq.write_table(table, tmp, **options)

    def create_bytes(self, key: str, data: bytes) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as f:
            f.write(data)

    def open_input(self, key: str):
        return open(self.path(key), "rb")

    def remove(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def remove_leftovers(self, folder: str, pattern: str = atomic.TMP_GLOB) -> int:
        return atomic.remove_leftovers(self.path(folder), pattern)


class ObjectFS(StoreFS):
    """A store under a prefix of an fsspec filesystem (S3, GCS, Azure, memory, ...).

    Every write is one whole object under its final key. Listings are never served from
    fsspec's listing cache: another process may have committed since.
    """

    local = False

    def __init__(self, url: str, options: dict | None = None):
        import fsspec.core

        self.url = url.rstrip("/")
        self.options = dict(options or {})
        try:
            self.fs, self.base = fsspec.core.url_to_fs(self.url, **self.options)
        except (ImportError, ValueError) as e:  # s3:// without s3fs; a protocol fsspec does not know
            from .layout import StoreError

            raise StoreError(f"store root {self.url}: {' '.join(str(e).split())}") from None
        self.base = self.base.rstrip("/")
        protocol = self.fs.protocol
        self.protocol = protocol[0] if isinstance(protocol, (tuple, list)) else protocol

    def path(self, key: str = "") -> str:
        """``key`` as the filesystem names it (``bucket/prefix/key``, no protocol)."""
        return f"{self.base}/{key}" if key else self.base

    def uri(self, key: str = "") -> str:
        return f"{self.protocol}://{self.path(key)}"

    def key(self, path: str) -> str:
        """The inverse of :meth:`path`."""
        path = path.split("://", 1)[-1]
        if not path.startswith(self.base + "/"):
            raise ValueError(f"{path} is not under the store {self.url}")
        return path[len(self.base) + 1:]

    def exists(self, key: str) -> bool:
        self.fs.invalidate_cache()
        return self.fs.exists(self.path(key))

    def glob(self, pattern: str) -> list[str]:
        self.fs.invalidate_cache()
        found = self.fs.glob(self.path(pattern))
        # fsspec's glob treats '**' and bracket patterns its own way: keep only true matches
        keys = [self.key(p) for p in found]
        return sorted(k for k in keys if fnmatch.fnmatchcase(k, pattern) and k.count("/") == pattern.count("/"))

    def read_bytes(self, key: str) -> bytes:
        self.fs.invalidate_cache(self.path(key))
        return self.fs.cat_file(self.path(key))

    def write_bytes(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self.path(key), data)
        self.fs.invalidate_cache(self.path(key))

    def create_bytes(self, key: str, data: bytes) -> None:
        # S3: a conditional PUT (If-None-Match: *); other filesystems check, then write
        self.fs.pipe_file(self.path(key), data, mode="create")
        self.fs.invalidate_cache(self.path(key))

    def open_input(self, key: str):
        return self.fs.open(self.path(key), "rb")

    def duckdb_filesystem(self):
        """The filesystem DuckDB reads this store's URLs through (``register_filesystem``)."""
        return self.fs

    def read_parquet(self, key: str, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(io.BytesIO(self.read_bytes(key)), columns=columns)

    def remove(self, key: str) -> None:
        try:
            self.fs.rm_file(self.path(key))
        except FileNotFoundError:
            pass
        self.fs.invalidate_cache(self.path(key))
