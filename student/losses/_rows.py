"""Masked row helpers shared by the distillation losses.

Distillation rows compare a student row with a teacher row over the entries the teacher
scored (``mask``). Masked entries leave every softmax and every mean; rows with too few
entries are dropped. A loss with no usable row is a zero that still belongs to the graph.
"""

from __future__ import annotations

import torch


def masked_log_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log softmax over the masked-in entries of each row; masked entries get 0 (not -inf)."""
    out = torch.log_softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)
    return out.masked_fill(~mask, 0.0)


def usable_rows(mask: torch.Tensor, minimum: int = 2) -> torch.Tensor:
    return mask.sum(-1) >= minimum


def zero_like_graph(x: torch.Tensor) -> torch.Tensor:
    return (x * 0.0).sum()


def row_mean(values: torch.Tensor, rows: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Mean of per-row ``values`` over ``rows``; a graph-connected zero when none is usable."""
    if not bool(rows.any()):
        return zero_like_graph(like)
    return values[rows].mean()
