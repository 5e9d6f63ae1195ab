"""stores.pool.run_jobs: spawned workers, jobs after others, results in job order, failures."""

from __future__ import annotations

import operator
from pathlib import Path

import pytest

from stores.pool import Job, run_jobs


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_in_job_order_and_after_waits(tmp_path, workers):
    flag = tmp_path / "written"
    # `read` fails unless `write` has finished first: `after` orders them in any pool
    jobs = [
        Job("read", Path.read_text, (flag,), after=("write",)),
        Job("sum", sum, ([1, 2, 3],)),
        Job("write", Path.write_text, (flag, "done")),
        Job("pow", pow, (2, 10)),
    ]
    seen: list[str] = []
    out = run_jobs(jobs, workers, done=lambda name, _: seen.append(name))
    assert list(out) == ["read", "sum", "write", "pow"]
    assert out == {"read": "done", "sum": 6, "write": 4, "pow": 1024}
    assert sorted(seen) == sorted(out) and seen.index("write") < seen.index("read")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_job_raises_its_error_and_later_jobs_never_start(tmp_path, workers):
    never = tmp_path / "never"
    jobs = [Job("bad", operator.truediv, (1, 0)), Job("later", Path.write_text, (never, "x"), after=("bad",))]
    with pytest.raises(ZeroDivisionError):
        run_jobs(jobs, workers)
    assert not never.exists()


def test_bad_job_lists_are_refused():
    with pytest.raises(ValueError, match="distinct"):
        run_jobs([Job("a", abs, (1,)), Job("a", abs, (2,))])
    with pytest.raises(ValueError, match="unknown job"):
        run_jobs([Job("a", abs, (1,), after=("b",))])
    for workers in (1, 2):
        with pytest.raises(ValueError, match="cycle"):
            run_jobs([Job("a", abs, (1,), after=("b",)), Job("b", abs, (2,), after=("a",))], workers)


def test_the_initializer_runs_in_pool_processes_only(tmp_path):
    import os

    mark = tmp_path / "initialised"
    # os.getpid in a pool process differs from ours; the initializer writes where it ran
    out = run_jobs([Job("pid", os.getpid)], 2, initializer=Path.write_text, initargs=(mark, "pool"))
    assert out["pid"] == os.getpid() and not mark.exists()  # one job: run here, no pool, no initializer
    out = run_jobs([Job("a", os.getpid), Job("b", os.getpid)], 2, initializer=Path.write_text, initargs=(mark, "pool"))
    assert os.getpid() not in out.values() and mark.read_text() == "pool"
