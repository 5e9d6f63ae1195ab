"""``teachkit teachers run``: every teacher once, into the store.

Steps: demo data (if configured) -> manifest (skipped when unchanged) -> bootstrapped
checkpoints -> per teacher a fingerprint; a teacher whose fingerprint has a committed run
prints ``cached`` and loads nothing. The others are loaded once each and computed
together, split by split: each video is decoded once for all of them
(:mod:`.videos`), then each teacher scores its pending shards (:mod:`.shards`), measures
its test-split retrieval from what it stored (:mod:`.quality`) and commits.

Progress goes to stderr; one result line per teacher and the metrics table go to stdout.
"""

from __future__ import annotations

import gc
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

import stores.progress
from stores.layout import Store
from stores.metrics import format_table
from stores.writer import RunWriter

from ..config import PipelineConfig
from .candidates import CandidateLists, candidate_run
from .prepare import TeacherPlan, ensure_bootstraps, ensure_demo, ensure_manifest, plan_teacher

__all__ = ["Outcome", "run_teachers"]


@dataclass
class Outcome:
    """What happened to one teacher in a run (also what the CLI prints)."""

    name: str
    kind: str
    status: str  # cached | computed | imported | missing
    run: str | None = None
    rows: int = 0
    frame_rows: int = 0
    skipped_videos: int = 0
    loaded: bool = False  # whether this run loaded the teacher's model
    seconds: float = 0.0  # this teacher's own time (load, encode, score, write, metrics)
    metrics: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    def line(self) -> str:
        head = f"{self.name:<16} {self.status:<9}"
        if self.status == "missing":
            return head + " no imported scores in the store (`teachkit scores import`)"
        text = f"{head} run {self.run}  {self.rows:,} scores"
        if self.frame_rows:
            text += f", {self.frame_rows:,} frame scores"
        if self.status == "computed":
            text += f"  in {self.seconds:.1f}s"
        if self.skipped_videos:
            text += f"  (skipped {self.skipped_videos} undecodable video(s); see the failures view)"
        return text


class Job:
    """A teacher being computed in this run: its plan, model, writer and tallies."""

    def __init__(self, plan: TeacherPlan, teacher, writer: RunWriter):
        self.plan, self.cfg, self.name = plan, plan.cfg, plan.name
        self.teacher, self.writer = teacher, writer
        self.timings: dict[str, float] = defaultdict(float)
        self.committed = False
        self.candidates = None  # rerankers: pipeline.run.candidates.CandidateLists

    def add_time(self, stage: str, seconds: float) -> None:
        self.timings[stage] += seconds


