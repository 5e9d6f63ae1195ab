"""RKD distance: the student's intra-modal pairwise distances against the teacher's (Park et al. 2019)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._rows import zero_like_graph
from .intra import IntraModalDistillation


def gram_distances(gram: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean distances of unit vectors from their Gram matrix: ``sqrt(2 - 2 G_ij)``."""
    return (2.0 - 2.0 * gram).clamp_min(eps).sqrt()


def rkd_distance(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    r"""Huber loss between mean-normalised pairwise distances.

    .. math::
        \psi_D(x_i, x_j) = \frac{\lVert x_i - x_j \rVert}{\mu}, \quad
        \mu = \frac{1}{|P|} \sum_{(i,j) \in P} \lVert x_i - x_j \rVert, \quad
        L = \frac{1}{|P|} \sum_{(i,j) \in P} \ell_\delta\big(\psi_D(s_i, s_j), \psi_D(t_i, t_j)\big)

    with ``P`` the pairs of ``mask`` and :math:`\ell_\delta` the Huber (smooth L1) loss.
    Both sides are unit vectors, so distances come from the (B, B) Gram matrices:
    :math:`\lVert x_i - x_j \rVert = \sqrt{2 - 2 G_{ij}}` -- the teacher's embeddings
    themselves are never needed, only its stored cosines.

    Args:
        student, teacher: (B, B) cosine Gram matrices; mask: (B, B) bool pairs that count.
        beta: the Huber threshold (Park et al. use 1).
    """
    if not bool(mask.any()):
        return zero_like_graph(student)
    ds, dt = gram_distances(student)[mask], gram_distances(teacher)[mask]
    return F.smooth_l1_loss(ds / ds.mean().clamp_min(1e-12), dt / dt.mean().clamp_min(1e-12), beta=beta)


class RKDDistance(IntraModalDistillation):
    """RKD's distance-wise loss on video x video and caption x caption structure.

    ``loss.relational.kind = "rkd_distance"``; an alternative to :class:`.relational.RelationalKL`
    that matches distances instead of softmax rows, so it has no temperature. It reads the
    teachers' raw cosines (``teacher_norm = "none"``). Inputs as :class:`.relational.RelationalKL`.
    Returns ``{"rkd_distance_distill_loss": weight * L}``.

    References: Park, Kim, Lu, Cho, *Relational Knowledge Distillation*, CVPR 2019
    (arXiv:1904.05068), eq. 3-5.

    Example (runnable)::

        >>> import torch, torch.nn.functional as F
        >>> from types import SimpleNamespace
        >>> x = F.normalize(torch.randn(5, 8), dim=-1)
        >>> g = (x @ x.T)[None]
        >>> batch = SimpleNamespace(teacher_video_sims=g, teacher_caption_sims=g)
        >>> float(RKDDistance(["t"])(SimpleNamespace(video=x, text=x), batch)["rkd_distance_distill_loss"]) < 1e-6
        True
    """

    name = "rkd_distance"
    uses_temperature = False

    def matrix_loss(self, student, teacher, mask, teacher_temperature):
        return rkd_distance(student, teacher, mask, self.options.get("beta", 1.0))
