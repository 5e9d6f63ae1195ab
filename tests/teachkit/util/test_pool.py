"""teachkit.util.pool.run_jobs: spawned workers, jobs after others, results in job order, failures."""

from __future__ import annotations

import operator
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from teachkit.util.pool import Job, run_jobs


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
    mark = tmp_path / "initialised"
    # os.getpid in a pool process differs from ours; the initializer writes where it ran
    out = run_jobs([Job("pid", os.getpid)], 2, initializer=Path.write_text, initargs=(mark, "pool"))
    assert out["pid"] == os.getpid() and not mark.exists()  # one job: run here, no pool, no initializer
    out = run_jobs([Job("a", os.getpid), Job("b", os.getpid)], 2, initializer=Path.write_text, initargs=(mark, "pool"))
    assert os.getpid() not in out.values() and mark.read_text() == "pool"


_RUNNER = '''
import os, sys, time
from pathlib import Path
from teachkit.util.pool import Job, run_jobs

def work(folder, name):
    Path(folder, name).write_text(str(os.getpid()))
    time.sleep(120)

if __name__ == "__main__":
    run_jobs([Job(n, work, (sys.argv[1], n)) for n in ("a", "b")], 2)
'''


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # an exited orphan waits as a zombie until the machine's init reaps it


def test_pool_processes_exit_when_their_parent_is_killed(tmp_path):
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to see whether a process is alive (Linux)")
    script = tmp_path / "runner.py"
    script.write_text(_RUNNER)
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    runner = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / n).exists() for n in ("a", "b")):
            assert runner.poll() is None, "the runner ended before its jobs started"
            assert time.monotonic() < deadline, "the pool's jobs did not start in 60 s"
            time.sleep(0.1)
        pids = [int((tmp_path / n).read_text()) for n in ("a", "b")]
        assert all(_alive(p) for p in pids)
        runner.send_signal(signal.SIGKILL)  # no chance to stop its pool
        runner.wait(10)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids), "pool processes outlived their parent by 15 s"
    finally:
        runner.kill()
        for n in ("a", "b"):
            if (tmp_path / n).exists():
                try:
                    os.kill(int((tmp_path / n).read_text()), signal.SIGKILL)
                except ProcessLookupError:
                    pass
