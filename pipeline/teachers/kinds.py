"""The teacher kinds: one table that config validation, loading and fingerprints all read.

Each :class:`Kind` says where its code lives (the module defining ``build(cfg, model,
device)``), which modules its scores depend on (hashed into its code version by
:mod:`pipeline.code_version`) and what it can do. Code elsewhere asks a kind's capabilities
(``kind_of(t).needs_candidates``), never its name, so adding a kind is adding a module and a
row here. Importing this module imports nothing heavy: the CLI reads it to parse a config.
"""

from __future__ import annotations

from dataclasses import dataclass

#: ``Kind.plugin`` values: whether a kind takes ``plugin = "module:Class"`` (and ``options``)
PLUGIN_USES = ("no", "optional", "required")


@dataclass(frozen=True)
class Kind:
    """One teacher kind and its capabilities (the defaults are those of a kind that can do little)."""

    name: str
    module: str  # defines build(cfg, model, device) -> a pipeline.teachers.protocol.Teacher
    description: str  # one line, for `teachkit teachers list`
    code: tuple[str, ...] = ()  # modules whose source shapes its scores, beside code_version.COMMON_MODULES
    computed: bool = True  # False: nothing to run; its committed run comes from `teachkit scores import`
    encoder: str | None = None  # built-in encoder it runs ("clip" | "text") unless a plugin replaces it
    scorer: bool = False  # the built-in encoder scores with a pipeline.scorers scorer (`scorer = ...`)
    precision: bool = False  # honours `precision` (the built-in encoders' autocast; a plugin sets its own)
    plugin: str = "no"  # one of PLUGIN_USES
    reads_frames: bool = True  # decodes video frames (a text teacher compares captions only)
    needs_candidates: bool = False  # scores another teacher's committed top-k, so runs after it
    local_only: bool = False  # runs on the local engine only, without --shard
    bootstrap_objectives: tuple[str, ...] = ()  # pipeline.bootstrap objectives that train a checkpoint of it

    def encoder_of(self, t) -> str | None:
        """The built-in encoder teacher ``t`` runs (None when it runs a plugin or nothing)."""
        return None if t.plugin else self.encoder

    def needs_model(self, t) -> bool:
        """Whether ``t`` needs ``model`` (a checkpoint): every built-in encoder does."""
        return self.encoder_of(t) is not None

    def uses_scorer(self, t) -> bool:
        """Whether ``t.scorer`` decides its scores (a built-in encoder with a scorer, no plugin)."""
        return self.scorer and self.encoder_of(t) is not None


#: what a CLIP checkpoint's scores depend on: encoder, its autocast rule, frame transform, features,
#: scorers, temporal encoder
_CLIP_CODE = (
    "pipeline.teachers.clip",
    "teachkit.util.precision",
    "pipeline.teachers.image_processing",
    "pipeline.clip_features",
    "pipeline.scorers",
    "pipeline.temporal",
)

KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind(
        "clip", "pipeline.teachers.clip",
        "CLIP-family checkpoint with a scorer (mean | fine) and frame relevance",
        code=_CLIP_CODE,
        encoder="clip", scorer=True, precision=True, bootstrap_objectives=("mean", "fine", "image"),
    ),
    Kind(
        "text", "pipeline.teachers.text",
        "TeachText text encoder: similarity to the video's other captions",
        code=("pipeline.teachers.text", "teachkit.util.precision"),  # the encoder and its autocast rule
        encoder="text", precision=True, reads_frames=False, bootstrap_objectives=("paraphrase",),
    ),
    Kind(
        "plugin", "pipeline.teachers.plugin",
        "your class named by a dotted path (module:Class), see protocol.py",
        code=("pipeline.teachers.plugin",),  # plus the module of the user's class (identify_teacher adds it)
        plugin="required",
    ),
    Kind(
        "imported", "pipeline.teachers.imported",
        "scores brought in with `teachkit scores import` (nothing to run)",
        computed=False, reads_frames=False,
    ),
    Kind(
        "reranker", "pipeline.teachers.reranker",
        "pair-only scorer of another teacher's top-k candidates (clip scorer or plugin)",
        # either scorer may run (a plugin or a CLIP checkpoint), so both are hashed
        code=("pipeline.teachers.reranker", "pipeline.run.candidates", "pipeline.teachers.plugin") + _CLIP_CODE,
        encoder="clip", scorer=True, plugin="optional", needs_candidates=True, local_only=True,
    ),
)}


def kind_of(t) -> Kind:
    """The :class:`Kind` of a teacher config (or of a kind's name); ValueError naming the kinds if unknown."""
    name = t if isinstance(t, str) else t.kind
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown teacher kind {name!r}; kinds are {list(KINDS)}") from None


def kinds_that(capable) -> list[str]:
    """Names of the kinds for which ``capable(kind)`` is true, in table order (for error messages)."""
    return [k.name for k in KINDS.values() if capable(k)]


def either(names: list[str]) -> str:
    """``'a'``, ``'a' or 'b'``, ``'a', 'b' or 'c'``: kind names for a one-line error."""
    quoted = [repr(n) for n in names]
    return " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)
