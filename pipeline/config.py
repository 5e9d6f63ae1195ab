"""The teacher stage's configuration: typed dataclasses parsed once from TOML.

``load_config(path)`` reads a file such as ``configs/demo.toml``::

    [store]
    root = "store"               # or any fsspec URL: "s3://bucket/prefix" (kept as given)
    # options = { endpoint_url = "http://127.0.0.1:5555" }   # fsspec storage options

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

    [engine]                     # optional: where the teacher stage runs
    kind = "local"               # local (one process) | ray (a Ray Data pipeline)
    # address = "auto"           # ray: the cluster to join (none: start one on this machine)

    [[teachers]]
    name = "clip_fine"
    kind = "clip"                # clip | text | plugin | imported | reranker (pipeline/teachers/kinds.py)
    model = "artifacts/teachers/clip_fine"
    scorer = "fine"
    plan = "full"                # full | topk (with k = ...)
    # a reranker: kind = "reranker", plan = "topk", k = 50, candidates = "clip_mean" (another
    # teacher's committed run gives each caption's k candidates), scored by model + scorer or
    # by a plugin (pipeline/teachers/reranker.py)

    [teachers.bootstrap]         # optional: passed verbatim to ensure_checkpoint(model, ...)
    ...

Relative paths are resolved against the working directory the command runs in (the
repository root for ``make teachers``), once, here. The TOML is read by the loader every
stage shares (:mod:`teachkit.util.config`): every error names the offending field
(``teachers[1].plan``) so a typo fails before any model is loaded, and ``--set
teachers.clip_fine.video_batch=8`` overrides any field from the command line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from teachkit.util.config import ConfigError, apply_overrides, build, read_toml
from teachkit.util.precision import PRECISIONS  # the encoders' precision: one rule for every stage

from .scorers import SCORERS  # the registry itself: importing it loads no torch
from .teachers.kinds import KINDS, either, kind_of, kinds_that

PLANS = ("full", "topk")
FRAME_RELEVANCE = ("own", "all", "none")
SCORE_DTYPES = ("float16", "float32")
EMBEDDINGS = ("float16", "float32", "none")  # holistic embeddings stored per run (none: not stored)


@dataclass(frozen=True)
class StoreConfig:
    root: Path | str = Path("store")  # a folder, or an fsspec URL (s3://bucket/prefix) kept as given
    options: dict = field(default_factory=dict)  # fsspec storage options (endpoint_url, ...)


@dataclass(frozen=True)
class DemoDataConfig:
    """``[dataset.demo]``: generate the bundled demo dataset when ``dataset.source`` is missing."""

    out: Path
    options: dict = field(default_factory=dict)  # pipeline.demo.DemoOptions fields
    workers: int = 1  # processes drawing videos (the output is the same for any number)


@dataclass(frozen=True)
class DatasetConfig:
    source: Path
    adapter: str = "jsonl"
    videos: Path | None = None  # folder the adapter resolves video paths against, if it needs one
    train_split: str | None = None  # msrvtt: "9k" (default) or "7k"; an error for other adapters
    demo: DemoDataConfig | None = None


@dataclass(frozen=True)
class FramesConfig:
    num_frames: int = 12
    fps: float | None = None
    decode_workers: int = 4  # threads decoding (and preparing) videos ahead of the encoders


ENGINES = ("local", "ray")


@dataclass(frozen=True)
class EngineConfig:
    """``[engine]``: where the encode and score passes run (pipeline.run.engines).

    Nothing here changes a score: only ``shard_videos`` enters the encode pass's fingerprint,
    because it names the encode shards.
    """

    kind: str = "local"  # local | ray
    address: str | None = None  # ray: the cluster to join ("auto", "ray://head:10001"); none: a local one
    encode_actors: int = 1  # ray: encoder actors (each loads every teacher being encoded once)
    score_actors: int = 1  # ray: scoring actors (each loads a teacher once and a split's features)
    gpus_per_actor: float | None = None  # ray: num_gpus of each actor; none: 1 when the cluster has GPUs
    shard_videos: int = 64  # videos per encode shard (the encode pass's unit of work and resumption)
    keep_features: bool = False  # keep the encode shards after the runs commit (re-score without decoding)
    wait_seconds: float = 600.0  # --shard i/n: wait this long for the other jobs' encode shards, then encode them here
    bootstrap_jobs: int = 1  # bootstrapped checkpoints trained at once, each in its own process (after its init)


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
    embeddings: str = "float16"  # holistic video/caption embeddings, if the teacher has them: dtype | none
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # clip and text encoders: auto (bf16 on CUDA and on CPUs with native bf16, else fp32) | bf16 | fp32
    video_batch: int = 16  # videos per video-encoder call
    text_batch: int = 256  # captions per text-encoder call and per scoring block
    score_batch: int = 1024  # videos per scoring block
    shard_captions: int = 1024  # captions per shard (the unit of resumption)
    max_length: int | None = None  # text token limit; default: the model's own
    bootstrap: dict | None = None  # passed verbatim to pipeline.bootstrap.ensure_checkpoint
    holdout: str | None = None  # captions it never trained on: "all" | "fold:i/n" (stores.folds)
    candidates: str | None = None  # rerankers: the teacher whose committed run gives each caption's top-k


@dataclass(frozen=True)
class PretrainedConfig:
    """``[[pretrained]]``: a bootstrapped artefact other models start from, not a teacher.

    The demo's stand-in for a pretrained CLIP: trained once (cached and fingerprinted like a
    bootstrapped teacher) into ``model``; teachers fine-tune from it (``[teachers.bootstrap]
    init = "<name>"``) and a student config names the same folder as its backbone."""

    name: str
    model: str
    bootstrap: dict = field(default_factory=dict)  # pipeline.bootstrap.BootstrapOptions fields


@dataclass(frozen=True)
class PipelineConfig:
    store: StoreConfig
    dataset: DatasetConfig
    frames: FramesConfig
    teachers: tuple[TeacherConfig, ...]
    pretrained: tuple[PretrainedConfig, ...] = ()
    engine: EngineConfig = field(default_factory=EngineConfig)
    path: Path | None = None  # the file it came from
    overrides: tuple[str, ...] = ()  # the --set FIELD=VALUE applied on top of it

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

#: fields of PipelineConfig that are not TOML tables
_NOT_IN_TOML = frozenset({"path", "overrides"})


def load_config(path: str | Path, base: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> PipelineConfig:
    """Parse and validate a TOML config with ``--set`` overrides; relative paths resolve against ``base`` (cwd)."""
    path = Path(path)
    raw = apply_overrides(read_toml(path), overrides, PipelineConfig)
    cfg = parse_config(raw, Path(base) if base is not None else Path.cwd())
    return dataclasses.replace(cfg, path=path, overrides=tuple(overrides))


def parse_config(raw: dict, base: Path) -> PipelineConfig:
    if _NOT_IN_TOML & set(raw):
        key = sorted(_NOT_IN_TOML & set(raw))[0]
        raise ConfigError(f"unknown field {key}; config fields are "
                          "['dataset', 'engine', 'frames', 'pretrained', 'store', 'teachers']")
    cfg = build(PipelineConfig, {"store": {}, "frames": {}, "engine": {}, **raw}, base=base, skip=_NOT_IN_TOML)
    if not cfg.teachers:
        raise ConfigError("teachers: expected at least one [[teachers]] table")
    frames = cfg.frames
    if frames.num_frames < 1:
        raise ConfigError(f"frames.num_frames must be >= 1, got {frames.num_frames}")
    if frames.fps is not None and frames.fps <= 0:
        raise ConfigError(f"frames.fps must be positive, got {frames.fps}")
    if frames.decode_workers < 1:
        raise ConfigError(f"frames.decode_workers must be >= 1, got {frames.decode_workers}")
    _choice(cfg.engine.kind, ENGINES, "engine.kind")
    for name in ("encode_actors", "score_actors", "shard_videos", "bootstrap_jobs"):
        if getattr(cfg.engine, name) < 1:
            raise ConfigError(f"engine.{name} must be >= 1, got {getattr(cfg.engine, name)}")
    if cfg.engine.gpus_per_actor is not None and cfg.engine.gpus_per_actor < 0:
        raise ConfigError(f"engine.gpus_per_actor must be >= 0, got {cfg.engine.gpus_per_actor}")
    pretrained = tuple(_pretrained(p, f"pretrained[{i}]", base) for i, p in enumerate(cfg.pretrained))
    artefacts = {p.name: p.model for p in pretrained}
    if len(artefacts) < len(pretrained):
        raise ConfigError("pretrained: duplicate names")
    teachers = tuple(_teacher(t, f"teachers[{i}]", base, artefacts) for i, t in enumerate(cfg.teachers))
    names = [t.name for t in teachers]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise ConfigError(f"teachers: duplicate names {dups}")
    return dataclasses.replace(cfg, teachers=teachers, pretrained=pretrained)


def _local(path: str, base: Path) -> str:
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else base / p)


def _pretrained(p: PretrainedConfig, where: str, base: Path) -> PretrainedConfig:
    from stores.layout import check_name

    try:
        check_name("pretrained artefact", p.name)
    except ValueError as e:
        raise ConfigError(f"{where}.name: {e}") from None
    if not p.model:
        raise ConfigError(f"{where} ({p.name}).model: the folder to write the artefact to")
    if "objective" not in p.bootstrap:
        raise ConfigError(f"{where} ({p.name}).bootstrap.objective is required (e.g. 'image')")
    return dataclasses.replace(p, model=_local(p.model, base), bootstrap=_init(p.bootstrap, base, {}))


def _init(table: dict, base: Path, artefacts: dict[str, str]) -> dict:
    """A bootstrap table whose ``init`` (a declared artefact's name, a ``package:`` spec or a folder) is a folder."""
    init = table.get("init")
    if not isinstance(init, str) or not init:
        return table
    if init.startswith("package:"):  # a folder shipped in an installed package (pipeline.teachers.models)
        from .teachers.models import ModelError, package_path

        try:
            return table | {"init": str(package_path(init))}
        except ModelError as e:
            raise ConfigError(f"bootstrap.init: {e}") from None
    return table | {"init": artefacts.get(init) or _local(init, base)}


def _teacher(t: TeacherConfig, where: str, base: Path, artefacts: dict[str, str] | None = None) -> TeacherConfig:
    """Check one parsed teacher (names, choices, ranges) and resolve its local model path."""
    from stores.layout import check_name

    from .teachers.models import looks_local

    try:
        check_name("teacher", t.name)
    except ValueError as e:
        raise ConfigError(f"{where}.name: {e}") from None
    where = f"{where} ({t.name})"
    _choice(t.kind, tuple(KINDS), f"{where}.kind")
    kind = kind_of(t)
    _choice(t.plan, PLANS, f"{where}.plan")
    _choice(t.frame_relevance, FRAME_RELEVANCE, f"{where}.frame_relevance")
    _choice(t.score_dtype, SCORE_DTYPES, f"{where}.score_dtype")
    _choice(t.precision, PRECISIONS, f"{where}.precision")
    if t.precision != "auto" and not kind.precision:
        raise ConfigError(f"{where}.precision is only used by kind = {either(kinds_that(lambda k: k.precision))} "
                          "(a plugin sets its own)")
    _choice(t.embeddings, EMBEDDINGS, f"{where}.embeddings")
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
    if kind.plugin == "required" and not t.plugin:
        raise ConfigError(f"{where}.plugin: a {t.kind} teacher needs `plugin = \"module:Class\"`")
    if kind.plugin == "no" and (t.plugin or t.options):
        raise ConfigError(f"{where}: `plugin` and `options` are only used by kind = "
                          f"{either(kinds_that(lambda k: k.plugin != 'no'))}")
    if kind.needs_model(t) and not t.model:
        either_plugin = " or a plugin" if kind.plugin == "optional" else ""
        raise ConfigError(f"{where}.model: a {t.kind} teacher needs a model (folder, package:... or HF id)"
                          f"{either_plugin}")
    if kind.uses_scorer(t):
        _choice(t.scorer, tuple(SCORERS), f"{where}.scorer")
    if kind.needs_candidates:
        _candidates(t, where)
    elif t.candidates is not None:
        raise ConfigError(f"{where}.candidates is only used by kind = "
                          f"{either(kinds_that(lambda k: k.needs_candidates))}")
    if t.bootstrap is not None:
        _objective(t, kind.bootstrap_objectives, where)
        t = dataclasses.replace(t, bootstrap=_init(t.bootstrap, base, artefacts or {}))
    if t.holdout is not None:
        from stores.folds import HoldoutError, parse_holdout

        try:
            parse_holdout(t.holdout, f"{where}.holdout")
        except HoldoutError as e:
            raise ConfigError(str(e)) from None
        if t.bootstrap is not None and t.holdout == "all":
            raise ConfigError(f"{where}.holdout: a bootstrapped teacher trains on the store's captions; use 'fold:i/n'")
    return t


def _candidates(t: TeacherConfig, where: str) -> None:
    """A teacher that scores another teacher's top-k candidates: a topk plan and a candidate teacher."""
    if not t.candidates:
        raise ConfigError(f"{where}.candidates: a {t.kind} needs the teacher whose run gives its candidates")
    if t.candidates == t.name:
        raise ConfigError(f"{where}.candidates: a {t.kind} cannot rerank its own run")
    if t.plan != "topk":
        raise ConfigError(f"{where}.plan: a {t.kind} scores a top-k plan (plan = 'topk', k = ...)")


def _objective(t: TeacherConfig, objectives: tuple[str, ...], where: str) -> None:
    """A bootstrapped teacher's objective must train a checkpoint of its kind."""
    objective = t.bootstrap.get("objective")
    if objective is None and objectives:
        raise ConfigError(f"{where}.bootstrap.objective is required: one of {list(objectives)}")
    if objective not in objectives:
        first, *rest = [k for k in KINDS.values() if k.bootstrap_objectives]
        raise ConfigError(
            f"{where}.bootstrap: {first.name} teachers are bootstrapped with objective "
            f"{either(list(first.bootstrap_objectives))}"
            + "".join(f", {k.name} teachers with {either(list(k.bootstrap_objectives))}" for k in rest)
            + f"; got kind {t.kind!r}, objective {objective!r}")


def _choice(value: str, allowed: tuple[str, ...], where: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{where} must be one of {list(allowed)}, got {value!r}")
