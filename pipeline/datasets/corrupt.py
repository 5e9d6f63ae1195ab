"""``teachkit data corrupt``: a copy of a store's dataset with known wrong captions (NCR's shuffle).

NCR (Huang et al., NeurIPS 2021) measures noisy-correspondence methods by shuffling the captions
of a fraction of the training pairs. :func:`corrupt_captions` picks ``fraction`` of the train
captions at random (seeded) and moves each to another video: the picked captions are put in a
random cycle and each takes the video of the next one, redrawn until no caption keeps its own
video. The copy is written as a jsonl dataset (``path, caption, split, video_id, caption_id``; the
``jsonl`` adapter reads it back) beside a record of which captions moved, in the truth format of
``teachkit captions measure`` (``{"captions": {id: {"wrong": true, "noise": "other_video", ...}}}``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

import stores
from teachkit.util import atomic

ROWS_SQL = """
SELECT c.caption_id, c.video_id, c.split, c.text, v.path
FROM captions c JOIN videos v USING (video_id) ORDER BY c.split, c.caption_id
"""


def corrupt_captions(rows: list[dict], fraction: float, seed: int = 0, split: str = "train") -> dict[str, str]:
    """``{caption_id: new video_id}`` for ``fraction`` of ``split``'s captions, none on its own video."""
    if not 0 < fraction < 1:
        raise ValueError(f"--fraction must be in (0, 1), got {fraction}")
    pool = [r for r in rows if r["split"] == split]
    if len({r["video_id"] for r in pool}) < 2:
        raise ValueError(f"split {split!r} needs captions of at least two videos to move captions between them")
    k = max(2, int(round(fraction * len(pool))))
    rng = np.random.default_rng(seed)
    picked = [pool[i] for i in sorted(rng.choice(len(pool), size=k, replace=False))]
    for _ in range(1000):
        order = rng.permutation(k)
        new = {picked[order[i]]["caption_id"]: picked[order[(i + 1) % k]]["video_id"] for i in range(k)}
        if all(new[r["caption_id"]] != r["video_id"] for r in picked):
            return new
    raise ValueError(f"could not move {k} captions off their videos (too few distinct videos among them)")


def write_corrupted(store_root: str | Path, out: str | Path, record: str | Path, fraction: float,
                    seed: int = 0, split: str = "train") -> dict:
    """Write the corrupted jsonl copy and its record; return the record."""
    with stores.connect(store_root) as con:
        cur = con.execute(ROWS_SQL)
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
        manifest = stores.Store(store_root).require_manifest()
    if not rows:
        raise ValueError(f"store {store_root} has no captions")
    moved = corrupt_captions(rows, fraction, seed, split)
    # the manifest's paths are relative to its videos root: the copy names the files themselves
    # (stores.videos), so it reads from wherever it is written
    from stores.videos import VideosRootError, video_paths

    resolve = video_paths(store_root)

    def where(p: str) -> str:
        try:
            return str(resolve(p))
        except VideosRootError:
            return p

    path_of = {r["video_id"]: where(r["path"]) for r in rows}
    lines = []
    for r in rows:
        vid = moved.get(r["caption_id"], r["video_id"])
        lines.append(json.dumps({"video_id": vid, "caption_id": r["caption_id"], "path": path_of[vid],
                                 "caption": r["text"], "split": r["split"]}))
    atomic.write_text(out, "\n".join(lines) + "\n")
    by_id = {r["caption_id"]: r for r in rows}
    rec = {
        "version": 1, "protocol": "NCR shuffle: captions moved to other videos of the same split",
        "source_manifest": manifest.fingerprint, "fraction": fraction, "seed": seed, "split": split,
        "captions": {cid: {"wrong": True, "noise": "other_video", "video_id": vid,
                           "original_video_id": by_id[cid]["video_id"]} for cid, vid in sorted(moved.items())},
    }
    atomic.write_json(record, rec)
    return rec


def register(app) -> None:
    """Add ``corrupt`` to the ``data`` command group."""
    import typer

    @app.command("corrupt")
    def corrupt_command(
        fraction: float = typer.Option(..., "--fraction", help="Share of the split's captions to move (0-1)."),
        store: Path = typer.Option(Path("store"), "--store", help="Store whose current manifest is copied."),
        out: Path = typer.Option(..., "--out", help="The corrupted dataset (jsonl; build it with "
                                 "`teachkit data manifest --dataset jsonl --source OUT`)."),
        record: Optional[Path] = typer.Option(None, "--record", help="Which captions moved (default: OUT with "
                                              "suffix .truth.json); `teachkit captions measure --truth` reads it."),
        seed: int = typer.Option(0, "--seed"),
        split: str = typer.Option("train", "--split"),
    ) -> None:
        """Copy the store's dataset with a fraction of the training captions moved to other videos."""
        from stores import StoreError

        rec_path = record or out.with_suffix(".truth.json")
        try:
            rec = write_corrupted(store, out, rec_path, fraction, seed, split)
        except (ValueError, StoreError) as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2)
        typer.echo(f"{out}: {len(rec['captions'])} {split} captions moved to other videos; record {rec_path}")
