"""Figure 7: ``search_qps_ratio`` -- faiss exact search / a torch matmul + topk baseline.

Both search the same L2-normalised student video vectors (inner product = cosine) with the
same caption queries for the top 10, with the same thread count; the figure is faiss
queries/s over torch queries/s, measured in alternating pairs.
"""

from __future__ import annotations

import numpy as np
import torch

from .common import BenchConfig, Figure, log, paired, spread, summarize
from .workspace import Workspace

FIGURES = ("search_qps_ratio",)
K = 10


def sizes(cfg: BenchConfig) -> tuple[int, int, int]:
    """(vectors, dim, queries): 100k x 512 in full; quick keeps 100k vectors at dim 256."""
    return cfg.pick(tiny=(2_000, 32, 64), quick=(100_000, 256, 256), full=(100_000, 512, 1_000))


def run(cfg: BenchConfig, ws: Workspace) -> list[Figure]:
    import faiss

    n, dim, nq = sizes(cfg)
    rng = np.random.default_rng(0)
    base = rng.standard_normal((n, dim), dtype=np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries = rng.standard_normal((nq, dim), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    threads = torch.get_num_threads()
    faiss.omp_set_num_threads(threads)
    log(f"search: {n:,} vectors x {dim}, {nq} queries, top {K}, {threads} threads")

    index = faiss.IndexFlatIP(dim)
    index.add(base)
    base_t, queries_t = torch.from_numpy(base), torch.from_numpy(queries)

    def faiss_search():
        return index.search(queries, K)

    def torch_search():
        return torch.topk(queries_t @ base_t.T, K, dim=1)

    # same answers, or the ratio compares different work
    _, fi = faiss_search()
    ti = torch_search().indices.numpy()
    agree = float((np.sort(fi, 1) == np.sort(ti, 1)).mean())
    t_faiss, t_torch, ratios = paired(faiss_search, torch_search, cfg.repeats)
    qps_ratio = [1.0 / r for r in ratios]  # qps_faiss / qps_torch = t_torch / t_faiss
    return [summarize(
        "search_qps_ratio", qps_ratio, "ratio", "",
        f"faiss IndexFlatIP vs torch matmul+topk, {n:,} x {dim}, {nq} queries, top {K}",
        {"vectors": n, "dim": dim, "queries": nq, "k": K, "threads": threads,
         "top_k_agreement": agree,
         "faiss_qps": spread([nq / t for t in t_faiss]), "torch_qps": spread([nq / t for t in t_torch])},
    )]
