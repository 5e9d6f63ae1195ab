"""``teachkit data demo``: write the bundled demo dataset."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("demo")(demo)


def demo(
    out: Path = typer.Option(Path("data/demo"), "--out", help="Folder to write the dataset into."),
    seed: int = typer.Option(0, help="Seed of every random choice; equal seeds give equal files."),
    train_videos: int = typer.Option(1000, help="Videos in the train split."),
    test_videos: int = typer.Option(500, help="Videos in the test split (distinct content)."),
    captions_per_video: int = typer.Option(4, help="Captions per train video."),
    test_captions_per_video: int = typer.Option(2, help="Captions per test video (the test queries)."),
    noise: float = typer.Option(0.1, help="Share of train captions made deliberately wrong."),
    size: int = typer.Option(64, help="Frame width and height in pixels (multiple of 16)."),
    frames: int = typer.Option(24, help="Frames per video."),
    fps: int = typer.Option(8, help="Frames per second of the MP4 files."),
    crf: int = typer.Option(20, help="libx264 quality (lower is better; ~18-23 keeps colours)."),
    workers: int = typer.Option(0, help="Processes drawing videos (0: one per CPU core, at most 4)."),
    force: bool = typer.Option(False, "--force", help="Replace a demo made with other options."),
) -> None:
    """Generate the demo: MP4s of coloured shapes doing two ordered events, with captions.

    Prints the dataset folder on stdout. A rerun with the same options finds the finished
    dataset (demo.json) and does nothing.
    """
    from rich.console import Console

    from . import DemoOptions, generate

    err = Console(stderr=True, soft_wrap=True)  # whole lines: messages stay greppable
    options = DemoOptions(
        seed=seed, train_videos=train_videos, test_videos=test_videos,
        captions_per_video=captions_per_video, test_captions_per_video=test_captions_per_video,
        noise=noise, size=size, frames=frames, fps=fps, crf=crf,
    ).validate()
    n_workers = workers if workers > 0 else min(4, os.cpu_count() or 1)
    start = time.perf_counter()
    result = generate(out, options, force=force, workers=n_workers, log=lambda m: err.print(m, highlight=False))
    if result.created:
        err.print(f"generated in {time.perf_counter() - start:.1f}s", highlight=False)
    else:
        err.print(f"{out} exists (same options, fingerprint {result.info['fingerprint'][:16]}); nothing to do",
                  highlight=False)
    typer.echo(str(result.out))
