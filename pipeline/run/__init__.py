"""``teachkit teachers run``: every teacher once, into the store.

Steps: demo data (if configured) -> manifest (skipped when unchanged) -> bootstrapped
checkpoints -> per teacher a fingerprint; a teacher whose fingerprint has a committed run
prints ``cached`` and loads nothing. The others are computed together in two passes that
meet on disk: the encode pass decodes each video once for all of them and stores each
encoding's video features in encode shards (:mod:`.videos`); the score pass scores each
teacher's caption shards from those features (:mod:`.shards`); then each run measures its
test-split retrieval from what it stored (:mod:`.quality`) and commits (:mod:`.work`).

Where the units run is the engine's business: ``local`` (:mod:`.local`, this process, the
default), ``ray`` (:mod:`.ray_engine`, a Ray Data pipeline) or ``--shard i/n`` array jobs
(:func:`.local.run_share`, then ``teachkit teachers commit`` or the last job commits).

Progress goes to stderr; one result line per teacher and the metrics table go to stdout.
"""

from __future__ import annotations

import gc
import json
import time
from typing import Callable

import teachkit.util.progress
from stores.layout import Store
from teachkit.util.metrics import format_table

from ..config import PipelineConfig
from ..teachers.kinds import kind_of
from .candidates import candidate_run
from .prepare import TeacherIdentity, ensure_bootstraps, ensure_demo, ensure_manifest, identify_teacher
from .work import Job, Outcome

__all__ = ["Job", "Outcome", "commit_teachers", "parse_share", "run_teachers"]


def parse_share(text: str) -> tuple[int, int]:
    """``"i/n"`` (``--shard``) as ``(i, n)`` with ``0 <= i < n``."""
    from teachkit.util.errors import UsageError

    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard: expected i/n (e.g. 0/3), got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise UsageError(f"--shard: expected 0 <= i < n, got {text!r}")
    return i, n


def run_teachers(
    cfg: PipelineConfig,
    only: list[str] | None = None,
    out: Callable[[str], None] = print,
    log: Callable[[str], None] | None = None,
    progress: bool = True,
    shard: tuple[int, int] | None = None,
) -> list[Outcome]:
    """Run the selected teachers (all when ``only`` is empty); return one Outcome each.

    ``[engine] kind`` picks where: ``local`` (this process) or ``ray``; ``shard=(i, n)`` runs
    job i of an n-job array here instead (:func:`.local.run_share`), committing when its share
    completes the run, and returns the outcomes of the runs it committed or found cached."""
    console = teachkit.util.progress.stderr_console()
    log = log or teachkit.util.progress.log
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
    ensure_bootstraps(selected, store.root, log, cfg.pretrained, cfg.engine.bootstrap_jobs)
    for t in selected:
        if t.bootstrap is not None:
            check_teacher(t)
    t3 = time.perf_counter()
    log(f"ready in {t3 - t0:.1f}s (demo {t1 - t0:.1f}s, manifest {t2 - t1:.1f}s, bootstrap {t3 - t2:.1f}s)")

    outcomes: dict[str, Outcome] = {}
    todo: list[TeacherIdentity] = []
    identified: list[TeacherIdentity] = []
    later = []
    # teachers that read another's candidates after the others: planned once their candidates are committed
    for t in sorted(selected, key=lambda t: kind_of(t).needs_candidates):  # stable: config order otherwise
        kind = kind_of(t)
        if not kind.computed:
            from ..teachers.imported import imported_runs

            row = imported_runs(store).get(t.name)
            outcomes[t.name] = (
                _from_row(store, t.name, "imported", row) if row else Outcome(t.name, t.kind, "missing")
            )
            out(outcomes[t.name].line())
            continue
        if kind.local_only and (shard is not None or cfg.engine.kind != "local"):
            from teachkit.util.errors import UsageError

            raise UsageError(f"teacher {t.name}: {t.kind} teachers run on the local engine, without --shard")
        if kind.needs_candidates and t.candidates in {p.name for p in todo}:
            later.append(t)
            continue
        ident = identify_teacher(t, cfg.frames, manifest, cfg.engine.shard_videos,
                            candidates=candidate_run(store, t) if kind.needs_candidates else None)
        row = store.committed_run(t.name, ident.fingerprint)
        if shard is not None:  # every job lists every run's units alike, done or not
            identified.append(ident)
        if row is not None:
            store.make_current(t.name, row)  # an earlier config asked for again: its run is current again
            outcomes[t.name] = _from_row(store, t.name, "cached", row)
            out(outcomes[t.name].line())
        else:
            todo.append(ident)
    start = time.perf_counter()
    computed: list = []
    if todo:
        computed, missing = _compute(identified if shard else todo, cfg, store, console, log, progress, shard)
        for o in computed:
            outcomes[o.name] = o
            out(o.line())
        for name, left in missing:
            out(f"{name:<16} {'pending':<9} {left} caption shard(s) left to the other jobs "
                "(the last to finish commits; or `teachkit teachers commit`)")
    # rerankers of runs computed just now (a reranker of a reranker computed in the same call reads
    # its candidate's previous run, or is refused when there is none: run them one after the other)
    reranked = [identify_teacher(t, cfg.frames, manifest, cfg.engine.shard_videos, candidates=candidate_run(store, t))
                for t in later]
    if reranked:
        more, _ = _compute(reranked, cfg, store, console, log, progress, None)
        for o in more:
            outcomes[o.name] = o
            out(o.line())
        computed = computed + more
    if todo or reranked:
        out(f"{len(computed)} teacher(s) computed in {time.perf_counter() - start:.1f}s")
    ordered = [outcomes[t.name] for t in selected if t.name in outcomes]
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


