"""The benchmarks by name, each a module with ``FIGURES`` and ``run(cfg, ws) -> [Figure]``.

Adding a benchmark is adding a module and one line here. The order is the run order:
store-only figures first, then the ones that drive the teacher and student stages.
"""

from __future__ import annotations

from importlib import import_module

BENCHMARKS: dict[str, str] = {
    "store_bytes": "bench.store_bytes",  # bytes_per_score, bytes_per_frame_score
    "stream": "bench.stream",  # stream_vs_arrow, batch_assembly_ms
    "sparse": "bench.sparse",  # sparse_build_s, sparse_rss_mb, sparse_batch_ms
    "search": "bench.search",  # search_qps_ratio
    "scale": "bench.scale",  # scale
    "teacher_stage": "bench.teacher_stage",  # teacher_stage_efficiency
    "engines": "bench.engines",  # runner_over_parts_local, rescore_speedup
    "ray_engine": "bench.ray_engine",  # runner_over_parts_ray, ray_over_local
    "cache": "bench.cache",  # cache_rerun_s, cache_rerun_model_loads
    "distill": "bench.distill",  # distill_overhead, online_over_store
    "train_step": "bench.train_step",  # train_step_ms, eager_attention_over_sdpa, compiled_over_uncompiled
}


class Unavailable(RuntimeError):
    """A benchmark that cannot run here (a stage it drives is missing); recorded, not fatal."""


def load(name: str):
    return import_module(BENCHMARKS[name])


def select(only: list[str]) -> list[str]:
    """Benchmarks to run: all, or those named by benchmark or by a figure they report."""
    if not only:
        return list(BENCHMARKS)
    by_figure = {fig: name for name in BENCHMARKS for fig in load(name).FIGURES}
    picked = []
    for want in only:
        name = want if want in BENCHMARKS else by_figure.get(want)
        if name is None:
            raise ValueError(
                f"--only {want!r} is neither a benchmark {sorted(BENCHMARKS)} nor a figure {sorted(by_figure)}"
            )
        if name not in picked:
            picked.append(name)
    return [n for n in BENCHMARKS if n in picked]
