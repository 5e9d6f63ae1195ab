"""A store on disk: folder layout, version check, atomic Parquet writes, manifests.

::

    store/
      store.json                                   schema version (written once)
      manifest.json                                the current dataset manifest (commit marker)
      videos/manifest=<m>/part-0.parquet
      captions/manifest=<m>/part-0.parquet
      scores/teacher=<t>/run=<r>/split=<s>/part-<i>.parquet
      frames/teacher=<t>/run=<r>/split=<s>/part-<i>.parquet
      embeddings/teacher=<t>/run=<r>/split=<s>/part-<kind>-<i>.parquet
      runs/teacher=<t>/run-<r>.parquet             one row; status=committed is the run's commit marker
      runs/teacher=<t>/current.json                which committed run is current (the last committed or found cached)
      failures/run=<r>/part-<key>.parquet
      features/encode=<e>/split=<s>/part-<i>.parquet   the encode pass's video features (until commit)
      locks/teacher=<t>/run-<r>.lock               the writer lock of a run being written

The root is a folder or any fsspec URL (``s3://bucket/prefix``, ``file:///...``): every read
and write goes through the store's :class:`stores.fs.StoreFS`. Locally every file is written
under a temporary name and renamed when complete; on an object store every file is one
write-once object under its final key. Either way a reader never sees a partial file, and a
run's rows become visible (through :func:`stores.connect`) only once its ``runs`` row says
``committed``.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from teachkit.util.errors import InputError
from .fingerprint import fingerprint, short
from .fs import StoreFS, open_fs
from .schema import SCHEMA_VERSION, file_metadata, schema_for

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


#: the tables a teacher run writes shards to (``<table>/teacher=<t>/run=<r>/split=<s>/``)
RUN_TABLES = ("scores", "frames", "embeddings", "caption_audit")


class StoreError(InputError, RuntimeError):
    """A store that cannot be used as asked (missing, incompatible, inconsistent)."""


class IncompatibleStoreError(StoreError):
    """The store was written with another schema version."""


class LockHeld(StoreError):
    """Another writer holds the lock of the teacher run asked for (:mod:`stores.lock`)."""


def check_name(kind: str, name: str) -> str:
    """Teacher and split names become path parts: keep them plain."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"{kind} name {name!r} must be 1-64 characters of letters, digits, '_', '.', '-' "
            "and start with a letter or digit"
        )
    return name


def write_table(
    fs: StoreFS,
    key: str,
    data: pa.Table,
    table: str,
    producer: str,
    fp: str,
    score_dtype: str = "float16",
    row_group_size: int = 1 << 20,
) -> int:
    """Cast ``data`` to ``table``'s schema and write it to ``key`` of ``fs`` whole; return rows."""
    schema = schema_for(table, score_dtype)
    missing = [n for n in schema.names if n not in data.column_names]
    if missing:
        raise ValueError(f"{table}: missing columns {missing}")
    data = pa.Table.from_pydict({n: data.column(n) for n in schema.names}).cast(schema)
    data = data.replace_schema_metadata(file_metadata(table, producer, fp))
    # ids repeat (dictionary + zstd make them nearly free); scores are dense floats, and
    # DuckDB refuses byte_stream_split on float16, so they are stored plain + zstd.
    dict_cols = [n for n in ("caption_id", "video_id", "split", "path", "kind", "id") if n in schema.names]
    fs.write_parquet(
        key,
        data,
        compression="zstd",
        use_dictionary=dict_cols,
        row_group_size=row_group_size,
        write_statistics=True,
    )
    return data.num_rows


@dataclass(frozen=True)
class Manifest:
    fingerprint: str
    dataset: str
    videos: int
    captions: int
    failures: int
    source: str = ""  # fingerprint of the inputs the manifest was built from (skip rebuilds)
    # the folder the ``videos`` table's relative paths were found under when last built: a
    # default for readers, never part of a fingerprint (a moved store keeps its runs)
    videos_root: str = ""

    @property
    def short(self) -> str:
        return short(self.fingerprint)


