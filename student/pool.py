"""Train several students at once: ``[demo] jobs`` spawned processes, one student each.

The demo's students are small and single-threaded (``train.threads = 1``): on a 2-core machine
two of them side by side each run at full speed (two 100-step students took 26.7 s together,
one alone 27.7 s, with identical metrics). :func:`train_students` hands each (name, config)
to a pool of ``jobs`` processes started with ``spawn`` (DuckDB and torch's OpenMP are not
fork-safe, :mod:`teachkit.util.pool`) and returns the results in the order asked, whatever order
they finish in, so the figures are the same as those of one process training them in turn.
What the students share on disk is written atomically by whoever gets there first (the frame
caches and the teachers' matrices, :mod:`student.frame_cache`, :mod:`student.knowledge`), so concurrent students do not race.

A student that fails ends the lot with its error; the students not yet started are
cancelled, the running ones are stopped with the pool.
"""

from __future__ import annotations

from typing import Callable

from teachkit.util.pool import Job, run_jobs

from .config import ExperimentConfig
from .train import RunResult, train


def _train_one(cfg: ExperimentConfig) -> RunResult:
    import teachkit.util.progress

    teachkit.util.progress.configure(enabled=False)  # the parent reports each student as it finishes
    return train(cfg)


def train_students(jobs: list[tuple[str, ExperimentConfig]], workers: int = 1, progress=None,
                   done: Callable[[str, RunResult], None] | None = None) -> dict[str, RunResult]:
    """Train every ``(name, config)`` of ``jobs``; ``{name: result}`` in the order of ``jobs``.

    ``workers <= 1`` trains them here, one after the other, with ``progress`` bars;
    otherwise in ``workers`` spawned processes (:func:`teachkit.util.pool.run_jobs`).
    ``done(name, result)`` is called as each one finishes (in finishing order).
    """
    if workers <= 1 or len(jobs) <= 1:
        return run_jobs([Job(name, train, (cfg,), {"progress": progress}) for name, cfg in jobs], 1, done)
    task = progress.add_task(f"training {len(jobs)} students, {workers} at a time", total=len(jobs),
                             unit="students") if progress else None

    def finished(name: str, result: RunResult) -> None:
        if done:
            done(name, result)
        if progress:
            progress.advance(task)

    return run_jobs([Job(name, _train_one, (cfg,)) for name, cfg in jobs], workers, finished)
