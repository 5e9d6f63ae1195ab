"""Generating the bundled demo dataset: scenes, captions, noise, videos and ground truth.

Everything is planned in one process from seeded generators (``[seed, stream, index]``), so
the plan does not depend on how many workers draw the videos; drawing and encoding (the
only costly part) can then run in a process pool. The dataset is written into a sibling
``.<name>.partial`` folder, ``demo.json`` last, and renamed into place, so an interrupted
run never leaves a folder that looks complete.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from stores.fingerprint import tree_checksum

from .captions import captions as make_captions
from .captions import caption, describe
from .render import Timeline, draw, plan_timeline, write_mp4
from .scenes import PERTURBATIONS, Scene, perturb, sample_scene, swapped

DEMO_VERSION = 1
TWIN_PROBABILITY = 0.2  # share of videos that are the order-swapped twin of the one before
SPLITS = ("train", "test")


class DemoError(RuntimeError):
    """The demo cannot be written (bad options, or an output folder in the way)."""


@dataclass(frozen=True)
class DemoOptions:
    """What the demo dataset contains; equal options (and code version) give equal bytes."""

    seed: int = 0
    train_videos: int = 1000
    test_videos: int = 500
    captions_per_video: int = 4
    test_captions_per_video: int = 2
    noise: float = 0.1
    size: int = 64
    frames: int = 24
    fps: int = 8
    crf: int = 20

    def validate(self) -> DemoOptions:
        """Raise :class:`DemoError` naming the first bad field; return self."""
        checks = {
            "train_videos": self.train_videos >= 1,
            "test_videos": self.test_videos >= 1,
            "captions_per_video": self.captions_per_video >= 1,
            "test_captions_per_video": self.test_captions_per_video >= 1,
            "noise": 0.0 <= self.noise < 1.0,
            "size": self.size >= 32 and self.size % 16 == 0,
            "frames": self.frames >= 8,
            "fps": self.fps >= 1,
            "crf": 0 <= self.crf <= 51,
        }
        hints = {
            "noise": "in [0, 1)",
            "size": "a multiple of 16, at least 32",
            "frames": "at least 8",
            "crf": "in [0, 51]",
        }
        for name, ok in checks.items():
            if not ok:
                raise DemoError(f"{name}={getattr(self, name)!r} must be {hints.get(name, 'at least 1')}")
        return self

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Video:
    video_id: str
    split: str
    scene: Scene
    timeline: Timeline
    twin: str | None  # the video with the same events in the other order, if any


@dataclass(frozen=True)
class Caption:
    caption_id: str
    video_id: str
    split: str
    text: str
    described: Scene  # what the caption says; differs from the video's scene when wrong
    noise: str | None  # the perturbation that made it wrong, None when correct


@dataclass(frozen=True)
class Plan:
    options: DemoOptions
    videos: list[Video]
    captions: list[Caption]


def _sample_scenes(n: int, rng: np.random.Generator, seen: set[str]) -> list[tuple[Scene, int | None]]:
    """``n`` scenes with keys not in ``seen`` (updated); some are the twin of the one before."""
    out: list[tuple[Scene, int | None]] = []
    for _ in range(200 * n + 1000):
        if len(out) == n:
            return out
        prev = out[-1] if out else None
        if prev is not None and prev[1] is None and rng.random() < TWIN_PROBABILITY:
            scene = swapped(prev[0])
            if scene is not None and scene.key() not in seen:
                seen.add(scene.key())
                out.append((scene, len(out) - 1))
                continue
        scene = sample_scene(rng)
        if scene.key() not in seen:
            seen.add(scene.key())
            out.append((scene, None))
    raise DemoError(f"could not find {n} distinct scenes; ask for fewer videos")


def plan(options: DemoOptions) -> Plan:
    """Every scene, timeline and caption of the dataset, from ``options.seed`` alone."""
    o = options.validate()
    scene_rng = np.random.default_rng([o.seed, 0])
    seen: set[str] = set()
    per_split = {"train": o.train_videos, "test": o.test_videos}
    k_per_split = {"train": o.captions_per_video, "test": o.test_captions_per_video}
    total = o.train_videos + o.test_videos
    width = max(5, len(str(total - 1)))
    videos: list[Video] = []
    for split in SPLITS:
        # every video's scene is distinct, so test content never repeats nor occurs in train
        sampled = _sample_scenes(per_split[split], scene_rng, seen)
        first = len(videos)
        for j, (scene, twin_of) in enumerate(sampled):
            index = first + j
            timeline = plan_timeline(scene, o.size, o.frames, np.random.default_rng([o.seed, 1, index]))
            videos.append(Video(f"demo{index:0{width}d}", split, scene, timeline, None))
            if twin_of is not None:
                a, b = videos[first + twin_of], videos[index]
                videos[first + twin_of] = Video(a.video_id, a.split, a.scene, a.timeline, b.video_id)
                videos[index] = Video(b.video_id, b.split, b.scene, b.timeline, a.video_id)
    captions: list[Caption] = []
    for index, v in enumerate(videos):
        rng = np.random.default_rng([o.seed, 2, index])
        texts = make_captions(v.scene, k_per_split[v.split], rng)
        captions += [Caption(f"{v.video_id}#{k}", v.video_id, v.split, t, v.scene, None) for k, t in enumerate(texts)]
    return Plan(o, videos, _add_noise(captions, videos, o))


def _add_noise(captions: list[Caption], videos: list[Video], o: DemoOptions) -> list[Caption]:
    """Make exactly ``round(noise * train captions)`` train captions describe another scene."""
    rng = np.random.default_rng([o.seed, 3])
    train = [i for i, c in enumerate(captions) if c.split == "train"]
    n_wrong = int(round(o.noise * len(train)))
    pool = [v.scene for v in videos if v.split == "train"]
    if len(pool) < 2:
        pool = pool + [sample_scene(rng) for _ in range(8)]
    out = list(captions)
    for i in sorted(rng.choice(train, n_wrong, replace=False).tolist()) if n_wrong else []:
        c = out[i]
        first = int(rng.integers(len(PERTURBATIONS)))
        for kind in PERTURBATIONS[first:] + PERTURBATIONS[:first]:
            wrong = perturb(c.described, kind, rng, pool)
            if wrong is not None:
                break
        else:  # pragma: no cover - "colour" always succeeds
            raise DemoError(f"could not make a wrong caption for {c.caption_id}")
        out[i] = Caption(c.caption_id, c.video_id, c.split, caption(wrong, rng), wrong, kind)
    return out


def _event_frames(described: Scene, truth: Scene, timeline: Timeline) -> list[dict]:
    """Each described event with the frames of the matching true event (None if absent)."""
    used: set[int] = set()
    out = []
    for e in described.events:
        obj = described.objects[e.obj]
        frames = None
        for j, t in enumerate(truth.events):
            if j not in used and truth.objects[t.obj] == obj and (t.action, t.param) == (e.action, e.param):
                used.add(j)
                frames = list(timeline.spans[j])
                break
        out.append({"shape": obj.shape, "colour": obj.colour, "action": e.action, "param": e.param, "frames": frames})
    return out


def ground_truth(p: Plan) -> dict:
    """The answers: each video's scene and event frames, each caption's correctness."""
    by_id = {v.video_id: v for v in p.videos}
    videos = {
        v.video_id: {
            "split": v.split,
            "scene": v.scene.to_json(),
            "description": describe(v.scene),
            "frames": p.options.frames,
            "events": [
                {**e, "frames": list(span)} for e, span in zip(v.scene.to_json()["events"], v.timeline.spans)
            ],
            "order_twin": v.twin,
        }
        for v in p.videos
    }
    captions = {}
    for c in p.captions:
        v = by_id[c.video_id]
        captions[c.caption_id] = {
            "video_id": c.video_id,
            "split": c.split,
            "wrong": c.noise is not None,
            "noise": c.noise,
            "described": c.described.to_json(),
            "description": describe(c.described),
            "correct_description": describe(v.scene),
            "events": _event_frames(c.described, v.scene, v.timeline),
        }
    return {"version": DEMO_VERSION, "options": p.options.to_json(), "videos": videos, "captions": captions}


def _dump_ground_truth(gt: dict) -> str:
    """JSON with one line per video and per caption: greppable, and a third of indented JSON."""
    def compact(value) -> str:
        return json.dumps(value, separators=(",", ":"))

    lines = ["{", f'"version": {gt["version"]},', f'"options": {compact(gt["options"])},']
    for section in ("videos", "captions"):
        items = [f"  {compact(k)}: {compact(v)}" for k, v in gt[section].items()]
        lines += [f'"{section}": {{', ",\n".join(items), "}" + ("," if section == "videos" else "")]
    return "\n".join(lines + ["}"]) + "\n"


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
        if info.get("options") == options.to_json() and info.get("version") == DEMO_VERSION:
            return info
        if not force:
            old = info.get("options", {})
            diff = [k for k, v in options.to_json().items() if old.get(k) != v] or ["version"]
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
    p = plan(options)
    tmp = out.parent / f".{out.name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "videos").mkdir(parents=True)
    jobs = [(str(tmp / "videos" / f"{v.video_id}.mp4"), v.timeline, options.fps, options.crf) for v in p.videos]
    log(f"drawing {len(jobs)} videos ({options.size}x{options.size}, {options.frames} frames) into {tmp}")
    if workers > 1:
        # spawn, not fork: the teacher stage may call this with torch's threads running
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for _ in pool.map(_render_one, jobs, chunksize=32):
                pass
    else:
        for job in jobs:
            _render_one(job)
    with open(tmp / "annotations.jsonl", "w") as f:
        for c in p.captions:
            row = {"video_id": c.video_id, "caption_id": c.caption_id, "path": f"videos/{c.video_id}.mp4",
                   "caption": c.text, "split": c.split}
            f.write(json.dumps(row) + "\n")
    (tmp / "ground_truth.json").write_text(_dump_ground_truth(ground_truth(p)))
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
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    log(f"wrote {out}: {info['videos']} videos, {info['captions']} captions, {info['wrong_captions']} wrong")
    return DemoResult(out, True, info)
