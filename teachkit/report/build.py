"""``build_report``: read the store and a run group, draw every figure, write the page.

Each section is drawn from what exists; a missing input (no bench results, no caption
audit, no ground truth, no AFA student, no training log) becomes a one-line note on the
page saying what is missing and how to get it, never an error.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import Callable

import numpy as np

import stores
from teachkit.util.errors import InputError, UsageError

from . import figures
from .agreement import AuditCurve, agreement, audit_curve
from .page import PAGE, Section, table_html, write_page
from .relevance import StudentFrames, caption_relevance, pick_captions
from .results import ModelResult, ground_truth, merge_teachers, read_group, scale_table, teacher_results, training_logs

TABLE_METRICS = ("R@1", "R@5", "R@10", "MdR")


def _cell(vals: list[float]) -> str:
    if not vals:
        return "-"
    return f"{np.mean(vals):.1f} ± {np.std(vals):.1f}" if len(vals) > 1 else f"{vals[0]:.1f}"


def comparison_section(models: list[ModelResult]) -> Section:
    header = ["model", "seeds"] + [f"{d} {m}" for d in ("t2v", "v2t") for m in TABLE_METRICS]
    rows = [[m.name.removeprefix("student_"), str(len(m.seeds)) if m.kind == "student" else "-"]
            + [_cell(m.values(d, k)) for d in ("t2v", "v2t") for k in TABLE_METRICS] for m in models]
    seeds = max((len(m.seeds) for m in models if m.kind == "student"), default=0)
    return Section(
        "Teachers and students",
        f"Test split; students: mean ± standard deviation over {seeds} seed(s), each seed a dot. "
        "Teachers are deterministic (one value, from the store's <code>current_runs</code>).",
        [("comparison", figures.comparison(models))],
        table_html(header, rows),
    )


def training_section(logs: dict[str, list[dict]]) -> Section:
    if not logs:
        return Section("Training curves", "No run of this group logged <code>train_log.jsonl</code> "
                       "(<code>[train] log</code> without <code>\"jsonl\"</code>).")
    has_val = any(k.startswith("val/") for rows in logs.values() for r in rows for k in r)
    note = "" if has_val else (" No validation R@1 was logged: set <code>data.holdout_videos</code> and "
                               "<code>train.eval_every</code> to log it during training.")
    return Section("Training curves", f"From each run's <code>train_log.jsonl</code> ({len(logs)} runs).{note}",
                   [("training", figures.training_curves(logs))])


def relevance_section(con, gt: dict | None, student: StudentFrames | None, captions: list[str], split: str,
                      n: int) -> Section:
    ids = captions or pick_captions(con, split, gt, n)
    if not ids:
        return Section("Frame relevance", f"No teacher stored frame relevance for split {html.escape(split)!r}.")
    notes = []
    if student is None:
        notes.append("no run of this group has an AFA head, so no student row")
    if gt is None:
        notes.append("no ground truth given (<code>--ground-truth</code>), so no event row")
    figs = [(f"relevance-{i}", figures.relevance_heatmap(caption_relevance(con, c, gt, student)))
            for i, c in enumerate(ids)]
    text = ("Per caption, each model's relevance of every frame of the caption's own video, min-max scaled per "
            "row (grey: frames the model did not sample)" + ("; " + "; ".join(notes) if notes else "") + ".")
    return Section("Frame relevance", text, figs)


def agreement_section(con, split: str) -> Section:
    rho = agreement(con, split)
    if not rho:
        return Section("Teacher agreement", "Fewer than two teachers scored the same pairs: nothing to compare.")
    rows = [[f"{a} vs {b}", f"{v.mean():.3f}", f"{np.quantile(v, 0.1):.3f}", f"{np.quantile(v, 0.9):.3f}", str(len(v))]
            for (a, b), v in rho.items()]
    return Section("Teacher agreement",
                   "Spearman's rank correlation of two teachers' scores over the videos, per caption.",
                   [("agreement", figures.agreement_figure(rho))],
                   table_html(["pair", "mean", "p10", "p90", "captions"], rows))


def audit_section(con, gt: dict | None) -> Section:
    curve = audit_curve(con, gt)
    if curve is None:
        return Section("Caption audit", "The store has no caption audit (no <code>caption_audit</code> view).")
    if not isinstance(curve, AuditCurve):
        return Section("Caption audit", html.escape(curve) + ".")
    return Section("Caption audit", "Captions ranked by the audit's noise score against the ground truth's wrong "
                   "captions.", [("audit", figures.audit_figure(curve))])


def scale_section(bench: Path) -> Section:
    table = scale_table(bench)
    if table is None:
        return Section("Scale", f"No scale results in <code>{html.escape(str(bench))}</code> "
                       "(<code>make bench</code> writes them).")
    return Section("Scale", f"Synthetic stores at growing sizes, from <code>{html.escape(str(bench))}</code>.",
                   [("scale", figures.scale_figure(table))])


def _check_out(out: Path) -> None:
    """The report replaces its folder whole: refuse one that holds anything else."""
    if out.exists():
        other = [p.name for p in out.iterdir() if p.name != PAGE and p.suffix != ".png"]
        if not out.is_dir() or other:
            raise InputError(f"--out {out}: not a report folder (holds {other[:3]}); pick an empty or new folder")


def build_report(
    store: str | Path,
    runs: str | Path,
    out: str | Path,
    ground_truth_path: str | Path | None = None,
    bench: str | Path = "bench/results.json",
    captions: list[str] | None = None,
    n_captions: int = 4,
    split: str = "test",
    log: Callable[[str], None] = lambda s: None,
) -> Path:
    """Write the report of ``runs`` (a run group) over ``store`` into ``out``; return the page."""
    out, runs = Path(out), Path(runs)
    if n_captions < 1:
        raise UsageError(f"--captions must be >= 1, got {n_captions}")
    _check_out(out)
    if not runs.is_dir():
        raise InputError(f"--runs {runs}: no such run folder (train students first: make student)")
    gt = ground_truth(ground_truth_path)
    group = read_group(runs)
    with stores.connect(store) as con:
        models = merge_teachers(teacher_results(con), group.teachers) + group.students
        sections = []
        log("report: teachers and students")
        if models:
            sections.append(comparison_section(models))
        log("report: training curves")
        sections.append(training_section(training_logs(group)))
        log("report: frame relevance")
        student = StudentFrames(group.afa_run, store) if group.afa_run else None
        sections.append(relevance_section(con, gt, student, captions or [], split, n_captions))
        log("report: teacher agreement")
        sections.append(agreement_section(con, split))
        sections.append(audit_section(con, gt))
    sections.append(scale_section(Path(bench)))
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    intro = (f"Store <code>{html.escape(str(store))}</code>, runs <code>{html.escape(str(runs))}</code>, "
             f"built {stamp} by <code>teachkit report</code>.")
    return write_page(out, "teachkit report", intro, sections)
