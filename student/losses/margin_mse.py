"""Margin MSE: match the teacher's positive-minus-negative score margins (Hofstaetter et al.)."""

from __future__ import annotations

import torch

from ._rows import zero_like_graph
from .coarse import CoarseDistillation


def margin_mse_rows(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    r"""Mean squared difference of margins over the masked-in negatives.

    .. math::
        L = \operatorname{mean}_{i,\, j \ne p_i,\, (i,j), (i,p_i) \in \mathrm{mask}}
            \big[(s_{i p_i} - s_{ij}) - (t_{i p_i} - t_{ij})\big]^2

    Args:
        student, teacher: (R, N) raw similarities; mask: (R, N) bool, True where scored.
        positives: (R,) column of each row's positive (the diagonal in a batch).
    """
    rows = torch.arange(student.shape[0], device=student.device)
    s_margin = student[rows, positives][:, None] - student
    t_margin = teacher[rows, positives][:, None] - teacher
    neg = mask & mask[rows, positives][:, None]
    neg[rows, positives] = False
    if not bool(neg.any()):
        return zero_like_graph(student)
    return ((s_margin - t_margin)[neg] ** 2).mean()


class MarginMSEDistillation(CoarseDistillation):
    """Margin MSE distillation of in-batch similarity rows (positive: the diagonal).

    Args: as :class:`CoarseDistillation`; temperatures are not used. Inputs: as
    :class:`student.losses.kl.KLDistillation`. Returns ``{"margin_mse_distill_loss": weight * L}``.

    Reference: Hofstaetter et al., *Improving Efficient Neural Ranking Models with
    Cross-Architecture Knowledge Distillation*, 2020 (arXiv:2010.02666).

    Example::

        >>> MarginMSEDistillation(["clip_fine"])(outputs, batch)["margin_mse_distill_loss"]
    """

    name = "margin_mse"
    uses_temperature = False

    def row_loss(self, student, teacher, mask, teacher_temperature):
        positives = torch.arange(student.shape[0], device=student.device)
        return margin_mse_rows(student, teacher, mask, positives)
