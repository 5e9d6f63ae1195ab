"""Structure discrimination: the student must separate what the teacher clearly separates (MCKD's explicit term)."""

from __future__ import annotations

import torch

from ._rows import zero_like_graph
from .intra import IntraModalDistillation


def structure_discrimination(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor,
                             margin: float = 0.1, gap: float = 1.0) -> torch.Tensor:
    r"""Margin loss over the triplets the teacher orders clearly.

    .. math::
        Q = \{(i, j, k) : T_{ij} - T_{ik} \ge \delta\}, \quad
        L = \frac{1}{|Q|} \sum_{(i,j,k) \in Q} \max\big(0,\; m - (S_{ij} - S_{ik})\big)

    For each anchor i of one modality, whenever the teacher puts instance j clearly closer
    to i than instance k (by ``gap`` = :math:`\delta`, in the teacher's units: standard
    deviations of its row under ``teacher_norm = "zscore"``), the student's cosines must
    order them the same way by at least ``margin`` = m. Unlike the KL, this does not ask the
    student to copy the teacher's distribution, only to discriminate where the teacher is
    unambiguous -- it never pulls two instances together, and leaves near-ties alone.

    Args:
        student, teacher: (B, B) intra-modal similarities; mask: (B, B) entries that count
            (off-diagonal, scored); both (i, j) and (i, k) must be in it.
        margin: the student's required cosine gap; gap: the teacher's gap that makes a triplet.
    """
    valid = mask[:, :, None] & mask[:, None, :]  # (i, j, k)
    triplets = valid & ((teacher[:, :, None] - teacher[:, None, :]) >= gap)
    if not bool(triplets.any()):
        return zero_like_graph(student)
    diff = student[:, :, None] - student[:, None, :]
    return torch.relu(margin - diff[triplets]).mean()


class StructureDiscrimination(IntraModalDistillation):
    """MCKD's explicit discrimination term on intra-modal structure (``loss.relational.discrimination``).

    MCKD distils the teacher's inter-instance structure "with the help of an explicit
    discrimination loss" so that texts (and videos) of different instances stop being
    ambiguous in the student's space. The paper's exact formula is not reproduced here (we
    had no access to its text); this module is our reading of it: a margin loss on the
    triplets the teacher orders clearly (:func:`structure_discrimination`), per modality,
    teachers aggregated as in :class:`.intra.IntraModalDistillation`. It is added next to
    the relational loss, with its own weight. Inputs as :class:`.relational.RelationalKL`.
    Returns ``{"discrimination_distill_loss": weight * L}``.

    References: Ma et al., *Using Multimodal Contrastive Knowledge Distillation for
    Video-Text Retrieval* (MCKD), IEEE TCSVT 33(10), 2023 (doi:10.1109/TCSVT.2023.3257193).

    Example (runnable)::

        >>> import torch
        >>> from types import SimpleNamespace
        >>> t = torch.tensor([[1.0, 0.9, 0.1], [0.9, 1.0, 0.2], [0.1, 0.2, 1.0]])
        >>> s = torch.tensor([[1.0, 0.3, 0.5], [0.3, 1.0, 0.4], [0.5, 0.4, 1.0]])
        >>> loss = StructureDiscrimination(["t"], margin=0.1, gap=0.5)
        >>> batch = SimpleNamespace(teacher_video_sims=t[None], teacher_caption_sims=t[None])
        >>> out = SimpleNamespace(video=torch.linalg.cholesky(s), text=torch.linalg.cholesky(s))
        >>> round(float(loss(out, batch)["discrimination_distill_loss"]), 4)  # anchors 0, 1: (0.3 + 0.2) / 2
        0.25
    """

    name = "discrimination"
    uses_temperature = False

    def matrix_loss(self, student, teacher, mask, teacher_temperature):
        return structure_discrimination(student, teacher, mask, self.options.get("margin", 0.1),
                                        self.options.get("gap", 1.0))
