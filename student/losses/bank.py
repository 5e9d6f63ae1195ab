r"""Coarse distillation beyond the batch: each caption's teacher row over every train video.

In-batch distillation (:mod:`.coarse`) shows each caption the teachers' opinion of the
B - 1 other videos of its batch, drawn at random: the videos a teacher would rank just
below the right one (the hard negatives, what decides R@1) rarely share a batch with it.
The teacher stage has already scored every caption against every train video, so the whole
row is there to read. This loss compares it with the student's row over a *bank* of its
own video vectors, one slot per train video, refreshed with each batch's vectors (detached)
as the batch passes; the batch's own videos enter with their fresh, differentiable vectors.
It adds one (B x V) product per step and no encoder pass.

.. math::
    t_{ij} = \frac{1}{|K_{ij}|} \sum_{k \in K_{ij}} \frac{z_k(T_k)_{ij}}{\tau_k}, \qquad
    s_{ij} = \langle x_i, \bar v_j \rangle, \qquad
    L = \frac{1}{B} \sum_i \bigl(1 - \rho(\mathrm{softmax}_j(s_{ij}/\tau_s),\,
        \mathrm{softmax}_j(t_{ij}))\bigr)

with ``z_k`` each teacher's row standardised over the videos it scored, ``K_ij`` the
teachers that scored (i, j), ``\bar v_j`` the bank (the batch's fresh vectors in their
slots), and rho the Pearson correlation over the videos both the teachers and the bank
know (:func:`.pearson.pearson_rows`). The teachers are averaged as TeachText averages
their matrices (``mean_matrix``) whatever the in-batch ``aggregation``; temperatures and
cross-fitting are the coarse loss's.

The bank follows MoCo's memory of past keys (He et al., CVPR 2020, arXiv:1911.05722) and
SEED's distillation over a queue (Fang et al., ICLR 2021, arXiv:2101.04731); the rows it is
matched to are the stored teacher scores of TeachText (Croitoru et al., ICCV 2021,
arXiv:2104.08271) and TeachCLIP's Pearson distance (Tian et al., CVPR 2024, arXiv:2308.01217).
The t2v direction only: a video's row over every caption would need a bank of caption
vectors as large as the caption set.
"""

from __future__ import annotations

import torch
from torch import nn

from .coarse import zscore_rows
from .pearson import pearson_rows


def bank_targets(rows: torch.Tensor, temperatures: torch.Tensor) -> torch.Tensor:
    """(K, B, V) teacher rows (NaN: not scored) -> (B, V) mean of z-scored rows / tau_k, NaN where none scored."""
    mask = ~torch.isnan(rows)
    z = zscore_rows(torch.nan_to_num(rows, nan=0.0), mask) / temperatures.view(-1, 1, 1)
    count = mask.sum(0)
    total = torch.where(mask, z, torch.zeros_like(z)).sum(0)
    return torch.where(count > 0, total / count.clamp_min(1), torch.full_like(total, float("nan")))


class BankDistillation(nn.Module):
    """Pearson distillation of each caption's row over every train video (see module doc).

    Inputs: ``outputs.text`` (B, D) and ``outputs.video`` (B, D) normalised vectors;
    ``batch.teacher_rows`` (K, B, V), the coarse teachers' rows of the batch's captions over
    the V train videos, and ``batch.video_columns`` (B,), each batch video's slot.
    Returns ``{"bank_distill_loss": weight * L, "bank/filled": fraction of slots known}``.

    References: He et al., *Momentum Contrast for Unsupervised Visual Representation
    Learning*, CVPR 2020 (the bank); Fang et al., *SEED: Self-supervised Distillation for
    Visual Representation*, ICLR 2021 (distillation over it); Croitoru et al., *TeachText*,
    ICCV 2021, and Tian et al., *TeachCLIP*, CVPR 2024 (the rows and the Pearson distance).
    """

    def __init__(self, teachers: list[str], weight: float = 1.0, teacher_temperatures: dict[str, float] | None = None,
                 student_temperature: float = 0.05):
        super().__init__()
        self.teachers = list(teachers)
        self.weight = weight
        temps = teacher_temperatures or {}
        self.register_buffer("temperatures", torch.tensor([temps.get(t, 1.0) for t in self.teachers]), persistent=False)
        self.student_temperature = student_temperature
        self.bank: torch.Tensor | None = None  # (V, D) the student's last vector of each train video
        self.filled: torch.Tensor | None = None  # (V,) which slots hold one

    def forward(self, outputs, batch) -> dict[str, torch.Tensor]:
        if batch.teacher_rows is None or batch.video_columns is None:
            raise ValueError("bank distillation needs batches with teacher_rows and video_columns "
                             "(student.data.TrainBatches with full_rows=True)")
        video = outputs.video.float()
        cols = batch.video_columns.to(video.device)
        target = bank_targets(batch.teacher_rows.to(video.device, torch.float32), self.temperatures.to(video.device))
        if self.bank is None or self.bank.shape != (target.shape[1], video.shape[1]):
            self.bank = torch.zeros(target.shape[1], video.shape[1], device=video.device)
            self.filled = torch.zeros(target.shape[1], dtype=torch.bool, device=video.device)
        slots = self.bank.index_put((cols,), video)  # the batch's fresh vectors carry the gradient
        known = self.filled.clone()
        known[cols] = True
        mask = known.unsqueeze(0) & ~torch.isnan(target)
        loss = pearson_rows(outputs.text.float() @ slots.T, torch.nan_to_num(target, nan=0.0), mask,
                            self.student_temperature, 1.0)
        with torch.no_grad():
            self.bank[cols] = video.detach()
            self.filled[cols] = True
        return {"bank_distill_loss": self.weight * loss, "bank/filled": known.float().mean()}
