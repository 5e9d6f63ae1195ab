"""Symmetric InfoNCE, the contrastive loss the bootstrap and the student both train with.

For a square (B, B) logits matrix whose diagonal holds the matching pairs (caption i with
video i, or paraphrase i with paraphrase i):

    L = (CE(Z, I) + CE(Z^T, I)) / 2

the mean of the row-wise (caption -> video) and column-wise (video -> caption) softmax
cross-entropies (CLIP, Radford et al., 2021, arXiv:2103.00020; CLIP4Clip, arXiv:2104.08860;
supervised SimCSE, arXiv:2104.08821). Scaling the similarities into logits is the caller's:
the bootstrap learns CLIP's clamped temperature, the paraphrase judge uses a fixed 20, the
student's :class:`student.losses.InfoNCE` its own clamped scale.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def symmetric_infonce(logits: torch.Tensor) -> torch.Tensor:
    """The symmetric InfoNCE of (B, B) ``logits`` with positives on the diagonal (a scalar).

    Example::

        >>> z = torch.tensor([[10.0, 0.0], [0.0, 10.0]])
        >>> float(symmetric_infonce(z))  # doctest: +ELLIPSIS
        4.5...e-05
    """
    target = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
