"""Typed experiment configuration for the student stage, parsed once from TOML.

Every weight, temperature and budget of a student run lives here. :func:`load_experiment`
and :func:`load_demo` read a TOML file into frozen dataclasses; unknown keys, wrong types
and out-of-range values raise :class:`ConfigError` naming the field (``loss.coarse.kind``),
so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


TEACHER_SOURCES = ("matrix", "window")


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the field."""


@dataclass(frozen=True)
class TinyClipConfig:
    """A small CLIP built from a config (no pretrained weights): for CPU runs and tests."""

    image_size: int = 64
    patch_size: int = 16
    hidden_size: int = 64
    intermediate_size: int = 256
    layers: int = 2
    heads: int = 4
    projection_dim: int = 64

    def check(self, where: str) -> None:
        _positive(self, where, "image_size", "patch_size", "hidden_size", "intermediate_size", "layers", "heads", "projection_dim")
        if self.image_size % self.patch_size:
            raise ConfigError(f"{where}.image_size ({self.image_size}) must be a multiple of patch_size ({self.patch_size})")
        if self.hidden_size % self.heads:
            raise ConfigError(f"{where}.hidden_size ({self.hidden_size}) must be divisible by heads ({self.heads})")


@dataclass(frozen=True)
class ModelConfig:
    """The student: a CLIP backbone and a video head (see :mod:`student.heads`).

    ``backbone`` is ``"tiny"`` (a fresh CLIP from ``[model.tiny]``), a Hugging Face model id
    or a local folder holding a CLIPModel. ``tokenizer`` is a folder (or id) that
    ``AutoTokenizer`` loads; empty means the backbone's own.
    """

    backbone: str = "tiny"
    tokenizer: str = ""
    head: str = "afa"
    num_frames: int = 4
    fps: float = 0.0  # 0: sample over all decoded frames (no resampling)
    max_words: int = 32
    seq_layers: int = 1  # temporal transformer depth (seqTransf, and afa when afa_temporal)
    afa_temporal: bool = True  # TeachCLIP puts AFA on top of the temporal transformer
    afa_hidden: int = 0  # 0: the embedding width
    afa_temperature: float = 0.1  # softmax temperature of the frame logits
    tiny: TinyClipConfig = field(default_factory=TinyClipConfig)

    def check(self, where: str) -> None:
        from .heads import HEADS

        if self.head not in HEADS:
            raise ConfigError(f"{where}.head must be one of {sorted(HEADS)}, got {self.head!r}")
        _positive(self, where, "num_frames", "max_words", "afa_temperature")
        if self.seq_layers < 0 or self.afa_hidden < 0 or self.fps < 0:
            raise ConfigError(f"{where}: seq_layers, afa_hidden and fps must be >= 0")
        if not self.backbone:
            raise ConfigError(f"{where}.backbone must name 'tiny', a model id or a folder")
        if self.backbone == "tiny" and not self.tokenizer:
            raise ConfigError(f"{where}.tokenizer: a tiny backbone needs a tokenizer folder")
        self.tiny.check(f"{where}.tiny")


@dataclass(frozen=True)
class DataConfig:
    """Where the store and the decoded-frame cache are, and how batches are assembled."""

    store: str = "store"
    cache: str = "cache/student"
    train_split: str = "train"
    test_split: str = "test"
    batch_size: int = 64
    num_workers: int = 0
    # "matrix": each teacher's split matrix streamed once into a memory-mapped cache (fast at any
    # size); "window": one DuckDB query per teacher_window batches, nothing cached (student/knowledge.py)
    teacher_source: str = "matrix"
    teacher_window: int = 256  # batches whose teacher entries one DuckDB query fetches ("window")
    drop_excluded: bool = True  # leave out captions listed in an `exclusions` view, if any
    # also leave out the captions a truth file marks wrong (stores/audit/measure.py format, or
    # one caption id per line): the oracle bound of the caption audit (`--ablation audit`)
    exclude_captions: str | None = None
    decode_workers: int = 2
    eval_batch_size: int = 256
    # train videos held out of training and evaluated as "val": tune on these, not on test
    holdout_videos: int = 0

    def check(self, where: str) -> None:
        _positive(self, where, "batch_size", "teacher_window", "decode_workers", "eval_batch_size")
        if self.teacher_source not in TEACHER_SOURCES:
            raise ConfigError(f"{where}.teacher_source must be one of {list(TEACHER_SOURCES)}, got {self.teacher_source!r}")
        if self.holdout_videos < 0:
            raise ConfigError(f"{where}.holdout_videos must be >= 0")
        if self.batch_size < 2:
            raise ConfigError(f"{where}.batch_size must be >= 2 for in-batch contrastive learning")
        if self.num_workers < 0:
            raise ConfigError(f"{where}.num_workers must be >= 0")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 300
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 20
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    logit_scale_init: float = 1 / 0.07  # CLIP's initial scale (the parameter stores its log)
    logit_scale_max: float = 100.0
    grad_clip: float = 1.0
    log_every: int = 25
    # CPU threads for torch; 0 keeps torch's default. Tiny models gain little from a second
    # thread and lose a lot when other processes share the cores (OpenMP threads wait on
    # each other), so the CPU demo sets 1.
    threads: int = 0

    def check(self, where: str) -> None:
        _positive(self, where, "steps", "lr", "logit_scale_init", "logit_scale_max", "log_every")
        if self.weight_decay < 0 or self.warmup_steps < 0 or self.grad_clip < 0 or self.threads < 0:
            raise ConfigError(f"{where}: weight_decay, warmup_steps, grad_clip and threads must be >= 0")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"{where}.device must be auto, cpu or cuda, got {self.device!r}")
        if self.logit_scale_init > self.logit_scale_max:
            raise ConfigError(f"{where}.logit_scale_init must not exceed logit_scale_max")


