"""The teacher stage's configuration: typed dataclasses parsed once from TOML.

``load_config(path)`` reads a file such as ``configs/demo.toml``::

    [store]
    root = "store"

    [dataset]                    # how the store's manifest is built
    adapter = "jsonl"
    source = "data/demo/annotations.jsonl"
    # train_split = "7k"         # msrvtt only: the 7k training split instead of 9k

    [dataset.demo]               # optional: generate the bundled demo when `source` is missing
    out = "data/demo"
    options = { videos = 120 }   # passed verbatim to pipeline.demo.generate(out, options)

    [frames]
    num_frames = 12              # uniform sampling (CLIP4Clip); shorter clips are padded
    # fps = 1.0                  # optional: resample before sampling

    [[teachers]]
    name = "clip_fine"
    kind = "clip"                # clip | text | plugin | imported
    model = "artifacts/teachers/clip_fine"
    scorer = "fine"
    plan = "full"                # full | topk (with k = ...)

    [teachers.bootstrap]         # optional: passed verbatim to ensure_checkpoint(model, ...)
    ...

Relative paths are resolved against the working directory the command runs in (the
repository root for ``make teachers``), once, here. Every error names the offending field
(``teachers[1].plan``) so a typo fails before any model is loaded.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


#: the names of pipeline.scorers.SCORERS, kept here so parsing a config never imports torch
SCORER_NAMES = ("mean", "fine")


class ConfigError(ValueError):
    """A configuration value that is missing, unknown or of the wrong type or range."""


KINDS = ("clip", "text", "plugin", "imported")
PLANS = ("full", "topk")
FRAME_RELEVANCE = ("own", "all", "none")
SCORE_DTYPES = ("float16", "float32")


@dataclass(frozen=True)
class StoreConfig:
    root: Path = Path("store")


@dataclass(frozen=True)
class DemoConfig:
    out: Path
    options: dict = field(default_factory=dict)  # pipeline.demo.DemoOptions fields
    workers: int = 1  # processes drawing videos (the output is the same for any number)


@dataclass(frozen=True)
class DatasetConfig:
    source: Path
    adapter: str = "jsonl"
    videos: Path | None = None  # folder the adapter resolves video paths against, if it needs one
    train_split: str | None = None  # msrvtt: "9k" (default) or "7k"; an error for other adapters
    demo: DemoConfig | None = None


@dataclass(frozen=True)
class FramesConfig:
    num_frames: int = 12
    fps: float | None = None
    decode_workers: int = 4  # threads decoding (and preparing) videos ahead of the encoders


@dataclass(frozen=True)
class TeacherConfig:
    name: str
    kind: str
    model: str | None = None  # local folder, `package:<module>/<sub/path>`, or a Hugging Face id
    scorer: str = "mean"  # clip teachers: a name from pipeline.scorers.SCORERS
    plugin: str | None = None  # plugin teachers: `module:Class` or `module.Class`
    options: dict = field(default_factory=dict)  # plugin teachers: constructor keyword arguments
    plan: str = "full"
    k: int | None = None  # topk plans: videos per caption (the positive is added)
    frame_relevance: str = "own"  # own | all scored pairs | none
    score_dtype: str = "float16"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    video_batch: int = 16  # videos per video-encoder call
    text_batch: int = 256  # captions per text-encoder call and per scoring block
    score_batch: int = 1024  # videos per scoring block
    shard_captions: int = 1024  # captions per shard (the unit of resumption)
    max_length: int | None = None  # text token limit; default: the model's own
    bootstrap: dict | None = None  # passed verbatim to pipeline.bootstrap.ensure_checkpoint
    holdout: str | None = None  # captions it never trained on: "all" | "fold:i/n" (stores.folds)


@dataclass(frozen=True)
class PipelineConfig:
    store: StoreConfig
    dataset: DatasetConfig
    frames: FramesConfig
    teachers: tuple[TeacherConfig, ...]
    path: Path | None = None  # the file it came from

    def teacher(self, name: str) -> TeacherConfig:
        for t in self.teachers:
            if t.name == name:
                return t
        raise ConfigError(f"no teacher named {name!r}; teachers are {[t.name for t in self.teachers]}")

    def select(self, only: list[str] | None) -> list[TeacherConfig]:
        """The teachers named in ``only`` (all when empty), in config order."""
        if not only:
            return list(self.teachers)
        for n in only:
            self.teacher(n)
        return [t for t in self.teachers if t.name in set(only)]


# -- parsing ---------------------------------------------------------------------------


def load_config(path: str | Path, base: str | Path | None = None) -> PipelineConfig:
    """Parse and validate a TOML config; relative paths resolve against ``base`` (cwd)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from e
    cfg = parse_config(raw, Path(base) if base is not None else Path.cwd())
    return dataclasses.replace(cfg, path=path)


