"""teachkit.util.optim: the AdamW groups, the two recipes and the warmup + cosine schedule."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from teachkit.util.optim import CLIP_FROM_SCRATCH, TORCH_DEFAULTS, adamw, param_groups, warmup_cosine, warmup_cosine_schedule


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.token_embedding = nn.Embedding(10, 4)  # 2-D, an embedding table
        self.proj = nn.Linear(4, 4)  # weight 2-D, bias 1-D
        self.norm = nn.LayerNorm(4)  # 1-D gain and bias
        self.logit_scale = nn.Parameter(torch.ones(2, 1))  # 2-D, but the temperature
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)


def _names(model, group):
    ids = {id(p) for p in group["params"]}
    return [n for n, p in model.named_parameters() if id(p) in ids]


def test_groups_decay_matrices_only_and_embeddings_as_asked():
    model = Tiny()
    decay, no_decay = param_groups(model, 0.1, decay_embeddings=False)
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.1, 0.0)
    assert _names(model, decay) == ["proj.weight"]
    assert _names(model, no_decay) == ["logit_scale", "token_embedding.weight", "proj.bias", "norm.weight", "norm.bias"]
    decay, no_decay = param_groups(model, 0.1, decay_embeddings=True)
    assert _names(model, decay) == ["token_embedding.weight", "proj.weight"]
    assert _names(model, no_decay) == ["logit_scale", "proj.bias", "norm.weight", "norm.bias"]  # frozen: in neither


def test_recipes_set_betas_and_eps():
    model = Tiny()
    clip = adamw(model, 1e-3, 0.2, CLIP_FROM_SCRATCH)
    assert clip.defaults["betas"] == (0.9, 0.98) and clip.defaults["eps"] == 1e-6 and clip.defaults["lr"] == 1e-3
    assert [g["weight_decay"] for g in clip.param_groups] == [0.2, 0.0]
    assert len(clip.param_groups[0]["params"]) == 1  # the bootstrap: embeddings not decayed
    plain = adamw(model, 1e-3, 0.2, TORCH_DEFAULTS)
    reference = torch.optim.AdamW(model.parameters())
    assert (plain.defaults["betas"], plain.defaults["eps"]) == (reference.defaults["betas"], reference.defaults["eps"])
    assert len(plain.param_groups[0]["params"]) == 2


def test_warmup_then_cosine_at_known_steps():
    # 4 warmup steps to the peak, then a half cosine over the 8 remaining steps
    assert [warmup_cosine(s, 4, 12) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert warmup_cosine(4, 4, 12) == 1.0
    assert warmup_cosine(6, 4, 12) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))  # 0.8536
    assert warmup_cosine(8, 4, 12) == pytest.approx(0.5)
    assert warmup_cosine(12, 4, 12) == pytest.approx(0.0, abs=1e-12)
    assert warmup_cosine(20, 4, 12) == pytest.approx(0.0, abs=1e-12)  # held at zero past the end
    assert warmup_cosine(0, 0, 10) == 1.0  # no warmup: the cosine from the first step


def test_scheduler_steps_the_learning_rate_along_the_schedule():
    model = Tiny()
    opt = adamw(model, 0.4, 0.0, TORCH_DEFAULTS)
    schedule = warmup_cosine_schedule(opt, 2, 6)
    lrs = []
    for _ in range(6):
        lrs.append(schedule.get_last_lr()[0])
        opt.step()
        schedule.step()
    assert lrs == pytest.approx([0.2, 0.4, 0.4, 0.4 * 0.5 * (1 + math.cos(math.pi / 4)), 0.2,
                                 0.4 * 0.5 * (1 + math.cos(3 * math.pi / 4))])
