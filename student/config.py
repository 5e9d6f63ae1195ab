"""Typed experiment configuration for the student stage, parsed once from TOML.

Every weight, temperature and budget of a student run lives here. :func:`load_experiment`
and :func:`load_comparison` read a TOML file into frozen dataclasses through the loader every
stage shares (:mod:`teachkit.util.config`): unknown keys, wrong types and out-of-range values raise
:class:`ConfigError` naming the field (``loss.coarse.kind``), so a typo never silently
falls back to a default, and ``--set train.steps=20`` overrides any field (the run's
``config.json`` records the values it ran with).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teachkit.util.config import ConfigError, apply_overrides, build, check_path, parse_override, read_toml, split_path

TEACHER_SOURCES = ("matrix", "window")
SAMPLERS = ("random", "guided")


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
    # the folder the manifest's relative video paths are under; "" = the one it recorded
    # (set it, or pass --videos, when the videos moved: stores.videos)
    videos: str = ""
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
    # also leave out the captions a truth file marks wrong (teachkit/audit/measure.py format, or
    # one caption id per line): the oracle bound of the caption audit (`--ablation audit`)
    exclude_captions: str | None = None
    decode_workers: int = 2
    eval_batch_size: int = 256
    # train videos held out of training and evaluated as "val": tune on these, not on test
    holdout_videos: int = 0
    # "random": one caption of each video per epoch, shuffled (student/data.py); "guided": batches
    # of anchor captions with their top-k teacher's best videos (student/sampler.py)
    sampler: str = "random"
    guided_teacher: str = ""  # the top-k teacher whose candidates guide the batches ("": the first coarse teacher)
    guided_anchors: int = 4  # anchor groups per guided batch (each ceil(batch_size / anchors) pairs)

    def check(self, where: str) -> None:
        _positive(self, where, "batch_size", "teacher_window", "decode_workers", "eval_batch_size")
        if self.teacher_source not in TEACHER_SOURCES:
            raise ConfigError(f"{where}.teacher_source must be one of {list(TEACHER_SOURCES)}, got {self.teacher_source!r}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"{where}.sampler must be one of {list(SAMPLERS)}, got {self.sampler!r}")
        if self.guided_anchors < 1:
            raise ConfigError(f"{where}.guided_anchors must be >= 1, got {self.guided_anchors}")
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
    # autocast of the forward passes (teachkit.util.precision): auto is bf16 on CUDA and on a
    # CPU with native bf16 (AVX512_BF16 / AMX), else fp32; bf16 | fp32 force one
    precision: str = "auto"
    logit_scale_init: float = 1 / 0.07  # CLIP's initial scale (the parameter stores its log)
    logit_scale_max: float = 100.0
    grad_clip: float = 1.0
    log_every: int = 25
    log: list[str] = field(default_factory=lambda: ["jsonl"])  # sinks of the training log: jsonl, tensorboard (student/logs.py)
    eval_every: int = 0  # validation R@1 (data.holdout_videos) logged every N steps; 0: only after training
    # CPU threads for torch; 0 keeps torch's default. Tiny models gain little from a second
    # thread and lose a lot when other processes share the cores (OpenMP threads wait on
    # each other), so the CPU demo sets 1.
    threads: int = 0
    # frames per video per step: an ordered subset of the model.num_frames decoded (0: all).
    # The vision tower's cost is batch x frames; evaluation always encodes all num_frames.
    train_frames: int = 0
    # how the train_frames are picked (teachkit.util.slots.training_slots): "segment", one random frame
    # from each of train_frames equal segments (TSN), or "random", any ordered subset
    frame_sampling: str = "segment"

    def check(self, where: str) -> None:
        _positive(self, where, "steps", "lr", "logit_scale_init", "logit_scale_max", "log_every")
        if self.train_frames < 0:
            raise ConfigError(f"{where}.train_frames must be >= 0 (0: every frame)")
        from teachkit.util.slots import SLOT_SAMPLING

        if self.frame_sampling not in SLOT_SAMPLING:
            raise ConfigError(f"{where}.frame_sampling must be one of {list(SLOT_SAMPLING)}, got {self.frame_sampling!r}")
        if self.weight_decay < 0 or self.warmup_steps < 0 or self.grad_clip < 0 or self.threads < 0:
            raise ConfigError(f"{where}: weight_decay, warmup_steps, grad_clip and threads must be >= 0")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"{where}.device must be auto, cpu or cuda, got {self.device!r}")
        from teachkit.util.precision import PRECISIONS

        if self.precision not in PRECISIONS:
            raise ConfigError(f"{where}.precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        if self.logit_scale_init > self.logit_scale_max:
            raise ConfigError(f"{where}.logit_scale_init must not exceed logit_scale_max")
        from .logs import check_sinks

        check_sinks(self.log, f"{where}.log", ConfigError)
        if self.eval_every < 0:
            raise ConfigError(f"{where}.eval_every must be >= 0")


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
    ``teacher_norm = "zscore"`` first standardises each teacher row. ``cross_fit`` reads
    each fold teacher's scores only on the captions its fold left out of its training
    (stores.splits.cross_fitted_captions): scores free of the labels it memorised.
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
    listwise_top: int = 0  # kind = "listwise": candidates kept per row, best first (0: all the teacher scored)
    # cross-fitted teachers: a fold teacher (holdout "fold:i/n") teaches only the train captions
    # of its fold, the ones it never trained on; other teachers teach every caption
    cross_fit: bool = False
    # the same teachers' rows over every train video (t2v) and every train caption (v2t), per
    # ``directions``, against banks of the student's video and caption vectors
    # (student/losses/bank.py): this term's weight; 0 leaves it out. Needs the "matrix"
    # teacher source (data.teacher_source).
    bank_weight: float = 0.0

    def check(self, where: str) -> None:
        from .losses import COARSE_LOSSES

        if self.kind != "none" and self.kind not in COARSE_LOSSES:
            raise ConfigError(f"{where}.kind must be 'none' or one of {sorted(COARSE_LOSSES)}, got {self.kind!r}")
        if self.aggregation not in ("mean_matrix", "mean_loss", "weighted"):
            raise ConfigError(f"{where}.aggregation must be mean_matrix, mean_loss or weighted, got {self.aggregation!r}")
        if self.teacher_norm not in ("none", "zscore"):
            raise ConfigError(f"{where}.teacher_norm must be 'none' or 'zscore', got {self.teacher_norm!r}")
        _non_negative(self, where, "weight", "bank_weight")
        _positive(self, where, "student_temperature", "teacher_temperature", "smoothl1_beta")
        if self.listwise_top < 0:
            raise ConfigError(f"{where}.listwise_top must be >= 0, got {self.listwise_top}")
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

    @property
    def bank(self) -> bool:
        """Whether the bank term (whole teacher rows, student/losses/bank.py) is on."""
        return self.active and self.bank_weight > 0

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
class RelationalLossConfig:
    """Distillation of the teachers' intra-modal structure (video x video, caption x caption).

    Reads the teachers' stored holistic embeddings (student/losses/intra.py). ``kind``:
    ``relational`` (row KL, MCKD-style), ``rkd_distance`` or ``rkd_angle`` (Park et al.), or
    ``none``; ``discrimination`` > 0 adds MCKD's explicit discrimination term with that
    weight. Teachers aggregate as in ``[loss.coarse]``.
    """

    kind: str = "none"
    weight: float = 1.0
    teachers: list[str] = field(default_factory=list)
    modalities: list[str] = field(default_factory=lambda: ["video", "caption"])
    aggregation: str = "mean_loss"
    teacher_weights: dict[str, float] = field(default_factory=dict)
    teacher_norm: str = "none"
    student_temperature: float = 0.1
    teacher_temperature: float = 0.1
    teacher_temperatures: dict[str, float] = field(default_factory=dict)
    rkd_beta: float = 1.0
    discrimination: float = 0.0  # weight of the discrimination term (0: off)
    discrimination_margin: float = 0.1
    discrimination_gap: float = 1.0

    def check(self, where: str) -> None:
        from .losses import RELATIONAL_LOSSES

        if self.kind != "none" and self.kind not in RELATIONAL_LOSSES:
            raise ConfigError(f"{where}.kind must be 'none' or one of {sorted(RELATIONAL_LOSSES)}, got {self.kind!r}")
        bad = [m for m in self.modalities if m not in ("video", "caption")]
        if bad or not self.modalities:
            raise ConfigError(f"{where}.modalities must be a non-empty subset of ['video', 'caption'], got {self.modalities}")
        if self.kind.startswith("rkd") and self.teacher_norm != "none":
            raise ConfigError(f"{where}.teacher_norm: {self.kind} compares distances of the raw cosines; use 'none'")
        _non_negative(self, where, "weight", "discrimination", "discrimination_margin")
        _positive(self, where, "student_temperature", "teacher_temperature", "rkd_beta")
        if ((self.kind != "none" and self.weight > 0) or self.discrimination > 0) and not self.teachers:
            raise ConfigError(f"{where}.teachers: relational distillation needs at least one teacher")
        # the aggregation, weights and per-teacher temperatures follow [loss.coarse]'s rules
        CoarseLossConfig(kind="none", teachers=self.teachers, aggregation=self.aggregation,
                         teacher_weights=self.teacher_weights, teacher_temperatures=self.teacher_temperatures,
                         teacher_norm=self.teacher_norm).check(where)

    @property
    def active(self) -> bool:
        return self.kind != "none" and self.weight > 0 and bool(self.teachers)

    @property
    def used(self) -> bool:
        """Whether any relational term reads the teachers' embeddings."""
        return (self.active or self.discrimination > 0) and bool(self.teachers)

    def temperature_of(self, teacher: str) -> float:
        return self.teacher_temperatures.get(teacher, self.teacher_temperature)