def parse_config(raw: dict, base: Path) -> PipelineConfig:
    _known(raw, {"store", "dataset", "frames", "teachers"}, "config")
    store = _build(StoreConfig, raw.get("store", {}), "store", base)
    ds_raw = dict(_table(raw, "dataset", "config", required=True))
    demo_raw = ds_raw.pop("demo", None)
    dataset = _build(DatasetConfig, ds_raw, "dataset", base)
    if demo_raw is not None:
        dataset = dataclasses.replace(dataset, demo=_build(DemoConfig, _as_table(demo_raw, "dataset.demo"), "dataset.demo", base))
    frames = _build(FramesConfig, raw.get("frames", {}), "frames", base)
    if frames.num_frames < 1:
        raise ConfigError(f"frames.num_frames must be >= 1, got {frames.num_frames}")
    if frames.fps is not None and frames.fps <= 0:
        raise ConfigError(f"frames.fps must be positive, got {frames.fps}")
    if frames.decode_workers < 1:
        raise ConfigError(f"frames.decode_workers must be >= 1, got {frames.decode_workers}")
    teachers_raw = raw.get("teachers", [])
    if not isinstance(teachers_raw, list) or not teachers_raw:
        raise ConfigError("teachers: expected at least one [[teachers]] table")
    teachers = tuple(_teacher(t, f"teachers[{i}]", base) for i, t in enumerate(teachers_raw))
    names = [t.name for t in teachers]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise ConfigError(f"teachers: duplicate names {dups}")
    return PipelineConfig(store, dataset, frames, teachers)


def _teacher(raw: Any, where: str, base: Path) -> TeacherConfig:
    from stores.layout import check_name

    from .teachers.models import looks_local

    t = _build(TeacherConfig, _as_table(raw, where), where, base)
    try:
        check_name("teacher", t.name)
    except ValueError as e:
        raise ConfigError(f"{where}.name: {e}") from None
    where = f"{where} ({t.name})"
    _choice(t.kind, KINDS, f"{where}.kind")
    _choice(t.plan, PLANS, f"{where}.plan")
    _choice(t.frame_relevance, FRAME_RELEVANCE, f"{where}.frame_relevance")
    _choice(t.score_dtype, SCORE_DTYPES, f"{where}.score_dtype")
    for name in ("video_batch", "text_batch", "score_batch", "shard_captions"):
        if getattr(t, name) < 1:
            raise ConfigError(f"{where}.{name} must be >= 1, got {getattr(t, name)}")
    if t.plan == "topk" and (t.k is None or t.k < 1):
        raise ConfigError(f"{where}.k: a topk plan needs k >= 1 (videos per caption)")
    if t.plan == "full" and t.k is not None:
        raise ConfigError(f"{where}.k is only used with plan = 'topk'")
    if not (t.device == "auto" or t.device == "cpu" or t.device.startswith("cuda")):
        raise ConfigError(f"{where}.device must be auto, cpu, cuda or cuda:N, got {t.device!r}")
    if t.model and looks_local(t.model, base, t.bootstrap is not None):
        p = Path(t.model).expanduser()
        t = dataclasses.replace(t, model=str(p if p.is_absolute() else base / p))
    if t.kind in ("clip", "text") and not t.model:
        raise ConfigError(f"{where}.model: a {t.kind} teacher needs a model (folder, package:... or HF id)")
    if t.kind == "clip":
        _choice(t.scorer, SCORER_NAMES, f"{where}.scorer")
    if t.kind == "plugin":
        if not t.plugin:
            raise ConfigError(f"{where}.plugin: a plugin teacher needs `plugin = \"module:Class\"`")
    elif t.plugin or t.options:
        raise ConfigError(f"{where}: `plugin` and `options` are only used by kind = 'plugin'")
    if t.bootstrap is not None and t.kind != "clip":
        raise ConfigError(f"{where}.bootstrap: only clip teachers can be bootstrapped")
    if t.holdout is not None:
        from stores.folds import HoldoutError, parse_holdout

        try:
            parse_holdout(t.holdout, f"{where}.holdout")
        except HoldoutError as e:
            raise ConfigError(str(e)) from None
        if t.bootstrap is not None and t.holdout == "all":
            raise ConfigError(f"{where}.holdout: a bootstrapped teacher trains on the store's captions; use 'fold:i/n'")
    return t


def _choice(value: str, allowed: tuple[str, ...], where: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{where} must be one of {list(allowed)}, got {value!r}")


def _known(raw: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; fields are {sorted(allowed)}")


def _table(raw: dict, key: str, where: str, required: bool = False) -> dict:
    if key not in raw:
        if required:
            raise ConfigError(f"{where}: missing [{key}] table")
        return {}
    return _as_table(raw[key], key)


def _as_table(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
    return value


def _build(cls, raw: dict, where: str, base: Path):
    """Instantiate dataclass ``cls`` from ``raw``, checking names, types and required fields."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    nested = {n for n, h in hints.items() if h in (DemoConfig, DemoConfig | None)}  # parsed by the caller
    _known(raw, set(fields) - nested, where)
    kwargs = {}
    for name, f in fields.items():
        if name in nested:
            continue
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{where}.{name}: required field missing")
            continue
        kwargs[name] = _coerce(raw[name], hints[name], f"{where}.{name}", base)
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, where: str, base: Path) -> Any:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where, base)
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: expected a path string, got {value!r}")
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if hint is dict or typing.get_origin(hint) is dict:
        return dict(_as_table(value, where))
    raise ConfigError(f"{where}: unsupported field type {hint}")  # a bug in the dataclasses above
