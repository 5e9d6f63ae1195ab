"""Smooth L1 between raw student and teacher similarities (TeachText)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._rows import zero_like_graph
from .coarse import CoarseDistillation


def smoothl1_entries(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, beta: float) -> torch.Tensor:
    r"""Mean Smooth L1 over the masked-in entries.

    .. math::
        \ell(d) = \begin{cases} 0.5\, d^2 / \beta & |d| < \beta \\ |d| - 0.5\,\beta & \text{otherwise}
        \end{cases}, \qquad L = \operatorname{mean}_{(i,j) \in \mathrm{mask}} \ell(s_{ij} - t_{ij})

    Args:
        student, teacher: (R, N) raw similarities (no temperature: the student matches the
            teacher's values, so the teacher's scale matters).
        mask: (R, N) bool, True where scored.
        beta: where the loss turns from quadratic to linear.
    """
    if not bool(mask.any()):
        return zero_like_graph(student)
    return F.smooth_l1_loss(student[mask], teacher[mask], beta=beta)


class SmoothL1Distillation(CoarseDistillation):
    """Smooth L1 distillation of the in-batch similarity matrix.

    Args: as :class:`CoarseDistillation`, plus ``beta`` (``loss.coarse.smoothl1_beta``);
    temperatures are not used. Inputs: as :class:`student.losses.kl.KLDistillation`.
    Returns ``{"smoothl1_distill_loss": weight * L}``.

    Reference: Croitoru et al., *TeachText: CrossModal Generalized Distillation for
    Text-Video Retrieval*, ICCV 2021 (arXiv:2104.08271).

    Example::

        >>> SmoothL1Distillation(["minilm"], beta=0.1)(outputs, batch)["smoothl1_distill_loss"]
    """

    name = "smoothl1"
    uses_temperature = False

    def row_loss(self, student, teacher, mask, teacher_temperature):
        return smoothl1_entries(student, teacher, mask, self.options.get("beta", 0.1))
