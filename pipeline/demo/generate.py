"""Writing the demo dataset: videos (optionally in a process pool), annotations, ground truth.

The dataset is written into a temporary sibling folder (:func:`teachkit.util.atomic.atomic_path`),
``demo.json`` last, fsynced and renamed into place, so an interrupted run never leaves a
folder that looks complete; a later run removes the temporaries of processes that are gone.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from teachkit.util.atomic import atomic_path, remove_dead_leftovers
from stores.fingerprint import tree_checksum

from .storyboard import DEMO_VERSION, SPLITS, DemoError, DemoOptions, storyboard
from .render import Timeline, draw, write_mp4
from .truth import dump_ground_truth, ground_truth


def _render_one(job: tuple[str, Timeline, int, int]) -> str:
    path, timeline, fps, crf = job
    write_mp4(path, draw(timeline), fps, crf)
    return path


@dataclass(frozen=True)
class DemoResult:
    out: Path
    created: bool  # False when a complete demo with the same options was already there
    info: dict  # the contents of demo.json


def _check_target(out: Path, options: DemoOptions, force: bool) -> dict | None:
    """The existing demo.json when ``out`` already holds this demo; raise if it is in the way."""
    marker = out / "demo.json"
    if marker.is_file():
        info = json.loads(marker.read_text())
        if info.get("version") != DEMO_VERSION:
            return None  # made by an older generator: replaced by what this code draws
        if info.get("options") == options.to_json():
            return info
        if not force:
            old = info.get("options", {})
            diff = [k for k, v in options.to_json().items() if old.get(k) != v]
            raise DemoError(f"{out} holds a demo made with other options ({', '.join(diff)}); use --force to replace it")
        return None
    if out.exists() and any(out.iterdir()):
        looks_like_demo = (out / "annotations.jsonl").exists() or (out / "videos").is_dir()
        if not (force and looks_like_demo):
            raise DemoError(
                f"{out} exists and is not a complete demo dataset"
                + ("; use --force to replace it" if looks_like_demo else "; pick an empty or new folder")
            )
    return None


def _write_into(tmp: Path, p, options: DemoOptions, workers: int, log) -> dict:
    """Draw every video and write the annotations, ground truth and ``demo.json`` into ``tmp``."""
    (tmp / "videos").mkdir(parents=True)
    jobs = [(str(tmp / "videos" / f"{v.video_id}.mp4"), v.timeline, options.fps, options.crf) for v in p.videos]
    log(f"drawing {len(jobs)} videos ({options.size}x{options.size}, {options.frames} frames) into {tmp}")
    from teachkit.util.progress import progress

    with progress(transient=True) as bar:
        task = bar.add_task("drawing demo videos", total=len(jobs), unit="videos")
        if workers > 1:
            # spawn, not fork: the teacher stage may call this with torch's threads running
            with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                for _ in pool.map(_render_one, jobs, chunksize=32):
                    bar.advance(task)
        else:
            for job in jobs:
                _render_one(job)
                bar.advance(task)
    with open(tmp / "annotations.jsonl", "w") as f:
        for c in p.captions:
            row = {"video_id": c.video_id, "caption_id": c.caption_id, "path": f"videos/{c.video_id}.mp4",
                   "caption": c.text, "split": c.split}
            f.write(json.dumps(row) + "\n")
    (tmp / "ground_truth.json").write_text(dump_ground_truth(ground_truth(p)))
    info = {
        "version": DEMO_VERSION,
        "options": options.to_json(),
        "seed": options.seed,
        "fingerprint": tree_checksum(tmp),
        "videos": {s: sum(v.split == s for v in p.videos) for s in SPLITS},
        "captions": {s: sum(c.split == s for c in p.captions) for s in SPLITS},
        "wrong_captions": sum(c.noise is not None for c in p.captions),
    }
    (tmp / "demo.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def generate(
    out: str | Path, options: DemoOptions = DemoOptions(), *, force: bool = False, workers: int = 1, log=None
) -> DemoResult:
    """Write the demo dataset to ``out`` (or find it there already) and describe it.

    ``workers`` > 1 draws and encodes videos in a process pool; the output is the same.
    ``log`` receives progress lines (default: stderr).
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    out = Path(out)
    options = options.validate()
    existing = _check_target(out, options, force)
    if existing is not None:
        return DemoResult(out, False, existing)
    p = storyboard(options)
    remove_dead_leftovers(out)
    try:
        with atomic_path(out, replace=True) as tmp:
            info = _write_into(tmp, p, options, workers, log)
    except OSError:
        # another process finished the same folder first: keep its copy if it is this demo
        existing = _check_target(out, options, force=False)
        if existing is None:
            raise
        return DemoResult(out, False, existing)
    log(f"wrote {out}: {info['videos']} videos, {info['captions']} captions, {info['wrong_captions']} wrong")
    return DemoResult(out, True, info)
