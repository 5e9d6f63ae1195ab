"""Typed options of a bootstrapped teacher: the ``[teachers.bootstrap]`` TOML table, validated.

Every field has a default sized for the demo (a CPU-trainable CLIP: 64-pixel frames cut in
16-pixel patches); a TOML table overrides any of them. Unknown keys are errors, so a typo
never silently trains the default model. Errors name the field. The table is read by the
loader every stage shares (:func:`teachkit.util.config.build`); the ranges are checked here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from teachkit.util.config import ConfigError, build
from teachkit.util.precision import PRECISIONS  # autocast while training (teachkit.util.precision)
from stores.fingerprint import fingerprint

#: bump when training code changes in a way that changes the checkpoint it produces
BOOTSTRAP_VERSION = "bootstrap-1"  # unchanged: new fields enter the fingerprint only when set

#: mean: CLIP4Clip meanP; fine: X-CLIP's multi-grained similarity; image: CLIP's image-text
#: loss on one random frame per video (the demo's stand-in for a pretrained CLIP); paraphrase:
#: a ``text`` teacher, ``init``'s text encoder fine-tuned on the captions alone, one video's
#: captions as paraphrases (pipeline.bootstrap.paraphrase)
OBJECTIVES = ("mean", "fine", "image", "paraphrase")


#: fields that set the model's shape: taken from ``init`` when the model is fine-tuned from one
SIZE_FIELDS = ("image_size", "patch_size", "vision_hidden", "vision_layers", "vision_heads", "text_hidden",
               "text_layers", "text_heads", "embed_dim", "max_words")

#: fields that do not change the trained weights: left out of the fingerprint
_NOT_FINGERPRINTED = frozenset({"threads", "tokenizer_out", "log_every", "init"})


class BootstrapOptionsError(ConfigError):
    """A ``[teachers.bootstrap]`` table that cannot be used as written."""


@dataclass(frozen=True)
class BootstrapOptions:
    """What to train: the objective, the model's size, the frames it sees and the schedule.

    ``objective`` is also the scorer the teacher is trained through: ``mean`` trains CLIP4Clip
    meanP, ``fine`` trains X-CLIP's multi-grained similarity, so the words and frames the
    fine scorer reads receive a training signal of their own.
    """

    objective: str
    # model size
    image_size: int = 64
    patch_size: int = 16
    vision_hidden: int = 128
    vision_layers: int = 4
    vision_heads: int = 4
    text_hidden: int = 128
    text_layers: int = 4
    text_heads: int = 4
    embed_dim: int = 128
    max_words: int = 32
    # frames
    num_frames: int = 12
    fps: float | None = None
    # frames per video per step: an ordered subset of the num_frames decoded (None: all).
    # The vision tower's cost is batch x frames; four frames per step buy three times the
    # steps of twelve, and the teacher still scores all num_frames.
    train_frames: int | None = 4
    # how they are picked (teachkit.util.slots.training_slots): "segment", one random frame from each
    # of train_frames equal segments (TSN), or "random", any ordered subset
    frame_sampling: str = "segment"
    # schedule (defaults: about 3 minutes on 2 CPU cores for the default model)
    steps: int = 400
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: float = 0.1  # fraction of steps with a linear warmup, then cosine decay
    seed: int = 0
    # a CLIP checkpoint folder to fine-tune from (another bootstrapped artefact, or any CLIPModel
    # folder): its weights, tokenizer and image processor; the size fields above then come from it.
    # Its path is not fingerprinted, its identity is (pipeline.bootstrap.checkpoint.init_identity).
    init: str | None = None
    # layers of a temporal encoder over the frames (pipeline.temporal; X-CLIP / CLIP4Clip seqTransf),
    # trained with the CLIP and saved beside it; 0: none (frames are a bag, as in meanP)
    temporal_layers: int = 0
    # captions left out of training (stores.folds: "fold:i/n"); the teacher's config declares
    # the same holdout so the caption audit lets it judge only those captions
    holdout: str | None = None
    # autocast while training (teachkit.util.precision): "auto" (bf16 on CUDA and on a CPU with
    # native bf16, AVX512_BF16 / AMX; else fp32), "bf16" (on any device), "fp32"
    precision: str = "auto"
    # runtime only (not fingerprinted)
    threads: int = 0  # 0: leave torch's default
    tokenizer_out: str | None = None  # also save the tokenizer alone here
    log_every: int = 25

    def fingerprint(self) -> str:
        """Hash of everything that shapes the weights, plus the training code's version."""
        shaping = {k: v for k, v in dataclasses.asdict(self).items() if k not in _NOT_FINGERPRINTED}
        for name in ("holdout", "temporal_layers"):  # fields added later: unset, older keys stay
            if not shaping[name]:
                del shaping[name]
        if shaping["precision"] == "auto":
            del shaping["precision"]
        if self.init is not None:  # the shape is the init's: hash its identity, not the defaults
            for name in SIZE_FIELDS:
                del shaping[name]
        return fingerprint("bootstrap-options", BOOTSTRAP_VERSION, shaping)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_POSITIVE_INT = (
    "image_size", "patch_size", "vision_hidden", "vision_layers", "vision_heads", "text_hidden",
    "text_layers", "text_heads", "embed_dim", "max_words", "num_frames", "steps", "batch_size",
    "log_every", "train_frames",
)


