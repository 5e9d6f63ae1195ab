"""Import a similarity matrix computed elsewhere as a committed teacher run of kind ``imported``.

Users of X-CLIP, TS2-Net or X-Pool already have a (captions x videos) similarity matrix from
their own evaluation code; this brings it into the store next to the teachers teachkit runs,
so a student can distil from it. Two id lists name the matrix's rows (caption ids) and
columns (video ids) in the manifest's terms. An optional frames tensor (captions x T) holds
the relevance of each caption to the frames of its *own* video (NaN where padded).

Every check runs before anything is written, and the refusal names the problem: a shape
that does not match the id lists, duplicate ids, ids the manifest does not know (or that
belong to another split), captions whose own video is not a column, non-finite scores.
The run's fingerprint hashes the files' checksums, the split, the manifest fingerprint and
the storage options, so importing the same files again is a cache hit.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from stores import RunWriter, Store, canonical_json, check_name, connect, file_checksum, fingerprint
from stores.embeddings import vectors_table
from teachkit.util.errors import InputError
from teachkit.util.metrics import teacher_metrics
from stores.schema import SCORE_DTYPES
from stores.splits import caption_splits, video_splits

from .code_version import package_version
from .teachers.imported import KIND  # the kind an imported run is committed as
FLOAT16_MAX = 65504.0
MAX_FRAMES = 32767  # frame indices are int16 in the store


class ImportRefused(InputError, ValueError):
    """Inputs that cannot become a teacher run; the message says which and why."""


@dataclass(frozen=True)
class ImportSpec:
    """What to import; validated by :func:`import_scores` with errors naming the field."""

    teacher: str
    matrix: Path
    captions: Path
    videos: Path
    split: str
    frames: Path | None = None
    score_dtype: str = "float16"
    shard_captions: int = 1000
    video_embeddings: Path | None = None  # (videos, D), rows in the --videos order
    caption_embeddings: Path | None = None  # (captions, D), rows in the --captions order
    embedding_dtype: str = "float16"


@dataclass(frozen=True)
class ImportResult:
    teacher: str
    run: str
    fingerprint: str
    cached: bool
    current: bool  # the teacher's current run is this one (a cached import becomes current again)
    captions: int
    videos: int
    score_rows: int
    frame_rows: int
    metrics: dict


def load_ids(path: Path, field: str) -> list[str]:
    """Ids from a ``.txt`` (one per line) or ``.json`` (a list of strings or integers) file."""
    path = Path(path)
    if path.suffix == ".txt":
        return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list) or not all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in data):
            raise ImportRefused(f"{field}: {path} must hold a JSON list of ids (strings or integers)")
        return [str(x) for x in data]
    raise ImportRefused(f"{field}: {path} must be .txt (one id per line) or .json (a list)")


def load_array(path: Path, field: str) -> np.ndarray:
    """A float32 array from ``.npy`` or a tensor saved with ``torch.save`` (``.pt``/``.pth``)."""
    path = Path(path)
    if path.suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:  # not an .npy file, truncated, or pickled objects
            raise ImportRefused(f"{field}: cannot load {path} as a .npy array: {e}") from None
    elif path.suffix in (".pt", ".pth"):
        import torch

        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises pickle, runtime and zip errors alike
            raise ImportRefused(f"{field}: cannot load {path} as a tensor: {e}") from None
        if not isinstance(obj, torch.Tensor):
            raise ImportRefused(f"{field}: {path} holds a {type(obj).__name__}, not a tensor")
        arr = obj.detach().to(torch.float32).numpy()
    else:
        raise ImportRefused(f"{field}: {path} must be .npy or .pt")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ImportRefused(f"{field}: {path} has dtype {arr.dtype}, expected real numbers")
    return np.asarray(arr, dtype=np.float32)


def _check_spec(spec: ImportSpec) -> None:
    for name, check in (("teacher", lambda: check_name("teacher", spec.teacher)), ("split", lambda: check_name("split", spec.split))):
        try:
            check()
        except ValueError as e:
            raise ImportRefused(f"{name}: {e}") from None
    if spec.score_dtype not in SCORE_DTYPES:
        raise ImportRefused(f"score_dtype: {spec.score_dtype!r} is not one of {sorted(SCORE_DTYPES)}")
    if spec.embedding_dtype not in SCORE_DTYPES:
        raise ImportRefused(f"embedding_dtype: {spec.embedding_dtype!r} is not one of {sorted(SCORE_DTYPES)}")
    if spec.shard_captions <= 0:
        raise ImportRefused(f"shard_captions: must be positive, got {spec.shard_captions}")
    for name in ("matrix", "captions", "videos", "frames") + EMBEDDING_FILES:
        p = getattr(spec, name)
        if p is not None and not Path(p).is_file():
            raise ImportRefused(f"{name}: no such file {p}")


EMBEDDING_FILES = ("video_embeddings", "caption_embeddings")


def _few(items, n: int = 3) -> str:
    items = list(items)
    return ", ".join(repr(x) for x in items[:n]) + (f" (and {len(items) - n} more)" if len(items) > n else "")


def _duplicates(ids: list[str]) -> list[str]:
    seen, dups = set(), []
    for i in ids:
        if i in seen and i not in dups:
            dups.append(i)
        seen.add(i)
    return dups


def _config(spec: ImportSpec, manifest_fp: str) -> dict:
    files = {
        name: file_checksum(getattr(spec, name))
        for name in ("matrix", "captions", "videos", "frames") + EMBEDDING_FILES
        if getattr(spec, name) is not None
    }
    # shard_captions is part of the identity: a resumed run must cut shards the same way
    return {
        "kind": KIND, "files": files, "split": spec.split, "manifest": manifest_fp,
        "score_dtype": spec.score_dtype, "shard_captions": spec.shard_captions,
    } | ({"embedding_dtype": spec.embedding_dtype} if any(getattr(spec, n) for n in EMBEDDING_FILES) else {})


def _validate(spec, cap_ids, vid_ids, sim, frames, con) -> np.ndarray:
    """Every refusal; returns each caption's own-video column index."""
    for field, ids, path in (("captions", cap_ids, spec.captions), ("videos", vid_ids, spec.videos)):
        if not ids:
            raise ImportRefused(f"{field}: {path} lists no ids")
        dups = _duplicates(ids)
        if dups:
            raise ImportRefused(f"{field}: {len(dups)} duplicate ids in {path}, e.g. {_few(dups)}")
    if sim.ndim != 2 or sim.shape != (len(cap_ids), len(vid_ids)):
        raise ImportRefused(
            f"matrix: shape {tuple(sim.shape)} does not match the id lists: expected "
            f"({len(cap_ids)} captions from {spec.captions}, {len(vid_ids)} videos from {spec.videos})"
        )
    cap_rows = caption_splits(con)
    vid_split = video_splits(con)
    for field, ids, known in (
        ("captions", cap_ids, {c: s for c, (_, s) in cap_rows.items()}),
        ("videos", vid_ids, vid_split),
    ):
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise ImportRefused(f"{field}: {len(unknown)} ids unknown to the manifest, e.g. {_few(unknown)}")
        elsewhere = [i for i in ids if known[i] != spec.split]
        if elsewhere:
            raise ImportRefused(
                f"{field}: {len(elsewhere)} ids are not in split {spec.split!r}, e.g. "
                + ", ".join(f"{i!r} ({known[i]})" for i in elsewhere[:3])
            )
    column = {v: j for j, v in enumerate(vid_ids)}
    own = [cap_rows[c][0] for c in cap_ids]
    absent = [f"{c} -> {v}" for c, v in zip(cap_ids, own) if v not in column]
    if absent:
        raise ImportRefused(f"videos: {len(absent)} captions' own videos are not in the video list, e.g. {_few(absent)}")
    bad = np.argwhere(~np.isfinite(sim))
    if len(bad):
        i, j = bad[0]
        raise ImportRefused(
            f"matrix: {len(bad)} non-finite scores, e.g. caption {cap_ids[i]!r} x video {vid_ids[j]!r} = {sim[i, j]}"
        )
    if frames is not None:
        if frames.ndim != 2 or frames.shape[0] != len(cap_ids) or not 1 <= frames.shape[1] <= MAX_FRAMES:
            raise ImportRefused(
                f"frames: shape {tuple(frames.shape)} does not match (captions={len(cap_ids)}, T) with 1 <= T <= {MAX_FRAMES}"
            )
        inf = np.argwhere(np.isinf(frames))
        if len(inf):
            i, t = inf[0]
            raise ImportRefused(f"frames: {len(inf)} infinite scores, e.g. caption {cap_ids[i]!r} frame {t}")
    if spec.score_dtype == "float16":
        for field, arr in (("matrix", sim), ("frames", frames)):
            if arr is not None and arr.size and np.nanmax(np.abs(arr), initial=0.0) > FLOAT16_MAX:
                raise ImportRefused(
                    f"{field}: scores up to {np.nanmax(np.abs(arr)):.4g} overflow float16; use --score-dtype float32"
                )
    return np.array([column[v] for v in own], dtype=np.int64)


