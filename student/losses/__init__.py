"""Losses of the student stage: an explicit registry, one small module per loss.

Every loss is an ``nn.Module`` whose ``forward(outputs, batch)`` returns a dict of named
parts; the trainer sums the values whose keys end in ``_loss`` (other keys are logged only).
Each module delegates to a pure tensor function that tests check against hand-computed
values. :func:`build_objective` turns a :class:`student.config.LossConfig` into the list of
modules a run uses.
"""

from __future__ import annotations

from torch import nn

from .coarse import CoarseDistillation
from .frame_ce import FrameCE, frame_ce
from .infonce import InfoNCE, symmetric_infonce
from .kl import KLDistillation, kl_rows
from .margin_mse import MarginMSEDistillation, margin_mse_rows
from .pearson import PearsonDistillation, pearson_rows
from .smoothl1 import SmoothL1Distillation, smoothl1_entries
from .soft_ce import SoftCEDistillation, soft_ce_rows

#: coarse distillation losses by ``loss.coarse.kind``
COARSE_LOSSES: dict[str, type[CoarseDistillation]] = {
    "kl": KLDistillation,
    "pearson": PearsonDistillation,
    "soft_ce": SoftCEDistillation,
    "smoothl1": SmoothL1Distillation,
    "margin_mse": MarginMSEDistillation,
}

#: every loss module by name
LOSSES: dict[str, type[nn.Module]] = {"infonce": InfoNCE, **COARSE_LOSSES, "frame_ce": FrameCE}


def build_objective(cfg, logit_scale_max: float) -> nn.ModuleList:
    """The loss modules of a run from its ``LossConfig`` (teacher indices follow the config)."""
    modules: list[nn.Module] = []
    if cfg.retrieval.weight > 0:
        modules.append(InfoNCE(cfg.retrieval.weight, logit_scale_max))
    c = cfg.coarse
    if c.active:
        modules.append(
            COARSE_LOSSES[c.kind](
                teachers=c.teachers,
                weight=c.weight,
                aggregation=c.aggregation,
                teacher_weights=c.teacher_weights,
                teacher_temperatures={t: c.temperature_of(t) for t in c.teachers},
                student_temperature=c.student_temperature,
                directions=tuple(c.directions),
                teacher_norm=c.teacher_norm,
                beta=c.smoothl1_beta,
            )
        )
    if cfg.fine.active:
        modules.append(FrameCE(cfg.fine.teachers, cfg.fine.weight, cfg.fine.temperature))
    if not modules:
        raise ValueError("loss: every term has weight 0; nothing to train")
    return nn.ModuleList(modules)


def total_loss(parts: dict) -> "torch.Tensor":  # noqa: F821
    """The sum of the parts whose names end in ``_loss``."""
    return sum(v for k, v in parts.items() if k.endswith("_loss"))


__all__ = [
    "COARSE_LOSSES",
    "LOSSES",
    "build_objective",
    "total_loss",
    "symmetric_infonce",
    "kl_rows",
    "pearson_rows",
    "soft_ce_rows",
    "smoothl1_entries",
    "margin_mse_rows",
    "frame_ce",
]
