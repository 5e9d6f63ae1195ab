"""The optimiser both trainers use: AdamW over two weight-decay groups, warmup then cosine.

The bootstrap (:mod:`pipeline.bootstrap.train`, which trains CLIPs from random init and
fine-tunes text encoders) and the student (:mod:`student.train`) share the shape of the
recipe -- decoupled weight decay (Loshchilov & Hutter, arXiv:1711.05101) on the weight
matrices only, a linear warmup to the peak rate, then a half cosine to zero (SGDR,
arXiv:1608.03983; CLIP and open_clip's ``cosine_lr``) -- and differ in three constants, which
:class:`AdamWRecipe` makes explicit so that each trainer states its own:

* ``betas``/``eps``: CLIP's (0.9, 0.98) and 1e-6 (Radford et al., 2021, arXiv:2103.00020;
  a shorter second-moment memory for contrastive training from random init), or torch's
  defaults (0.9, 0.999) and 1e-8.
* ``decay_embeddings``: whether token, position and patch embedding tables are decayed.
  The bootstrap exempts them as minGPT does; the student decays them as open_clip and
  CLIP4Clip do (only tensors of fewer than two dimensions and the temperature are exempt).

The two recipes stay apart on purpose: each is part of the weights it has trained (the
demo's bootstrapped teachers, cached by fingerprint, and its published student figures),
and unifying them would move both without a measured gain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class AdamWRecipe:
    """The constants in which the trainers' AdamW differ (see the module)."""

    betas: tuple[float, float]
    eps: float
    decay_embeddings: bool


#: the bootstrap's: CLIP's betas and eps, embeddings not decayed
CLIP_FROM_SCRATCH = AdamWRecipe(betas=(0.9, 0.98), eps=1e-6, decay_embeddings=False)
#: the student's: torch's AdamW defaults, embeddings decayed (CLIP4Clip)
TORCH_DEFAULTS = AdamWRecipe(betas=(0.9, 0.999), eps=1e-8, decay_embeddings=True)


def decays(name: str, param: torch.Tensor, decay_embeddings: bool) -> bool:
    """Whether weight decay applies to parameter ``name``: not to biases, norms and other
    vectors (``ndim < 2``), not to CLIP's temperature ``logit_scale``, and to embedding
    tables only when ``decay_embeddings``."""
    if param.ndim < 2 or name.endswith("logit_scale"):
        return False
    return decay_embeddings or "embedding" not in name


def param_groups(model: torch.nn.Module, weight_decay: float, decay_embeddings: bool) -> list[dict]:
    """Two AdamW groups of ``model``'s trainable parameters: decayed at ``weight_decay``, and
    not decayed (:func:`decays`), each in ``named_parameters`` order."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (decay if decays(name, p, decay_embeddings) else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def adamw(model: torch.nn.Module, lr: float, weight_decay: float, recipe: AdamWRecipe) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups` with ``recipe``'s betas and eps."""
    groups = param_groups(model, weight_decay, recipe.decay_embeddings)
    return torch.optim.AdamW(groups, lr=lr, betas=recipe.betas, eps=recipe.eps)


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """The learning-rate factor at ``step`` (0-based): ``(step + 1) / warmup`` for the first
    ``warmup`` steps, then ``(1 + cos(pi * p)) / 2`` with ``p`` the fraction of the remaining
    ``total - warmup`` steps done (held at 0 past ``total``)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def warmup_cosine_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int):
    """A ``LambdaLR`` stepping ``optimizer`` along :func:`warmup_cosine` (call ``step()`` after
    each optimiser step)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, warmup, total))
