"""Progress bars on stderr (results stay on stdout), with a throughput column."""

from __future__ import annotations

from rich.console import Console
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
        unit = task.fields.get("unit", "items")
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} {unit}/s" if speed else f"-- {unit}/s", style="progress.data.speed")


def stderr_console() -> Console:
    return Console(stderr=True)


def make_progress(console: Console | None = None) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console or stderr_console(),
        transient=False,
    )
