"""``teachkit student demo --ablation audit``: does leaving out the audited captions help?

Per seed, three copies of the demo's distilled student, same budget, batches and seeds:

- ``all``: every training caption (``data.drop_excluded = false``);
- ``audited``: without the captions the store's current caption audit flagged (its
  ``exclusions`` view, which ``data.drop_excluded = true`` honours);
- ``oracle``: without exactly the captions a truth file marks wrong (``data.exclude_captions``;
  the demo's ``ground_truth.json``): the bound a perfect audit would reach.

A separate command, not part of ``make student``: nine more students would double its time.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

import stores

from .config import ConfigError, DemoConfig
from .demo import aggregate, summary
from .runs import write_json
from .train import train, with_seed

VARIANTS = ("all", "oracle", "audited")


def audit_variants(demo: DemoConfig, truth: str) -> dict:
    exp = demo.experiment
    data = exp.data
    return {
        "all": dataclasses.replace(exp, data=dataclasses.replace(data, drop_excluded=False, exclude_captions=None)),
        "audited": dataclasses.replace(exp, data=dataclasses.replace(data, drop_excluded=True, exclude_captions=None)),
        "oracle": dataclasses.replace(exp, data=dataclasses.replace(data, drop_excluded=False, exclude_captions=truth)),
    }


def run_audit_ablation(demo: DemoConfig, truth: str | Path, log=print, progress=None) -> dict:
    """Train the three variants per seed; write ``<out>/audit_ablation.json`` and return it."""
    if not Path(truth).is_file():
        raise ConfigError(f"--truth: no file {truth}")
    audit, excluded = _current_audit(demo)
    t0 = time.perf_counter()
    results: dict[str, dict[str, dict]] = {v: {} for v in VARIANTS}
    for name, cfg in audit_variants(demo, str(truth)).items():
        if name == "audited":  # the audit these students honour: the current one when they start
            audit, excluded = _current_audit(demo)
        for seed in demo.seeds:
            run_name = f"distilled-{name}-seed{seed}"
            r = train(with_seed(cfg, seed, run_name, str(demo.out)), progress=progress)
            results[name][str(seed)] = r.metrics
            log(f"{run_name}: t2v R@1 {r.metrics['t2v']['R@1']:.1f}  v2t R@1 {r.metrics['v2t']['R@1']:.1f}")
    per_seed = {k: list(v.values()) for k, v in results.items()}
    out = {
        "audit_run": audit, "excluded_by_audit": excluded, "truth": str(truth),
        **{f"distilled_{k}": summary(aggregate(v, np.mean)) for k, v in per_seed.items()},
        "seeds": results,
        "mean": {k: aggregate(v, np.mean) for k, v in per_seed.items()},
        "std": {k: aggregate(v, np.std) for k, v in per_seed.items()},
        "wall_s": time.perf_counter() - t0,
    }
    Path(demo.out).mkdir(parents=True, exist_ok=True)
    write_json(Path(demo.out) / "audit_ablation.json", out)
    return out


def _current_audit(demo: DemoConfig) -> tuple[str, int]:
    with stores.connect(demo.experiment.data.store) as con:
        excluded = con.execute("SELECT count(*) FROM exclusions").fetchone()[0]
        audit = con.execute("SELECT run FROM current_runs WHERE kind = 'audit' "
                            "ORDER BY finished_at DESC LIMIT 1").fetchone()
    if audit is None:
        raise ConfigError("the store has no caption audit: run `teachkit captions audit` first")
    return audit[0], int(excluded)


def ablation_table(m: dict) -> str:
    """t2v and v2t R@1 per seed, mean and std of each variant."""
    seeds = list(next(iter(m["seeds"].values())))
    head = ["student"] + [f"seed {s}" for s in seeds] + ["mean", "std"]
    lines = ["  ".join(f"{h:>22}" if i == 0 else f"{h:>7}" for i, h in enumerate(head))]
    for d in ("t2v", "v2t"):
        for v in VARIANTS:
            vals = [m["seeds"][v][s][d]["R@1"] for s in seeds] + [m["mean"][v][d]["R@1"], m["std"][v][d]["R@1"]]
            lines.append(f"{f'distilled {v}, {d} R@1':>22}  " + "  ".join(f"{x:7.1f}" for x in vals))
    return "\n".join(lines)
