"""The ``local`` engine: both passes in this process, and its ``--shard i/n`` form for array jobs.

:func:`run_local` is today's runner: every teacher loaded once, each split's pending encode
shards decoded and encoded (:func:`.videos.encode_split`), then each teacher's pending caption
shards scored from the stored features (:func:`.shards.write_split`), then the commit.
:func:`run_share` does job ``i`` of ``n``'s share of the same units (:func:`.work.share`),
without the run's lock (each job writes shards only, under deterministic names); between the
passes it waits (``[engine] wait_seconds``) for the other jobs' encode shards and then encodes
any still missing itself (so jobs that run one after another complete too), and when its share
leaves nothing missing it commits (a job that finds the lock taken or the run committed leaves
that to the other).
"""

from __future__ import annotations

import time
from collections import defaultdict

from teachkit.util.errors import InputError
from stores.layout import LockHeld, StoreError
from stores.writer import FeatureShards

from .shards import pending_shards, write_split
from .videos import Encoder, encode_split, load_features
from .work import (Job, commit_jobs, encode_needed, encode_units, encodings, missing_scores, run_writer,
                   score_units, share, shard_writer)


def load_teacher(ident, log):
    """Build one teacher on its device and check it can do what its config asks."""
    from ..teachers import build_teacher
    from teachkit.util.device import resolve_device

    try:
        device = resolve_device(ident.cfg.device)
    except InputError as e:
        raise InputError(f"teacher {ident.name}: {e.one_line()}") from None
    log(f"{ident.name}: loading {ident.cfg.kind} teacher {ident.model or ident.cfg.plugin} on {device}")
    teacher = build_teacher(ident.cfg, ident.model, device)
    check_capabilities(ident, teacher)
    return teacher


def check_capabilities(ident, teacher) -> None:
    """Fail before any work when the config asks for something the teacher cannot do."""
    from ..teachers.kinds import kind_of
    from ..teachers.plugin import PluginError

    # a topk plan searches the teacher's own embeddings, unless its candidates come from another run
    if ident.cfg.plan == "topk" and not kind_of(ident.cfg).needs_candidates:
        missing = [m for m in ("holistic_videos", "holistic_captions") if not callable(getattr(teacher, m, None))]
        if missing:
            raise PluginError(f"teacher {ident.name}: plan = 'topk' needs {missing} (see pipeline/teachers/protocol.py)")


def run_local(teachers, cfg, store, splits, log, bar) -> list:
    """Compute ``teachers`` here (see module docstring); return their outcomes."""
    from teachkit.util.errors import TeachkitError

    started = time.perf_counter()
    # every teacher is loaded and checked before any run is begun: a teacher that cannot be
    # loaded leaves no `running` row behind, its own or another's
    loaded = []
    for ident in teachers:
        t0 = time.perf_counter()
        loaded.append((ident, load_teacher(ident, log), time.perf_counter() - t0))
    jobs = []
    for ident, teacher, load_s in loaded:
        writer = run_writer(store, ident)
        done = writer.begin()
        if done:
            log(f"{ident.name}: resuming run {writer.run} ({done} shard files already written)")
        job = Job(ident, teacher, writer)
        if ident.candidates is not None:  # a reranker scores the candidate run's top-k
            from .candidates import CandidateLists

            job.candidates = CandidateLists(store, ident.candidates, ident.cfg.k)
        job.add_time("load", load_s)
        jobs.append(job)
    try:
        encode_pass(jobs, splits, cfg, bar)
        score_pass(jobs, splits, cfg, bar)
        return commit_jobs(jobs, splits, started, cfg.engine.shard_videos, cfg.engine.keep_features)
    except Exception as e:
        # a refused or failed run says so in its `runs` row (a rerun resumes it); a kill
        # leaves `running`, which a rerun resumes the same way
        for j in jobs:
            if not j.committed:
                j.writer.fail(e.one_line() if isinstance(e, TeachkitError) else f"{type(e).__name__}: {e}")
        raise


def encode_pass(jobs, splits, cfg, bar, units=None) -> None:
    """Write the encode shards of ``units`` (default: all) that are still needed."""
    units = encode_units(jobs, splits, cfg.engine.shard_videos) if units is None else units
    groups = encodings(jobs)
    encoders = {}
    for split in splits.values():
        todo = defaultdict(list)
        for fp, name, i in units:
            if name == split.name and encode_needed(jobs[0].writer.store, groups[fp], split, i):
                if fp not in encoders:
                    lead = groups[fp][0]
                    encoders[fp] = Encoder(FeatureShards(lead.writer.store, fp), lead.teacher, lead.cfg)
                todo[i].append(encoders[fp])
        if todo:
            encode_split(split, dict(todo), cfg.engine.shard_videos, cfg.frames, bar)
    for fp, enc in encoders.items():  # an encoding's time is each of its teachers' time
        for j in groups[fp]:
            for k, v in enc.timings.items():
                j.add_time(k, v)


