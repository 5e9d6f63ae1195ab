"""``teachkit scores import``: a similarity matrix computed elsewhere -> a committed teacher run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("import")(import_command)


def import_command(
    teacher: str = typer.Option(..., "--teacher", help="Name the scores appear under (e.g. xclip-b16)."),
    matrix: Path = typer.Option(..., "--matrix", help="(captions x videos) similarities: .npy or .pt."),
    captions: Path = typer.Option(..., "--captions", help="Caption id of each matrix row: .txt (one per line) or .json."),
    videos: Path = typer.Option(..., "--videos", help="Video id of each matrix column: .txt or .json."),
    split: str = typer.Option(..., "--split", help="Manifest split the ids belong to (e.g. test)."),
    frames: Optional[Path] = typer.Option(
        None, "--frames", help="(captions x T) relevance of each caption to its own video's frames, NaN where padded."
    ),
    video_embeddings: Optional[Path] = typer.Option(
        None, "--video-embeddings", help="(videos x D) holistic video embeddings, rows in the --videos order."
    ),
    caption_embeddings: Optional[Path] = typer.Option(
        None, "--caption-embeddings", help="(captions x D) holistic caption embeddings, rows in the --captions order."
    ),
    embedding_dtype: str = typer.Option("float16", "--embedding-dtype", help="float16 or float32."),
    store: str = typer.Option("store", "--store", help="Store folder or URL, e.g. s3://bucket/prefix (must hold a manifest)."),
    score_dtype: str = typer.Option("float16", "--score-dtype", help="float16 or float32."),
    shard_captions: int = typer.Option(1000, "--shard-captions", help="Captions per Parquet shard."),
) -> None:
    """Import a teacher's similarity matrix as a committed run of kind `imported`."""
    from teachkit.util.errors import InputError
    from teachkit.util.metrics import format_table

    from .importer import ImportSpec, import_scores

    spec = ImportSpec(teacher, matrix, captions, videos, split, frames, score_dtype, shard_captions,
                      video_embeddings, caption_embeddings, embedding_dtype)
    start = time.perf_counter()
    try:
        r = import_scores(store, spec)
    except OSError as e:  # a file that vanished or cannot be read: the message names it
        raise InputError(str(e)) from None
    what = f"{r.captions} captions x {r.videos} videos, {r.score_rows} score rows, {r.frame_rows} frame rows"
    if r.cached:
        typer.echo(f"cached: teacher {r.teacher} run {r.run} ({split}: {what})")
    else:
        typer.echo(f"imported: teacher {r.teacher} run {r.run} ({split}: {what}) in {time.perf_counter() - start:.1f}s")
    if not r.current:
        typer.echo(f"note: a later run of {r.teacher} supersedes run {r.run} in the store's views", err=True)
    if r.metrics:
        full = {"t2v": r.metrics["t2v"], "v2t": r.metrics.get("v2t", {})}
        typer.echo(format_table({f"{r.teacher} ({split})": full}))
