"""``teachkit student compare``: plain vs distilled students over several seeds, one table.

For each seed the demo trains the configured (distilled) student and the same student with
every distillation term off, with the same seed, budget, batches and initialisation, so the
only difference is what the teachers contribute. The teachers' own test-split figures come
from their stored scores (a captions x videos matrix per teacher, ranked by
:func:`teachkit.util.metrics.teacher_metrics`, the rule the teacher stage records in
``current_runs.metrics``); no teacher runs.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

import stores
from teachkit.util.metrics import teacher_metrics as teacher_split_metrics
from stores.splits import current_teachers, split_pairs

from .config import ComparisonConfig, ConfigError, ExperimentConfig
from .pool import train_students
from .runs import write_json
from .train import prepare_frames, with_seed

TABLE_KEYS = ("R@1", "R@5", "R@10", "MdR", "MnR")

TEACHER_SCORES_SQL = "SELECT caption_id, video_id, score FROM scores WHERE teacher = ? AND split = ?"
SPLIT_VIDEOS_SQL = "SELECT video_id FROM videos WHERE split = ? ORDER BY video_id"


def teacher_metrics(store_root: str, split: str) -> dict[str, dict]:
    """Each current teacher's retrieval metrics from its stored scores of ``split``.

    Every caption and video of the split is a row and column; :func:`teachkit.util.metrics.teacher_metrics`
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


#: what each student of the demo is, by the name its metrics go under
VARIANTS = {
    "student_plain": "InfoNCE only",
    "student_distilled": "the config's distillation recipe (without its relational terms when ablating them)",
    "student_relational": "InfoNCE + the relational terms only",
    "student_distilled_relational": "the recipe + the relational terms (the config as written)",
    "student_audited": "the distilled student without the captions the store's caption audit flagged",
    "student_oracle": "the distilled student without exactly the wrong captions of comparison.truth (the bound)",
}

#: how the tables name a student
LABELS = {
    "student_audited": "distilled, audit-cleaned",
    "student_oracle": "distilled, truth-cleaned (bound)",
}


def label(variant: str) -> str:
    return LABELS.get(variant, variant.removeprefix("student_").replace("_", " + "))


def with_captions(exp: ExperimentConfig, drop_excluded: bool, exclude: str | None = None) -> ExperimentConfig:
    """``exp`` trained on all captions, without the audit's exclusions or without a truth file's wrong ones."""
    return dataclasses.replace(exp, data=dataclasses.replace(exp.data, drop_excluded=drop_excluded,
                                                             exclude_captions=exclude))


def base_experiment(comparison: ComparisonConfig) -> ExperimentConfig:
    """The config every student of ``demo`` starts from: with ``[demo] audit`` on all captions
    (the audit's students differ from the others only in their captions)."""
    return with_captions(comparison.experiment, drop_excluded=False) if comparison.audit else comparison.experiment


def comparison_variants(comparison: ComparisonConfig) -> dict:
    """The experiment config of each student the demo trains per seed."""
    exp = base_experiment(comparison)
    plain = dataclasses.replace(exp, loss=exp.loss.without_distillation())
    if not comparison.ablate_relational:
        out = {"student_plain": plain, "student_distilled": exp}
    else:
        out = {
            "student_plain": plain,
            "student_distilled": dataclasses.replace(exp, loss=exp.loss.without_relational()),
            "student_relational": dataclasses.replace(exp, loss=exp.loss.relational_only()),
            "student_distilled_relational": exp,
        }
    if comparison.audit:
        distilled = out["student_distilled"]
        out["student_audited"] = with_captions(distilled, drop_excluded=True)
        if comparison.truth:
            out["student_oracle"] = with_captions(distilled, drop_excluded=False, exclude=comparison.truth)
    return out


def current_audit(store_root: str) -> dict:
    """``{"run", "excluded"}`` of the store's current caption audit; an error without one."""
    with stores.connect(store_root) as con:
        audit = con.execute("SELECT DISTINCT run FROM caption_audit").fetchone()
        excluded = con.execute("SELECT count(*) FROM exclusions").fetchone()[0]
    if audit is None:
        raise ConfigError("the store has no caption audit: run `teachkit captions audit` first "
                          "(`make teachers` does), or set comparison.audit = false")
    return {"run": audit[0], "excluded": int(excluded)}


def summary(m: dict, keys=TABLE_KEYS) -> dict:
    return {d: {k: m[d][k] for k in keys} for d in ("t2v", "v2t")}


def aggregate(per_seed: list[dict], fn) -> dict:
    return {
        d: {k: float(fn([m[d][k] for m in per_seed])) for k in per_seed[0][d]} for d in ("t2v", "v2t")
    }


