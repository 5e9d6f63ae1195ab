"""Losses of the student stage: an explicit registry, one small module per loss.

Every loss is an ``nn.Module`` whose ``forward(outputs, batch)`` returns a dict of named
parts; the trainer sums the values whose keys end in ``_loss`` (other keys are logged only).
Each module delegates to a pure tensor function that tests check against hand-computed
values. :func:`build_objective` turns a :class:`student.config.LossConfig` into the list of
modules a run uses.
"""

from __future__ import annotations

from torch import nn

from .bank import BankDistillation, bank_targets
from .coarse import CoarseDistillation
from .discrimination import StructureDiscrimination, structure_discrimination
from .frame_ce import FrameCE, frame_ce
from .infonce import InfoNCE, symmetric_infonce
from .kl import KLDistillation, kl_rows
from .listwise import ListwiseDistillation, listwise_kl
from .margin_mse import MarginMSEDistillation, margin_mse_rows
from .intra import IntraModalDistillation
from .pearson import PearsonDistillation, pearson_rows
from .relational import RelationalKL, relational_kl
from .rkd_angle import RKDAngle, rkd_angle
from .rkd_distance import RKDDistance, rkd_distance
from .smoothl1 import SmoothL1Distillation, smoothl1_entries
from .soft_ce import SoftCEDistillation, soft_ce_rows

#: coarse distillation losses by ``loss.coarse.kind``
COARSE_LOSSES: dict[str, type[CoarseDistillation]] = {
    "kl": KLDistillation,
    "pearson": PearsonDistillation,
    "soft_ce": SoftCEDistillation,
    "smoothl1": SmoothL1Distillation,
    "margin_mse": MarginMSEDistillation,
    "listwise": ListwiseDistillation,
}

#: relational (intra-modal: video x video, caption x caption) losses by ``loss.relational.kind``
RELATIONAL_LOSSES: dict[str, type[IntraModalDistillation]] = {
    "relational": RelationalKL,
    "rkd_distance": RKDDistance,
    "rkd_angle": RKDAngle,
}

#: every loss module by name
LOSSES: dict[str, type[nn.Module]] = {
    "infonce": InfoNCE, **COARSE_LOSSES, "bank": BankDistillation, "frame_ce": FrameCE, **RELATIONAL_LOSSES,
    "discrimination": StructureDiscrimination,
}


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
                top=c.listwise_top,
            )
        )
    if c.bank:
        modules.append(BankDistillation(c.teachers, c.bank_weight, {t: c.temperature_of(t) for t in c.teachers},
                                        c.student_temperature, tuple(c.directions)))
    if cfg.fine.active:
        modules.append(FrameCE(cfg.fine.teachers, cfg.fine.weight, cfg.fine.temperature))
    r = cfg.relational
    if r.teachers:
        common = dict(
            teachers=r.teachers, aggregation=r.aggregation, teacher_weights=r.teacher_weights,
            modalities=tuple(r.modalities), teacher_norm=r.teacher_norm,
        )
        if r.active:
            modules.append(RELATIONAL_LOSSES[r.kind](
                weight=r.weight, teacher_temperatures={t: r.temperature_of(t) for t in r.teachers},
                student_temperature=r.student_temperature, beta=r.rkd_beta, **common,
            ))
        if r.discrimination > 0:
            modules.append(StructureDiscrimination(
                weight=r.discrimination, margin=r.discrimination_margin, gap=r.discrimination_gap, **common,
            ))
    if not modules:
        raise ValueError("loss: every term has weight 0; nothing to train")
    return nn.ModuleList(modules)


def total_loss(parts: dict) -> "torch.Tensor":  # noqa: F821
    """The sum of the parts whose names end in ``_loss``."""
    return sum(v for k, v in parts.items() if k.endswith("_loss"))


__all__ = [
    "COARSE_LOSSES",
    "LOSSES",
    "RELATIONAL_LOSSES",
    "build_objective",
    "total_loss",
    "symmetric_infonce",
    "bank_targets",
    "kl_rows",
    "pearson_rows",
    "soft_ce_rows",
    "smoothl1_entries",
    "margin_mse_rows",
    "listwise_kl",
    "frame_ce",
    "relational_kl",
    "rkd_distance",
    "rkd_angle",
    "structure_discrimination",
]
