"""Time-order hard negatives: a batch's own videos with their frames reordered.

A contrastive batch drawn at random almost never holds a video beside the one with the same
events in the other order, so a teacher trained on it learns colours and shapes and little of
time: "A, then B" and "B, then A" score alike, and so do "moves left" and "moves right".
Test of Time (Bagad et al., CVPR 2023, arXiv:2301.02074) adds time-order-reversed versions
of each clip as negatives of its caption. Here each caption is also contrasted with

* ``swap``: its video with the two halves of its frames swapped (the second event first);
* ``reverse``: its video played backwards;

built from the frame features the batch already computed (no extra pass through the vision
tower), then passed through the temporal encoder at the original positions, so only the
order of the content changes. The loss stays CLIP's symmetric InfoNCE; the reordered videos
are extra columns of the caption -> video direction only:

    L = (CE(s * [S, S_swap, S_rev], I) + CE(s * S^T, I)) / 2
"""

from __future__ import annotations

import torch

#: the reorderings by name
KINDS = ("swap", "reverse")


def parse_negatives(spec: str | None) -> tuple[str, ...]:
    """``"swap+reverse"`` -> ("swap", "reverse"); ValueError on an unknown or repeated kind."""
    if spec is None:
        return ()
    kinds = tuple(k.strip() for k in spec.split("+"))
    if not kinds or any(k not in KINDS for k in kinds) or len(set(kinds)) != len(kinds):
        raise ValueError(f"temporal negatives {spec!r}: kinds from {list(KINDS)} joined by '+'")
    return kinds


def reorder_index(mask: torch.Tensor, kind: str) -> torch.Tensor:
    """(M, T) source slot of each slot: each row's real frames (``mask``) reordered among
    the slots they hold, padded slots kept in place."""
    m, t = mask.shape
    n = mask.long().sum(1, keepdim=True)
    k = torch.arange(t, device=mask.device).expand(m, t)
    if kind == "reverse":
        pick = n - 1 - k
    elif kind == "swap":
        pick = (k + n // 2) % n.clamp_min(1)
    else:
        raise ValueError(f"unknown temporal negative {kind!r}")
    pick = torch.where(k < n, pick, k)  # the k-th real frame takes the pick-th real frame
    slots = torch.sort((~mask.bool()).to(torch.int8), dim=1, stable=True).indices  # real slots first, in order
    return torch.empty_like(slots).scatter_(1, slots, slots.gather(1, pick))


def reordered(frames: torch.Tensor, mask: torch.Tensor, kind: str) -> torch.Tensor:
    """``frames`` (M, T, D) with each row's real frames reordered by ``kind``."""
    index = reorder_index(mask, kind)
    return frames.gather(1, index.unsqueeze(-1).expand_as(frames))
