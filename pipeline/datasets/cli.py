"""``teachkit data manifest``: build the store's videos/captions tables from a dataset."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from . import ADAPTERS


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("manifest")(manifest_command)


def manifest_command(
    dataset: str = typer.Option(..., "--dataset", help=f"One of: {', '.join(sorted(ADAPTERS))}."),
    source: Path = typer.Option(..., "--source", help="The dataset's annotation file or folder."),
    videos: Optional[Path] = typer.Option(
        None, "--videos", help="Folder of video files (required for msrvtt, msvd, vatex; found by <video_id>.*)."
    ),
    store: str = typer.Option("store", "--store", help="Store folder or URL, e.g. s3://bucket/prefix (created if missing)."),
    train_split: Optional[str] = typer.Option(None, "--train-split", help="msrvtt only: 9k (default) or 7k."),
    workers: int = typer.Option(8, "--workers", min=1, help="Threads probing videos."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if the inputs did not change."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar or progress lines on stderr."),
) -> None:
    """Build (or confirm) the dataset manifest; print counts per split and the failures."""
    from teachkit.util.errors import InputError, TeachkitError

    from .build import build_manifest, manifest_counts

    start = time.perf_counter()
    try:
        before = _current_fingerprint(store)
        m = build_manifest(
            store, dataset, source, videos, train_split=train_split, workers=workers, force=force,
            progress=not no_progress,
        )
        counts = manifest_counts(store)
    except (ValueError, OSError) as e:  # DatasetError and StoreError reach the CLI edge themselves
        if isinstance(e, TeachkitError):
            raise
        raise InputError(str(e) if str(source) in str(e) else f"{source}: {e}") from None
    state = "up to date" if (before == m.fingerprint and not force) else "built"
    typer.echo(f"manifest {m.short} ({m.dataset}): {state} in {time.perf_counter() - start:.1f}s")
    typer.echo(f"{'split':<12}{'videos':>10}{'captions':>10}{'unreadable':>12}")
    for c in counts:
        typer.echo(f"{c['split']:<12}{c['videos']:>10}{c['captions']:>10}{c['unreadable']:>12}")
    typer.echo(f"failures: {m.failures}")
    typer.echo(f"videos root: {m.videos_root} (the manifest's video paths are relative to it)")
    if m.failures:
        _print_failures(store, m)


def _current_fingerprint(store: str) -> str | None:
    from stores import Store
    from stores.fs import open_fs

    if not open_fs(store).exists("store.json"):
        return None
    m = Store(store).manifest()
    return m.fingerprint if m else None


def _print_failures(store: str, m, limit: int = 5) -> None:
    from stores import connect

    with connect(store) as con:
        rows = con.execute("SELECT item, error FROM failures WHERE run = ? ORDER BY item LIMIT ?", [m.short, limit]).fetchall()
    for item, error in rows:
        typer.echo(f"  {item}: {error}")
    if m.failures > limit:
        typer.echo(f"  ... (all of them: teachkit sql \"SELECT * FROM failures WHERE run = '{m.short}'\")")