@dataclass(frozen=True)
class LossConfig:
    retrieval: RetrievalLossConfig = field(default_factory=RetrievalLossConfig)
    coarse: CoarseLossConfig = field(default_factory=CoarseLossConfig)
    fine: FineLossConfig = field(default_factory=FineLossConfig)
    relational: RelationalLossConfig = field(default_factory=RelationalLossConfig)

    def check(self, where: str) -> None:
        self.retrieval.check(f"{where}.retrieval")
        self.coarse.check(f"{where}.coarse")
        self.fine.check(f"{where}.fine")
        self.relational.check(f"{where}.relational")

    @property
    def teachers(self) -> list[str]:
        """Every teacher the losses read, in a stable order."""
        names = list(self.coarse.teachers) if self.coarse.active else []
        if self.fine.active:
            names += [t for t in self.fine.teachers if t not in names]
        if self.relational.used:
            names += [t for t in self.relational.teachers if t not in names]
        return names

    def without_relational(self) -> LossConfig:
        """The same objective without the relational terms."""
        r = self.relational
        return dataclasses.replace(self, relational=dataclasses.replace(
            r, kind="none", discrimination=0.0, teachers=[], teacher_weights={}, teacher_temperatures={}))

    def without_distillation(self) -> LossConfig:
        """The same objective with every teacher term switched off (the plain student)."""
        return dataclasses.replace(
            self.without_relational(),
            coarse=dataclasses.replace(self.coarse, kind="none", teachers=[], teacher_weights={}, teacher_temperatures={}),
            fine=dataclasses.replace(self.fine, weight=0.0, teachers=[]),
        )

    def relational_only(self) -> LossConfig:
        """The same objective with only the relational terms (coarse and fine off)."""
        return dataclasses.replace(self.without_distillation(), relational=self.relational)


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
        if self.train.train_frames > self.model.num_frames:
            raise ConfigError(f"{p}train.train_frames ({self.train.train_frames}) must not exceed "
                              f"{p}model.num_frames ({self.model.num_frames})")
        if self.loss.coarse.bank and self.data.teacher_source != "matrix":
            raise ConfigError(f"{p}loss.coarse.bank_weight needs each caption's whole teacher row: "
                              f"set {p}data.teacher_source = 'matrix', got {self.data.teacher_source!r}")
        if self.loss.fine.active and self.model.head != "afa":
            raise ConfigError(f"{p}loss.fine: fine distillation needs model.head = 'afa', got {self.model.head!r}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ComparisonConfig:
    """``teachkit student compare``: a plain and a distilled student per seed, same budget.

    The distilled student is ``experiment`` as written; the plain one is the same config
    with every distillation term off (:meth:`LossConfig.without_distillation`).
    ``ablate_relational`` adds, per seed, the recipe without its relational terms and the
    relational terms alone (:meth:`LossConfig.without_relational`, ``relational_only``).
    """

    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    out: str = "runs/demo"
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    ablate_relational: bool = False
    # students trained at once, each in its own process (student.pool); not part of any result
    jobs: int = 1
    # TeachText's caption cleaning: per seed, the distilled student also without the captions
    # the store's current caption audit flagged and, given a truth file (the demo's
    # ground_truth.json), without exactly the wrong ones; every other student then trains on
    # all captions (data.drop_excluded = false), so the three differ only in their captions
    audit: bool = False
    truth: str = ""

    def check(self) -> ComparisonConfig:
        if len(self.seeds) < 1 or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"comparison.seeds must be distinct seeds, got {self.seeds}")
        if self.jobs < 1:
            raise ConfigError(f"comparison.jobs must be >= 1, got {self.jobs}")
        if self.truth and not self.audit:
            raise ConfigError("comparison.truth is read only with comparison.audit = true")
        self.experiment.check()
        loss = self.experiment.loss
        if not (loss.coarse.active or loss.fine.active or loss.relational.used):
            raise ConfigError("loss: the comparison is against a distilled student; enable loss.coarse, loss.fine or loss.relational")
        if self.ablate_relational and not loss.relational.used:
            raise ConfigError("comparison.ablate_relational needs loss.relational")
        return self


