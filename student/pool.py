"""Train several students at once: ``[demo] jobs`` spawned processes, one student each.

The demo's students are small and single-threaded (``train.threads = 1``): on a 2-core machine
two of them side by side each run at full speed (two 100-step students took 26.7 s together,
one alone 27.7 s, with identical metrics). :func:`train_students` hands each (name, config)
to a pool of ``jobs`` processes started with ``spawn`` (DuckDB and torch's OpenMP are not
fork-safe) and returns the results in the order asked, whatever order they finish in, so the
figures are the same as those of one process training them in turn. What the students share
on disk is written atomically by whoever gets there first (the frame caches and the teachers'
matrices, :mod:`student.frames`, :mod:`student.knowledge`), so concurrent students do not race.

A student that fails ends the lot with its error; the students not yet started are
cancelled, the running ones are stopped with the pool.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from typing import Callable

from .config import ExperimentConfig
from .train import RunResult, train


def _train_one(cfg: ExperimentConfig) -> RunResult:
    import stores.progress

    stores.progress.configure(enabled=False)  # the parent reports each student as it finishes
    return train(cfg)


def train_students(jobs: list[tuple[str, ExperimentConfig]], workers: int = 1, progress=None,
                   done: Callable[[str, RunResult], None] | None = None) -> dict[str, RunResult]:
    """Train every ``(name, config)`` of ``jobs``; ``{name: result}`` in the order of ``jobs``.

    ``workers <= 1`` trains them here, one after the other, with ``progress`` bars;
    otherwise in ``workers`` spawned processes. ``done(name, result)`` is called as each one
    finishes (in finishing order).
    """
    names = [n for n, _ in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"student names must be distinct, got {names}")
    results: dict[str, RunResult] = {}
    if workers <= 1 or len(jobs) <= 1:
        for name, cfg in jobs:
            results[name] = train(cfg, progress=progress)
            if done:
                done(name, results[name])
        return results
    task = progress.add_task(f"training {len(jobs)} students, {workers} at a time", total=len(jobs),
                             unit="students") if progress else None
    pool = ProcessPoolExecutor(min(workers, len(jobs)), mp_context=mp.get_context("spawn"))
    try:
        pending = {pool.submit(_train_one, cfg): name for name, cfg in jobs}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_EXCEPTION)
            for future in finished:
                name = pending.pop(future)
                results[name] = future.result()  # a failed student raises here, ending the lot
                if done:
                    done(name, results[name])
                if progress:
                    progress.advance(task)
    except BaseException:
        for p in list(getattr(pool, "_processes", {}).values()):  # running students stop too
            p.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return {n: results[n] for n in names}
