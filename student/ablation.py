"""``teachkit student compare --ablation audit|frames``: students of one recipe, one change apart.

``audit``: does leaving out the audited captions help? Per seed, three copies of the demo's
distilled student, same budget, batches and seeds:

- ``all``: every training caption (``data.drop_excluded = false``);
- ``audited``: without the captions the store's current caption audit flagged (its
  ``exclusions`` view, which ``data.drop_excluded = true`` honours);
- ``oracle``: without exactly the captions a truth file marks wrong (``data.exclude_captions``;
  the demo's ``ground_truth.json``): the bound a perfect audit would reach.

``frames``: TeachText's video-side claim, that a distilled student can be given less of the
video than its teachers without losing accuracy. Per seed:

- ``plain_all``: the plain student with every frame the config gives it (``model.num_frames``);
- ``plain_third``: the plain student with a third of them;
- ``distilled_third``: the distilled student with a third of them.

``make student`` trains the ``audited`` and ``oracle`` students beside its own (``[demo] audit``);
the ``audit`` ablation is the same comparison without the plain student.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from .config import ComparisonConfig, ConfigError, ExperimentConfig
from .comparison import aggregate, base_experiment, current_audit, summary, with_captions
from .pool import train_students
from .runs import write_json
from .train import with_seed

ABLATIONS = ("audit", "frames")


def audit_variants(comparison: ComparisonConfig, truth: str) -> dict[str, ExperimentConfig]:
    exp = comparison.experiment
    return {
        "all": with_captions(exp, drop_excluded=False),
        "oracle": with_captions(exp, drop_excluded=False, exclude=truth),
        "audited": with_captions(exp, drop_excluded=True),
    }


def frame_variants(comparison: ComparisonConfig) -> dict[str, ExperimentConfig]:
    """The plain student with all and with a third of ``model.num_frames``, the distilled one with
    a third; on the captions ``make student``'s plain and distilled students see (:func:`base_experiment`)."""
    exp = base_experiment(comparison)
    n = exp.model.num_frames
    third = max(1, n // 3)
    if third == n:
        raise ConfigError(f"--ablation frames: model.num_frames ({n}) leaves no smaller third to compare")

    def frames(cfg: ExperimentConfig, k: int) -> ExperimentConfig:
        train_frames = cfg.train.train_frames if cfg.train.train_frames and cfg.train.train_frames < k else 0
        return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, num_frames=k),
                                   train=dataclasses.replace(cfg.train, train_frames=train_frames))

    plain = dataclasses.replace(exp, loss=exp.loss.without_distillation())
    return {"plain_all": frames(plain, n), "plain_third": frames(plain, third), "distilled_third": frames(exp, third)}


def run_ablation(comparison: ComparisonConfig, kind: str, truth: str | Path | None = None, log=print, progress=None) -> dict:
    """Train every variant of ``kind`` per seed; write ``<out>/<kind>_ablation.json`` and return it."""
    if kind not in ABLATIONS:
        raise ConfigError(f"--ablation must be one of {list(ABLATIONS)}, got {kind!r}")
    extra: dict = {}
    if kind == "audit":
        if truth is None or not Path(truth).is_file():
            raise ConfigError(f"--truth: no file {truth}")
        variants = audit_variants(comparison, str(truth))
        extra["truth"] = str(truth)
    else:
        variants = frame_variants(comparison)
        extra["num_frames"] = {k: v.model.num_frames for k, v in variants.items()}
    t0 = time.perf_counter()
    if "audited" in variants:  # the audit these students honour (an error without one), before any training
        audit = current_audit(comparison.experiment.data.store)
        extra["audit_run"], extra["excluded_by_audit"] = audit["run"], audit["excluded"]
    jobs = [(f"{kind}-{name}-seed{seed}", name, seed, cfg) for name, cfg in variants.items() for seed in comparison.seeds]

    def finished(run_name: str, r) -> None:
        log(f"{run_name}: t2v R@1 {r.metrics['t2v']['R@1']:.1f}  v2t R@1 {r.metrics['v2t']['R@1']:.1f}")

    trained = train_students([(run_name, with_seed(cfg, seed, run_name, str(comparison.out)))
                              for run_name, _, seed, cfg in jobs], comparison.jobs, progress, finished)
    results: dict[str, dict[str, dict]] = {v: {} for v in variants}
    for run_name, name, seed, _ in jobs:
        results[name][str(seed)] = trained[run_name].metrics
    per_seed = {k: list(v.values()) for k, v in results.items()}
    out = {
        "ablation": kind, **extra,
        **{k: summary(aggregate(v, np.mean)) for k, v in per_seed.items()},
        "seeds": results,
        "mean": {k: aggregate(v, np.mean) for k, v in per_seed.items()},
        "std": {k: aggregate(v, np.std) for k, v in per_seed.items()},
        "wall_s": time.perf_counter() - t0,
    }
    Path(comparison.out).mkdir(parents=True, exist_ok=True)
    write_json(Path(comparison.out) / f"{kind}_ablation.json", out)
    return out


def ablation_table(m: dict) -> str:
    """t2v and v2t R@1 per seed, mean and std of each variant."""
    variants = list(m["seeds"])
    seeds = list(m["seeds"][variants[0]])
    width = max(len(f"{v}, t2v R@1") for v in variants)
    head = ["student"] + [f"seed {s}" for s in seeds] + ["mean", "std"]
    lines = ["  ".join(f"{h:>{width}}" if i == 0 else f"{h:>7}" for i, h in enumerate(head))]
    for d in ("t2v", "v2t"):
        for v in variants:
            vals = [m["seeds"][v][s][d]["R@1"] for s in seeds] + [m["mean"][v][d]["R@1"], m["std"][v][d]["R@1"]]
            lines.append(f"{f'{v}, {d} R@1':>{width}}  " + "  ".join(f"{x:7.1f}" for x in vals))
    return "\n".join(lines)
