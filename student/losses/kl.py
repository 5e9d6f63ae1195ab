"""KL divergence between teacher and student similarity distributions (CLIP-KD, C2KD)."""

from __future__ import annotations

import torch

from ._rows import masked_log_softmax, row_mean, usable_rows
from .coarse import CoarseDistillation


def kl_rows(
    student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, student_temperature: float, teacher_temperature: float
) -> torch.Tensor:
    r"""Mean over rows of :math:`\mathrm{KL}(p_t \,\|\, p_s)`.

    .. math::
        p_s = \mathrm{softmax}(s / \tau_s), \quad p_t = \mathrm{softmax}(t / \tau_t), \quad
        L = \frac{1}{R} \sum_i \sum_j p_t^{ij} (\log p_t^{ij} - \log p_s^{ij})

    softmaxes run over the entries of ``mask`` only; rows with fewer than two are dropped.

    Args:
        student: (R, N) student similarities.
        teacher: (R, N) teacher similarities (any value where ``mask`` is False).
        mask: (R, N) bool, True where the teacher scored the entry.
        student_temperature, teacher_temperature: softmax temperatures.
    """
    log_ps = masked_log_softmax(student / student_temperature, mask)
    log_pt = masked_log_softmax(teacher / teacher_temperature, mask)
    per_row = (log_pt.exp() * (log_pt - log_ps)).masked_fill(~mask, 0.0).sum(-1)
    return row_mean(per_row, usable_rows(mask), student)


class KLDistillation(CoarseDistillation):
    """KL distillation of in-batch similarity rows (see :class:`CoarseDistillation`).

    Args:
        teachers, weight, aggregation, teacher_weights, teacher_temperatures, student_temperature, directions:
            see :class:`CoarseDistillation`.

    Inputs:
        ============================  ========================================
        outputs.sim                   (B, B) student cosine similarities
        batch.teacher_scores          (K, B, B) teacher scores, NaN = not scored
        ============================  ========================================

    Returns ``{"kl_distill_loss": weight * L}`` (and per-teacher values for the log).

    References: Yang et al., *CLIP-KD: An Empirical Study of CLIP Model Distillation*,
    CVPR 2024 (arXiv:2307.12732); Rouditchenko et al., *C2KD: Cross-Lingual Cross-Modal
    Knowledge Distillation for Multilingual Text-Video Retrieval*, ICASSP 2023
    (arXiv:2210.03625).

    Example::

        >>> loss = KLDistillation(["clip_fine"], teacher_temperatures={"clip_fine": 0.05})
        >>> loss(outputs, batch)["kl_distill_loss"]
    """

    name = "kl"

    def row_loss(self, student, teacher, mask, teacher_temperature):
        return kl_rows(student, teacher, mask, self.student_temperature, teacher_temperature)
