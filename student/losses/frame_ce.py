"""Fine distillation: AFA frame weights imitate the teacher's frame-text relevance (TeachCLIP)."""

from __future__ import annotations

import torch
from torch import nn

from ._rows import masked_log_softmax, row_mean, usable_rows


def frame_ce(weights: torch.Tensor, relevance: torch.Tensor, mask: torch.Tensor, temperature: float, eps: float = 1e-8) -> torch.Tensor:
    r"""Cross-entropy from the teacher's frame distribution to the student's frame weights.

    .. math::
        q_t = \mathrm{softmax}_t(r_t / \tau), \qquad L = -\frac{1}{B}\sum_b \sum_t q_{bt} \log w_{bt}

    over the frames of ``mask`` (real student frames the teacher has relevance for).

    Args:
        weights: (B, T) the student's AFA frame weights (rows sum to 1 over real frames).
        relevance: (B, T) the teacher's relevance of each frame to the pair's caption.
        mask: (B, T) bool.
        temperature: softmax temperature of the teacher relevance.
    """
    q = masked_log_softmax(relevance / temperature, mask).exp().masked_fill(~mask, 0.0)
    per_row = -(q * torch.log(weights.clamp_min(eps))).sum(-1)
    return row_mean(per_row, usable_rows(mask, 1), weights)


class FrameCE(nn.Module):
    """TeachCLIP's fine-grained teaching, averaged over the configured teachers.

    Args:
        teachers: teachers whose frame relevance supervises the weights.
        weight: multiplies the loss.
        temperature: softmax temperature of the teacher relevance.
        teacher_index: teacher -> index into ``batch.teacher_relevance``.

    Inputs:
        ============================  ============================================
        outputs.frame_weights         (B, T) AFA weights (padded frames: 0)
        batch.teacher_relevance       (Kf, B, T) relevance at the student's frames
        batch.frame_mask              (B, T) real student frames
        ============================  ============================================

    Returns ``{"frame_distill_loss": weight * L}``.

    Scale against TeachCLIP's code (``train.py``, ``fine_method == "ce"``): its frame CE is
    ``(-log(w) * r).mean()``, an elementwise mean over the B x T matrix, where this loss sums
    over the T frames and averages over rows: TeachCLIP's term is 1 / T x this loss (T =
    frames per video). Its teacher distribution ``r`` is X-CLIP's ``softmax(sentence .
    frames)`` of normalised features, i.e. temperature 1 on cosines: ``temperature = 1.0``
    here. So TeachCLIP's ``2 * frame_ce`` (Pearson recipe) is ``weight = 2 / T``. (Its student
    side is ``softmax`` of the AFA logits at temperature 1, while its aggregation uses 0.1;
    here the loss reads the weights the head aggregates with, ``model.afa_temperature``.)

    Reference: Tian et al., *TeachCLIP*, CVPR 2024 (arXiv:2308.01217), fine-grained teaching.

    Example::

        >>> FrameCE(["clip_fine"], weight=1.0, temperature=0.1)(outputs, batch)["frame_distill_loss"]
    """

    def __init__(self, teachers: list[str], weight: float = 1.0, temperature: float = 0.1, teacher_index=None):
        super().__init__()
        self.teachers = list(teachers)
        self.weight = weight
        self.temperature = temperature
        self.teacher_index = teacher_index or {t: i for i, t in enumerate(self.teachers)}

    def forward(self, outputs, batch) -> dict[str, torch.Tensor]:
        w = outputs.frame_weights
        if w is None:
            raise ValueError("fine distillation needs frame weights: use the 'afa' head")
        w = w.float()
        fmask = batch.frame_mask.to(w.device).bool()
        parts = []
        for t in self.teachers:
            rel = batch.teacher_relevance[self.teacher_index[t]].to(w.device, torch.float32)
            mask = fmask & ~torch.isnan(rel)
            parts.append(frame_ce(w, torch.nan_to_num(rel, nan=0.0), mask, self.temperature))
        return {"frame_distill_loss": self.weight * torch.stack(parts).mean()}
