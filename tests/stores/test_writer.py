"""RunWriter: visibility only after commit, resumable reruns, crash safety with a real SIGKILL,
one writer per run; each on a local store and on S3 (moto on loopback, see tests/conftest.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pytest

import stores
from stores import RunWriter, Store, StoreError

ROOT = Path(__file__).resolve().parents[2]


def _shard(captions: list[str], videos: list[str], base: float = 0.0) -> pa.Table:
    rows = [(c, v) for c in captions for v in videos]
    return pa.table(
        {
            "caption_id": [c for c, _ in rows],
            "video_id": [v for _, v in rows],
            "score": [base + i / 100 for i in range(len(rows))],
        }
    )


def _writer(store: Store, fp: str = "a" * 64, teacher: str = "t1") -> RunWriter:
    return RunWriter(store, teacher, "test", fp, "{}", "0")


def _count(store: Store, sql: str):
    with stores.connect(store.root) as con:
        return con.execute(sql).fetchall()


def test_rows_visible_only_after_commit(any_store):
    small_store = any_store
    w = _writer(small_store)
    assert w.begin() == 0
    w.write_shard("scores", "test", 0, _shard(["v0#0", "v0#1"], ["v0", "v1", "v2", "v3"]))
    w.write_failures("decode", [("v3", "broken")])
    assert _count(small_store, "SELECT count(*) FROM scores") == [(0,)]
    assert _count(small_store, "SELECT count(*) FROM current_runs") == [(0,)]
    assert _count(small_store, "SELECT count(*) FROM failures WHERE run = 'aaaaaaaaaaaaaaaa'") == [(0,)]
    assert _count(small_store, "SELECT status FROM runs") == [("running",)]

    row = w.commit(timings={"score": 1.5}, metrics={"t2v": {"R@1": 50.0}})
    assert row["rows"] == 8 and row["status"] == "committed"
    assert _count(small_store, "SELECT count(*), min(score), max(score) FROM scores") == [(8, 0.0, pytest.approx(0.07, abs=1e-3))]
    assert _count(small_store, "SELECT teacher, status, rows FROM current_runs") == [("t1", "committed", 8)]
    assert _count(small_store, "SELECT item, error FROM failures WHERE run = 'aaaaaaaaaaaaaaaa'") == [("v3", "broken")]
    with pytest.raises(StoreError, match="already committed"):
        _writer(small_store).begin()


def test_a_run_asked_for_again_is_current_again(any_store):
    """Committing makes a run current; make_current (what a `cached` teacher or audit calls)
    points back at an earlier one, so its scores, not the last-committed run's, are read."""
    for fp, base in (("a" * 64, 0.0), ("b" * 64, 10.0)):
        w = _writer(any_store, fp)
        w.begin()
        w.write_shard("scores", "test", 0, _shard(["v0#0"], ["v0", "v1"], base))
        w.commit()
    assert _count(any_store, "SELECT run, max(score) FROM scores GROUP BY run") == [("bbbbbbbbbbbbbbbb", pytest.approx(10.01, abs=0.01))]
    any_store.make_current("t1", any_store.committed_run("t1", "a" * 64))
    assert _count(any_store, "SELECT run, max(score) FROM scores GROUP BY run") == [("aaaaaaaaaaaaaaaa", pytest.approx(0.01, abs=0.01))]
    assert _count(any_store, "SELECT fingerprint FROM current_runs") == [("a" * 64,)]
    assert any_store.current_runs()["t1"]["selected_at"] > any_store.current_runs()["t1"]["finished_at"]


