"""Symmetric InfoNCE with a learnable, clamped logit scale (CLIP; CLIP4Clip's objective)."""

from __future__ import annotations

import torch
from torch import nn

from teachkit.util import contrastive


def symmetric_infonce(sim: torch.Tensor, log_scale: torch.Tensor, max_scale: float) -> torch.Tensor:
    r"""Symmetric InfoNCE of a square in-batch similarity matrix (positives on the diagonal).

    .. math::
        z = \min(e^{\log s}, s_{max}) \cdot S, \qquad
        L = \tfrac12\big[\mathrm{CE}(z, \mathrm{diag}) + \mathrm{CE}(z^\top, \mathrm{diag})\big]

    Args:
        sim: (B, B) cosine similarities, captions x videos.
        log_scale: scalar, the log of the contrastive scale (learnable).
        max_scale: the scale is clamped to at most this (CLIP uses 100).

    The cross-entropies are :func:`teachkit.util.contrastive.symmetric_infonce`, the loss the
    bootstrap trains its CLIPs and paraphrase judges with.
    """
    scale = log_scale.exp().clamp(max=max_scale)
    return contrastive.symmetric_infonce(scale * sim)


class InfoNCE(nn.Module):
    """The retrieval objective on the student's own similarities.

    Args:
        weight: multiplies the loss.
        max_scale: upper clamp of the learnable logit scale.

    Inputs:
        ============================  ========================================
        outputs.sim                   (B, B) student cosine similarities
        outputs.logit_scale           scalar log scale (learnable)
        ============================  ========================================

    Returns ``{"retrieval_loss": weight * L}``.

    TeachCLIP's ``gt_loss`` is the same symmetric mean (``(CrossEn(S) + CrossEn(S.T)) / 2``
    over ``S / beta``); its Pearson recipe weighs it 0.2 (see :mod:`.pearson`).

    References: Radford et al., *Learning Transferable Visual Models From Natural Language
    Supervision*, 2021 (arXiv:2103.00020); Luo et al., *CLIP4Clip*, 2022 (arXiv:2104.08860).

    Example::

        >>> loss = InfoNCE(weight=1.0, max_scale=100.0)
        >>> out = loss(outputs, batch)["retrieval_loss"]
    """

    def __init__(self, weight: float = 1.0, max_scale: float = 100.0):
        super().__init__()
        self.weight = weight
        self.max_scale = max_scale

    def forward(self, outputs, batch) -> dict[str, torch.Tensor]:
        return {"retrieval_loss": self.weight * symmetric_infonce(outputs.sim, outputs.logit_scale, self.max_scale)}
