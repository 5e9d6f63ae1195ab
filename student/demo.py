"""``teachkit student demo``: plain vs distilled students over several seeds, one table.

For each seed the demo trains the configured (distilled) student and the same student with
every distillation term off, with the same seed, budget, batches and initialisation, so the
only difference is what the teachers contribute. The teachers' own test-split figures come
from their stored scores (a captions x videos matrix per teacher, ranked by
:func:`stores.metrics.retrieval_metrics`); no teacher runs.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

import stores
from stores.metrics import retrieval_metrics

from .config import ConfigError, DemoConfig
from .knowledge import current_teachers, split_pairs
from .runs import write_json
from .train import train, with_seed

TABLE_KEYS = ("R@1", "R@5", "R@10", "MdR", "MnR")

TEACHER_SCORES_SQL = "SELECT caption_id, video_id, score FROM scores WHERE teacher = ? AND split = ?"


def teacher_metrics(store_root: str, split: str) -> dict[str, dict]:
    """Each current teacher's retrieval metrics from its stored scores of ``split``."""
    out = {}
    with stores.connect(store_root) as con:
        pairs = split_pairs(con, split, drop_excluded=False)
        caption_index = {c: i for i, (c, _, _) in enumerate(pairs)}
        video_ids = sorted({v for _, v, _ in pairs})
        video_index = {v: i for i, v in enumerate(video_ids)}
        gt = np.array([video_index[v] for _, v, _ in pairs], dtype=np.int64)
        for teacher in current_teachers(con):
            t = con.sql(TEACHER_SCORES_SQL, params=[teacher, split]).to_arrow_table()
            if t.num_rows == 0:
                continue
            sim = np.full((len(pairs), len(video_ids)), np.nan, dtype=np.float32)
            rows = np.array([caption_index.get(c, -1) for c in t.column("caption_id").to_pylist()])
            cols = np.array([video_index.get(v, -1) for v in t.column("video_id").to_pylist()])
            keep = (rows >= 0) & (cols >= 0)
            sim[rows[keep], cols[keep]] = t.column("score").to_numpy().astype(np.float32)[keep]
            out[teacher] = retrieval_metrics(sim, gt)
    return out


#: what each student of the demo is, by the name its metrics go under
VARIANTS = {
    "student_plain": "InfoNCE only",
    "student_distilled": "the config's distillation recipe (without its relational terms when ablating them)",
    "student_relational": "InfoNCE + the relational terms only",
    "student_distilled_relational": "the recipe + the relational terms (the config as written)",
}


def demo_variants(demo: DemoConfig) -> dict:
    """The experiment config of each student the demo trains per seed."""
    exp = demo.experiment
    plain = dataclasses.replace(exp, loss=exp.loss.without_distillation())
    if not demo.ablate_relational:
        return {"student_plain": plain, "student_distilled": exp}
    return {
        "student_plain": plain,
        "student_distilled": dataclasses.replace(exp, loss=exp.loss.without_relational()),
        "student_relational": dataclasses.replace(exp, loss=exp.loss.relational_only()),
        "student_distilled_relational": exp,
    }


def summary(m: dict, keys=TABLE_KEYS) -> dict:
    return {d: {k: m[d][k] for k in keys} for d in ("t2v", "v2t")}


def aggregate(per_seed: list[dict], fn) -> dict:
    return {
        d: {k: float(fn([m[d][k] for m in per_seed])) for k in per_seed[0][d]} for d in ("t2v", "v2t")
    }


def run_demo(demo: DemoConfig, progress=None, log=print, only: list[str] | None = None) -> dict:
    """Train every student of the demo (those named in ``only``, if given: e.g. ``["plain"]``),
    write ``<out>/metrics.json`` and return it."""
    exp = demo.experiment
    variants = demo_variants(demo)
    if only:
        unknown = sorted(set(only) - {k.removeprefix("student_") for k in variants})
        if unknown:
            raise ConfigError(f"--variants: unknown {unknown}; this demo trains {[k.removeprefix('student_') for k in variants]}")
        variants = {k: v for k, v in variants.items() if k.removeprefix("student_") in only}
    out = Path(demo.out)
    results: dict[str, dict[str, dict]] = {k: {} for k in variants}
    val: dict[str, dict[str, dict]] = {k: {} for k in variants}
    runs: dict[str, dict[str, str]] = {k: {} for k in variants}
    timings: dict[str, dict] = {}
    used_teachers: dict = {}
    t0 = time.perf_counter()
    # the teachers' figures and fingerprints first: every student below must read these runs
    teachers = teacher_metrics(exp.data.store, exp.data.test_split)
    with stores.connect(exp.data.store) as con:
        snapshot = current_teachers(con)
    for seed in demo.seeds:
        for name, cfg in variants.items():
            run_name = f"{name.removeprefix('student_')}-seed{seed}"
            r = train(with_seed(cfg, seed, run_name, str(out)), progress=progress)
            results[name][str(seed)] = r.metrics
            if r.val_metrics:
                val[name][str(seed)] = r.val_metrics
            runs[name][str(seed)] = str(r.folder)
            timings[run_name] = r.timings
            changed = sorted(t for t, run in r.teachers.items() if snapshot.get(t) != run)
            if changed:
                raise RuntimeError(f"teacher runs changed in the store during the demo: {changed}")
            used_teachers.update(r.teachers)
            t = r.timings
            log(
                f"{run_name}: t2v R@1 {r.metrics['t2v']['R@1']:.1f}  v2t R@1 {r.metrics['v2t']['R@1']:.1f}  "
                f"loss {r.first_loss:.3f} -> {r.last_loss:.3f}  step {t['step_ms']:.0f} ms, "
                f"batch assembly {t['batch_assembly_ms']:.1f} ms, wait {t['batch_wait_ms']:.1f} ms"
            )
    metrics = demo_metrics(results, val, runs, timings, teachers, used_teachers,
                           time.perf_counter() - t0, exp.to_dict())
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", metrics)
    return metrics