def test_rerun_skips_committed_shards_and_cleans_leftovers(small_store):
    w = _writer(small_store)
    w.begin()
    w.write_shard("scores", "test", 0, _shard(["v0#0"], ["v0", "v1"]))
    w.release()  # the "crashed" writer's lock goes with its process (a real SIGKILL is tested below)
    # what a writer killed mid-rename leaves behind
    leftover = w.shard_path("scores", "test", 1).with_name(".part-00001.parquet.999.tmp")
    leftover.write_bytes(b"half a parquet file")
    run_tmp = small_store.root / "runs" / "teacher=t1" / ".run-aaaaaaaaaaaaaaaa.parquet.999.tmp"
    run_tmp.write_bytes(b"x")

    again = _writer(small_store)
    assert again.begin() == 1  # the committed shard survives the "crash"
    assert not leftover.exists() and not run_tmp.exists()
    assert again.has_shard("scores", "test", 0) and not again.has_shard("scores", "test", 1)
    started = _count(small_store, "SELECT started_at FROM runs")
    again.write_shard("scores", "test", 1, _shard(["v0#1"], ["v0", "v1"]))
    again.commit()
    assert _count(small_store, "SELECT started_at FROM runs") == started  # the first start is kept
    assert _count(small_store, "SELECT count(*), count(DISTINCT (caption_id, video_id)) FROM scores") == [(4, 4)]


def test_empty_shard_is_valid_and_nonfinite_or_overflow_refused(any_store):
    small_store = any_store
    w = _writer(small_store)
    w.begin()
    empty = pa.table({"caption_id": pa.array([], pa.string()), "video_id": pa.array([], pa.string()),
                      "frame": pa.array([], pa.int16()), "score": pa.array([], pa.float32())})
    assert w.write_shard("frames", "test", 0, empty) == 0
    bad = _shard(["v0#0"], ["v0", "v1"]).set_column(2, "score", pa.array([0.5, float("nan")]))
    with pytest.raises(ValueError, match="non-finite scores"):
        w.write_shard("scores", "test", 0, bad)
    big = _shard(["v0#0"], ["v0"]).set_column(2, "score", pa.array([70000.0]))
    with pytest.raises(ValueError, match="overflows float16"):
        w.write_shard("scores", "test", 0, big)
    assert not w.has_shard("scores", "test", 0)
    with pytest.raises(ValueError, match="split name"):
        w.shard_path("scores", "../escape", 0)
    w.release()


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    import pyarrow as pa
    from stores import RunWriter, Store

    root, n_shards, pause, lease = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    videos = [f"v{k}" for k in range(4)]
    w = RunWriter(Store(root), "killed", "test", "b" * 64, "{}", "0", lease_seconds=lease)
    w.begin()
    print("locked", flush=True)
    for i in range(n_shards):
        if w.has_shard("scores", "test", i):
            continue
        caps = [f"c{i}_{j}" for j in range(50)]
        w.write_shard("scores", "test", i, pa.table({
            "caption_id": [c for c in caps for _ in videos],
            "video_id": videos * len(caps),
            "score": [float(i)] * (len(caps) * len(videos)),
        }))
        print(f"shard {i}", flush=True)
        time.sleep(pause)
    w.commit()
    print("committed", flush=True)
    """
)
LEASE = 2.0  # seconds: the S3 writers' lease, short so that a killed one's expires within the test


def _start_writer(tmp_path, store: Store, n_shards: int, pause: float, until: str):
    """Start KILLED_WRITER on ``store`` and read its stdout up to the line ``until``."""
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    cmd = [sys.executable, str(script), str(store.root), str(n_shards), str(pause), str(LEASE)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.strip() == until:
            return proc, cmd
    proc.wait(timeout=30)
    raise AssertionError(f"writer exited before {until!r}: {proc.stderr.read()}")


def _kill(proc) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _wait_for_lease(store: Store) -> None:
    """On S3 a killed writer's lease outlives it by up to LEASE seconds: wait it out."""
    if not store.fs.local:
        time.sleep(LEASE + 0.5)


