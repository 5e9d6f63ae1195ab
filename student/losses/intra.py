"""Intra-modal (relational) distillation: the student's video x video and caption x caption
structure against the teachers'.

Cross-modal rows (:mod:`.coarse`) tell the student which videos a caption matches; they say
nothing about how the teacher arranges videos among themselves or captions among
themselves. Relational losses compare, per modality ``m`` in ``modalities``, the student's
in-batch Gram matrix ``S^m = X_m X_m^T`` of its normalised vectors (``outputs.video``,
``outputs.text``) with the teacher's ``T^m`` -- cosines of its stored holistic embeddings
(``batch.teacher_video_sims`` / ``batch.teacher_caption_sims``, NaN where the teacher has no
embedding). The diagonal (an instance with itself) carries no information and is masked
out, as is every NaN entry.

Several teachers combine as the coarse losses do (:mod:`.coarse`): ``mean_matrix`` averages
the teacher matrices first (after ``teacher_norm``, over each entry's teachers), ``mean_loss``
averages per-teacher losses, ``weighted`` sums them with ``teacher_weights``.
``teacher_norm = "zscore"`` standardises each teacher row over its valid entries.

Subclasses (one module per loss) set ``name``, ``uses_temperature`` and ``matrix_loss``.
"""

from __future__ import annotations

import torch
from torch import nn

from .coarse import NORMS, zscore_rows

MODALITIES = ("video", "caption")


def gram_mask(teacher: torch.Tensor) -> torch.Tensor:
    """(..., B, B) bool: valid (not NaN) off-diagonal entries of a teacher Gram matrix."""
    b = teacher.shape[-1]
    eye = torch.eye(b, dtype=torch.bool, device=teacher.device)
    return ~torch.isnan(teacher) & ~eye


class IntraModalDistillation(nn.Module):
    name = "intra"
    uses_temperature = True

    def __init__(
        self,
        teachers: list[str],
        weight: float = 1.0,
        aggregation: str = "mean_loss",
        teacher_weights: dict[str, float] | None = None,
        teacher_temperatures: dict[str, float] | None = None,
        student_temperature: float = 0.1,
        modalities: tuple[str, ...] = MODALITIES,
        teacher_norm: str = "none",
        teacher_index: dict[str, int] | None = None,
        **options,
    ):
        super().__init__()
        if teacher_norm not in NORMS:
            raise ValueError(f"teacher_norm must be one of {NORMS}, got {teacher_norm!r}")
        bad = [m for m in modalities if m not in MODALITIES]
        if bad or not modalities:
            raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}, got {list(modalities)}")
        self.teachers = list(teachers)
        self.weight = weight
        self.aggregation = aggregation
        self.teacher_weights = dict(teacher_weights or {})
        self.teacher_temperatures = {t: (teacher_temperatures or {}).get(t, 1.0) for t in self.teachers}
        self.student_temperature = student_temperature
        self.modalities = tuple(modalities)
        self.teacher_norm = teacher_norm
        self.teacher_index = teacher_index or {t: i for i, t in enumerate(self.teachers)}
        self.options = options

    def matrix_loss(self, student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor,
                    teacher_temperature: float) -> torch.Tensor:
        """The loss of one (B, B) student Gram matrix against one teacher's, over ``mask``."""
        raise NotImplementedError

    def _teacher(self, matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = gram_mask(matrix)
        rows = torch.nan_to_num(matrix, nan=0.0)
        if self.teacher_norm == "zscore":
            rows = zscore_rows(rows, mask)
        return rows, mask

    def forward(self, outputs, batch) -> dict[str, torch.Tensor]:
        student_vectors = {"video": outputs.video.float(), "caption": outputs.text.float()}
        teacher_mats = {"video": batch.teacher_video_sims, "caption": batch.teacher_caption_sims}
        per: dict[str, list[torch.Tensor]] = {t: [] for t in self.teachers}
        merged = []
        for m in self.modalities:
            x = student_vectors[m]
            student = x @ x.T
            mats = {t: teacher_mats[m][self.teacher_index[t]].to(x.device, torch.float32) for t in self.teachers}
            if self.aggregation == "mean_matrix":
                total, count = torch.zeros_like(student), torch.zeros_like(student)
                for t, mat in mats.items():
                    rows, mask = self._teacher(mat)
                    tau = self.teacher_temperatures[t] if self.uses_temperature else 1.0
                    total = total + torch.where(mask, rows / tau, torch.zeros_like(rows))
                    count = count + mask.to(count.dtype)
                merged.append(self.matrix_loss(student, total / count.clamp_min(1.0), count > 0, 1.0))
            else:
                for t, mat in mats.items():
                    rows, mask = self._teacher(mat)
                    per[t].append(self.matrix_loss(student, rows, mask, self.teacher_temperatures[t]))
        logs: dict[str, torch.Tensor] = {}
        if self.aggregation == "mean_matrix":
            value = torch.stack(merged).mean()
        else:
            losses = {t: torch.stack(v).mean() for t, v in per.items()}
            logs = {f"{self.name}/{t}": v.detach() for t, v in losses.items()}
            if self.aggregation == "mean_loss":
                value = torch.stack(list(losses.values())).mean()
            else:  # weighted
                value = sum(self.teacher_weights[t] * v for t, v in losses.items())
        return {f"{self.name}_distill_loss": self.weight * value, **logs}
