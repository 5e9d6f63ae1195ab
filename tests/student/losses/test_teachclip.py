"""The scale conventions the loss docstrings state, checked against a transcription of
TeachCLIP's ``train_epoch`` (github.com/ruc-aimc-lab/TeachCLIP, ``train.py``): its Pearson
sums t2v and v2t, its soft CE and frame CE are elementwise means over B x B and B x T, and
the weights the docstrings give reproduce its ``0.2 / 1 / 2`` recipe exactly."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from student.losses import InfoNCE
from student.losses.frame_ce import FrameCE
from student.losses.pearson import PearsonDistillation
from student.losses.soft_ce import SoftCEDistillation
from student.model import StudentOutputs

B, T = 6, 5


class _Batch:
    def __init__(self, scores, relevance=None):
        self.teacher_scores = scores
        self.teacher_relevance = relevance
        self.frame_mask = torch.ones(B, T, dtype=torch.bool)


def _teachclip_pearson(s, t):
    """``distill_method == "pear"``: 1 - rho of row softmaxes, t2v + v2t."""
    def one(p, q):
        p, q = p.softmax(-1), q.softmax(-1)
        a, b = p - p.mean(-1, keepdim=True), q - q.mean(-1, keepdim=True)
        return (1 - (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).mean()
    return one(s, t) + one(s.T, t.T)


def _teachclip_soft_ce(s, t):
    """``distill_method == "ce"``: elementwise means over B x B, t2v + v2t."""
    return (-t.softmax(-1) * F.log_softmax(s, -1)).mean() + (-t.T.softmax(-1) * F.log_softmax(s.T, -1)).mean()


def _teachclip_frame_ce(weights, rel):
    """``fine_method == "ce"``: ``(-log(w) * r).mean()`` over B x T; r is a softmax over frames."""
    return (-torch.log(weights) * rel).mean()


def _teachclip_gt(s):
    return (F.cross_entropy(s, torch.arange(B)) + F.cross_entropy(s.T, torch.arange(B))) / 2


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    sim = torch.randn(B, B, generator=g, dtype=torch.float32)
    teacher = torch.randn(B, B, generator=g, dtype=torch.float32)
    weights = torch.randn(B, T, generator=g, dtype=torch.float32).softmax(-1)
    cos = torch.randn(B, T, generator=g, dtype=torch.float32)
    return sim, teacher, weights, cos


def test_pearson_sums_directions_in_teachclip():
    sim, teacher, _, _ = _inputs()
    ours = PearsonDistillation(["t"], student_temperature=1.0, teacher_temperatures={"t": 1.0})(
        StudentOutputs(None, None, sim, torch.zeros(()), None), _Batch(teacher[None])
    )["pearson_distill_loss"]
    assert torch.allclose(_teachclip_pearson(sim, teacher), 2 * ours)


def test_soft_ce_is_an_elementwise_mean_in_teachclip():
    sim, teacher, _, _ = _inputs(1)
    ours = SoftCEDistillation(["t"], student_temperature=1.0, teacher_temperatures={"t": 1.0})(
        StudentOutputs(None, None, sim, torch.zeros(()), None), _Batch(teacher[None])
    )["soft_ce_distill_loss"]
    assert torch.allclose(_teachclip_soft_ce(sim, teacher), 2 / B * ours)


def test_frame_ce_is_an_elementwise_mean_in_teachclip():
    _, _, weights, cos = _inputs(2)
    out = StudentOutputs(None, None, torch.zeros(B, B), torch.zeros(()), weights)
    ours = FrameCE(["t"], weight=1.0, temperature=1.0)(out, _Batch(None, cos[None]))["frame_distill_loss"]
    assert torch.allclose(_teachclip_frame_ce(weights, cos.softmax(-1)), ours / T)


def test_the_documented_weights_reproduce_the_pearson_recipe():
    sim, teacher, weights, cos = _inputs(3)
    # TeachCLIP: loss = gt_loss * 0.2 + distill_loss + fine_loss * 2.0 (one teacher)
    expected = 0.2 * _teachclip_gt(sim) + _teachclip_pearson(sim, teacher) + 2.0 * _teachclip_frame_ce(weights, cos.softmax(-1))
    out = StudentOutputs(None, None, sim, torch.zeros(()), weights)
    batch = _Batch(teacher[None], cos[None])
    parts = {
        **InfoNCE(weight=0.2, max_scale=100.0)(out, batch),  # log scale 0: scale 1, as TeachCLIP's S / beta
        **PearsonDistillation(["t"], weight=2.0, student_temperature=1.0, teacher_temperatures={"t": 1.0})(out, batch),
        **FrameCE(["t"], weight=2.0 / T, temperature=1.0)(out, batch),
    }
    total = sum(v for k, v in parts.items() if k.endswith("_loss"))
    assert torch.allclose(total, expected)
