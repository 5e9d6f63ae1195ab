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

student_app = typer.Typer(help="Student stage: train fast students from stored teacher scores.", no_args_is_help=True)


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _progress(console):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    )


def _fail(message: str) -> None:
    _console().print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


@student_app.command("train")
def train_command(
    config: Path = typer.Option(..., "--config", "-c", help="experiment TOML"),
    out: Optional[Path] = typer.Option(None, help="run folder (default: output.runs / output.name)"),
    seed: Optional[int] = typer.Option(None, help="override train.seed"),
) -> None:
    """Train one student; print its test-split metrics."""
    import dataclasses

    from stores.layout import StoreError
    from stores.metrics import format_table

    from .config import ConfigError, load_experiment
    from .train import train

    console = _console()
    try:
        cfg = load_experiment(config)
        if seed is not None:
            cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed))
        with _progress(console) as progress:
            result = train(cfg, out, progress=progress)
    except (ConfigError, StoreError) as e:
        _fail(str(e))
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
    ablation: Optional[str] = typer.Option(None, "--ablation", help="audit: distilled students on all captions, "
                                           "without the audit's flagged ones and without --truth's wrong ones"),
    truth: Path = typer.Option(Path("data/demo/ground_truth.json"), "--truth", help="--ablation audit: the known wrong captions"),
) -> None:
    """Plain vs distilled students (same budget and seeds) and the teachers, in one table."""
    import dataclasses

    from stores.layout import StoreError

    from .config import ConfigError, load_demo
    from .demo import demo_table, run_demo, seed_table

    console = _console()
    try:
        demo = load_demo(config)
        if seeds is not None:
            try:
                picked = [int(x) for x in seeds.split(",") if x.strip()]
            except ValueError:
                raise ConfigError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
            demo = dataclasses.replace(demo, seeds=picked).check()
        if out is not None:
            demo = dataclasses.replace(demo, out=str(out))
        if ablation not in (None, "audit"):
            raise ConfigError(f"--ablation must be 'audit', got {ablation!r}")
        with _progress(console) as progress:
            if ablation == "audit":
                from .ablation import ablation_table, run_audit_ablation

                m = run_audit_ablation(demo, truth, log=console.print, progress=progress)
                print(ablation_table(m))
                console.print(f"wrote {Path(demo.out) / 'audit_ablation.json'} ({m['wall_s']:.0f} s)")
                return
            metrics = run_demo(demo, progress=progress, log=console.print)
    except (ConfigError, StoreError) as e:
        _fail(str(e))
    print(seed_table(metrics), file=sys.stderr)
    print(demo_table(metrics))
    console.print(f"wrote {Path(demo.out) / 'metrics.json'} ({metrics['wall_s']:.0f} s)")


def search_command(
    query: str = typer.Argument(..., help="the text to search for"),
    run: Path = typer.Option(..., "--run", help="a student run folder (runs/<group>/<run>)"),
    k: int = typer.Option(10, "--k", "-k", help="how many videos to print"),
) -> None:
    """Search a student run's video index with a text query (loads the student only)."""
    from .search import search

    if not (run / "student.safetensors").exists():
        _fail(f"{run} is not a student run (no student.safetensors)")
    hits = search(run, [query], k)[0]
    for rank, (video_id, score) in enumerate(hits, start=1):
        print(f"{rank:>3}  {score:8.4f}  {video_id}")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.add_typer(student_app, name="student")
    app.command("search")(search_command)
