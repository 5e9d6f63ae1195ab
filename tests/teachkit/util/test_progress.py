"""The one progress module: rich bars on a terminal, plain periodic lines in logs, silence on request."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

import teachkit.util.progress as sp


@pytest.fixture(autouse=True)
def _restore():
    state = dict(sp._STATE)
    yield
    sp._STATE.update(state)


def test_plain_line_has_count_rate_elapsed_and_eta():
    assert sp.line("decoding", 120, 500, 4.0, "videos") == "decoding: 120/500 (24%), 30.0 videos/s, 4s elapsed, eta 13s"
    assert sp.line("matrix", 1500, None, 2.0, "rows") == "matrix: 1,500 rows, 750.0 rows/s, 2s elapsed"
    assert sp.line("train", 10, 10, 100.0, "steps").endswith("1m40s elapsed")  # done: no eta


def test_off_a_terminal_progress_is_plain_lines_each_interval_and_at_the_end(monkeypatch):
    clock = iter([0.0, 1.0, 12.0, 13.0, 30.0])
    monkeypatch.setattr(sp.time, "monotonic", lambda: next(clock))
    stream = io.StringIO()
    sp.configure(interval=10)
    with sp.progress(console=Console(file=stream, force_terminal=False)) as bar:
        assert isinstance(bar, sp.PlainProgress)
        task = bar.add_task("probing videos", total=4, unit="videos")  # t=0
        bar.advance(task)  # t=1: too soon for a line
        bar.advance(task)  # t=12: a line
        bar.update(task, advance=1, description="probing videos (3 done)")  # t=13: too soon
        bar.advance(task)  # t=30: done, a line
    lines = stream.getvalue().splitlines()
    assert lines == [
        "probing videos: 2/4 (50%), 0.2 videos/s, 12s elapsed, eta 12s",
        "probing videos (3 done): 4/4 (100%), 0.1 videos/s, 30s elapsed",
    ]


def test_on_a_terminal_progress_is_a_rich_bar_with_rate_and_eta():
    from rich.progress import Progress

    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    bar = sp.progress(console=console)
    assert isinstance(bar, Progress)
    text = " ".join(type(c).__name__ for c in bar.columns)
    assert "RateColumn" in text and "TimeRemainingColumn" in text and "BarColumn" in text


def test_no_progress_silences_every_display():
    stream = io.StringIO()
    sp.configure(enabled=False)
    with sp.progress(console=Console(file=stream)) as bar:
        bar.advance(bar.add_task("x", total=1))
    assert isinstance(bar, sp.SilentProgress) and stream.getvalue() == ""
    sp.configure(enabled=True)
    assert isinstance(sp.progress(enabled=False), sp.SilentProgress)