@dataclass(frozen=True)
class RetrievalLossConfig:
    """Symmetric InfoNCE on the student's own similarities (the plain CLIP4Clip objective)."""

    weight: float = 1.0

    def check(self, where: str) -> None:
        _non_negative(self, where, "weight")


@dataclass(frozen=True)
class CoarseLossConfig:
    """Distillation of the teachers' in-batch caption x video similarity matrices.

    ``kind`` picks a registered loss (``none`` disables it). ``aggregation``: ``mean_matrix``
    averages the teacher matrices first (TeachText), ``mean_loss`` averages per-teacher
    losses (TeachCLIP), ``weighted`` sums per-teacher losses times ``teacher_weights``.
    Row losses see ``student_sim / student_temperature`` and ``teacher_sim /
    teacher_temperature`` (``teacher_temperatures`` overrides it per teacher), where
    ``teacher_norm = "zscore"`` first standardises each teacher row.
    """

    kind: str = "none"
    weight: float = 1.0
    teachers: list[str] = field(default_factory=list)
    aggregation: str = "mean_loss"
    teacher_weights: dict[str, float] = field(default_factory=dict)
    student_temperature: float = 0.05
    teacher_temperature: float = 0.05
    teacher_temperatures: dict[str, float] = field(default_factory=dict)
    directions: list[str] = field(default_factory=lambda: ["t2v", "v2t"])
    teacher_norm: str = "none"  # "zscore": standardise each teacher row first (see losses/coarse.py)
    smoothl1_beta: float = 0.1

    def check(self, where: str) -> None:
        from .losses import COARSE_LOSSES

        if self.kind != "none" and self.kind not in COARSE_LOSSES:
            raise ConfigError(f"{where}.kind must be 'none' or one of {sorted(COARSE_LOSSES)}, got {self.kind!r}")
        if self.aggregation not in ("mean_matrix", "mean_loss", "weighted"):
            raise ConfigError(f"{where}.aggregation must be mean_matrix, mean_loss or weighted, got {self.aggregation!r}")
        if self.teacher_norm not in ("none", "zscore"):
            raise ConfigError(f"{where}.teacher_norm must be 'none' or 'zscore', got {self.teacher_norm!r}")
        _non_negative(self, where, "weight")
        _positive(self, where, "student_temperature", "teacher_temperature", "smoothl1_beta")
        if self.kind != "none" and self.weight > 0 and not self.teachers:
            raise ConfigError(f"{where}.teachers: coarse distillation needs at least one teacher")
        if len(set(self.teachers)) != len(self.teachers):
            raise ConfigError(f"{where}.teachers lists a teacher twice: {self.teachers}")
        for name, w in self.teacher_weights.items():
            if name not in self.teachers:
                raise ConfigError(f"{where}.teacher_weights.{name}: not in {where}.teachers")
            if w < 0:
                raise ConfigError(f"{where}.teacher_weights.{name} must be >= 0")
        if self.aggregation == "weighted":
            missing = [t for t in self.teachers if t not in self.teacher_weights]
            if missing:
                raise ConfigError(f"{where}.teacher_weights: weighted aggregation needs a weight for {missing}")
        for name, t in self.teacher_temperatures.items():
            if name not in self.teachers:
                raise ConfigError(f"{where}.teacher_temperatures.{name}: not in {where}.teachers")
            if t <= 0:
                raise ConfigError(f"{where}.teacher_temperatures.{name} must be > 0")
        bad = [d for d in self.directions if d not in ("t2v", "v2t")]
        if bad or not self.directions:
            raise ConfigError(f"{where}.directions must be a non-empty subset of ['t2v', 'v2t'], got {self.directions}")

    @property
    def active(self) -> bool:
        return self.kind != "none" and self.weight > 0 and bool(self.teachers)

    def temperature_of(self, teacher: str) -> float:
        return self.teacher_temperatures.get(teacher, self.teacher_temperature)


