"""Soft cross-entropy to the teacher's similarity distribution (TinyCLIP affinity mimicking)."""

from __future__ import annotations

import torch

from ._rows import masked_log_softmax, row_mean, usable_rows
from .coarse import CoarseDistillation


def soft_ce_rows(
    student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, student_temperature: float, teacher_temperature: float
) -> torch.Tensor:
    r"""Mean over rows of the cross-entropy :math:`H(p_t, p_s)`.

    .. math::
        L = -\frac{1}{R} \sum_i \sum_j \mathrm{softmax}(t_i/\tau_t)_j \,
            \log \mathrm{softmax}(s_i/\tau_s)_j

    It differs from KL by the teacher's entropy, a constant for the student: same
    gradients, a loss that does not go to zero.

    Args:
        student, teacher: (R, N) similarities; mask: (R, N) bool, True where scored.
        student_temperature, teacher_temperature: softmax temperatures.
    """
    log_ps = masked_log_softmax(student / student_temperature, mask)
    pt = masked_log_softmax(teacher / teacher_temperature, mask).exp().masked_fill(~mask, 0.0)
    per_row = -(pt * log_ps).sum(-1)
    return row_mean(per_row, usable_rows(mask), student)


class SoftCEDistillation(CoarseDistillation):
    """Soft cross-entropy distillation of in-batch similarity rows.

    Args / Inputs: as :class:`student.losses.kl.KLDistillation`.
    Returns ``{"soft_ce_distill_loss": weight * L}``.

    Scale against TeachCLIP's code (``train.py``, ``distill_method == "ce"``): its soft CE is
    ``(-softmax(T) * log_softmax(S)).mean()``, an elementwise mean over the B x B matrix, per
    direction, with the directions *summed*; this module takes the mean over rows of each
    row's sum and averages the directions. TeachCLIP's term is 2 / B x this loss, so its
    ``1 * infonce + 10 * soft_ce + 1 * frame_ce`` recipe is ``loss.coarse.weight = 20 / B``
    (B = ``data.batch_size``), ``loss.retrieval.weight = 1`` and ``loss.fine.weight = 1 / T``.

    Reference: Wu et al., *TinyCLIP: CLIP Distillation via Affinity Mimicking and Weight
    Inheritance*, ICCV 2023 (arXiv:2309.12314).

    Example::

        >>> SoftCEDistillation(["clip_fine"])(outputs, batch)["soft_ce_distill_loss"]
    """

    name = "soft_ce"

    def row_loss(self, student, teacher, mask, teacher_temperature):
        return soft_ce_rows(student, teacher, mask, self.student_temperature, teacher_temperature)