def score_pass(jobs, splits, cfg, bar, units=None) -> None:
    """Write the caption shards of ``units`` (default: all pending ones) from the stored features."""
    wanted = None
    if units is not None:
        wanted = defaultdict(set)
        for name, split_name, i in units:
            wanted[(name, split_name)].add(i)
    for split in splits.values():
        cache: dict = {}  # one load of a split's features per encoding and device
        for j in jobs:
            only = None if wanted is None else wanted.get((j.name, split.name), set())
            if only is not None and not only:
                continue
            if not [i for i in pending_shards(j, split) if only is None or i in only]:
                continue
            device = getattr(j.teacher, "device", None)
            key = (j.ident.encode_fingerprint, str(device))
            if key not in cache:
                start = time.perf_counter()
                cache[key] = load_features(FeatureShards(j.writer.store, key[0]), split,
                                           cfg.engine.shard_videos, device)
                j.add_time("read_features", time.perf_counter() - start)
            write_split(j, split, cache[key], bar, only=only)
        del cache


def run_share(teachers, cfg, store, splits, index: int, count: int, log, bar) -> tuple[list, list]:
    """Job ``index`` of ``count``: its share of both passes, then the commit if nothing is missing.

    Returns (outcomes of the runs this job committed, ``(teacher, missing caption shards)`` of
    the others)."""
    started = time.perf_counter()
    jobs = [Job(p, None, shard_writer(store, p)) for p in teachers]
    enc_units = share(encode_units(jobs, splits, cfg.engine.shard_videos), index, count)
    sc_units = share(score_units(jobs, splits), index, count)
    groups = encodings(jobs)
    by_name = {j.name: j for j in jobs}
    enc_todo = [u for u in enc_units if encode_needed(store, groups[u[0]], splits[u[1]], u[2])]
    sc_todo = [u for u in sc_units if not by_name[u[0]].writer.has_shard("scores", u[1], u[2])]
    log(f"shard {index}/{count}: {len(enc_todo)} of {len(enc_units)} encode and {len(sc_todo)} of "
        f"{len(sc_units)} caption shard(s) of this job's share to do")
    # a teacher is loaded only if this job's share uses it: to encode (the first of an
    # encoding's teachers) or to score
    users = {groups[fp][0].name for fp, _, _ in enc_todo} | {name for name, _, _ in sc_todo}
    for j in jobs:
        if j.name in users:
            t0 = time.perf_counter()
            j.teacher = load_teacher(j.ident, log)
            j.add_time("load", time.perf_counter() - t0)
    if enc_todo:
        encode_pass(jobs, splits, cfg, bar, enc_todo)
    if sc_todo:
        scoring = [j for j in jobs if j.name in {u[0] for u in sc_todo}]
        late = _wait_for_encodings(store, scoring, splits, sc_todo, cfg.engine, log)
        if late:  # another job is slow, gone or never started: encode its shards here (same bytes)
            log(f"shard {index}/{count}: encoding {len(late)} shard(s) of other jobs' shares here")
            for fp in {u[0] for u in late}:
                lead = groups[fp][0]
                if lead.teacher is None:
                    lead.teacher = load_teacher(lead.ident, log)
            encode_pass(jobs, splits, cfg, bar, late)
        score_pass(scoring, splits, cfg, bar, sc_todo)
    return try_commit(teachers, store, splits, started, cfg, log)


def try_commit(teachers, store, splits, started, cfg, log) -> tuple[list, list]:
    """Commit every complete run of ``teachers`` (taking each run's lock); the others are left."""
    outcomes, missing = [], []
    jobs = []
    for p in teachers:
        if store.committed_run(p.name, p.fingerprint) is not None:
            continue
        j = Job(p, None, run_writer(store, p))
        left = missing_scores(j, splits)
        if left:
            missing.append((p.name, left))
            continue
        try:
            j.writer.begin()
        except LockHeld:
            log(f"{p.name}: another job is committing run {j.writer.run}")
            continue
        except StoreError:  # committed in between by another job
            continue
        jobs.append(j)
    # a run that no job of this invocation computed keeps the encode shards of one that did
    keep = cfg.engine.keep_features or bool(missing)
    outcomes = commit_jobs(jobs, splits, started, cfg.engine.shard_videos, keep) if jobs else []
    return outcomes, missing


def _wait_for_encodings(store, jobs, splits, units, engine, log) -> list[tuple[str, str, int]]:
    """Wait up to ``engine.wait_seconds`` for the encode shards the score units read (other
    jobs write them); return the encode units still missing then."""
    from .videos import shard_ranges

    wanted = sorted({(j.ident.encode_fingerprint, name) for j in jobs for n, name, i in units if n == j.name})
    needed = [(fp, name, i) for fp, name in wanted
              for i in range(len(shard_ranges(splits[name], engine.shard_videos)))]
    deadline = time.monotonic() + engine.wait_seconds
    said = False
    while True:
        missing = [u for u in needed if not FeatureShards(store, u[0]).has(u[1], u[2])]
        if not missing or time.monotonic() >= deadline:
            return missing
        if not said:
            log(f"waiting up to {engine.wait_seconds:g}s for {len(missing)} encode shard(s) of the other jobs")
            said = True
        time.sleep(0.2)