def run_teachers(
    cfg: PipelineConfig,
    only: list[str] | None = None,
    out: Callable[[str], None] = print,
    log: Callable[[str], None] | None = None,
    progress: bool = True,
) -> list[Outcome]:
    """Run the selected teachers (all when ``only`` is empty); return one Outcome each."""
    console = stores.progress.stderr_console()
    log = log or stores.progress.log
    from ..teachers.checks import check_teacher

    selected = cfg.select(only)
    for t in selected:  # cheap (small files only): a bad checkpoint is refused before the manifest
        if t.bootstrap is None:
            check_teacher(t)
    if cfg.overrides:
        log("config overrides: " + " ".join(cfg.overrides))
    t0 = time.perf_counter()
    ensure_demo(cfg, log)
    t1 = time.perf_counter()
    manifest = ensure_manifest(cfg, log, progress)
    store = Store(cfg.store.root)
    t2 = time.perf_counter()
    ensure_bootstraps(selected, store.root, log, cfg.pretrained)
    for t in selected:
        if t.bootstrap is not None:
            check_teacher(t)
    t3 = time.perf_counter()
    log(f"ready in {t3 - t0:.1f}s (demo {t1 - t0:.1f}s, manifest {t2 - t1:.1f}s, bootstrap {t3 - t2:.1f}s)")

    outcomes: dict[str, Outcome] = {}
    todo: list[TeacherPlan] = []
    later = []
    # rerankers after the teachers they rerank: planned once their candidates are committed
    for t in [t for t in selected if t.kind != "reranker"] + [t for t in selected if t.kind == "reranker"]:
        if t.kind == "imported":
            from ..teachers.imported import imported_runs

            row = imported_runs(store).get(t.name)
            outcomes[t.name] = (
                _from_row(store, t.name, "imported", row) if row else Outcome(t.name, t.kind, "missing")
            )
            out(outcomes[t.name].line())
            continue
        if t.kind == "reranker" and t.candidates in {p.name for p in todo}:
            later.append(t)
            continue
        plan = plan_teacher(t, cfg.frames, manifest, candidate_run(store, t) if t.kind == "reranker" else None)
        row = store.committed_run(t.name, plan.fingerprint)
        if row is not None:
            outcomes[t.name] = _from_row(store, t.name, "cached", row)
            out(outcomes[t.name].line())
        else:
            todo.append(plan)
    start = time.perf_counter()
    for o in _compute(todo, cfg, store, console, log, progress) if todo else []:
        outcomes[o.name] = o
        out(o.line())
    # rerankers of runs computed just now (a reranker of a reranker computed in the same call reads
    # its candidate's previous run, or is refused when there is none: run them one after the other)
    reranked = [plan_teacher(t, cfg.frames, manifest, candidate_run(store, t)) for t in later]
    for o in _compute(reranked, cfg, store, console, log, progress) if reranked else []:
        outcomes[o.name] = o
        out(o.line())
    if todo or reranked:
        out(f"{len(todo) + len(reranked)} teacher(s) computed in {time.perf_counter() - start:.1f}s")
    ordered = [outcomes[t.name] for t in selected]
    table = {o.name: o.metrics for o in ordered if "t2v" in o.metrics or "not_measurable" in o.metrics}
    if table:
        out("")
        out("test-split retrieval, computed from the stored scores:")
        out(format_table(table))
    return ordered


def _from_row(store: Store, name: str, status: str, row: dict) -> Outcome:
    metrics = json.loads(row.get("metrics") or "{}")
    frame_rows = store.shard_rows("frames", name, row["run"])
    return Outcome(name, row["kind"], status, row["run"], int(row["rows"]), frame_rows,
                   metrics=metrics, timings=json.loads(row.get("timings") or "{}"))


def _compute(plans: list[TeacherPlan], cfg: PipelineConfig, store: Store, console, log, progress: bool):
    from stores.errors import InputError, TeachkitError

    from ..teachers import build_teacher
    from ..teachers.device import resolve_device

    jobs: list[Job] = []
    started = time.perf_counter()
    # every teacher is loaded and checked before any run is begun: a teacher that cannot be
    # loaded leaves no `running` row behind, its own or another's
    loaded = []
    for plan in plans:
        t0 = time.perf_counter()
        try:
            device = resolve_device(plan.cfg.device)
        except InputError as e:
            raise InputError(f"teacher {plan.name}: {e.one_line()}") from None
        log(f"{plan.name}: loading {plan.cfg.kind} teacher {plan.model or plan.cfg.plugin} on {device}")
        teacher = build_teacher(plan.cfg, plan.model, device)
        _check_capabilities(plan, teacher)
        loaded.append((plan, teacher, time.perf_counter() - t0))
    for plan, teacher, load_s in loaded:
        writer = RunWriter(store, plan.name, plan.cfg.kind, plan.fingerprint, plan.config_json,
                           plan.code_version, plan.cfg.score_dtype,
                           embedding_dtype=plan.cfg.embeddings if plan.cfg.embeddings != "none" else "float16")
        done = writer.begin()
        if done:
            log(f"{plan.name}: resuming run {writer.run} ({done} shard files already written)")
        job = Job(plan, teacher, writer)
        if plan.candidates is not None:  # a reranker scores the candidate run's top-k
            job.candidates = CandidateLists(store, plan.candidates, plan.cfg.k)
        job.add_time("load", load_s)
        jobs.append(job)
    try:
        return _compute_jobs(jobs, cfg, store, console, progress, started)
    except Exception as e:
        # a refused or failed run says so in its `runs` row (a rerun resumes it); a kill
        # leaves `running`, which a rerun resumes the same way
        for j in jobs:
            if not j.committed:
                j.writer.fail(e.one_line() if isinstance(e, TeachkitError) else f"{type(e).__name__}: {e}")
        raise