class Store:
    """A store. ``Store(root, create=True)`` makes it; otherwise it must exist.

    ``root`` is a folder or an fsspec URL (``s3://bucket/prefix``); ``options`` are that
    filesystem's storage options (``endpoint_url``, ...), see :mod:`stores.fs`. ``root`` stays a
    :class:`~pathlib.Path` for a local store and is the URL string otherwise; :attr:`fs` is what
    every read and write goes through.
    """

    def __init__(self, root: str | Path, create: bool = False, options: dict | None = None):
        self.fs: StoreFS = open_fs(root, options)
        self.root: Path | str = self.fs.root if self.fs.local else self.fs.url
        try:
            info = self.fs.read_json("store.json")
        except FileNotFoundError:
            if not create:
                raise StoreError(
                    f"no teachkit store at {self.root} (missing store.json); "
                    "build one with `teachkit data ...` first"
                ) from None
            info = {"schema_version": SCHEMA_VERSION, "created_at": time.time()}
            self.fs.write_json("store.json", info)
        except (OSError, ValueError) as e:
            raise StoreError(f"unreadable store.json in {self.root}: {e}") from e
        self.check_version(info)

    # -- layout ---------------------------------------------------------------------
    def table_dir(self, table: str) -> str:
        """The key of a table's folder (``"scores"``), relative to the root."""
        schema_for(table)  # validates the name
        return table

    def run_dir(self, table: str, teacher: str, run: str) -> str:
        """The key of one teacher run's folder of ``table`` shards (``scores``, ``frames``,
        ``embeddings``): ``<table>/teacher=<t>/run=<r>``."""
        if table not in RUN_TABLES:
            raise ValueError(f"teacher runs write {', '.join(RUN_TABLES)}, not {table!r}")
        return f"{table}/teacher={check_name('teacher', teacher)}/run={run}"

    def shard_dir(self, table: str, teacher: str, run: str, split: str) -> str:
        """The key of the folder of one split's shards of a teacher run."""
        return f"{self.run_dir(table, teacher, run)}/split={check_name('split', split)}"

    def shard_files(self, table: str, teacher: str, run: str, split: str | None = None) -> list[str]:
        """Keys of a teacher run's shards of ``table`` (one split, or all), sorted."""
        part = f"split={split}" if split is not None else "split=*"
        return self.fs.glob(f"{self.run_dir(table, teacher, run)}/{part}/part-*.parquet")

    def shard_rows(self, table: str, teacher: str, run: str, split: str | None = None) -> int:
        """Rows of a teacher run's ``table`` shards, from the Parquet footers (no data read)."""
        return sum(self.fs.parquet_rows(k) for k in self.shard_files(table, teacher, run, split))

    def check_version(self, info: dict | None = None) -> None:
        try:
            info = self.fs.read_json("store.json") if info is None else info
            version = int(info["schema_version"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise StoreError(f"unreadable store.json in {self.root}: {e}") from e
        if version != SCHEMA_VERSION:
            raise IncompatibleStoreError(
                f"store {self.root} has schema version {version}, this teachkit reads version "
                f"{SCHEMA_VERSION}; rebuild the store or use a matching teachkit"
            )

    # -- manifest -------------------------------------------------------------------
    def manifest(self) -> Manifest | None:
        try:
            info = self.fs.read_json("manifest.json")
        except FileNotFoundError:
            return None
        known = {f.name for f in dataclasses.fields(Manifest)}  # a newer teachkit's extra keys
        return Manifest(**{k: v for k, v in info.items() if k in known})

    def require_manifest(self) -> Manifest:
        m = self.manifest()
        if m is None:
            raise StoreError(f"store {self.root} has no dataset manifest; run `teachkit data manifest` first")
        return m

    def write_manifest(
        self,
        dataset: str,
        videos: pa.Table,
        captions: pa.Table,
        failures: list[tuple[str, str]] = (),
        producer: str = "teachkit",
        source: str = "",
        videos_root: str | Path | None = None,
    ) -> Manifest:
        """Write the ``videos`` and ``captions`` tables and make them current atomically.

        With ``videos_root``, every video path under it is stored relative to it (see
        :mod:`stores.videos`), so the manifest's fingerprint -- and every teacher run over
        it -- holds no machine path and survives moving the store and the videos.
        """
        if videos_root is not None:
            from .videos import relative_paths

            videos_root = Path(videos_root).resolve()
            videos = videos.set_column(
                videos.schema.get_field_index("path"), "path",
                pa.array(relative_paths(videos.column("path").to_pylist(), videos_root), pa.string()),
            )
        videos = videos.select(schema_for("videos").names).cast(schema_for("videos"))
        captions = captions.select(schema_for("captions").names).cast(schema_for("captions"))
        _check_unique(videos, "video_id", "videos")
        _check_unique(captions, "caption_id", "captions")
        known = set(videos.column("video_id").to_pylist())
        orphans = sorted(set(captions.column("video_id").to_pylist()) - known)
        if orphans:
            raise ValueError(f"captions name {len(orphans)} videos not in the manifest, e.g. {orphans[:3]}")
        videos = videos.sort_by([("split", "ascending"), ("video_id", "ascending")])
        captions = captions.sort_by([("split", "ascending"), ("caption_id", "ascending")])
        # failure reasons name machine paths ("cannot open /data/x.mp4"): only the items count
        fp = fingerprint(
            "manifest", dataset, videos.to_pylist(), captions.to_pylist(), sorted(f[0] for f in failures)
        )
        m = Manifest(fp, dataset, videos.num_rows, captions.num_rows, len(failures), source,
                     str(videos_root) if videos_root is not None else "")
        part = f"manifest={m.short}"
        write_table(self.fs, f"videos/{part}/part-0.parquet", videos, "videos", producer, fp)
        write_table(self.fs, f"captions/{part}/part-0.parquet", captions, "captions", producer, fp)
        fail = pa.table({"item": [f[0] for f in failures], "error": [f[1] for f in failures],
                         "level": ["error"] * len(failures)})
        write_table(self.fs, f"failures/run={m.short}/part-manifest.parquet", fail, "failures", producer, fp)
        # manifest.json is the commit marker: written last, whole
        self.fs.write_json("manifest.json", m.__dict__)
        return m

    def set_videos_root(self, videos_root: str | Path) -> Manifest:
        """Record where the current manifest's videos are now (the data moved, nothing else)."""
        m = self.require_manifest()
        root = str(Path(videos_root).resolve())
        if m.videos_root != root:
            m = dataclasses.replace(m, videos_root=root)
            self.fs.write_json("manifest.json", m.__dict__)
        return m

    # -- encode shards --------------------------------------------------------------
    def features_key(self, encode: str, split: str, index: int) -> str:
        """The key of one encode shard: the video features of one encoding (``encode``, the
        short form of its fingerprint) for videos ``[index * n, (index + 1) * n)`` of ``split``."""
        check_name("encode", encode)
        return f"features/encode={encode}/split={check_name('split', split)}/part-{index:05d}.parquet"

    def feature_files(self, encode: str, split: str | None = None) -> list[str]:
        """Keys of an encoding's shards (one split, or all), sorted."""
        part = f"split={split}" if split is not None else "split=*"
        return self.fs.glob(f"features/encode={check_name('encode', encode)}/{part}/part-*.parquet")

    def remove_features(self, encode: str) -> int:
        """Delete an encoding's shards (after the runs that read them committed); return how many."""
        keys = self.feature_files(encode)
        for key in keys:
            self.fs.remove(key)
        return len(keys)

    # -- runs -----------------------------------------------------------------------
    def run_key(self, teacher: str, run: str) -> str:
        """The key of a teacher run's ``runs`` row (its commit marker)."""
        return f"runs/teacher={teacher}/run-{run}.parquet"

    def lock_key(self, teacher: str, run: str) -> str:
        """The key of a teacher run's writer lock (:mod:`stores.lock`)."""
        return f"locks/teacher={teacher}/run-{run}.lock"

    def run_files(self) -> list[str]:
        """Keys of every ``runs`` row file, sorted."""
        return self.fs.glob("runs/teacher=*/run-*.parquet")

    def run_rows(self) -> list[dict]:
        """Every ``runs`` row on disk (committed or not), with its teacher."""
        rows = []
        for key in self.run_files():
            teacher = key.split("/")[1].split("=", 1)[1]
            for row in self.fs.read_parquet(key).to_pylist():
                row["teacher"] = teacher
                rows.append(row)
        return rows

    def current_key(self, teacher: str) -> str:
        """The key of a teacher's (or an audit's) pointer to its current run."""
        return f"runs/teacher={teacher}/current.json"

    def make_current(self, teacher: str, row: dict) -> None:
        """Point ``teacher``'s current run at the committed ``row``: called when a run commits
        and when a cached one is asked for again, so switching a config back to an earlier
        run makes that run current (its scores, its audit) without recomputing it."""
        import datetime

        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        self.fs.write_json(self.current_key(teacher), {"fingerprint": row["fingerprint"],
                                                       "manifest": row["manifest"], "selected_at": now})

    def current_runs(self, manifest: Manifest | None = None) -> dict[str, dict]:
        """Per teacher, its current run over the current manifest (``manifest`` if given): the
        one its pointer names (:meth:`make_current`), else the latest committed. Each row has
        ``selected_at``, when it last became current (its ``finished_at`` without a pointer)."""
        m = self.manifest() if manifest is None else manifest
        committed: dict[str, dict[str, dict]] = {}
        for row in self.run_rows():
            if row["status"] == "committed" and m is not None and row["manifest"] == m.fingerprint:
                committed.setdefault(row["teacher"], {})[row["fingerprint"]] = row
        current: dict[str, dict] = {}
        for teacher, rows in committed.items():
            latest = max(rows.values(), key=lambda r: r["finished_at"])
            pointer = self._pointer(teacher)
            row = rows.get(pointer.get("fingerprint")) if pointer else None
            if row is None:
                current[teacher] = latest | {"selected_at": latest["finished_at"]}
            else:
                current[teacher] = row | {"selected_at": max(pointer["selected_at"], row["finished_at"])}
        return current

    def _pointer(self, teacher: str) -> dict | None:
        import datetime

        try:
            p = self.fs.read_json(self.current_key(teacher))
            return p | {"selected_at": datetime.datetime.fromisoformat(p["selected_at"])}
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def committed_run(self, teacher: str, fp: str) -> dict | None:
        try:
            row = self.fs.read_parquet(self.run_key(teacher, short(fp))).to_pylist()[0]
        except FileNotFoundError:
            return None
        if row["status"] == "committed" and row["fingerprint"] == fp:
            row["teacher"] = teacher
            return row
        return None

    def score_dtype(self, teacher: str, run: str, split: str, table: str = "scores") -> str:
        """The type a run's ``table`` shards of ``split`` hold (scores, or the elements of
        ``embeddings`` vectors): ``float16`` or ``float32``."""
        files = self.shard_files(table, teacher, run, split)
        if not files:
            return "float32"
        kind = self.fs.parquet_schema(files[0]).field("vector" if table == "embeddings" else "score").type
        if table == "embeddings":
            kind = kind.value_type
        return "float16" if kind == pa.float16() else "float32"


def _check_unique(t: pa.Table, col: str, table: str) -> None:
    values = t.column(col).to_pylist()
    if len(set(values)) != len(values):
        seen, dups = set(), []
        for v in values:
            if v in seen:
                dups.append(v)
            seen.add(v)
        raise ValueError(f"{table}: duplicate {col} values, e.g. {dups[:3]}")
