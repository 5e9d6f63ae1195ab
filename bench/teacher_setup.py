"""A small copy of the bundled demo for the benchmarks that drive both stages.

The teacher config is ``configs/demo.toml`` itself with its paths moved into the bench's
workspace, fewer demo videos and one cheap bootstrap step per CLIP teacher (a timing needs the
teachers' shapes, not trained weights); the student experiment is
``configs/student_demo.toml`` pointed at that store, with a batch that fits the smaller
train split. So the benchmarks follow the demo when its configs change. Built once per
bench run and shared; the first build runs every teacher once.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .common import BenchConfig, log
from .registry import Unavailable
from .workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
TEACHER_CONFIG = REPO / "configs" / "demo.toml"
STUDENT_CONFIG = REPO / "configs" / "student_demo.toml"


def sizes(cfg: BenchConfig) -> dict:
    """Demo videos per split, and the student's batch (the demo's 64 needs 64+ train videos)."""
    return cfg.pick(
        tiny=dict(train_videos=6, test_videos=4, batch=4, frames=8, size=32, num_frames=4),
        quick=dict(train_videos=48, test_videos=16, batch=16, frames=24, size=64),
        full=dict(train_videos=256, test_videos=64, batch=32, frames=24, size=64),
    )


@dataclass(frozen=True)
class DemoProject:
    folder: Path
    config_path: Path  # the teacher-stage TOML (`teachkit teachers run --config`)
    tokenizer: Path  # the students' backbone and vocabulary: the stand-in artefact's folder
    batch: int

    def config(self, store_root: Path | None = None):
        """The parsed teacher config; ``store_root`` swaps in another store (same data, models)."""
        from pipeline.config import StoreConfig, load_config

        cfg = load_config(self.config_path)
        if store_root is not None:
            cfg = dataclasses.replace(cfg, store=StoreConfig(root=Path(store_root)))
        return cfg

    @property
    def store(self) -> Path:
        return self.folder / "store"

    def student_experiment(self):
        """``configs/student_demo.toml``'s experiment on this project's store."""
        from student.config import load_comparison

        if not STUDENT_CONFIG.exists():
            raise Unavailable(f"{STUDENT_CONFIG} is missing")
        exp = load_comparison(STUDENT_CONFIG).experiment
        return dataclasses.replace(
            exp,
            # the config's backbone is the demo's stand-in artefact: this project's own copy of it
            model=dataclasses.replace(exp.model, tokenizer=str(self.tokenizer)) if exp.model.backbone == "tiny"
            else dataclasses.replace(exp.model, backbone=str(self.tokenizer), tokenizer=""),
            data=dataclasses.replace(exp.data, store=str(self.store), cache=str(self.folder / "student-cache"),
                                     batch_size=self.batch),
            train=dataclasses.replace(exp.train, device="cpu"),
        ).check()


def visual_teacher(pcfg):
    """The config's first CLIP teacher: the model the teacher-stage figures measure."""
    for t in pcfg.teachers:
        if t.kind == "clip":
            return t
    raise ValueError(f"{TEACHER_CONFIG} has no clip teacher to measure")


def teacher_config(cfg: BenchConfig, folder: Path) -> dict:
    """``configs/demo.toml`` as data, moved into ``folder`` and made small."""
    raw = tomllib.loads(TEACHER_CONFIG.read_text())
    s = sizes(cfg)
    raw["store"] = {"root": str(folder / "store")}
    demo = raw["dataset"].setdefault("demo", {})
    demo["out"] = str(folder / "demo")
    demo["options"] = dict(demo.get("options", {})) | {
        k: s[k] for k in ("train_videos", "test_videos", "frames", "size")
    }
    raw["dataset"]["source"] = str(folder / "demo" / "annotations.jsonl")
    if "num_frames" in s:  # smoke-test size only: the demo samples 12
        raw.setdefault("frames", {})["num_frames"] = s["num_frames"]
    for a in raw.get("pretrained", []):  # the stand-in for a pretrained CLIP the teachers start from
        a["model"] = str(folder / "models" / a["name"])
        a["bootstrap"] = dict(a["bootstrap"]) | {"steps": 1, "batch_size": min(4, s["train_videos"])}
    for t in raw["teachers"]:
        if "bootstrap" in t:
            t["model"] = str(folder / "models" / t["name"])
            # one cheap step: the timings need the teacher's shape, not trained weights
            t["bootstrap"] = dict(t["bootstrap"]) | {"steps": 1, "batch_size": min(4, s["train_videos"]),
                                                     "train_frames": 2}
            if "tokenizer_out" in t["bootstrap"]:
                t["bootstrap"]["tokenizer_out"] = str(folder / "tokenizer")
    return raw


def project(cfg: BenchConfig, ws: Workspace) -> DemoProject:
    """The shared project, with every teacher computed once into its store."""
    if not TEACHER_CONFIG.exists():
        raise Unavailable(f"{TEACHER_CONFIG} is missing")
    return ws.once("demo-project", lambda: _build(cfg, ws))


def _build(cfg: BenchConfig, ws: Workspace) -> DemoProject:
    from pipeline.run import run_teachers

    folder = ws.path("demo-project")
    raw = teacher_config(cfg, folder)
    path = folder / "teachers.toml"
    path.write_text("# written by bench.teacher_setup from configs/demo.toml\n" + to_toml(raw))
    # the students' vocabulary: the stand-in's tokenizer (or, for an older config, an exported one)
    base = [a["model"] for a in raw.get("pretrained", [])]
    p = DemoProject(folder, path, Path(base[0]) if base else folder / "tokenizer", sizes(cfg)["batch"])
    s = sizes(cfg)
    log(f"demo project: {s['train_videos']} + {s['test_videos']} videos, "
        f"teachers {[t['name'] for t in raw['teachers']]}, first run of each")
    quiet = lambda _msg: None  # noqa: E731 -- the runner's result lines are not bench output
    run_teachers(p.config(), out=quiet, log=quiet, progress=False)
    return p


def to_toml(data: dict) -> str:
    """Enough TOML for a config: tables (every dict), arrays of tables, scalars and lists."""
    lines: list[str] = []

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)  # a JSON string is a valid TOML basic string
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"cannot write {type(v).__name__} as a TOML value")

    def is_tables(v) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)

    def table(name: str, d: dict, header: str) -> None:
        lines.extend(["", header])
        lines.extend(f"{k} = {value(v)}" for k, v in d.items() if not isinstance(v, dict) and not is_tables(v))
        for k, v in d.items():  # sub-tables after every plain key of this table
            if isinstance(v, dict):
                table(f"{name}.{k}", v, f"[{name}.{k}]")
            elif is_tables(v):
                for item in v:
                    table(f"{name}.{k}", item, f"[[{name}.{k}]]")

    for k, v in data.items():
        if is_tables(v):
            for item in v:
                table(k, item, f"[[{k}]]")
        else:
            table(k, v, f"[{k}]")
    return "\n".join(lines).lstrip("\n") + "\n"
