"""``teachkit report``: build the report page (``make report``; ``make student`` ends with it)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def report_command(
    store: Path = typer.Option(Path("store"), "--store", help="the store folder"),
    runs: Path = typer.Option(Path("runs/demo"), "--runs", help="a group of student runs (teachkit student compare's --out)"),
    out: Optional[Path] = typer.Option(None, "--out", help="report folder (default: <runs>/report)"),
    ground_truth: Optional[Path] = typer.Option(
        None, "--ground-truth", help="the demo's ground_truth.json (event frames, wrong captions); optional"),
    bench: Path = typer.Option(Path("bench/results.json"), "--bench", help="benchmark results, when there are any"),
    caption: Optional[list[str]] = typer.Option(None, "--caption", help="caption ids for the heatmaps (repeatable)"),
    n_captions: int = typer.Option(4, "--captions", help="how many captions get a heatmap when --caption is not given"),
    split: str = typer.Option("test", "--split", help="the split the heatmaps and the agreement read"),
) -> None:
    """Write an HTML report (figures inline, PNGs beside it) of the teachers and the students."""
    from rich.console import Console

    from .build import build_report

    console = Console(stderr=True)
    print(build_report(store, runs, out or runs / "report", ground_truth, bench, caption, n_captions, split,
                       log=console.print))


def register(app: typer.Typer) -> None:
    """Add ``teachkit report`` to the root app."""
    app.command("report")(report_command)
