"""Commands of the `student` package for the `teachkit` console script.

* ``teachkit student train --config X.toml`` -- one student run.
* ``teachkit student compare --config configs/student_demo.toml`` -- the comparison: plain vs
  distilled students over several seeds, the teachers' figures beside them (``make student``).
  ``student demo`` is its old name, still accepted with a deprecation line.
* ``teachkit student export RUN --format hf OUT`` -- the run as a transformers CLIPModel + head.
* ``teachkit student compare-merge runs/x-seed0 runs/x-seed1 --out runs/x`` -- one table from
  comparisons of one config run on disjoint seeds (one process per seed); old name ``demo-merge``.
* ``teachkit search "a red circle moves left" --run runs/demo/<run> [--json]`` -- the top videos,
  with their paths and captions.

Progress goes to stderr, results (tables, search hits) to stdout. torch and transformers
are imported inside the commands so ``teachkit --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from teachkit.util.command import CommandGroup

student_app = typer.Typer(cls=CommandGroup, help="Student stage: train fast students from stored teacher scores.", no_args_is_help=True)


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _progress(console):
    from teachkit.util.progress import progress

    return progress(console=console, transient=True)


_SET_HELP = "Override a config field (repeatable), e.g. --set train.steps=20 --set data.batch_size=32."


@student_app.command("train")
def train_command(
    config: Path = typer.Option(..., "--config", "-c", help="experiment TOML"),
    out: Optional[Path] = typer.Option(None, help="run folder (default: output.runs / output.name)"),
    seed: Optional[int] = typer.Option(None, help="override train.seed"),
    overrides: Optional[list[str]] = typer.Option(None, "--set", metavar="FIELD=VALUE", help=_SET_HELP),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars or progress lines on stderr."),
    videos: Optional[Path] = typer.Option(None, "--videos", help="override data.videos: the folder of the store's videos"),
) -> None:
    """Train one student; print its test-split metrics.

    ``torchrun --nproc-per-node N -m teachkit student train ...`` trains on N processes
    (``data.batch_size`` is the global batch); rank 0 alone shows progress, prints and writes.
    """
    import dataclasses
    import os

    import teachkit.util.progress
    from teachkit.util.metrics import format_table

    from .config import load_experiment
    from .train import train

    main = os.environ.get("RANK", "0") == "0"  # torchrun's other ranks stay quiet
    teachkit.util.progress.configure(enabled=not no_progress and main)
    console = _console()
    cfg = load_experiment(config, overrides or ())
    if seed is not None:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed))
    if videos is not None:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, videos=str(videos)))
    with _progress(console) as progress:
        result = train(cfg, out, progress=progress if main else None)
    if result is None:  # not rank 0
        return
    t = result.timings
    console.print(
        f"run {result.folder}: {t['steps']} steps, {t['step_ms']:.0f} ms/step, batch assembly "
        f"{t['batch_assembly_ms']:.1f} ms/batch (wait {t['batch_wait_ms']:.1f} ms), loss "
        f"{result.first_loss:.3f} -> {result.last_loss:.3f}" + (f", {t['world_size']} processes" if t["world_size"] > 1 else "")
    )
    rows = {result.folder.name: result.metrics}
    if result.val_metrics is not None:
        rows[f"{result.folder.name} (val)"] = result.val_metrics
    print(format_table(rows))


def compare_command(
    config: Path = typer.Option(Path("configs/student_demo.toml"), "--config", "-c", help="comparison TOML"),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="comma-separated seeds (default: comparison.seeds)"),
    out: Optional[Path] = typer.Option(None, "--out", help="output folder (default: comparison.out)"),
    overrides: Optional[list[str]] = typer.Option(None, "--set", metavar="FIELD=VALUE", help=_SET_HELP),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars or progress lines on stderr."),
    videos: Optional[Path] = typer.Option(None, "--videos", help="override data.videos: the folder of the store's videos"),
    variants: Optional[str] = typer.Option(None, "--variants", help="comma-separated students to train "
                                           "(plain, distilled, relational, distilled_relational; default: all)"),
    ablation: Optional[str] = typer.Option(None, "--ablation", help="audit: distilled students on all captions, "
                                           "without the audit's flagged ones and without --truth's wrong ones; "
                                           "frames: the plain student with all and a third of its frames, "
                                           "the distilled one with a third"),
    truth: Path = typer.Option(Path("data/demo/ground_truth.json"), "--truth", help="--ablation audit: the known wrong captions"),
    jobs: Optional[int] = typer.Option(None, "--jobs", help="students trained at once, one process each (default: comparison.jobs)"),
) -> None:
    """Plain vs distilled students (same budget and seeds) and the teachers, in one table."""
    import dataclasses

    import teachkit.util.progress
    from teachkit.util.errors import UsageError

    from .config import load_comparison
    from .comparison import comparison_table, run_comparison, seed_table

    teachkit.util.progress.configure(enabled=not no_progress)
    console = _console()
    comparison = load_comparison(config, overrides or ())
    if seeds is not None:
        try:
            picked = [int(x) for x in seeds.split(",") if x.strip()]
        except ValueError:
            raise UsageError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
        comparison = dataclasses.replace(comparison, seeds=picked).check()
    if out is not None:
        comparison = dataclasses.replace(comparison, out=str(out))
    if jobs is not None:
        comparison = dataclasses.replace(comparison, jobs=jobs).check()
    if videos is not None:
        exp = comparison.experiment
        comparison = dataclasses.replace(comparison, experiment=dataclasses.replace(
            exp, data=dataclasses.replace(exp.data, videos=str(videos))))
    if ablation not in (None, "audit", "frames"):
        raise UsageError(f"--ablation must be 'audit' or 'frames', got {ablation!r}")
    only = [v.strip() for v in variants.split(",") if v.strip()] if variants else None
    with _progress(console) as progress:
        if ablation is not None:
            from .ablation import ablation_table, run_ablation

            m = run_ablation(comparison, ablation, truth, log=console.print, progress=progress)
            print(ablation_table(m))
            console.print(f"wrote {Path(comparison.out) / f'{ablation}_ablation.json'} ({m['wall_s']:.0f} s)")
            return
        metrics = run_comparison(comparison, progress=progress, log=console.print, only=only)
    print(seed_table(metrics), file=sys.stderr)
    print(comparison_table(metrics))
    console.print(f"wrote {Path(comparison.out) / 'metrics.json'} ({metrics['wall_s']:.0f} s)")


def compare_merge_command(
    folders: list[Path] = typer.Argument(..., help="comparison output folders of one config, disjoint seeds"),
    out: Path = typer.Option(..., "--out", help="folder for the merged metrics.json"),
) -> None:
    """Merge comparisons run on disjoint seeds (e.g. one process per seed) into one metrics.json and table."""
    from .comparison import comparison_table, merge_comparisons, seed_table

    from teachkit.util.errors import InputError

    try:
        metrics = merge_comparisons(folders, out)
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"cannot merge {[str(f) for f in folders]}: {e}") from None
    print(seed_table(metrics), file=sys.stderr)
    print(comparison_table(metrics))
    _console().print(f"wrote {out / 'metrics.json'}")


def search_command(
    query: str = typer.Argument(..., help="the text to search for"),
    run: Path = typer.Option(..., "--run", help="a student run folder (runs/<group>/<run>)"),
    k: int = typer.Option(10, "--k", "-k", help="how many videos to print"),
    store: Optional[Path] = typer.Option(None, "--store", help="store with the videos' captions and paths "
                                         "(default: the one the run trained from)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object (query, run, hits) instead"),
) -> None:
    """Search a student run's video index with a text query; print each hit's path and captions."""
    import json

    from teachkit.util.errors import InputError, UsageError

    from .search import run_store, search, video_details

    if not (run / "student.safetensors").exists():
        raise InputError(f"{run} is not a student run (no student.safetensors)")
    if k < 1:
        raise UsageError(f"--k must be >= 1, got {k}")
    hits = search(run, [query], k)[0]
    root = store if store is not None else run_store(run)
    details: dict = {}
    if root is not None and (Path(root) / "store.json").exists():
        details = video_details(root, [v for v, _ in hits])
    else:
        _console().print(f"[yellow]no store at {root} (--store): paths and captions left out[/yellow]")
    rows = [{"rank": r, "video_id": v, "score": s, "path": details.get(v, {}).get("path"),
             "captions": details.get(v, {}).get("captions", [])} for r, (v, s) in enumerate(hits, start=1)]
    if as_json:
        print(json.dumps({"query": query, "run": str(run), "hits": rows}, indent=2))
        return
    for h in rows:
        print(f"{h['rank']:>3}  {h['score']:8.4f}  {h['video_id']}  {_shown(h['path'])}".rstrip())
        for c in h["captions"]:
            print(f"{'':15}{c}")


def _shown(path: str | None) -> str:
    """A path for people: relative to the working folder when it lies below it."""
    if path is None:
        return ""
    p = Path(path)
    try:
        return str(p.relative_to(Path.cwd())) if p.is_absolute() else path
    except ValueError:
        return path


@student_app.command("export")
def export_command(
    run: Path = typer.Argument(..., help="a student run folder (runs/<group>/<run>)"),
    out: Path = typer.Argument(..., help="the folder to write"),
    fmt: str = typer.Option("hf", "--format", help="hf: a transformers CLIPModel + the video head as safetensors"),
) -> None:
    """Export a student run in standard formats (model card included)."""
    from .export import export_run

    print(export_run(run, out, fmt))


def _deprecated(old: str, new: str, command):
    """``command`` under its old name: the same options, and one line on stderr naming the new one."""
    import functools

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        print(f"deprecated: `teachkit student {old}` is now `teachkit student {new}`", file=sys.stderr)
        return command(*args, **kwargs)

    return wrapper


student_app.command("compare")(compare_command)
student_app.command("compare-merge")(compare_merge_command)
student_app.command("demo", hidden=True)(_deprecated("demo", "compare", compare_command))
student_app.command("demo-merge", hidden=True)(_deprecated("demo-merge", "compare-merge", compare_merge_command))


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.add_typer(student_app, name="student")
    app.command("search")(search_command)
