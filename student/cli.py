"""Commands of the `student` package for the `teachkit` console script.

* ``teachkit student train --config X.toml`` -- one student run.
* ``teachkit student demo --config configs/student_demo.toml`` -- plain vs distilled
  students over several seeds, the teachers' figures beside them (``make student``).
* ``teachkit search "a red circle moves left" --run runs/demo/<run>`` -- the top videos.

Progress goes to stderr, results (tables, search hits) to stdout. torch and transformers
are imported inside the commands so ``teachkit --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from stores.command import CommandGroup

student_app = typer.Typer(cls=CommandGroup, help="Student stage: train fast students from stored teacher scores.", no_args_is_help=True)


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _progress(console):
    from stores.progress import progress

    return progress(console=console, transient=True)


_SET_HELP = "Override a config field (repeatable), e.g. --set train.steps=20 --set data.batch_size=32."


@student_app.command("train")
def train_command(
    config: Path = typer.Option(..., "--config", "-c", help="experiment TOML"),
    out: Optional[Path] = typer.Option(None, help="run folder (default: output.runs / output.name)"),
    seed: Optional[int] = typer.Option(None, help="override train.seed"),
    overrides: Optional[list[str]] = typer.Option(None, "--set", metavar="FIELD=VALUE", help=_SET_HELP),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars or progress lines on stderr."),
) -> None:
    """Train one student; print its test-split metrics."""
    import dataclasses

    import stores.progress
    from stores.metrics import format_table

    from .config import load_experiment
    from .train import train

    stores.progress.configure(enabled=not no_progress)
    console = _console()
    cfg = load_experiment(config, overrides or ())
    if seed is not None:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed))
    with _progress(console) as progress:
        result = train(cfg, out, progress=progress)
    t = result.timings
    console.print(
        f"run {result.folder}: {t['steps']} steps, {t['step_ms']:.0f} ms/step, batch assembly "
        f"{t['batch_assembly_ms']:.1f} ms/batch (wait {t['batch_wait_ms']:.1f} ms), loss "
        f"{result.first_loss:.3f} -> {result.last_loss:.3f}"
    )
    rows = {result.folder.name: result.metrics}
    if result.val_metrics is not None:
        rows[f"{result.folder.name} (val)"] = result.val_metrics
    print(format_table(rows))


@student_app.command("demo")
def demo_command(
    config: Path = typer.Option(Path("configs/student_demo.toml"), "--config", "-c", help="demo TOML"),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="comma-separated seeds (default: demo.seeds)"),
    out: Optional[Path] = typer.Option(None, "--out", help="output folder (default: demo.out)"),
    overrides: Optional[list[str]] = typer.Option(None, "--set", metavar="FIELD=VALUE", help=_SET_HELP),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars or progress lines on stderr."),
) -> None:
    """Plain vs distilled students (same budget and seeds) and the teachers, in one table."""
    import dataclasses

    import stores.progress
    from stores.errors import UsageError

    from .config import load_demo
    from .demo import demo_table, run_demo, seed_table

    stores.progress.configure(enabled=not no_progress)
    console = _console()
    demo = load_demo(config, overrides or ())
    if seeds is not None:
        try:
            picked = [int(x) for x in seeds.split(",") if x.strip()]
        except ValueError:
            raise UsageError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
        demo = dataclasses.replace(demo, seeds=picked).check()
    if out is not None:
        demo = dataclasses.replace(demo, out=str(out))
    with _progress(console) as progress:
        metrics = run_demo(demo, progress=progress, log=console.print)
    print(seed_table(metrics), file=sys.stderr)
    print(demo_table(metrics))
    console.print(f"wrote {Path(demo.out) / 'metrics.json'} ({metrics['wall_s']:.0f} s)")


def search_command(
    query: str = typer.Argument(..., help="the text to search for"),
    run: Path = typer.Option(..., "--run", help="a student run folder (runs/<group>/<run>)"),
    k: int = typer.Option(10, "--k", "-k", help="how many videos to print"),
) -> None:
    """Search a student run's video index with a text query (loads the student only)."""
    from stores.errors import InputError

    from .search import search

    if not (run / "student.safetensors").exists():
        raise InputError(f"{run} is not a student run (no student.safetensors)")
    hits = search(run, [query], k)[0]
    for rank, (video_id, score) in enumerate(hits, start=1):
        print(f"{rank:>3}  {score:8.4f}  {video_id}")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.add_typer(student_app, name="student")
    app.command("search")(search_command)