def _check_embeddings(spec, name: str, emb: np.ndarray, ids: list[str]) -> None:
    """(len(ids), D) finite vectors that fit the storage dtype."""
    path = getattr(spec, name)
    if emb.ndim != 2 or emb.shape[0] != len(ids) or emb.shape[1] < 1:
        raise ImportRefused(f"{name}: shape {tuple(emb.shape)} of {path} does not match ({len(ids)} ids, D)")
    bad = np.argwhere(~np.isfinite(emb))
    if len(bad):
        raise ImportRefused(f"{name}: {len(bad)} non-finite values, e.g. id {ids[bad[0][0]]!r}")
    if spec.embedding_dtype == "float16" and np.abs(emb).max(initial=0.0) > FLOAT16_MAX:
        raise ImportRefused(f"{name}: values overflow float16; use --embedding-dtype float32")


def _metrics(sim: np.ndarray, own: np.ndarray) -> dict:
    """The imported scores' figures, by the one teacher-metrics rule (teachkit.util.metrics)."""
    return teacher_metrics(sim, own)


def import_scores(store_root: str | Path, spec: ImportSpec) -> ImportResult:
    """Write ``spec``'s matrix (and frames) as a committed run; a cache hit writes only the
    teacher's current-run pointer (the run becomes current again)."""
    _check_spec(spec)
    store = Store(store_root)
    manifest = store.require_manifest()
    config = _config(spec, manifest.fingerprint)
    fp = fingerprint("teacher-run", spec.teacher, config)
    cap_ids = load_ids(spec.captions, "captions")
    vid_ids = load_ids(spec.videos, "videos")

    def result(cached: bool, score_rows: int, frame_rows: int, metrics: dict) -> ImportResult:
        current = store.current_runs().get(spec.teacher, {}).get("fingerprint") == fp
        return ImportResult(
            spec.teacher, fp[:16], fp, cached, current, len(cap_ids), len(vid_ids), score_rows, frame_rows, metrics
        )

    done = store.committed_run(spec.teacher, fp)
    if done is not None:  # imported before: current again (the teacher stage's rule), nothing else written
        store.make_current(spec.teacher, done)
        return result(True, done["rows"], store.shard_rows("frames", spec.teacher, done["run"]), json.loads(done["metrics"]))

    t0 = time.perf_counter()
    sim = load_array(spec.matrix, "matrix")
    frames = load_array(spec.frames, "frames") if spec.frames is not None else None
    with connect(store.root) as con:
        own = _validate(spec, cap_ids, vid_ids, sim, frames, con)
    embeddings = {}
    for name, ids in zip(EMBEDDING_FILES, (vid_ids, cap_ids)):
        if getattr(spec, name) is not None:
            embeddings[name] = load_array(getattr(spec, name), name)
            _check_embeddings(spec, name, embeddings[name], ids)
    metrics = _metrics(sim, own)
    t1 = time.perf_counter()

    writer = RunWriter(
        store, spec.teacher, KIND, fp, canonical_json(config), package_version(), score_dtype=spec.score_dtype,
        embedding_dtype=spec.embedding_dtype,
    )
    writer.begin()
    if "video_embeddings" in embeddings and not writer.has_shard("embeddings", spec.split, 0, "video"):
        writer.write_shard("embeddings", spec.split, 0, vectors_table(vid_ids, embeddings["video_embeddings"]), "video")
    caps = np.asarray(cap_ids, dtype=object)
    vids = np.asarray(vid_ids, dtype=object)
    n, v = sim.shape
    for index, start in enumerate(range(0, n, spec.shard_captions)):
        stop = min(start + spec.shard_captions, n)
        if "caption_embeddings" in embeddings and not writer.has_shard("embeddings", spec.split, index, "caption"):
            writer.write_shard("embeddings", spec.split, index,
                               vectors_table(cap_ids[start:stop], embeddings["caption_embeddings"][start:stop]), "caption")
        if not writer.has_shard("scores", spec.split, index):
            writer.write_shard("scores", spec.split, index, pa.table({
                "caption_id": np.repeat(caps[start:stop], v),
                "video_id": np.tile(vids, stop - start),
                "score": sim[start:stop].ravel(),
            }))
        if frames is not None and not writer.has_shard("frames", spec.split, index):
            block = frames[start:stop]
            rows, cols = np.nonzero(~np.isnan(block))
            writer.write_shard("frames", spec.split, index, pa.table({
                "caption_id": caps[start + rows],
                "video_id": vids[own[start + rows]],
                "frame": cols.astype(np.int16),
                "score": block[rows, cols],
            }))
    t2 = time.perf_counter()
    row = writer.commit(timings={"load_check": round(t1 - t0, 3), "write": round(t2 - t1, 3)}, metrics=metrics)
    return result(False, row["rows"], writer.rows("frames"), metrics)