def _compute_jobs(jobs: list[Job], cfg: PipelineConfig, store: Store, console, progress: bool, started: float):
    import torch

    from stores.splits import load_splits
    from .quality import EVAL_SPLIT, stored_metrics
    from .shards import pending_shards, write_split
    from .videos import encode_split

    splits = load_splits(store)  # video paths against the root ensure_manifest recorded
    with stores.progress.progress(enabled=progress, console=console) as bar:
        for split in splits.values():
            active = [j for j in jobs if pending_shards(j, split)]
            if not active:
                continue
            encoded = encode_split(split, active, cfg.frames, bar)
            for j in active:
                enc = encoded.pop(j.name)
                j.writer.write_failures(f"videos-{split.name}", enc.failures)
                j.writer.write_failures(f"warnings-{split.name}", enc.warnings, level="warning")
                write_split(j, split, enc, bar)
                del enc
            del encoded

    outcomes, empty = [], []
    for j in jobs:
        t0 = time.perf_counter()
        failures = j.writer.failures()
        failed = {item for item, _ in failures}
        rows = j.writer.rows("scores")
        if rows == 0:  # the others still commit; this one is refused below
            empty.append(_empty_run(j, failures, splits))
            continue
        metrics = stored_metrics(j.writer, splits[EVAL_SPLIT]) if EVAL_SPLIT in splits else {}
        j.add_time("metrics", time.perf_counter() - t0)
        own = sum(j.timings.values())
        # "wall": the whole computation, shared by the teachers computed together
        timings = {k: round(v, 3) for k, v in j.timings.items()} | {
            "own": round(own, 3), "wall": round(time.perf_counter() - started, 3)}
        j.writer.commit(timings=timings, metrics=metrics)
        j.committed = True
        outcomes.append(Outcome(
            j.name, j.cfg.kind, "computed", j.writer.run, rows, j.writer.rows("frames"),
            len(failed), loaded=True, seconds=own, metrics=metrics, timings=timings,
        ))
        j.teacher = None
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if empty:
        raise empty[0]
    return outcomes



def _empty_run(job: Job, failures: list[tuple[str, str]], splits: dict):
    """The error for a run that scored no pair: it is never committed (it would be `cached` after)."""
    from stores.errors import RuntimeFailure

    videos = sum(len(s.video_ids) for s in splits.values())
    if job.teacher.needs_frames and failures:
        item, why = failures[0]
        return RuntimeFailure(
            f"teacher {job.name}: no video could be decoded ({len(failures)} of {videos} failed, e.g. "
            f"{item}: {why}); nothing committed"
        )
    return RuntimeFailure(f"teacher {job.name}: the run scored no (caption, video) pair; nothing committed")


def _check_capabilities(plan: TeacherPlan, teacher) -> None:
    """Fail before any work when the config asks for something the teacher cannot do."""
    from ..teachers.plugin import PluginError

    if plan.cfg.plan == "topk" and plan.cfg.kind != "reranker":  # a reranker takes another run's top-k
        missing = [m for m in ("holistic_videos", "holistic_captions") if not callable(getattr(teacher, m, None))]
        if missing:
            raise PluginError(f"teacher {plan.name}: plan = 'topk' needs {missing} (see pipeline/teachers/protocol.py)")
