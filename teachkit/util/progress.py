"""The one progress and log module of every stage: bars on a terminal, plain lines in logs.

Results go to stdout; everything here writes to stderr, so output can be piped.

- :func:`progress` returns a context manager with rich's task API (``add_task``,
  ``advance``, ``update``). On a terminal it draws a rich bar with the count, the rate in
  the task's own unit (``unit="videos"``), the elapsed time and the ETA. Off a terminal (a
  log file, CI, ``make ... 2> log``) a live bar would be one unreadable line of escape
  codes, so it writes a plain line per task every ``interval`` seconds and when the task
  completes: ``decoding test frames: 120/500 (24%), 35.2 videos/s, 3s elapsed, eta 11s``.
- :func:`configure` is called once by a command (``--no-progress``; ``plain=True`` in worker
  processes that share the parent's terminal, whose bars would overwrite each other); with progress off,
  every :func:`progress` in the process is silent, whichever stage or library layer asks
  (the manifest probe, the bootstrap, frame decoding and the trainers all ask here).
- :func:`log` writes one plain line (no markup, no highlighting) to stderr.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

_STATE = {"enabled": True, "interval": 10.0, "plain": False}


def configure(enabled: bool | None = None, interval: float | None = None, plain: bool | None = None) -> None:
    """Switch progress output on or off for the whole process; set the plain-line interval (s);
    ``plain=True``: plain lines even on a terminal (processes that share one, :mod:`teachkit.util.pool`)."""
    if enabled is not None:
        _STATE["enabled"] = bool(enabled)
    if plain is not None:
        _STATE["plain"] = bool(plain)
    if interval is not None:
        if interval <= 0:
            raise ValueError(f"progress interval must be > 0 seconds, got {interval}")
        _STATE["interval"] = float(interval)


def is_enabled() -> bool:
    return bool(_STATE["enabled"])


def stderr_console():
    """The rich console every stage prints progress and logs to (stderr)."""
    from rich.console import Console

    return Console(stderr=True)


def log(message: str) -> None:
    """One plain line on stderr (``[brackets]`` are printed as they are)."""
    print(message, file=sys.stderr, flush=True)


def progress(enabled: bool | None = None, console=None, transient: bool = False):
    """A progress display: a rich bar on a terminal, plain periodic lines otherwise, or nothing.

    ``enabled=False`` (or :func:`configure` ``(enabled=False)``) gives a silent display with
    the same API, so callers never branch on it.
    """
    if enabled is False or not is_enabled():
        return SilentProgress()
    console = console or stderr_console()
    if console.is_terminal and not _STATE["plain"]:
        return _rich_progress(console, transient)
    return PlainProgress(console.file, _STATE["interval"])


def _rich_progress(console, transient: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """``123.4 videos/s``: the task's speed in its own unit (``unit`` field)."""

        def render(self, task) -> Text:
            unit = task.fields.get("unit", "it")
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.1f} {unit}/s" if speed else f"-- {unit}/s", style="progress.data.speed")

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )


class SilentProgress:
    """The progress API, doing nothing (``--no-progress``)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> int:
        return 0

    def advance(self, task: int, advance: float = 1) -> None:
        return None

    def update(self, task: int, **changes: Any) -> None:
        return None


class _Task:
    def __init__(self, description: str, total: float | None, fields: dict):
        self.description, self.total, self.fields = description, total, fields
        self.completed = 0.0
        self.start = time.monotonic()
        self.last_line = self.start
        self.done = False


class PlainProgress:
    """Progress as plain lines on a stream (not a terminal): one per task per ``interval`` s.

    Thread-safe: decoding threads may advance a task while the main thread updates another.
    """

    def __init__(self, stream=None, interval: float = 10.0):
        self.stream = stream or sys.stderr
        self.interval = interval
        self.tasks: list[_Task] = []
        self._lock = threading.Lock()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            for task in self.tasks:
                if not task.done and task.completed > 0:
                    self._emit(task)

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> int:
        with self._lock:
            self.tasks.append(_Task(description, total, dict(fields)))
            return len(self.tasks) - 1

    def advance(self, task: int, advance: float = 1) -> None:
        self.update(task, advance=advance)

    def update(self, task: int, advance: float | None = None, completed: float | None = None,
               total: float | None = None, description: str | None = None, **fields: Any) -> None:
        with self._lock:
            t = self.tasks[task]
            if description is not None:
                t.description = description
            if total is not None:
                t.total = total
            if completed is not None:
                t.completed = completed
            if advance is not None:
                t.completed += advance
            t.fields.update(fields)
            now = time.monotonic()
            finished = t.total is not None and t.completed >= t.total
            if (finished and not t.done) or now - t.last_line >= self.interval:
                t.done = finished
                self._emit(t, now)

    def _emit(self, t: _Task, now: float | None = None) -> None:
        now = now or time.monotonic()
        t.last_line = now
        self.stream.write(line(t.description, t.completed, t.total, now - t.start, t.fields.get("unit", "it")) + "\n")
        self.stream.flush()


def line(description: str, completed: float, total: float | None, elapsed: float, unit: str = "it") -> str:
    """``decoding: 120/500 (24%), 35.2 videos/s, 3s elapsed, eta 11s`` (the plain-line format)."""
    rate = completed / elapsed if elapsed > 0 else 0.0
    count = f"{_num(completed)}/{_num(total)} ({100 * completed / total:.0f}%)" if total else f"{_num(completed)} {unit}"
    text = f"{description}: {count}, {rate:,.1f} {unit}/s, {_duration(elapsed)} elapsed"
    if total and rate > 0 and completed < total:
        text += f", eta {_duration((total - completed) / rate)}"
    return text


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,.1f}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


__all__ = ["PlainProgress", "SilentProgress", "configure", "is_enabled", "line", "log", "progress", "stderr_console"]
