"""Figure 6: ``cache_rerun_s`` and ``cache_rerun_model_loads`` -- an unchanged teacher stage.

``teachkit teachers run --config X`` on a config whose every teacher is already in the
store, as a fresh process (interpreter start and imports included, as a user sees it).
Model loads are counted by :mod:`bench.probe_loads`; with all teachers cached it should be
0, and the process should not even import torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .common import BenchConfig, Figure, log, summarize
from .teacher_setup import project
from .workspace import Workspace

FIGURES = ("cache_rerun_s", "cache_rerun_model_loads")
REPO = Path(__file__).resolve().parents[1]


def rerun(config: Path, probe_out: Path) -> tuple[float, dict, str]:
    """One ``teachkit teachers run`` in a new process: (seconds, probe record, stdout)."""
    env = os.environ | {"TEACHKIT_PROBE_OUT": str(probe_out)}
    probe_out.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.probe_loads", "teachers", "run", "--config", str(config), "--no-progress"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"teachkit teachers run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return seconds, json.loads(probe_out.read_text()), proc.stdout


def run(cfg: BenchConfig, ws: Workspace) -> list[Figure]:
    p = project(cfg, ws)  # every teacher computed once
    probe = p.folder / "probe.json"
    log(f"cache: {cfg.heavy_repeats} unchanged reruns of `teachkit teachers run` in new processes")
    seconds, loads, records = [], [], []
    rerun(p.config_path, probe)  # warm the page cache, as a user's second run would be
    for _ in range(cfg.heavy_repeats):
        s, rec, stdout = rerun(p.config_path, probe)
        lines = [ln for ln in stdout.splitlines() if ln.strip() and not ln.startswith(("test-split", "model", "-"))]
        seconds.append(s)
        loads.append(len(rec["teachers_built"]))
        records.append(rec | {"cached_lines": sum("cached" in ln for ln in lines)})
    teachers = len(p.config().teachers)
    # where the config lies inside the (temporary) workspace: a path that outlives the run
    detail = {"teachers": teachers, "config": f"<workspace>/{p.config_path.relative_to(ws.root)}", "last": records[-1],
              "cached_every_time": all(r["cached_lines"] == teachers for r in records)}
    return [
        summarize("cache_rerun_s", seconds, "s", "< 2",
                  "wall time of a new `teachkit teachers run` process on a computed config", detail),
        # a count, not a time: min/max show whether any repeat loaded anything
        summarize("cache_rerun_model_loads", [float(x) for x in loads], "loads", "== 0",
                  "teachers built by the rerun (pipeline.teachers.build_teacher calls)",
                  {"torch_imported": any(r["torch_imported"] for r in records),
                   "transformers_imported": any(r["transformers_imported"] for r in records)}),
    ]
