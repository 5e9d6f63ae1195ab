"""Listwise distillation of each caption's stored top-k candidates (ListNet's top-one KL).

A ``topk`` teacher (a reranker above all: :mod:`pipeline.teachers.reranker`) scored, per
caption, its own list of candidate videos; the rest of a batch is unscored (NaN). This
loss distils that *list*: over the in-batch entries of caption ``i``'s candidate list
(``C_i``: the entries the teacher scored, optionally only its ``top`` highest), the
teacher's and the student's top-one probabilities are compared with a KL divergence.
With teacher-guided batches (:mod:`student.sampler`) most of each caption's candidates are
in its batch.
"""

from __future__ import annotations

import torch

from ._rows import masked_log_softmax, row_mean, usable_rows
from .coarse import CoarseDistillation


def top_mask(teacher: torch.Tensor, mask: torch.Tensor, top: int) -> torch.Tensor:
    """``mask`` kept only at each row's ``top`` highest teacher entries (``top`` <= 0: all of it)."""
    if top <= 0 or top >= mask.shape[-1]:
        return mask
    ranked = teacher.masked_fill(~mask, float("-inf"))
    idx = ranked.topk(top, dim=-1).indices
    keep = torch.zeros_like(mask).scatter_(-1, idx, True)
    return mask & keep


def listwise_kl(
    student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, student_temperature: float,
    teacher_temperature: float, top: int = 0,
) -> torch.Tensor:
    r"""Mean over rows of the KL between the teacher's and the student's top-one probabilities.

    .. math::
        C_i = \{ j : \text{the teacher scored } (i, j) \} \;(\cap \text{ its top-}n\text{ by } t_{ij}), \quad
        p_t^{ij} = \frac{e^{t_{ij} / \tau_t}}{\sum_{l \in C_i} e^{t_{il} / \tau_t}}, \quad
        p_s^{ij} = \frac{e^{s_{ij} / \tau_s}}{\sum_{l \in C_i} e^{s_{il} / \tau_s}}, \quad
        L = \frac{1}{R} \sum_i \sum_{j \in C_i} p_t^{ij} (\log p_t^{ij} - \log p_s^{ij})

    Rows whose list holds fewer than two in-batch entries are dropped (a one-item list has
    nothing to rank).

    Args:
        student: (R, N) student similarities.
        teacher: (R, N) teacher scores (any value where ``mask`` is False).
        mask: (R, N) bool, True where the teacher scored the entry (the caption's candidates).
        student_temperature, teacher_temperature: softmax temperatures.
        top: keep only each row's ``top`` best-scored candidates (0: all of them).
    """
    mask = top_mask(teacher, mask, top)
    log_ps = masked_log_softmax(student / student_temperature, mask)
    log_pt = masked_log_softmax(teacher / teacher_temperature, mask)
    per_row = (log_pt.exp() * (log_pt - log_ps)).masked_fill(~mask, 0.0).sum(-1)
    return row_mean(per_row, usable_rows(mask), student)


class ListwiseDistillation(CoarseDistillation):
    """Listwise KL over each caption's stored candidates (see :class:`CoarseDistillation`).

    ``loss.coarse.kind = "listwise"``; ``loss.coarse.listwise_top`` keeps only each row's
    best-scored candidates (a full-plan teacher then acts as a top-n one). ``directions``
    usually ``["t2v"]``: the list is a caption's; ``v2t`` ranks the captions that scored a video.

    Args:
        teachers, weight, aggregation, teacher_weights, teacher_temperatures, student_temperature, directions, teacher_norm:
            see :class:`CoarseDistillation`.
        top: candidates kept per row (0: all the teacher scored).

    Inputs:
        ============================  ========================================
        outputs.sim                   (B, B) student cosine similarities
        batch.teacher_scores          (K, B, B) teacher scores, NaN = not a candidate
        ============================  ========================================

    Returns ``{"listwise_distill_loss": weight * L}`` (and per-teacher values for the log).

    References: Cao et al., *Learning to Rank: From Pairwise Approach to Listwise Approach*
    (ListNet), ICML 2007; the top-one probability KL as a distillation loss of a reranker's
    candidate lists: Pradeep et al., *RankZephyr*, arXiv:2312.02724 and Sun et al., *Is
    ChatGPT Good at Search? LLMs as Re-Ranking Agents* (RankGPT), EMNLP 2023
    (arXiv:2304.09542).

    Example::

        >>> loss = ListwiseDistillation(["rerank"], teacher_temperatures={"rerank": 0.05}, directions=("t2v",))
        >>> loss(outputs, batch)["listwise_distill_loss"]
    """

    name = "listwise"

    def row_loss(self, student, teacher, mask, teacher_temperature):
        return listwise_kl(student, teacher, mask, self.student_temperature, teacher_temperature,
                           int(self.options.get("top", 0)))
