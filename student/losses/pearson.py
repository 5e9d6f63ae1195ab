"""1 - Pearson correlation of row softmaxes (TeachCLIP's coarse-grained teaching, after DIST)."""

from __future__ import annotations

import torch

from ._rows import masked_log_softmax, row_mean, usable_rows
from .coarse import CoarseDistillation


def pearson_rows(
    student: torch.Tensor,
    teacher: torch.Tensor,
    mask: torch.Tensor,
    student_temperature: float,
    teacher_temperature: float,
    eps: float = 1e-8,
) -> torch.Tensor:
    r"""Mean over rows of :math:`1 - \rho(p_s, p_t)`.

    .. math::
        p_s = \mathrm{softmax}(s/\tau_s), \; p_t = \mathrm{softmax}(t/\tau_t), \;
        \rho(a, b) = \frac{\sum_j (a_j - \bar a)(b_j - \bar b)}
                          {\sqrt{\sum_j (a_j - \bar a)^2}\sqrt{\sum_j (b_j - \bar b)^2}}

    over the masked-in entries of each row (rows with fewer than two are dropped). It only
    asks the student to rank and space its row like the teacher, not to match its scale.

    Args:
        student, teacher: (R, N) similarities; mask: (R, N) bool, True where scored.
        student_temperature, teacher_temperature: softmax temperatures.
        eps: guards the norms of constant rows.
    """
    m = mask.to(student.dtype)
    n = m.sum(-1, keepdim=True).clamp_min(1.0)
    ps = masked_log_softmax(student / student_temperature, mask).exp() * m
    pt = masked_log_softmax(teacher / teacher_temperature, mask).exp() * m
    a = (ps - ps.sum(-1, keepdim=True) / n) * m
    b = (pt - pt.sum(-1, keepdim=True) / n) * m
    rho = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1) + eps)
    return row_mean(1.0 - rho, usable_rows(mask), student)


class PearsonDistillation(CoarseDistillation):
    """Pearson-distance distillation of in-batch similarity rows.

    Args / Inputs: as :class:`student.losses.kl.KLDistillation`.
    Returns ``{"pearson_distill_loss": weight * L}``.

    Scale against TeachCLIP's code (``train.py``, ``distill_method == "pear"``): per teacher it
    computes the same row mean of 1 - rho on ``softmax(S / beta)`` and ``softmax(T / beta)``
    (S = logit_scale x cosine, so ``student_temperature`` plays ``beta / logit_scale``), but
    *sums* t2v and v2t where this module averages them: TeachCLIP's term is 2 x this loss.
    Its recipe ``0.2 * infonce + 1 * pearson + 2 * frame_ce`` is therefore
    ``loss.retrieval.weight = 0.2``, ``loss.coarse`` ``kind = "pearson"``, ``aggregation =
    "mean_loss"``, both directions, ``weight = 2.0``, and ``loss.fine.weight = 2 / T`` with
    ``temperature = 1.0`` (see :mod:`.frame_ce`; T = frames per video).

    References: Tian et al., *TeachCLIP: Multi-Grained Teaching for Efficient Text-to-Video
    Retrieval* / *Holistic Features are almost Sufficient for Text-to-Video Retrieval*,
    CVPR 2024 (arXiv:2308.01217); Huang et al., *Knowledge Distillation from A Stronger
    Teacher* (DIST), NeurIPS 2022 (arXiv:2205.10536).

    Example::

        >>> PearsonDistillation(["clip_fine"])(outputs, batch)["pearson_distill_loss"]
    """

    name = "pearson"

    def row_loss(self, student, teacher, mask, teacher_temperature):
        return pearson_rows(student, teacher, mask, self.student_temperature, teacher_temperature)