# -- parsing ------------------------------------------------------------------------------


def from_dict(cls: type, data: Any, where: str = "") -> Any:
    """Build dataclass ``cls`` from plain TOML data, naming the field in every error."""
    return build(cls, data, where)


def load_experiment(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """An :class:`ExperimentConfig` from a TOML file and ``--set`` overrides (a ``[comparison]`` table is ignored)."""
    data = apply_overrides(read_toml(path), _checked(overrides, ExperimentConfig))
    for name in (COMPARISON_TABLE, *DEPRECATED_TABLES):
        data.pop(name, None)
    return from_dict(ExperimentConfig, data).check()


@dataclass(frozen=True)
class _ComparisonTable:
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    out: str = "runs/demo"
    ablate_relational: bool = False
    jobs: int = 1
    audit: bool = False
    truth: str = ""


#: the comparison's own table; ``[demo]`` is its old name, still read, with a deprecation line
COMPARISON_TABLE = "comparison"
DEPRECATED_TABLES = {"demo": COMPARISON_TABLE}


def _renamed(data: dict, overrides: list[str] | tuple[str, ...], warn) -> tuple[dict, list[str]]:
    """``data`` and ``overrides`` with the deprecated ``[demo]`` spelled ``[comparison]``."""
    for old, new in DEPRECATED_TABLES.items():
        if old in data:
            if new in data:
                raise ConfigError(f"[{old}] and [{new}] are one table: keep [{new}]")
            warn(f"deprecated: the [{old}] table is now [{new}]; [{old}] is read as [{new}]")
            data[new] = data.pop(old)
        renamed = [new + o[len(old):] if o.startswith(old + ".") else o for o in overrides]
        if renamed != list(overrides):
            warn(f"deprecated: --set {old}.* is now --set {new}.*")
        overrides = renamed
    return data, list(overrides)


def load_comparison(path: str | Path, overrides: list[str] | tuple[str, ...] = (), warn=None) -> ComparisonConfig:
    """A :class:`ComparisonConfig`: ``[comparison]`` (seeds, out, ...) plus the experiment tables, with overrides."""
    import sys

    warn = warn or (lambda line: print(line, file=sys.stderr))
    data, overrides = _renamed(read_toml(path), overrides, warn)
    data = apply_overrides(data, _checked(overrides, ExperimentConfig, **{COMPARISON_TABLE: _ComparisonTable}))
    table = from_dict(_ComparisonTable, data.pop(COMPARISON_TABLE, {}), COMPARISON_TABLE)
    experiment = from_dict(ExperimentConfig, data)
    return ComparisonConfig(seeds=table.seeds, out=table.out, experiment=experiment,
                            ablate_relational=table.ablate_relational, jobs=table.jobs,
                            audit=table.audit, truth=table.truth).check()


def _checked(overrides, schema: type, **tables: type) -> list[str]:
    """``overrides``, each checked against ``schema`` (or the dataclass of its first table)."""
    for text in overrides:
        path, _ = parse_override(text)
        parts = split_path(path)
        if parts[0] in tables:
            check_path(tables[parts[0]], parts[1:], path)
        else:
            check_path(schema, parts, path)
    return list(overrides)


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
