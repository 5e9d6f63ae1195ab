"""RKD angle: the angles the student's intra-modal triplets form against the teacher's (Park et al. 2019)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._rows import zero_like_graph
from .intra import IntraModalDistillation
from .rkd_distance import gram_distances


def gram_angles(gram: torch.Tensor) -> torch.Tensor:
    r"""(B, B, B) cosines :math:`\langle e_{ij}, e_{kj} \rangle` of unit vectors from their Gram matrix.

    :math:`e_{ij} = (x_i - x_j) / \lVert x_i - x_j \rVert`, so
    :math:`\langle x_i - x_j, x_k - x_j \rangle = G_{ik} - G_{ij} - G_{jk} + 1`.
    """
    d = gram_distances(gram)
    dot = gram[:, None, :] - gram[:, :, None] - gram[None, :, :] + 1.0
    return dot / (d[:, :, None] * d[None, :, :])


def rkd_angle(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    r"""Huber loss between the angles at every vertex of every in-batch triplet.

    .. math::
        \psi_A(x_i, x_j, x_k) = \cos \angle x_i x_j x_k = \langle e_{ij}, e_{kj} \rangle, \quad
        L = \frac{1}{|Q|} \sum_{(i,j,k) \in Q} \ell_\delta\big(\psi_A(s_i, s_j, s_k), \psi_A(t_i, t_j, t_k)\big)

    over the triplets ``Q`` of distinct i, j, k whose three pairs are all in ``mask``.

    Args:
        student, teacher: (B, B) cosine Gram matrices; mask: (B, B) bool pairs that count.
        beta: the Huber threshold (Park et al. use 1).
    """
    triplets = mask[:, :, None] & mask.T[None, :, :] & mask[:, None, :]  # (i,j), (k,j), (i,k)
    if not bool(triplets.any()):
        return zero_like_graph(student)
    return F.smooth_l1_loss(gram_angles(student)[triplets], gram_angles(teacher)[triplets], beta=beta)


class RKDAngle(IntraModalDistillation):
    """RKD's angle-wise loss on video and caption triplets (``loss.relational.kind = "rkd_angle"``).

    Higher-order structure than distances: for every in-batch triplet the angle at its middle
    instance. B^3 terms (262k for B = 64, cheap next to a training step). Reads the teachers'
    raw cosines (``teacher_norm = "none"``); inputs as :class:`.relational.RelationalKL`.
    Returns ``{"rkd_angle_distill_loss": weight * L}``.

    References: Park, Kim, Lu, Cho, *Relational Knowledge Distillation*, CVPR 2019
    (arXiv:1904.05068), eq. 6-7.

    Example (runnable)::

        >>> import torch, torch.nn.functional as F
        >>> from types import SimpleNamespace
        >>> x = F.normalize(torch.randn(5, 8), dim=-1); t = F.normalize(torch.randn(5, 8), dim=-1)
        >>> batch = SimpleNamespace(teacher_video_sims=(t @ t.T)[None], teacher_caption_sims=(t @ t.T)[None])
        >>> float(RKDAngle(["t"])(SimpleNamespace(video=x, text=x), batch)["rkd_angle_distill_loss"]) > 0
        True
    """

    name = "rkd_angle"
    uses_temperature = False

    def matrix_loss(self, student, teacher, mask, teacher_temperature):
        return rkd_angle(student, teacher, mask, self.options.get("beta", 1.0))
