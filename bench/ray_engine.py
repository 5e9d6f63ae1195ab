"""The Ray engine against the local one, on a 2-CPU Ray cluster (``ray.init(num_cpus=2)``).

* ``runner_over_parts_ray``: the Ray runner's wall time for the demo project's first CLIP
  teacher over decode alone + forward alone (:mod:`bench.engines`), goal <= 1.1. Metrics are
  left out; its actors' start and model loads count (the cluster is started beforehand).
* ``ray_over_local``: the Ray engine's wall time over the local engine's (model load left out
  of the local one, as above) for the same run, measured in pairs; goal <= 1.3.

Not measured at ``--tiny`` size: starting a Ray cluster and its actors takes longer than a
tiny run, so the figures would only measure that start.
"""

from __future__ import annotations

from .common import BenchConfig, Figure, log, spread, summarize
from .engines import parts
from .registry import Unavailable
from .workspace import Workspace

FIGURES = ("runner_over_parts_ray", "ray_over_local")


def run(cfg: BenchConfig, ws: Workspace) -> list[Figure]:
    if cfg.tiny:
        raise Unavailable("the Ray figures need the quick or full size (a Ray start outlasts a tiny run)")
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise Unavailable("ray is not installed (pip install 'teachkit[ray]')") from None
    from pipeline.run.ray_engine import runtime_env

    pt = parts(cfg, ws)
    log(f"ray engine: {pt.videos} videos, teacher {pt.teacher.name}; local vs ray on a 2-CPU Ray cluster")
    ray.init(num_cpus=2, runtime_env=runtime_env(), include_dashboard=False, log_to_driver=False)
    local_s, ray_s, timings = [], [], []
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        pt.runner("local")  # warm-up: first-call allocations
        for i in range(cfg.heavy_repeats):
            for engine in (("local", "ray") if i % 2 == 0 else ("ray", "local")):
                s, t = pt.runner(engine)
                (local_s if engine == "local" else ray_s).append(s)
                if engine == "ray":
                    timings.append(t)
    finally:
        ray.shutdown()
    stages = {k: spread([t.get(k, 0.0) for t in timings]) for k in timings[0] if k not in ("wall", "own")}
    return [
        summarize("runner_over_parts_ray", [s / pt.fastest for s in ray_s], "ratio", "<= 1.1",
                  "ray runner wall (actor start and model loads included, no metrics) over decode alone + "
                  "forward alone, 2-CPU Ray cluster",
                  pt.detail() | {"runner_s": spread(ray_s), "stage_seconds": stages}),
        summarize("ray_over_local", [r / loc for r, loc in zip(ray_s, local_s)], "ratio", "<= 1.3",
                  "ray engine wall over local engine wall for the same run, 2 CPUs",
                  {"videos": pt.videos, "teacher": pt.teacher.name, "ray_s": spread(ray_s),
                   "local_s": spread(local_s)}),
    ]
