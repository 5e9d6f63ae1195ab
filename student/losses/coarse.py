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

Teachers score on incommensurable scales (a sentence encoder's cosines near 0.4 +- 0.1, a
CLIP's fine-grained scores within a few hundredths), so ``teacher_norm = "zscore"``
standardises each teacher row over its scored entries first; a temperature then means
"standard deviations per logit" for every teacher alike.

Scale conventions (against TeachCLIP's ``train.py``, github.com/ruc-aimc-lab/TeachCLIP): a
row loss here is a *mean over rows* (each row summed over its entries), and the two
directions are *averaged*. TeachCLIP *sums* its t2v and v2t terms, and its soft CE is an
elementwise mean over the B x B matrix, i.e. this module's value divided by B (see
:mod:`.pearson` and :mod:`.soft_ce` for the weights that reproduce its recipe).
``mean_loss`` averages teachers as TeachCLIP does (``distill_loss / len(teachers)``).

Subclasses (one module per loss) set ``name``, ``uses_temperature`` and ``row_loss``.
"""

from __future__ import annotations

import torch
from torch import nn

NORMS = ("none", "zscore")


def zscore_rows(rows: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Standardise each row over its masked-in entries (others are left as they are)."""
    m = mask.to(rows.dtype)
    n = m.sum(-1, keepdim=True).clamp_min(1.0)
    x = torch.where(mask, rows, torch.zeros_like(rows))
    mean = x.sum(-1, keepdim=True) / n
    var = (((x - mean) * m) ** 2).sum(-1, keepdim=True) / n
    return torch.where(mask, (rows - mean) / (var.sqrt() + eps), rows)


def merge_teachers(rows: torch.Tensor, temperatures: torch.Tensor, zscore: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """TeachText's mean of the teacher matrices: (K, R, N) teacher rows (NaN: not scored) ->
    (R, N) mean, over the teachers that scored each entry, of each (z-scored) row / tau_k,
    and the (R, N) mask of the entries at least one teacher scored."""
    mask = ~torch.isnan(rows)
    rows = torch.nan_to_num(rows, nan=0.0)
    if zscore:
        rows = zscore_rows(rows, mask)
    total = torch.where(mask, rows / temperatures.view(-1, 1, 1), torch.zeros_like(rows)).sum(0)
    count = mask.sum(0).to(total.dtype)
    return total / count.clamp_min(1.0), count > 0


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
        teacher_norm: str = "none",
        teacher_index: dict[str, int] | None = None,
        **options,
    ):
        super().__init__()
        if teacher_norm not in NORMS:
            raise ValueError(f"teacher_norm must be one of {NORMS}, got {teacher_norm!r}")
        self.teachers = list(teachers)
        self.weight = weight
        self.aggregation = aggregation
        self.teacher_weights = dict(teacher_weights or {})
        self.teacher_temperatures = {t: (teacher_temperatures or {}).get(t, 1.0) for t in self.teachers}
        self.student_temperature = student_temperature
        self.directions = tuple(directions)
        self.teacher_norm = teacher_norm
        self.teacher_index = teacher_index or {t: i for i, t in enumerate(self.teachers)}
        self.options = options

    def row_loss(self, student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, teacher_temperature: float) -> torch.Tensor:
        raise NotImplementedError

    def _rows(self, matrix: torch.Tensor, direction: str) -> tuple[torch.Tensor, torch.Tensor]:
        """A teacher's rows for ``direction`` (normalised if configured) and their mask."""
        rows = matrix if direction == "t2v" else matrix.transpose(-1, -2)  # (..., B, B)
        mask = ~torch.isnan(rows)
        rows = torch.nan_to_num(rows, nan=0.0)
        if self.teacher_norm == "zscore":
            rows = zscore_rows(rows, mask)
        return rows, mask

    def forward(self, outputs, batch) -> dict[str, torch.Tensor]:
        sim = outputs.sim.float()
        mats = {t: batch.teacher_scores[self.teacher_index[t]].to(sim.device, torch.float32) for t in self.teachers}
        per: dict[str, list[torch.Tensor]] = {t: [] for t in self.teachers}
        merged = []
        if self.aggregation == "mean_matrix":
            # all teachers at once: (K, B, B), one temperature per teacher
            stacked = torch.stack(list(mats.values()))
            taus = torch.tensor(
                [self.teacher_temperatures[t] if self.uses_temperature else 1.0 for t in mats],
                dtype=stacked.dtype, device=stacked.device,
            )
        for d in self.directions:
            student = sim if d == "t2v" else sim.T
            if self.aggregation == "mean_matrix":
                rows = stacked if d == "t2v" else stacked.transpose(-1, -2)
                # an entry counts when at least one teacher scored it
                merged.append(self.row_loss(student, *merge_teachers(rows, taus, self.teacher_norm == "zscore"), 1.0))
            else:
                for t, m in mats.items():
                    rows, mask = self._rows(m, d)
                    per[t].append(self.row_loss(student, rows, mask, self.teacher_temperatures[t]))
        logs: dict[str, torch.Tensor] = {}
        if self.aggregation == "mean_matrix":
            value = torch.stack(merged).mean()
        else:
            losses = {t: torch.stack(v).mean() for t, v in per.items()}
            logs = {f"coarse/{t}": v.detach() for t, v in losses.items()}
            if self.aggregation == "mean_loss":
                value = torch.stack(list(losses.values())).mean()
            else:  # weighted
                value = sum(self.teacher_weights[t] * v for t, v in losses.items())
        return {f"{self.name}_distill_loss": self.weight * value, **logs}