def run_comparison(comparison: ComparisonConfig, progress=None, log=print, only: list[str] | None = None) -> dict:
    """Train every student of the demo (those named in ``only``, if given: e.g. ``["plain"]``),
    write ``<out>/metrics.json`` and return it."""
    exp = comparison.experiment
    variants = comparison_variants(comparison)
    if only:
        unknown = sorted(set(only) - {k.removeprefix("student_") for k in variants})
        if unknown:
            raise ConfigError(f"--variants: unknown {unknown}; this comparison trains {[k.removeprefix('student_') for k in variants]}")
        variants = {k: v for k, v in variants.items() if k.removeprefix("student_") in only}
    out = Path(comparison.out)
    results: dict[str, dict[str, dict]] = {k: {} for k in variants}
    val: dict[str, dict[str, dict]] = {k: {} for k in variants}
    runs: dict[str, dict[str, str]] = {k: {} for k in variants}
    timings: dict[str, dict] = {}
    used_teachers: dict = {}
    t0 = time.perf_counter()
    if "student_audited" in variants:
        if comparison.truth and not Path(comparison.truth).is_file():
            raise ConfigError(f"comparison.truth: no file {comparison.truth}")
        audit = current_audit(exp.data.store)  # before any training: the audit these students honour
    # the teachers' figures and fingerprints first: every student below must read these runs
    teachers = teacher_metrics(exp.data.store, exp.data.test_split)
    with stores.connect(exp.data.store) as con:
        snapshot = current_teachers(con)
    jobs = [(f"{name.removeprefix('student_')}-seed{seed}", name, seed, cfg)
            for seed in comparison.seeds for name, cfg in variants.items()]

    def finished(run_name: str, r) -> None:
        t = r.timings
        log(
            f"{run_name}: t2v R@1 {r.metrics['t2v']['R@1']:.1f}  v2t R@1 {r.metrics['v2t']['R@1']:.1f}  "
            f"loss {r.first_loss:.3f} -> {r.last_loss:.3f}  step {t['step_ms']:.0f} ms, "
            f"batch assembly {t['batch_assembly_ms']:.1f} ms, wait {t['batch_wait_ms']:.1f} ms"
        )

    if comparison.jobs > 1 and len(jobs) > 1:
        prepare_frames(exp, progress)
    trained = train_students([(run_name, with_seed(cfg, seed, run_name, str(out)))
                              for run_name, _, seed, cfg in jobs], comparison.jobs, progress, finished)
    for run_name, name, seed, _ in jobs:
        r = trained[run_name]
        results[name][str(seed)] = r.metrics
        if r.val_metrics:
            val[name][str(seed)] = r.val_metrics
        runs[name][str(seed)] = str(r.folder)
        timings[run_name] = r.timings
        changed = sorted(t for t, run in r.teachers.items() if snapshot.get(t) != run)
        if changed:
            raise RuntimeError(f"teacher runs changed in the store during the comparison: {changed}")
        used_teachers.update(r.teachers)
    metrics = demo_metrics(results, val, runs, timings, teachers, used_teachers,
                           time.perf_counter() - t0, exp.to_dict())
    if "student_audited" in variants:
        metrics["audit"] = {**audit, "truth": comparison.truth or None}
    metrics["jobs"] = comparison.jobs
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", metrics)
    return metrics


def demo_metrics(results, val, runs, timings, teachers, used_teachers, wall_s, config) -> dict:
    """``metrics.json``: per-seed metrics of each variant, their means and standard deviations."""
    per_seed = {k: list(v.values()) for k, v in results.items()}
    return {
        "teachers": {t: summary(m) if "t2v" in m else m for t, m in teachers.items()},
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


def _comparable(part: dict, other: dict) -> tuple[dict, dict]:
    """Two folders' configs without what either one's students never read (a folder without
    relational students ignores ``loss.relational``)."""
    a, b = part["config"], other["config"]
    if all(any(k in RELATIONAL_VARIANTS for k in p["seeds"]) for p in (part, other)):
        return a, b

    def strip(value: dict) -> dict:
        return {**value, "loss": {k: v for k, v in value["loss"].items() if k != "relational"}}

    return strip(a), strip(b)


def merge_comparisons(folders: list[str | Path], out: str | Path) -> dict:
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
        mine, theirs = _comparable(p, first)
        if mine != theirs:
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
    audits = [p["audit"] for p in parts if "audit" in p]
    if audits:
        if any(a != audits[0] for a in audits):
            raise ValueError("the folders' audited students honoured different caption audits")
        metrics["audit"] = audits[0]
    metrics["merged_from"] = [str(f) for f in folders]
    Path(out).mkdir(parents=True, exist_ok=True)
    write_json(Path(out) / "metrics.json", metrics)
    return metrics


def comparison_table(metrics: dict) -> str:
    from teachkit.util.metrics import format_table

    rows = {f"teacher {t}": m for t, m in metrics["teachers"].items()}
    n = len(next(iter(metrics["seeds"].values())))
    for variant in metrics["seeds"]:
        rows[f"student {label(variant)} (mean of {n})"] = metrics[variant]
    return format_table(rows, TABLE_KEYS)


def seed_table(metrics: dict) -> str:
    from teachkit.util.metrics import format_table

    rows = {}
    for variant, seeds in metrics["seeds"].items():
        for seed, m in seeds.items():
            rows[f"{label(variant)} seed {seed}"] = m
    for variant, m in metrics["std"].items():
        rows[f"{label(variant)} std"] = m
    return format_table(rows, TABLE_KEYS)
