"""The steps before any teacher runs: demo data, manifest, bootstrapped checkpoints, fingerprints.

Each step is cheap when there is nothing to do (the demo and the manifest compare their
inputs' fingerprints; ``ensure_checkpoint`` compares its marker), so ``teachkit teachers
run`` calls all of them every time. :func:`identify_teacher` computes a teacher's fingerprint
without loading its model: the canonical config (model identity, scorer, frame sampling,
score ident, score and embedding dtypes, shard size), the manifest's fingerprint and the code version.

It also splits that config in two parts fingerprinted apart: the *encode* part (what the
video features depend on: model, frame sampling, token limit, plugin identity, the encode
shard size) names the encode pass's shards (:class:`stores.writer.FeatureShards`); the
*score* part (scorer, plan and k, frame relevance, dtypes, caption shards) is the rest. A
teacher whose score part alone changed re-scores from stored features and decodes nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from stores.fingerprint import canonical_json, fingerprint
from stores.layout import Manifest

from ..code_version import code_version
from ..config import ConfigError, EngineConfig, FramesConfig, PipelineConfig, TeacherConfig
from ..teachers.kinds import kind_of
from ..teachers.models import ModelError, ModelRef, resolve_model


def ensure_demo(cfg: PipelineConfig, log) -> None:
    """Generate the bundled demo into ``[dataset.demo] out`` (a no-op when it is already there)."""
    demo = cfg.dataset.demo
    if demo is None:
        return
    from ..demo import DemoOptions, generate

    fields = {f.name for f in dataclasses.fields(DemoOptions)}
    unknown = sorted(set(demo.options) - fields)
    if unknown:
        raise ConfigError(f"dataset.demo.options: unknown option(s) {unknown}; options are {sorted(fields)}")
    result = generate(demo.out, DemoOptions(**demo.options), workers=demo.workers, log=log)
    if result.created:
        log(f"demo: wrote {demo.out}")


def ensure_manifest(cfg: PipelineConfig, log, progress: bool = True) -> Manifest:
    """Build the store's manifest from ``[dataset]`` (skipped by the builder when unchanged)."""
    from stores.layout import Store

    from ..datasets import build_manifest

    ds = cfg.dataset
    if not ds.source.exists():
        raise ConfigError(f"dataset.source: {ds.source} does not exist")
    before = Store(cfg.store.root, create=True, options=cfg.store.options or None).manifest()
    m = build_manifest(cfg.store.root, ds.adapter, ds.source, ds.videos, train_split=ds.train_split, progress=progress)
    state = "unchanged" if before is not None and before.fingerprint == m.fingerprint else "built"
    log(f"manifest {m.short} ({state}): {m.videos} videos, {m.captions} captions, {m.failures} failures")
    return m


def ensure_bootstraps(teachers: list[TeacherConfig], store_root: Path | str, log, pretrained=(),
                      jobs: int = 1) -> None:
    """Train (or find cached) every bootstrapped checkpoint the selected teachers name, after
    the declared ``[[pretrained]]`` artefacts they may be fine-tuned from.

    ``jobs > 1`` (``[engine] bootstrap_jobs``) trains that many at once, each in a spawned
    process (:mod:`teachkit.util.pool`); a checkpoint starts once the one it is fine-tuned from
    (``init``) and every ``[[pretrained]]`` artefact being trained are done. Cached
    checkpoints are settled here first, for any ``jobs``."""
    wanted = [t for t in teachers if t.bootstrap is not None]
    if not wanted and not pretrained:
        return
    import teachkit.util.progress
    from teachkit.util.pool import Job, run_jobs

    from ..bootstrap.checkpoint import export_tokenizer, stale

    tables = {str(Path(p.model)): p.bootstrap for p in pretrained}
    for t in wanted:
        folder, table = str(Path(t.model)), bootstrap_table(t.bootstrap, t.holdout)
        if tables.setdefault(folder, table) != table:
            raise ConfigError(f"teacher {t.name}: model folder {folder} is bootstrapped by another "
                              "table with other options; give each bootstrapped model its own folder")
    todo = stale(tables, store_root)  # what is cached is settled here, without starting a process
    for folder, table in tables.items():
        if folder not in todo:
            log(f"bootstrap: {folder} is up to date (cached; options and train data unchanged)")
            export_tokenizer(folder, table)
    tables = {k: tables[k] for k in todo}
    if jobs > 1 and len(tables) > 1:
        log(f"bootstrap: {len(tables)} checkpoints to train, {jobs} at a time")

    # a [[pretrained]] artefact trains before every teacher, not only those fine-tuned from it:
    # it may use every core (its `threads`), and a teacher beside it would slow both down
    first = tuple(f for f in (str(Path(p.model)) for p in pretrained) if f in tables)

    def after(folder: str, table: dict) -> tuple[str, ...]:
        if folder in first:
            return ()
        init = table.get("init")
        return tuple(dict.fromkeys(first + ((str(Path(init)),) if init and str(Path(init)) in tables else ())))

    run_jobs([Job(k, _bootstrap_one, (k, v, store_root), after=after(k, v)) for k, v in tables.items()], jobs,
             initializer=_pool_process, initargs=(teachkit.util.progress.is_enabled(),))