def parse_options(table: dict[str, Any], where: str = "teachers.bootstrap") -> BootstrapOptions:
    """Validate a TOML table into :class:`BootstrapOptions`; errors name ``where.<field>``."""
    if isinstance(table, dict) and "objective" not in table:
        raise BootstrapOptionsError(f"{where}.objective is required: one of {list(OBJECTIVES)}")
    try:
        opts = build(BootstrapOptions, table, where)
    except BootstrapOptionsError:
        raise
    except ConfigError as e:
        raise BootstrapOptionsError(str(e)) from None

    def err(name: str, what: str) -> BootstrapOptionsError:
        return BootstrapOptionsError(f"{where}.{name} must be {what}, got {getattr(opts, name)!r}")

    for name in _POSITIVE_INT:
        if getattr(opts, name) is not None and getattr(opts, name) <= 0:
            raise err(name, "a positive integer")
    for name in ("seed", "threads", "temporal_layers"):
        if getattr(opts, name) < 0:
            raise err(name, "a non-negative integer")
    for name in ("lr", "fps"):
        if getattr(opts, name) is not None and getattr(opts, name) <= 0:
            raise err(name, "a positive number")
    for name in ("weight_decay", "warmup"):
        if not 0 <= getattr(opts, name) < 1:
            raise err(name, "a number in [0, 1)")
    if opts.objective not in OBJECTIVES:
        raise err("objective", f"one of {list(OBJECTIVES)}")
    if opts.precision not in PRECISIONS:
        raise err("precision", f"one of {list(PRECISIONS)}")
    if opts.tokenizer_out is not None and not opts.tokenizer_out:
        raise err("tokenizer_out", "a folder path")
    if opts.holdout is not None:
        from stores.folds import HoldoutError, parse_holdout

        try:
            if parse_holdout(opts.holdout, f"{where}.holdout").everything:
                raise HoldoutError(f"{where}.holdout: a bootstrapped teacher cannot hold out every caption")
        except HoldoutError as e:
            raise BootstrapOptionsError(str(e)) from None
    if opts.init is not None:
        given = sorted(set(SIZE_FIELDS) & set(table))
        if given:
            raise BootstrapOptionsError(f"{where}.{given[0]}: a model fine-tuned from init takes its size from it")
        if not opts.init:
            raise err("init", "a checkpoint folder")
    if opts.objective == "paraphrase":
        if opts.init is None:
            raise BootstrapOptionsError(f"{where}.init is required for objective 'paraphrase': the text encoder "
                                        "to fine-tune (a [[pretrained]] name, a CLIP folder or a text encoder folder)")
        if opts.temporal_layers:
            raise err("temporal_layers", "0 for objective 'paraphrase' (it reads no video)")
    if opts.objective == "image" and opts.train_frames != 1:
        if "train_frames" in table:
            raise err("train_frames", "1 for objective 'image' (one frame per video per step)")
        opts = dataclasses.replace(opts, train_frames=1)
    if opts.objective == "image" and opts.temporal_layers:
        raise err("temporal_layers", "0 for objective 'image' (single frames have no time)")
    if opts.image_size % opts.patch_size:
        raise BootstrapOptionsError(
            f"{where}.patch_size ({opts.patch_size}) must divide {where}.image_size ({opts.image_size})"
        )
    for tower in ("vision", "text"):
        hidden, heads = getattr(opts, f"{tower}_hidden"), getattr(opts, f"{tower}_heads")
        if hidden % heads:
            raise BootstrapOptionsError(
                f"{where}.{tower}_heads ({heads}) must divide {where}.{tower}_hidden ({hidden})"
            )
    from teachkit.util.slots import SLOT_SAMPLING

    if opts.frame_sampling not in SLOT_SAMPLING:
        raise err("frame_sampling", f"one of {list(SLOT_SAMPLING)}")
    if opts.train_frames is not None and opts.train_frames > opts.num_frames:
        raise BootstrapOptionsError(
            f"{where}.train_frames ({opts.train_frames}) must not exceed {where}.num_frames ({opts.num_frames})"
        )
    if opts.max_words < 3:
        raise BootstrapOptionsError(f"{where}.max_words must leave room for a word between BOS and EOS (>= 3)")
    return opts


__all__ = ["BOOTSTRAP_VERSION", "OBJECTIVES", "SIZE_FIELDS", "BootstrapOptions", "BootstrapOptionsError", "parse_options"]
