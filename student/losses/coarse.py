"""Coarse distillation: the student's in-batch similarity rows against the teachers'.

A row loss compares rows of the student's (B, B) caption x video similarity matrix with
the same rows of a teacher's, over the entries the teacher scored. :class:`CoarseDistillation`
applies one row loss to the t2v rows (captions over videos) and/or the v2t rows (videos
over captions, the transpose), averaged, and combines several teachers:

* ``mean_matrix`` -- average the teacher matrices first, then one loss (TeachText,
  Croitoru et al., ICCV 2021, arXiv:2104.08271). Temperature-based losses average the
  teacher *logits* ``T_k / tau_k``; raw-similarity losses average ``T_k``. An entry counts
  when at least one teacher scored it.
* ``mean_loss`` -- one loss per teacher, averaged (TeachCLIP, Tian et al., CVPR 2024,
  arXiv:2308.01217).
* ``weighted`` -- one loss per teacher, summed with the configured ``teacher_weights``.

Subclasses (one module per loss) set ``name``, ``uses_temperature`` and ``row_loss``.
"""

from __future__ import annotations

import torch
from torch import nn


class CoarseDistillation(nn.Module):
    name = "coarse"
    uses_temperature = True

    def __init__(
        self,
        teachers: list[str],
        weight: float = 1.0,
        aggregation: str = "mean_loss",
        teacher_weights: dict[str, float] | None = None,
        teacher_temperatures: dict[str, float] | None = None,
        student_temperature: float = 0.05,
        directions: tuple[str, ...] = ("t2v", "v2t"),
        teacher_index: dict[str, int] | None = None,
        **options,
    ):
        super().__init__()
        self.teachers = list(teachers)
        self.weight = weight
        self.aggregation = aggregation
        self.teacher_weights = dict(teacher_weights or {})
        self.teacher_temperatures = {t: (teacher_temperatures or {}).get(t, 1.0) for t in self.teachers}
        self.student_temperature = student_temperature
        self.directions = tuple(directions)
        self.teacher_index = teacher_index or {t: i for i, t in enumerate(self.teachers)}
        self.options = options

    def row_loss(self, student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, teacher_temperature: float) -> torch.Tensor:
        raise NotImplementedError

    def _directed(self, student: torch.Tensor, teacher: torch.Tensor, tau: float) -> torch.Tensor:
        mask = ~torch.isnan(teacher)
        teacher = torch.nan_to_num(teacher, nan=0.0)
        parts = []
        for d in self.directions:
            s, t, m = (student, teacher, mask) if d == "t2v" else (student.T, teacher.T, mask.T)
            parts.append(self.row_loss(s, t, m, tau))
        return torch.stack(parts).mean()

    def forward(self, outputs, batch) -> dict[str, torch.Tensor]:
        sim = outputs.sim.float()
        mats = {t: batch.teacher_scores[self.teacher_index[t]].to(sim.device, torch.float32) for t in self.teachers}
        logs: dict[str, torch.Tensor] = {}
        if self.aggregation == "mean_matrix":
            stack = torch.stack(
                [m / self.teacher_temperatures[t] if self.uses_temperature else m for t, m in mats.items()]
            )
            # nan-aware mean: an entry counts when at least one teacher scored it
            valid = ~torch.isnan(stack)
            total = torch.nan_to_num(stack, nan=0.0).sum(0)
            count = valid.sum(0)
            mean = torch.where(count > 0, total / count.clamp_min(1), torch.full_like(total, float("nan")))
            value = self._directed(sim, mean, 1.0)
        else:
            per = {t: self._directed(sim, m, self.teacher_temperatures[t]) for t, m in mats.items()}
            for t, v in per.items():
                logs[f"coarse/{t}"] = v.detach()
            if self.aggregation == "mean_loss":
                value = torch.stack(list(per.values())).mean()
            else:  # weighted
                value = sum(self.teacher_weights[t] * v for t, v in per.items())
        return {f"{self.name}_distill_loss": self.weight * value, **logs}