@pytest.mark.timeout(120)  # a hung child would otherwise block the suite on readline
def test_sigkill_mid_run_shows_nothing_then_rerun_completes_exactly_once(any_store, tmp_path):
    small_store = any_store
    n_shards = 20
    proc, cmd = _start_writer(tmp_path, small_store, n_shards, 0.1, until="shard 7")
    _kill(proc)
    written = small_store.shard_files("scores", "killed", "b" * 16)
    assert 8 <= len(written) < n_shards
    assert _count(small_store, "SELECT count(*) FROM scores") == [(0,)]
    assert _count(small_store, "SELECT count(*) FROM current_runs") == [(0,)]
    assert _count(small_store, "SELECT teacher, status FROM runs") == [("killed", "running")]

    _wait_for_lease(small_store)
    cmd[-2] = "0"  # no pause
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("shard") == n_shards - len(written)  # resumed, not restarted
    assert f"taking over the writer lock of host {socket.gethostname()} pid {proc.pid}" in done.stderr
    if small_store.fs.local:
        assert not list(small_store.root.rglob("*.tmp"))
    expected = n_shards * 50 * 4
    assert _count(
        small_store,
        "SELECT count(*), count(DISTINCT (caption_id, video_id)), count(DISTINCT split), min(score), max(score) "
        "FROM scores WHERE teacher = 'killed'",
    ) == [(expected, expected, 1, 0.0, float(n_shards - 1))]
    assert _count(small_store, "SELECT status, rows FROM current_runs") == [("committed", expected)]


@pytest.mark.timeout(120)
def test_second_writer_is_refused_naming_the_holder_until_the_holder_dies(any_store, tmp_path, capsys):
    store = any_store
    proc, _ = _start_writer(tmp_path, store, 1000, 0.2, until="shard 0")
    try:
        time.sleep(2 * LEASE if not store.fs.local else 0)  # a live holder keeps renewing its lease
        with pytest.raises(StoreError) as refused:
            RunWriter(store, "killed", "test", "b" * 64, "{}", "0").begin()
        message = str(refused.value)
        assert message.startswith(f"teacher killed run {'b' * 16} is being written by host {socket.gethostname()} "
                                  f"pid {proc.pid} since 20")
        assert "\n" not in message
        other = RunWriter(store, "killed", "test", "c" * 64, "{}", "0")  # another run of the teacher: not locked
        other.begin()
        other.release()
    finally:
        _kill(proc)
    _wait_for_lease(store)
    capsys.readouterr()
    w = RunWriter(store, "killed", "test", "b" * 64, "{}", "0")
    assert w.begin() >= 1  # resumes the dead holder's shards
    err = capsys.readouterr().err
    assert f"warning: teacher killed run {'b' * 16}: taking over the writer lock of host " in err
    assert f"pid {proc.pid} since " in err
    w.commit()
    # released by commit: the next writer of the run takes it without a warning
    again = RunWriter(store, "killed", "test", "b" * 64, "{}", "0")
    with pytest.raises(StoreError, match="already committed"):
        again.begin()


def test_score_row_order_varies_the_column_with_fewer_values_fastest():
    import numpy as np

    from stores.writer import score_row_order

    caps = np.repeat(np.arange(3), 5)  # 3 captions x 5 videos, caption-major as scored
    vids = np.tile(np.arange(5), 3)
    order = score_row_order(caps, vids)  # fewer captions than videos: video-major
    assert vids[order].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert caps[order].tolist() == [0, 1, 2] * 5
    order = score_row_order(vids, caps)  # 5 "captions" x 3 videos: caption-major
    assert vids[order].tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3 + [4] * 3
    assert sorted(order.tolist()) == list(range(15))  # a permutation: no row lost or repeated



def test_a_writer_whose_s3_lease_was_taken_over_does_not_commit(s3_store):
    from stores.lock import Holder

    store = s3_store
    w = RunWriter(store, "t1", "test", "d" * 64, "{}", "0", lease_seconds=30)
    w.begin()
    w.write_shard("scores", "test", 0, _shard(["v0#0"], ["v0"]))
    # another machine decided this writer was dead and took the lease
    thief = Holder("elsewhere", 4242, "2026-01-01T00:00:00Z", "f" * 32, time.time() + 30)
    store.fs.write_bytes(store.lock_key("t1", "d" * 16), thief.encode())
    with pytest.raises(StoreError, match="taken over by host elsewhere pid 4242 since 2026-01-01T00:00:00Z"):
        w.commit()
    assert _count(store, "SELECT count(*) FROM current_runs") == [(0,)]
    with pytest.raises(StoreError, match="taken over by host elsewhere"):
        w.write_shard("scores", "test", 1, _shard(["v0#1"], ["v0"]))
    w.release()
    assert Holder.parse(store.fs.read_bytes(store.lock_key("t1", "d" * 16))) == thief  # not ours to delete
