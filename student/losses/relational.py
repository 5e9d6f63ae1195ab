"""Relational KL: rows of the student's intra-modal similarity against the teacher's (MCKD-style)."""

from __future__ import annotations

import torch

from .intra import IntraModalDistillation
from .kl import kl_rows


def relational_kl(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor,
                  student_temperature: float, teacher_temperature: float) -> torch.Tensor:
    r"""Mean over rows of :math:`\mathrm{KL}(q_t^i \,\|\, q_s^i)` of intra-modal similarity rows.

    .. math::
        q_s^{ij} = \frac{\exp(S_{ij}/\tau_s)}{\sum_{k \ne i} \exp(S_{ik}/\tau_s)}, \quad
        q_t^{ij} = \frac{\exp(T_{ij}/\tau_t)}{\sum_{k \ne i} \exp(T_{ik}/\tau_t)}, \quad
        L = \frac{1}{B} \sum_i \sum_{j \ne i} q_t^{ij} \log \frac{q_t^{ij}}{q_s^{ij}}

    where ``S = X X^T`` is the student's (B, B) Gram matrix of one modality (videos or
    captions) and ``T`` the teacher's: each instance's distribution over the *other*
    instances of the batch. The diagonal and NaN entries are left out by ``mask``.

    Args:
        student: (B, B) student cosines; teacher: (B, B) teacher cosines (or z-scores).
        mask: (B, B) bool, True for the entries that count (off-diagonal, scored).
        student_temperature, teacher_temperature: softmax temperatures.
    """
    return kl_rows(student, teacher, mask, student_temperature, teacher_temperature)


class RelationalKL(IntraModalDistillation):
    """Relational distillation of intra-modal similarity rows (``loss.relational.kind = "relational"``).

    The teacher's inter-instance structure -- which videos it finds alike, which captions --
    reaches the student through the teacher's stored holistic embeddings; the cross-modal
    losses never carry it. Per modality (video x video, caption x caption) each row of the
    student's in-batch similarity, softmaxed over the other instances, is pulled towards the
    teacher's row (:func:`relational_kl`); see :class:`.intra.IntraModalDistillation` for
    masking and teacher aggregation.

    Inputs:
        ============================  ==================================================
        outputs.video, outputs.text   (B, D) normalised student vectors
        batch.teacher_video_sims      (K, B, B) teacher video cosines, NaN = no embedding
        batch.teacher_caption_sims    (K, B, B) teacher caption cosines
        ============================  ==================================================

    Returns ``{"relational_distill_loss": weight * L}`` (and per-teacher values for the log).

    References: Ma et al., *Using Multimodal Contrastive Knowledge Distillation for
    Video-Text Retrieval* (MCKD), IEEE TCSVT 33(10), 2023 (doi:10.1109/TCSVT.2023.3257193):
    the teacher's inter-instance structure distilled into the student; the row-KL form here
    follows relational/similarity-preserving KD (Tung & Mori, ICCV 2019, arXiv:1907.09682)
    with CLIP-KD's softmax rows (Yang et al., CVPR 2024, arXiv:2307.12732).

    Example (runnable)::

        >>> import torch, torch.nn.functional as F
        >>> from types import SimpleNamespace
        >>> x = F.normalize(torch.randn(4, 8), dim=-1); t = F.normalize(torch.randn(4, 8), dim=-1)
        >>> out = SimpleNamespace(video=x, text=x)
        >>> batch = SimpleNamespace(teacher_video_sims=(t @ t.T)[None], teacher_caption_sims=(t @ t.T)[None])
        >>> loss = RelationalKL(["clip_mean"], teacher_temperatures={"clip_mean": 0.1})
        >>> float(loss(out, batch)["relational_distill_loss"]) > 0
        True
    """

    name = "relational"

    def matrix_loss(self, student, teacher, mask, teacher_temperature):
        return relational_kl(student, teacher, mask, self.student_temperature, teacher_temperature)
