"""teachkit.util.contrastive: symmetric InfoNCE against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from teachkit.util.contrastive import symmetric_infonce


def test_symmetric_infonce_matches_the_formula():
    z = torch.tensor([[2.0, 0.0], [1.0, 3.0]])
    rows = (-math.log(math.exp(2) / (math.exp(2) + 1)) - math.log(math.exp(3) / (math.exp(1) + math.exp(3)))) / 2
    cols = (-math.log(math.exp(2) / (math.exp(2) + math.exp(1))) - math.log(math.exp(3) / (1 + math.exp(3)))) / 2
    assert float(symmetric_infonce(z)) == pytest.approx((rows + cols) / 2, rel=1e-6)


def test_uniform_logits_cost_log_b_and_clear_pairs_almost_nothing():
    assert float(symmetric_infonce(torch.zeros(4, 4))) == pytest.approx(math.log(4))
    assert float(symmetric_infonce(100 * torch.eye(3))) < 1e-6


def test_the_student_and_the_bootstrap_compute_the_same_loss():
    from pipeline.bootstrap.paraphrase import paraphrase_loss
    from student.losses import symmetric_infonce as student_infonce

    torch.manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    p = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    shared = symmetric_infonce(20.0 * a @ p.T)
    assert torch.equal(paraphrase_loss(a, p), shared)
    assert torch.equal(student_infonce(a @ p.T, torch.tensor(math.log(20.0)), 100.0),
                       symmetric_infonce(torch.tensor(math.log(20.0)).exp().clamp(max=100.0) * (a @ p.T)))
