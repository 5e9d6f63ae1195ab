"""Sparse teacher knowledge: ``sparse_build_s``, ``sparse_rss_mb`` and ``sparse_batch_ms``.

A synthetic ``topk`` store at WebVid's shape: one caption per video (``--full``: 2M
captions x 2M videos; why not 10M: :func:`captions_for`), k = 100 scores per caption (its own video and 99 others), random
float16 scores, written through ``RunWriter`` like the teacher stage's shards (whole
captions, caption-major). On it:

* ``sparse_build_s`` -- seconds to stream the run through DuckDB into the memory-mapped CSR
  (:func:`student.sparse.build_sparse`: counts, scatter, per-row sort), in a fresh process.
* ``sparse_rss_mb`` -- that process's peak anonymous resident memory (``RssAnon``, sampled
  every 20 ms) above what it held just before the build, when the caption and video id
  tables it joins with were already loaded (``detail.ids_rss_mb``): the row pointers, the
  arrow batches, a sort block and DuckDB's join and aggregate state. The CSR itself is a
  file (``detail.csr_bytes``) written through a memory map; its pages are file-backed and
  the kernel writes them out as it needs (``detail.peak_rss_mb``, the ``VmHWM``, counts them).
* ``sparse_batch_ms`` -- one 128 x 128 teacher matrix (random distinct captions, their own
  videos) gathered from the CSR (:meth:`student.sparse.SparseScores.gather`), warm pages.

A dense float16 matrix of the same store would take captions x videos x 2 bytes
(``detail.dense_bytes``; 8 TB at 2M x 2M, 200 TB at WebVid's 10M x 10M).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from .common import BenchConfig, Figure, log, spread, summarize
from .workspace import Workspace

FIGURES = ("sparse_build_s", "sparse_rss_mb", "sparse_batch_ms")
TEACHER = "synthetic_topk"
K = 100
BATCH = 128
SHARD_CAPTIONS = 80_000  # 8M score rows per shard at k = 100


def captions_for(cfg: BenchConfig) -> int:
    """Captions (= videos) of the store. ``--full`` stops at 2M, not WebVid's 10M: the store's
    manifest writer fingerprints every row as a Python dict (``Store.write_manifest``), and 10M
    videos + 10M captions took over 22 GB there and were OOM-killed on this 24 GB machine."""
    return cfg.pick(tiny=2_000, quick=200_000, full=2_000_000)


def write_store(root: Path, captions: int, k: int = K, seed: int = 0) -> dict:
    """A manifest of ``captions`` videos with one caption each and a committed topk run."""
    from stores import RunWriter, Store, canonical_json, fingerprint

    store = Store(root, create=True)
    vids = pa.array([f"v{i:08d}" for i in range(captions)])
    caps = pa.array([f"v{i:08d}#0" for i in range(captions)])
    store.write_manifest("synthetic", pa.table({
        "video_id": vids, "split": pa.array(["train"] * captions), "path": pa.array([f"videos/{i}.mp4" for i in range(captions)]),
        "duration": pa.array(np.full(captions, 10.0, np.float32)), "fps": pa.array(np.full(captions, 30.0, np.float32)),
        "frames": pa.array(np.full(captions, 300, np.int32)),
    }), pa.table({"caption_id": caps, "video_id": vids, "split": pa.array(["train"] * captions),
                  "text": pa.array(["synthetic"] * captions)}))
    config = {"kind": "synthetic", "plan": {"kind": "topk", "k": k}}
    fp = fingerprint("synthetic-topk-run", config, captions, store.require_manifest().fingerprint)
    w = RunWriter(store, TEACHER, "synthetic", fp, canonical_json(config), "bench", score_dtype="float16")
    w.begin()
    rng = np.random.default_rng(seed)
    kk = min(k, captions)
    write_s = 0.0
    for shard, start in enumerate(range(0, captions, SHARD_CAPTIONS)):
        stop = min(start + SHARD_CAPTIONS, captions)
        n = stop - start
        own = np.arange(start, stop, dtype=np.int64)
        # k distinct videos per caption, its own first: own + j * stride (j < k), stride * (k - 1) < videos
        stride = rng.integers(1, max(2, (captions - 1) // max(1, kk - 1) + 1), size=n)
        vid = (own[:, None] + np.arange(kk)[None, :] * stride[:, None]) % captions
        scores = rng.standard_normal((n, kk), dtype=np.float32) * 0.1
        t = pa.table({"caption_id": caps.take(pa.array(np.repeat(own, kk))), "video_id": vids.take(pa.array(vid.ravel())),
                      "score": pa.array(scores.ravel().astype(np.float16))})
        t0 = time.perf_counter()
        w.write_shard("scores", "train", shard, t)
        write_s += time.perf_counter() - t0
    w.commit(timings={"write_s": write_s})
    return {"captions": captions, "videos": captions, "k": kk, "rows": w.rows("scores"), "write_s": write_s}


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def build_child(store: str, folder: str) -> dict:
    """In a fresh process: register the id tables, then build the CSR; time and memory as JSON."""
    import stores
    from stores.layout import Store
    from stores.splits import current_teachers
    from student.knowledge import MATRIX_SCORES_SQL
    from student.sparse import build_sparse

    con = stores.connect(store)
    runs = {t: r["run"] for t, r in current_teachers(con).items()}
    cur = con.cursor()
    ids = cur.sql("SELECT caption_id, video_id FROM captions WHERE split = 'train' ORDER BY caption_id").to_arrow_table()
    videos = cur.sql("SELECT video_id FROM videos WHERE split = 'train' ORDER BY video_id").to_arrow_table()
    cur.register("matrix_captions", ids.append_column("row", pa.array(np.arange(ids.num_rows, dtype=np.int32))))
    cur.register("matrix_videos", videos.append_column("col", pa.array(np.arange(videos.num_rows, dtype=np.int32))))
    import threading

    base_kb, base_anon = _status_kb("VmRSS"), _status_kb("RssAnon")
    peak_anon = [base_anon]
    done = threading.Event()

    def sample():  # the kernel keeps no high-water mark of anonymous memory: sample it
        while not done.wait(0.02):
            peak_anon[0] = max(peak_anon[0], _status_kb("RssAnon"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    dtype = Store(store).score_dtype(TEACHER, runs[TEACHER], "train")
    t0 = time.perf_counter()
    csr = build_sparse(cur, Path(folder), ids.num_rows, dtype, [TEACHER, "train", runs[TEACHER]], MATRIX_SCORES_SQL)
    build_s = time.perf_counter() - t0
    done.set()
    sampler.join()
    return {"build_s": build_s, "base_rss_kb": base_kb, "peak_rss_kb": _status_kb("VmHWM"),
            "base_anon_kb": base_anon, "peak_anon_kb": max(peak_anon[0], _status_kb("RssAnon")),
            "after_rss_kb": _status_kb("VmRSS"), "nnz": csr.nnz, "rows": csr.shape_rows, "videos": videos.num_rows}


def run(cfg: BenchConfig, ws: Workspace) -> list[Figure]:
    from student.sparse import SparseScores

    captions = captions_for(cfg)
    root = ws.root / f"topk-{captions}"
    shutil.rmtree(root, ignore_errors=True)
    free = shutil.disk_usage(ws.root).free
    need = captions * K * 12  # about 10 bytes a stored row (ids + float16) + 6 a CSR entry, with margin
    if need > free:
        captions = max(1000, int(free / (K * 12) * 0.8))
        log(f"sparse: only {free / 1e9:.0f} GB free; {captions:,} captions instead")
    log(f"sparse: writing a synthetic topk store, {captions:,} captions x k={K} ({captions * K:,} rows)")
    spec = write_store(root / "store", captions)
    log(f"sparse: wrote {spec['rows']:,} rows in {spec['write_s']:.0f} s; building the CSR")
    folder = root / "cache" / "train.csr"
    code = ("import json, sys; from bench.sparse import build_child; "
            "print(json.dumps(build_child(sys.argv[1], sys.argv[2])))")
    proc = subprocess.run([sys.executable, "-c", code, str(root / "store"), str(folder)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if proc.returncode != 0:
        raise RuntimeError(f"sparse: the CSR build failed: {proc.stderr[-2000:]}")
    built = json.loads(proc.stdout.strip().splitlines()[-1])
    csr = SparseScores(folder)
    rng = np.random.default_rng(0)
    times = []
    for _ in range(cfg.repeats * 20 + 5):
        rows = rng.choice(captions, BATCH, replace=False)
        t0 = time.perf_counter()
        m = csr.gather(rows, rows)  # caption i's own video is column i
        times.append(time.perf_counter() - t0)
    assert not np.isnan(np.diagonal(m)).any()
    times = [t * 1000 for t in times[5:]]
    csr_bytes = sum(p.stat().st_size for p in folder.iterdir())
    store_bytes = sum(p.stat().st_size for p in (root / "store" / "scores").rglob("*.parquet"))
    detail = spec | {"csr_bytes": csr_bytes, "store_score_bytes": store_bytes,
                     "dense_bytes": captions * captions * 2, "ids_rss_mb": built["base_rss_kb"] / 1024,
                     "peak_rss_mb": built["peak_rss_kb"] / 1024, "after_rss_mb": built["after_rss_kb"] / 1024,
                     "disk_free_gb": free / 1e9}
    note = f"synthetic topk store: {captions:,} captions x {captions:,} videos, k = {K}, float16"
    shutil.rmtree(root, ignore_errors=True)
    return [
        summarize("sparse_build_s", [built["build_s"]], "s", "", note, detail),
        summarize("sparse_rss_mb", [(built["peak_anon_kb"] - built["base_anon_kb"]) / 1024], "MB", "",
                  "peak anonymous RSS of the build above its RSS with the id tables loaded (the CSR's "
                  "own pages are file-backed: detail.peak_rss_mb counts them too)", detail),
        summarize("sparse_batch_ms", times, "ms", "", f"{BATCH} x {BATCH} gather from the CSR, warm",
                  {"batches": len(times), **spread(times)}),
    ]