@dataclass(frozen=True)
class FineLossConfig:
    """TeachCLIP's fine-grained distillation: AFA frame weights vs teacher frame relevance."""

    weight: float = 0.0
    teachers: list[str] = field(default_factory=list)
    temperature: float = 0.1

    def check(self, where: str) -> None:
        _non_negative(self, where, "weight")
        _positive(self, where, "temperature")
        if self.weight > 0 and not self.teachers:
            raise ConfigError(f"{where}.teachers: fine distillation needs at least one teacher")

    @property
    def active(self) -> bool:
        return self.weight > 0 and bool(self.teachers)


@dataclass(frozen=True)
class LossConfig:
    retrieval: RetrievalLossConfig = field(default_factory=RetrievalLossConfig)
    coarse: CoarseLossConfig = field(default_factory=CoarseLossConfig)
    fine: FineLossConfig = field(default_factory=FineLossConfig)

    def check(self, where: str) -> None:
        self.retrieval.check(f"{where}.retrieval")
        self.coarse.check(f"{where}.coarse")
        self.fine.check(f"{where}.fine")

    @property
    def teachers(self) -> list[str]:
        """Every teacher the losses read, in a stable order."""
        names = list(self.coarse.teachers) if self.coarse.active else []
        if self.fine.active:
            names += [t for t in self.fine.teachers if t not in names]
        return names

    def without_distillation(self) -> LossConfig:
        """The same objective with every teacher term switched off (the plain student)."""
        return dataclasses.replace(
            self,
            coarse=dataclasses.replace(self.coarse, kind="none", teachers=[], teacher_weights={}, teacher_temperatures={}),
            fine=dataclasses.replace(self.fine, weight=0.0, teachers=[]),
        )


@dataclass(frozen=True)
class OutputConfig:
    runs: str = "runs"
    name: str = "student"

    def check(self, where: str) -> None:
        if not self.name or "/" in self.name:
            raise ConfigError(f"{where}.name must be a plain folder name, got {self.name!r}")


@dataclass(frozen=True)
class ExperimentConfig:
    """One student run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def check(self, where: str = "") -> ExperimentConfig:
        p = f"{where}." if where else ""
        self.model.check(f"{p}model")
        self.data.check(f"{p}data")
        self.train.check(f"{p}train")
        self.loss.check(f"{p}loss")
        self.output.check(f"{p}output")
        if self.loss.fine.active and self.model.head != "afa":
            raise ConfigError(f"{p}loss.fine: fine distillation needs model.head = 'afa', got {self.model.head!r}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DemoConfig:
    """``teachkit student demo``: a plain and a distilled student per seed, same budget.

    The distilled student is ``experiment`` as written; the plain one is the same config
    with every distillation term off (:meth:`LossConfig.without_distillation`).
    """

    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    out: str = "runs/demo"
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)

    def check(self) -> DemoConfig:
        if len(self.seeds) < 1 or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"demo.seeds must be distinct seeds, got {self.seeds}")
        self.experiment.check()
        if not (self.experiment.loss.coarse.active or self.experiment.loss.fine.active):
            raise ConfigError("loss: the demo compares against a distilled student; enable loss.coarse or loss.fine")
        return self


# -- parsing ------------------------------------------------------------------------------


def from_dict(cls: type, data: Any, where: str = "") -> Any:
    """Build dataclass ``cls`` from plain TOML data, naming the field in every error."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} must be a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown field {_join(where, unknown[0])}; {where or 'config'} fields are {sorted(names)}")
    kwargs = {k: _convert(hints[k], v, _join(where, k)) for k, v in data.items()}
    return cls(**kwargs)


def _convert(tp: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _convert(arg, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not match {tp}")
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, got {type(value).__name__}")
        return [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _, item = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table, got {type(value).__name__}")
        return {str(k): _convert(item, v, f"{where}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be finite, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported config type {tp}")  # a bug in this module


def _read_toml(path: str | Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None


def load_experiment(path: str | Path) -> ExperimentConfig:
    """An :class:`ExperimentConfig` from a TOML file (a ``[demo]`` table is ignored)."""
    data = _read_toml(path)
    data.pop("demo", None)
    return from_dict(ExperimentConfig, data).check()


@dataclass(frozen=True)
class _DemoTable:
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    out: str = "runs/demo"


def load_demo(path: str | Path) -> DemoConfig:
    """A :class:`DemoConfig`: ``[demo]`` (seeds, out) plus the experiment tables."""
    data = _read_toml(path)
    table = from_dict(_DemoTable, data.pop("demo", {}), "demo")
    experiment = from_dict(ExperimentConfig, data)
    return DemoConfig(seeds=table.seeds, out=table.out, experiment=experiment).check()


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _positive(obj: Any, where: str, *names: str) -> None:
    for n in names:
        if not getattr(obj, n) > 0:
            raise ConfigError(f"{where}.{n} must be > 0, got {getattr(obj, n)!r}")


def _non_negative(obj: Any, where: str, *names: str) -> None:
    for n in names:
        if not getattr(obj, n) >= 0:
            raise ConfigError(f"{where}.{n} must be >= 0, got {getattr(obj, n)!r}")
