"""Independent jobs in spawned processes, some after others: the bootstraps of the teacher
stage (fine-tunes after the artefact they start from) and the demo's students.

The demo's models are small and single-threaded, so on a 2-core machine two of them side by
side each run at about full speed. :func:`run_jobs` hands each :class:`Job` to a pool of
``workers`` processes started with ``spawn`` (DuckDB and torch's OpenMP are not fork-safe),
starts a job once every job it comes ``after`` has finished, and returns the results in the
order of the jobs, whatever order they finish in. With ``workers <= 1`` the jobs run here,
one after the other, in an order that honours ``after``.

A job that fails ends the lot with its error: the jobs not yet started never start and the
running ones are stopped with the pool. A pool process also ends itself when this process
dies without that chance (SIGKILL, SIGTERM, a crash): each one watches its parent and exits
within :data:`PARENT_POLL_S` of losing it, rather than training on for nobody.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Job:
    """``fn(*args, **kwargs)`` under ``name``, once every job named in ``after`` has finished.
    For ``workers > 1``, ``fn`` and its arguments must pickle (a module-level function)."""

    name: str
    fn: Callable[..., Any]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    after: tuple[str, ...] = ()


#: how often a pool process checks that the process that started it is still there (seconds)
PARENT_POLL_S = 0.5


def _exit_with(parent: int) -> None:
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent:  # re-parented: the pool's owner is gone
            os._exit(1)


def _start_process(parent: int, initializer: Callable[..., None] | None, initargs: tuple) -> None:
    """Each pool process's initializer: the parent watch, then the caller's own."""
    threading.Thread(target=_exit_with, args=(parent,), name="exit-with-parent", daemon=True).start()
    if initializer is not None:
        initializer(*initargs)


def _check(jobs: list[Job]) -> None:
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"job names must be distinct, got {names}")
    for j in jobs:
        unknown = sorted(set(j.after) - set(names))
        if unknown:
            raise ValueError(f"job {j.name!r} comes after unknown job(s) {unknown}")


def _ready(waiting: list[Job], finished) -> list[Job]:
    return [j for j in waiting if all(a in finished for a in j.after)]


def run_jobs(jobs: list[Job], workers: int = 1, done: Callable[[str, Any], None] | None = None,
             initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> dict[str, Any]:
    """Run every job; ``{name: result}`` in the order of ``jobs``. ``done(name, result)`` is
    called here as each one finishes (in finishing order). ``initializer(*initargs)`` sets up
    each pool process (never this one, where the jobs run when there is no pool)."""
    _check(jobs)
    results: dict[str, Any] = {}
    waiting = list(jobs)
    if workers <= 1 or len(jobs) <= 1:
        while waiting:
            ready = _ready(waiting, results)
            if not ready:
                raise ValueError(f"jobs {[j.name for j in waiting]} wait for each other (a cycle in 'after')")
            job = ready[0]
            waiting.remove(job)
            results[job.name] = job.fn(*job.args, **job.kwargs)
            if done:
                done(job.name, results[job.name])
        return {j.name: results[j.name] for j in jobs}
    pool = ProcessPoolExecutor(min(workers, len(jobs)), mp_context=mp.get_context("spawn"),
                               initializer=_start_process, initargs=(os.getpid(), initializer, initargs))
    running: dict = {}
    try:
        while waiting or running:
            for job in _ready(waiting, results):
                waiting.remove(job)
                running[pool.submit(job.fn, *job.args, **job.kwargs)] = job.name
            if not running:
                raise ValueError(f"jobs {[j.name for j in waiting]} wait for each other (a cycle in 'after')")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                results[name] = future.result()  # a failed job raises here, ending the lot
                if done:
                    done(name, results[name])
    except BaseException:
        for p in list((getattr(pool, "_processes", None) or {}).values()):  # running jobs stop too
            p.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return {j.name: results[j.name] for j in jobs}
