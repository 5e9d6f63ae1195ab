"""``teachkit student demo``: plain vs distilled students over several seeds, one table.

For each seed the demo trains the configured (distilled) student and the same student with
every distillation term off, with the same seed, budget, batches and initialisation, so the
only difference is what the teachers contribute. The teachers' own test-split figures come
from their stored scores (a captions x videos matrix per teacher, ranked by
:func:`stores.metrics.teacher_metrics`, the rule the teacher stage records in
``current_runs.metrics``); no teacher runs.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

import stores
from stores.metrics import teacher_metrics as teacher_split_metrics

from .config import ComparisonConfig
from .knowledge import current_teachers, split_pairs
from .runs import write_json
from .train import train, with_seed

TABLE_KEYS = ("R@1", "R@5", "R@10", "MdR", "MnR")

TEACHER_SCORES_SQL = "SELECT caption_id, video_id, score FROM scores WHERE teacher = ? AND split = ?"
SPLIT_VIDEOS_SQL = "SELECT video_id FROM videos WHERE split = ? ORDER BY video_id"


def teacher_metrics(store_root: str, split: str) -> dict[str, dict]:
    """Each current teacher's retrieval metrics from its stored scores of ``split``.

    Every caption and video of the split is a row and column; :func:`stores.metrics.teacher_metrics`
    then leaves out what the teacher could not score (videos that failed to decode), exactly
    as the teacher stage did when it recorded ``current_runs.metrics``.
    """
    out = {}
    with stores.connect(store_root) as con:
        pairs = split_pairs(con, split, drop_excluded=False)
        caption_index = {c: i for i, (c, _, _) in enumerate(pairs)}
        # every video of the split is a candidate (the teacher stage ranks over all of them)
        video_ids = [v for (v,) in con.execute(SPLIT_VIDEOS_SQL, [split]).fetchall()]
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
            out[teacher] = teacher_split_metrics(sim, gt, split)
    return out


def summary(m: dict, keys=TABLE_KEYS) -> dict:
    return {d: {k: m[d][k] for k in keys} for d in ("t2v", "v2t")}


def aggregate(per_seed: list[dict], fn) -> dict:
    return {
        d: {k: float(fn([m[d][k] for m in per_seed])) for k in per_seed[0][d]} for d in ("t2v", "v2t")
    }


def run_demo(demo: ComparisonConfig, progress=None, log=print) -> dict:
    """Train every student of the demo, write ``<out>/metrics.json`` and return it."""
    exp = demo.experiment
    variants = {
        "student_plain": dataclasses.replace(exp, loss=exp.loss.without_distillation()),
        "student_distilled": exp,
    }
    out = Path(demo.out)
    results: dict[str, dict[str, dict]] = {k: {} for k in variants}
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
    per_seed = {k: list(v.values()) for k, v in results.items()}
    metrics = {
        "teachers": {t: summary(m) if "t2v" in m else m for t, m in teachers.items()},
        **{k: summary(aggregate(v, np.mean)) for k, v in per_seed.items()},
        "seeds": results,
        "mean": {k: aggregate(v, np.mean) for k, v in per_seed.items()},
        "std": {k: aggregate(v, np.std) for k, v in per_seed.items()},
        "teachers_full": teachers,
        "teacher_runs": used_teachers,
        "runs": runs,
        "timings": timings,
        "wall_s": time.perf_counter() - t0,
        "config": exp.to_dict(),
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", metrics)
    return metrics


def demo_table(metrics: dict) -> str:
    from stores.metrics import format_table

    rows = {f"teacher {t}": m for t, m in metrics["teachers"].items()}
    n = len(next(iter(metrics["seeds"].values())))
    rows[f"student plain (mean of {n})"] = metrics["student_plain"]
    rows[f"student distilled (mean of {n})"] = metrics["student_distilled"]
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
