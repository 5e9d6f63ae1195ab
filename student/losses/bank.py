r"""Coarse distillation beyond the batch: each caption's teacher row over every train video,
and each video's over every train caption.

In-batch distillation (:mod:`.coarse`) shows each caption the teachers' opinion of the
B - 1 other videos of its batch, drawn at random: the videos a teacher would rank just
below the right one (the hard negatives, what decides R@1) rarely share a batch with it.
The teacher stage has already scored every caption against every train video, so the whole
row is there to read. This loss compares it with the student's row over a *bank* of its
own video vectors, one slot per train video, refreshed with each batch's vectors (detached)
as the batch passes; the batch's own videos enter with their fresh, differentiable vectors.
It adds one (B x V) product per step and no encoder pass. The v2t direction is the same with
the roles swapped: each batch video's teacher column over every train caption against a
bank of the student's caption vectors (C x D).

.. math::
    t_{ij} = \frac{1}{|K_{ij}|} \sum_{k \in K_{ij}} \frac{z_k(T_k)_{ij}}{\tau_k}, \qquad
    s_{ij} = \langle x_i, \bar v_j \rangle, \qquad
    L = \frac{1}{B} \sum_i \bigl(1 - \rho(\mathrm{softmax}_j(s_{ij}/\tau_s),\,
        \mathrm{softmax}_j(t_{ij}))\bigr)

for t2v (v2t: videos over captions, with a caption bank), with ``z_k`` each teacher's row
standardised over the videos it scored, ``K_ij`` the
teachers that scored (i, j), ``\bar v_j`` the bank (the batch's fresh vectors in their
slots), and rho the Pearson correlation over the videos both the teachers and the bank
know (:func:`.pearson.pearson_rows`). The teachers are averaged as TeachText averages
their matrices (``mean_matrix``) whatever the in-batch ``aggregation``; temperatures,
directions and cross-fitting are the coarse loss's. The directions are summed.

The bank follows MoCo's memory of past keys (He et al., CVPR 2020, arXiv:1911.05722) and
SEED's distillation over a queue (Fang et al., ICLR 2021, arXiv:2101.04731); the rows it is
matched to are the stored teacher scores of TeachText (Croitoru et al., ICCV 2021,
arXiv:2104.08271) and TeachCLIP's Pearson distance (Tian et al., CVPR 2024, arXiv:2308.01217).
"""

from __future__ import annotations

import torch
from torch import nn

from .coarse import merge_teachers
from .pearson import pearson_rows


def bank_targets(rows: torch.Tensor, temperatures: torch.Tensor) -> torch.Tensor:
    """(K, B, V) teacher rows (NaN: not scored) -> (B, V) mean of z-scored rows / tau_k, NaN where none scored."""
    merged, scored = merge_teachers(rows, temperatures)
    return torch.where(scored, merged, torch.full_like(merged, float("nan")))


class _Bank:
    """One slot per train item (video or caption): the student's last vector of it."""

    def __init__(self):
        self.vectors: torch.Tensor | None = None
        self.filled: torch.Tensor | None = None

    def row_loss(self, queries: torch.Tensor, keys: torch.Tensor, slots: torch.Tensor, target: torch.Tensor,
                 student_temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Pearson distance of ``queries`` against the bank (``keys`` fresh in ``slots``) and
        ``target`` (B, N; NaN: not scored); then ``keys`` are stored. Returns (loss, filled)."""
        if self.vectors is None or self.vectors.shape != (target.shape[1], keys.shape[1]):
            self.vectors = torch.zeros(target.shape[1], keys.shape[1], device=keys.device)
            self.filled = torch.zeros(target.shape[1], dtype=torch.bool, device=keys.device)
        bank = self.vectors.index_put((slots,), keys)  # the batch's fresh vectors carry the gradient
        known = self.filled.clone()
        known[slots] = True
        mask = known.unsqueeze(0) & ~torch.isnan(target)
        loss = pearson_rows(queries @ bank.T, torch.nan_to_num(target, nan=0.0), mask, student_temperature, 1.0)
        with torch.no_grad():
            self.vectors[slots] = keys.detach()
            self.filled[slots] = True
        return loss, known.float().mean()


class BankDistillation(nn.Module):
    """Pearson distillation of each caption's row over every train video, and of each video's
    row over every train caption (see module doc).

    Inputs: ``outputs.text`` and ``outputs.video`` (B, D) normalised vectors; for t2v
    ``batch.teacher_rows`` (K, B, V), the coarse teachers' rows of the batch's captions over
    the V train videos, and ``batch.video_columns`` (B,), each batch video's slot; for v2t
    ``batch.teacher_columns`` (K, B, C), their scores of every train caption with each batch
    video, and ``batch.caption_rows`` (B,), each batch caption's slot.
    Returns ``{"bank_distill_loss": weight * (L_t2v + L_v2t)}`` and, per direction, the
    fraction of bank slots known (``bank/videos_filled``, ``bank/captions_filled``).

    References: He et al., *Momentum Contrast for Unsupervised Visual Representation
    Learning*, CVPR 2020 (the bank); Fang et al., *SEED: Self-supervised Distillation for
    Visual Representation*, ICLR 2021 (distillation over it); Croitoru et al., *TeachText*,
    ICCV 2021, and Tian et al., *TeachCLIP*, CVPR 2024 (the rows and the Pearson distance).
    """

    def __init__(self, teachers: list[str], weight: float = 1.0, teacher_temperatures: dict[str, float] | None = None,
                 student_temperature: float = 0.05, directions: tuple[str, ...] = ("t2v",)):
        super().__init__()
        self.teachers = list(teachers)
        self.weight = weight
        temps = teacher_temperatures or {}
        self.register_buffer("temperatures", torch.tensor([temps.get(t, 1.0) for t in self.teachers]), persistent=False)
        self.student_temperature = student_temperature
        self.directions = tuple(directions)
        self.videos = _Bank()  # t2v: the student's video vectors
        self.captions = _Bank()  # v2t: its caption vectors

    def _target(self, rows: torch.Tensor | None, slots: torch.Tensor | None, what: str, device) -> torch.Tensor:
        if rows is None or slots is None:
            raise ValueError(f"bank distillation needs batches with teacher_{what} (student.data.TrainBatches "
                             f"with full_{what}=True)")
        return bank_targets(rows.to(device, torch.float32), self.temperatures.to(device))

    def forward(self, outputs, batch) -> dict[str, torch.Tensor]:
        text, video = outputs.text.float(), outputs.video.float()
        total, logs = text.new_zeros(()), {}
        if "t2v" in self.directions:
            target = self._target(batch.teacher_rows, batch.video_columns, "rows", video.device)
            loss, filled = self.videos.row_loss(text, video, batch.video_columns.to(video.device), target,
                                                self.student_temperature)
            total, logs["bank/videos_filled"] = total + loss, filled
        if "v2t" in self.directions:
            target = self._target(batch.teacher_columns, batch.caption_rows, "columns", text.device)
            loss, filled = self.captions.row_loss(video, text, batch.caption_rows.to(text.device), target,
                                                  self.student_temperature)
            total, logs["bank/captions_filled"] = total + loss, filled
        return {"bank_distill_loss": self.weight * total, **logs}