def demo_metrics(results, val, runs, timings, teachers, used_teachers, wall_s, config) -> dict:
    """``metrics.json``: per-seed metrics of each variant, their means and standard deviations."""
    per_seed = {k: list(v.values()) for k, v in results.items()}
    return {
        "teachers": {t: summary(m) for t, m in teachers.items()},
        **{k: summary(aggregate(v, np.mean)) for k, v in per_seed.items()},
        "seeds": results,
        "mean": {k: aggregate(v, np.mean) for k, v in per_seed.items()},
        "std": {k: aggregate(v, np.std) for k, v in per_seed.items()},
        **({"val_mean": {k: summary(aggregate(list(v.values()), np.mean)) for k, v in val.items() if v},
            "val_seeds": val} if any(val.values()) else {}),
        "teachers_full": teachers,
        "teacher_runs": used_teachers,
        "runs": runs,
        "timings": timings,
        "wall_s": wall_s,
        "config": config,
    }


RELATIONAL_VARIANTS = ("student_relational", "student_distilled_relational")


def _comparable(part: dict) -> dict:
    """A folder's config without what its students never read (a folder without relational
    students ignores ``loss.relational``)."""
    value = part["config"]
    if any(k in RELATIONAL_VARIANTS for k in part["seeds"]):
        return value
    return _strip(value)


def _strip(config: dict) -> dict:
    return {**config, "loss": {k: v for k, v in config["loss"].items() if k != "relational"}}


def merge_demos(folders: list[str | Path], out: str | Path) -> dict:
    """One ``metrics.json`` from demos of one config run on disjoint (student, seed) sets
    (e.g. one process per seed, ``--seeds`` / ``--variants``).

    Refuses folders whose config or teacher runs differ, or that share a student and seed;
    every student must end up with the same seeds.
    """
    import json

    parts = [json.loads((Path(f) / "metrics.json").read_text()) for f in folders]
    first = max(parts, key=lambda p: any(k in RELATIONAL_VARIANTS for k in p["seeds"]))
    teacher_runs: dict = {}
    for f, p in zip(folders, parts):
        if _comparable(p) != _comparable(first) and _comparable(p) != _strip(first["config"]):
            raise ValueError(f"{f}: its config differs from the other folders'; only one experiment merges")
        for t, run in p["teacher_runs"].items():
            if teacher_runs.setdefault(t, run) != run:
                raise ValueError(f"{f}: read another run of teacher {t!r} than the other folders")
    found = {k for p in parts for k in p["seeds"]}
    names = [k for k in VARIANTS if k in found] + sorted(found - set(VARIANTS))
    results = {k: {} for k in names}  # in the demo's order (metrics.json keeps keys sorted)
    val = {k: {} for k in names}
    runs = {k: {} for k in names}
    timings: dict = {}
    for f, p in zip(folders, parts):
        for k in p["seeds"]:
            shared = set(results[k]) & set(p["seeds"][k])
            if shared:
                raise ValueError(f"{f}: seed(s) {sorted(shared)} of {k} are in another folder too")
            results[k].update(p["seeds"][k])
            val[k].update(p.get("val_seeds", {}).get(k, {}))
            runs[k].update(p["runs"][k])
        timings.update(p["timings"])
    results = {k: dict(sorted(v.items(), key=lambda kv: int(kv[0]))) for k, v in results.items()}
    seeds = {k: sorted(v) for k, v in results.items()}
    if len({tuple(v) for v in seeds.values()}) > 1:
        raise ValueError(f"the students would have different seeds: {seeds}")
    metrics = demo_metrics(results, val, runs, timings, first["teachers_full"], teacher_runs,
                           sum(p["wall_s"] for p in parts), first["config"])
    metrics["merged_from"] = [str(f) for f in folders]
    Path(out).mkdir(parents=True, exist_ok=True)
    write_json(Path(out) / "metrics.json", metrics)
    return metrics


def demo_table(metrics: dict) -> str:
    from stores.metrics import format_table

    rows = {f"teacher {t}": m for t, m in metrics["teachers"].items()}
    n = len(next(iter(metrics["seeds"].values())))
    for variant in metrics["seeds"]:
        rows[f"student {variant.removeprefix('student_').replace('_', ' + ')} (mean of {n})"] = metrics[variant]
    return format_table(rows, TABLE_KEYS)


def seed_table(metrics: dict) -> str:
    from stores.metrics import format_table

    rows = {}
    for variant, seeds in metrics["seeds"].items():
        for seed, m in seeds.items():
            rows[f"{variant.removeprefix('student_')} seed {seed}"] = m
    for variant, m in metrics["std"].items():
        rows[f"{variant.removeprefix('student_')} std"] = m
    return format_table(rows, TABLE_KEYS)