def _compute(teachers: list[TeacherIdentity], cfg: PipelineConfig, store: Store, console, log, progress: bool,
             shard: tuple[int, int] | None):
    """(outcomes of the runs committed here, (teacher, caption shards missing) of the others)."""
    import torch

    from stores.splits import load_splits

    splits = load_splits(store)  # video paths against the root ensure_manifest recorded
    with teachkit.util.progress.progress(enabled=progress, console=console) as bar:
        if shard is not None:
            from .local import run_share

            result = run_share(teachers, cfg, store, splits, *shard, log, bar)
        elif cfg.engine.kind == "ray":
            from .ray_engine import run_ray

            result = run_ray(teachers, cfg, store, splits, log, progress), []
        else:
            from .local import run_local

            result = run_local(teachers, cfg, store, splits, log, bar), []
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return result


def commit_teachers(
    cfg: PipelineConfig,
    only: list[str] | None = None,
    out: Callable[[str], None] = print,
    log: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """``teachkit teachers commit``: commit every selected run whose shards are all written
    (after ``--shard i/n`` jobs); raise naming the runs that still miss shards."""
    from teachkit.util.errors import RuntimeFailure
    from stores.splits import load_splits

    from .local import try_commit

    log = log or teachkit.util.progress.log
    store = Store(cfg.store.root, options=cfg.store.options or None)
    manifest = store.require_manifest()
    teachers, outcomes = [], []
    for t in cfg.select(only):
        if not kind_of(t).computed:
            continue
        ident = identify_teacher(t, cfg.frames, manifest, cfg.engine.shard_videos)
        row = store.committed_run(t.name, ident.fingerprint)
        if row is not None:
            store.make_current(t.name, row)
            outcomes.append(_from_row(store, t.name, "cached", row))
            out(outcomes[-1].line())
        else:
            teachers.append(ident)
    committed, missing = try_commit(teachers, store, load_splits(store), time.perf_counter(), cfg, log)
    for o in committed:
        out(o.line())
    if missing:
        raise RuntimeFailure("not complete: " + ", ".join(
            f"teacher {name} misses {left} caption shard(s)" for name, left in missing
        ) + "; run the missing `teachers run --shard i/n` jobs")
    return outcomes + committed