def _pool_process(progress: bool) -> None:
    """A bootstrap pool process: the parent's progress setting (``--no-progress``), drawn as
    plain lines named by the folder (bars of processes sharing a terminal overwrite each other)."""
    import teachkit.util.progress

    teachkit.util.progress.configure(enabled=progress, plain=True, interval=30.0)


def _bootstrap_one(out_dir: str, table: dict, store_root) -> str:
    from ..bootstrap import ensure_checkpoint

    return str(ensure_checkpoint(Path(out_dir), table, store_root))


def bootstrap_table(table: dict, holdout: str | None) -> dict:
    """A teacher's bootstrap options with its ``holdout`` (trained without those captions)."""
    return dict(table) | ({"holdout": holdout} if holdout is not None else {})


@dataclass(frozen=True)
class TeacherIdentity:
    """Everything that identifies a teacher's run, computed without loading its model."""

    cfg: TeacherConfig
    model: ModelRef | None
    config: dict
    config_json: str
    code_version: str
    fingerprint: str
    encode_config: dict = dataclasses.field(default_factory=dict)
    encode_fingerprint: str = ""  # the encode part's (the encode shards' name)
    score_fingerprint: str = ""  # the score part's, over the encode part's
    candidates: dict | None = None  # rerankers: the runs row of the run whose top-k they score

    @property
    def name(self) -> str:
        return self.cfg.name


#: the keys of a teacher's canonical config that change how it scores, never its video features
SCORE_KEYS = ("plan", "score_dtype", "embeddings", "shard_captions", "frame_relevance", "scorer", "holdout")


def encode_config(config: dict, shard_videos: int) -> dict:
    """The encode part of a teacher's canonical config (see module docstring)."""
    return {k: v for k, v in config.items() if k not in SCORE_KEYS} | {"shard_videos": shard_videos}


def teacher_config(t: TeacherConfig, frames: FramesConfig, model: ModelRef | None, candidates: dict | None = None) -> dict:
    """The canonical config of a teacher: what changes its scores, nothing that does not
    (batch sizes, device and the model's path are left out)."""
    kind = kind_of(t)
    out = {
        "kind": t.kind,
        "model": None if model is None else model.identity,
        "plan": {"kind": t.plan, "k": t.k},
        "score_dtype": t.score_dtype,
        "embeddings": t.embeddings,
        "shard_captions": t.shard_captions,
        "max_length": t.max_length,
    }
    if kind.reads_frames:  # a teacher that never sees frames (text) is not recomputed for new frames
        out["frames"] = {"num_frames": frames.num_frames, "fps": frames.fps}
        out["frame_relevance"] = t.frame_relevance
    if kind.uses_scorer(t):
        out["scorer"] = t.scorer
    if t.holdout is not None:  # read by the caption audit; absent keeps older fingerprints
        out["holdout"] = t.holdout
    if t.precision != "auto":  # the encoders' precision (auto: the device's); absent keeps older fingerprints
        out["precision"] = t.precision
    if t.plugin:
        from ..teachers.plugin import identity

        out["plugin"] = identity(t.plugin) | {"options": t.options}
    if kind.needs_candidates:  # another candidate run is another run of this teacher
        out["candidates"] = {"teacher": t.candidates,
                             "run": None if candidates is None else candidates["fingerprint"]}
    return out


def identify_teacher(t: TeacherConfig, frames: FramesConfig, manifest: Manifest,
                 shard_videos: int = EngineConfig.shard_videos, candidates: dict | None = None) -> TeacherIdentity:
    """``candidates``: for a reranker, the runs row of its candidate teacher's committed run."""
    try:
        model = resolve_model(t.model) if t.model else None
    except ModelError as e:
        raise ModelError(f"teacher {t.name}: {e}") from None
    config = teacher_config(t, frames, model, candidates)
    extra: tuple[str, ...] = ()
    if t.plugin:
        from ..teachers.plugin import split_path

        extra = (split_path(t.plugin)[0],)
    cv = code_version(t.kind, extra)
    # the run's fingerprint covers both parts (its formula predates the split: stores keep their runs)
    fp = fingerprint("teacher-run", config, manifest.fingerprint, cv)
    enc = encode_config(config, shard_videos)
    efp = fingerprint("teacher-encode", enc, manifest.fingerprint, cv)
    sfp = fingerprint("teacher-score", {k: v for k, v in config.items() if k in SCORE_KEYS}, efp)
    return TeacherIdentity(t, model, config, canonical_json(config), cv, fp, enc, efp, sfp, candidates)
