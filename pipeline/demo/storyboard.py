"""The demo dataset's storyboard: options, scenes, timelines, captions and the noisy ones.

Everything is drawn up in one process from seeded generators (``[seed, stream, index]``:
stream 0 picks scenes, 1 jitters each video, 2 words each video's captions, 3 picks the
wrong captions), so the storyboard, and therefore every file, does not depend on how many
workers later draw the videos.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from teachkit.util.errors import InputError

from .captions import caption
from .captions import captions as make_captions
from .render import Timeline, make_timeline
from .scenes import PERTURBATIONS, Scene, perturb, sample_scene, swapped

DEMO_VERSION = 2  # bump when the same options would draw or word anything differently
TWIN_PROBABILITY = 0.2  # share of videos that are the order-swapped twin of the one before
SPLITS = ("train", "test")


class DemoError(InputError, RuntimeError):
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
class Storyboard:
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


def storyboard(options: DemoOptions) -> Storyboard:
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
            timeline = make_timeline(scene, o.size, o.frames, np.random.default_rng([o.seed, 1, index]))
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
    return Storyboard(o, videos, _add_noise(captions, videos, o))


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
