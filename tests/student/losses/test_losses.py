"""Each loss against a hand-computed value on small tensors, and the sign of its gradient."""

import math

import pytest
import torch

from student.losses import (
    LOSSES,
    frame_ce,
    kl_rows,
    margin_mse_rows,
    pearson_rows,
    smoothl1_entries,
    soft_ce_rows,
    symmetric_infonce,
)
from student.losses.kl import KLDistillation
from student.losses.pearson import PearsonDistillation
from student.model import StudentOutputs


def _row(values, grad=True):
    return torch.tensor([values], dtype=torch.float64, requires_grad=grad)


def test_infonce_hand_value_and_clamp():
    sim = torch.eye(2, dtype=torch.float64)
    log_scale = torch.zeros((), dtype=torch.float64, requires_grad=True)
    loss = symmetric_infonce(sim, log_scale, 100.0)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)))
    loss.backward()
    assert log_scale.grad < 0  # a larger scale sharpens the right answer
    big = torch.tensor(math.log(1000.0), dtype=torch.float64, requires_grad=True)
    clamped = symmetric_infonce(sim, big, 10.0)
    assert clamped.item() == pytest.approx(math.log(1 + math.exp(-10)))
    clamped.backward()
    assert big.grad == 0  # clamped: the scale no longer moves


def test_kl_hand_value_mask_and_gradient():
    # p_s = softmax([0, ln 3]) = [1/4, 3/4]; p_t = [1/2, 1/2]; the third entry is masked
    s = _row([0.0, math.log(3.0), 50.0])
    t = torch.tensor([[0.0, 0.0, -50.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True, False]])
    loss = kl_rows(s, t, mask, 1.0, 1.0)
    assert loss.item() == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3))
    loss.backward()
    assert s.grad[0, 1] > 0 and s.grad[0, 0] < 0 and s.grad[0, 2] == 0
    assert s.grad[0, 1].item() == pytest.approx(0.25)  # p_s - p_t


def test_kl_temperatures_scale_logits():
    s = _row([0.0, math.log(3.0) * 0.5])
    t = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    loss = kl_rows(s, t, torch.ones(1, 2, dtype=torch.bool), 0.5, 2.0)
    assert loss.item() == pytest.approx(0.5 * math.log(4 / 3))


def test_soft_ce_hand_value_and_gradient():
    s = _row([0.0, math.log(3.0)])
    t = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    loss = soft_ce_rows(s, t, torch.ones(1, 2, dtype=torch.bool), 1.0, 1.0)
    assert loss.item() == pytest.approx(-0.5 * math.log(0.25) - 0.5 * math.log(0.75))
    loss.backward()
    assert s.grad[0, 1] > 0


def test_pearson_hand_value_and_gradient():
    # p_s = [1/4, 1/4, 1/2], p_t = [1/2, 1/4, 1/4]: centred dot -1/48, norms^2 1/24 -> rho = -1/2
    s = _row([0.0, 0.0, math.log(2.0)])
    t = torch.tensor([[math.log(2.0), 0.0, 0.0]], dtype=torch.float64)
    loss = pearson_rows(s, t, torch.ones(1, 3, dtype=torch.bool), 1.0, 1.0)
    assert loss.item() == pytest.approx(1.5)
    loss.backward()
    assert s.grad[0, 2] > 0 and s.grad[0, 0] < 0  # move mass from entry 2 to entry 0
    same = pearson_rows(t.clone(), t, torch.ones(1, 3, dtype=torch.bool), 1.0, 1.0)
    assert same.item() == pytest.approx(0.0, abs=1e-6)


def test_smoothl1_hand_value_and_gradient():
    s = _row([0.0, 0.5, 9.0])
    t = torch.tensor([[0.05, -0.5, 0.0]], dtype=torch.float64)
    loss = smoothl1_entries(s, t, torch.tensor([[True, True, False]]), beta=0.1)
    assert loss.item() == pytest.approx((0.5 * 0.05**2 / 0.1 + (1.0 - 0.05)) / 2)
    loss.backward()
    assert s.grad[0, 1] > 0 and s.grad[0, 0] < 0 and s.grad[0, 2] == 0


def test_margin_mse_hand_value_and_gradient():
    s = torch.tensor([[0.9, 0.1], [0.2, 0.8]], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=torch.float64)
    loss = margin_mse_rows(s, t, torch.ones(2, 2, dtype=torch.bool), torch.arange(2))
    assert loss.item() == pytest.approx((0.3**2 + 0.4**2) / 2)
    loss.backward()
    assert s.grad[0, 0] > 0 and s.grad[1, 1] < 0


def test_frame_ce_hand_value_and_gradient_through_logits():
    logits = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, True, False]])
    weights = torch.softmax(logits.masked_fill(~mask, float("-inf")), -1)  # [1/2, 1/2, 0]
    rel = torch.tensor([[0.0, math.log(3.0), 7.0]], dtype=torch.float64)  # q = [1/4, 3/4]
    loss = frame_ce(weights, rel, mask, temperature=1.0)
    assert loss.item() == pytest.approx(math.log(2.0))
    loss.backward()
    assert logits.grad[0, 1] < 0 and logits.grad[0, 0] > 0  # raise the relevant frame
    assert logits.grad[0, 1].item() == pytest.approx(-0.25)


def test_rows_without_teacher_entries_give_a_zero_in_the_graph():
    s = _row([0.3, 0.1])
    loss = kl_rows(s, torch.zeros(1, 2, dtype=torch.float64), torch.zeros(1, 2, dtype=torch.bool), 1.0, 1.0)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.all(s.grad == 0)


def _outputs(sim):
    return StudentOutputs(None, None, sim, torch.zeros(()), None)


class _Batch:
    def __init__(self, scores):
        self.teacher_scores = scores


def test_teacher_aggregation_modes():
    torch.manual_seed(0)
    sim = torch.randn(3, 3, dtype=torch.float64)
    a = torch.randn(3, 3, dtype=torch.float64)
    b = torch.randn(3, 3, dtype=torch.float64)
    b[0, 2] = float("nan")  # b did not score one pair
    batch = _Batch(torch.stack([a, b]))
    temps = {"a": 0.5, "b": 0.25}
    eye = torch.ones(3, 3, dtype=torch.bool)

    def directed(t, tau, mask):
        return (kl_rows(sim, t, mask, 0.1, tau) + kl_rows(sim.T, t.T, mask.T, 0.1, tau)) / 2

    mask_b = ~torch.isnan(b)
    la = directed(a, 0.5, eye)
    lb = directed(torch.nan_to_num(b), 0.25, mask_b)
    common = dict(teachers=["a", "b"], teacher_temperatures=temps, student_temperature=0.1)
    mean_loss = KLDistillation(aggregation="mean_loss", **common)(_outputs(sim), batch)["kl_distill_loss"]
    assert mean_loss.item() == pytest.approx(((la + lb) / 2).item())
    weighted = KLDistillation(aggregation="weighted", teacher_weights={"a": 2.0, "b": 0.0}, weight=3.0, **common)
    assert weighted(_outputs(sim), batch)["kl_distill_loss"].item() == pytest.approx(6 * la.item())
    # mean_matrix averages teacher logits; where only a scored, a alone counts
    avg = torch.where(mask_b, (a / 0.5 + torch.nan_to_num(b) / 0.25) / 2, a / 0.5)
    mm = KLDistillation(aggregation="mean_matrix", **common)(_outputs(sim), batch)["kl_distill_loss"]
    assert mm.item() == pytest.approx(directed(avg, 1.0, eye).item())


def test_directions_read_rows_and_columns():
    torch.manual_seed(1)
    sim = torch.randn(3, 3, dtype=torch.float64)
    t = torch.randn(1, 3, 3, dtype=torch.float64)
    ones = torch.ones(3, 3, dtype=torch.bool)
    opts = dict(teacher_temperatures={"x": 0.5}, student_temperature=0.2)
    t2v = PearsonDistillation(["x"], directions=("t2v",), **opts)(_outputs(sim), _Batch(t))["pearson_distill_loss"]
    v2t = PearsonDistillation(["x"], directions=("v2t",), **opts)(_outputs(sim), _Batch(t))["pearson_distill_loss"]
    both = PearsonDistillation(["x"], **opts)(_outputs(sim), _Batch(t))["pearson_distill_loss"]
    assert t2v.item() == pytest.approx(pearson_rows(sim, t[0], ones, 0.2, 0.5).item())
    assert v2t.item() == pytest.approx(pearson_rows(sim.T, t[0].T, ones, 0.2, 0.5).item())
    assert t2v.item() != pytest.approx(v2t.item())
    assert both.item() == pytest.approx((t2v.item() + v2t.item()) / 2)


def test_zscore_makes_teacher_scales_irrelevant():
    torch.manual_seed(2)
    sim = torch.randn(4, 4, dtype=torch.float64)
    t = torch.randn(4, 4, dtype=torch.float64)
    t[1, 3] = float("nan")
    opts = dict(teacher_temperatures={"x": 0.5}, student_temperature=0.2, teacher_norm="zscore")
    small = KLDistillation(["x"], **opts)(_outputs(sim), _Batch(t[None]))["kl_distill_loss"]
    big = KLDistillation(["x"], **opts)(_outputs(sim), _Batch(100 * t[None] + 3))["kl_distill_loss"]
    assert small.item() == pytest.approx(big.item())
    # and it is the plain loss on standardised rows
    row = t[0]
    z = (row - row.mean()) / row.std(unbiased=False)
    ones = torch.ones(1, 4, dtype=torch.bool)
    t2v_row0 = kl_rows(sim[:1], z[None], ones, 0.2, 0.5)
    only_row0 = KLDistillation(["x"], directions=("t2v",), **opts)(_outputs(sim[:1]), _Batch(t[None, :1]))
    assert only_row0["kl_distill_loss"].item() == pytest.approx(t2v_row0.item(), rel=1e-5)


def test_registry_names_every_loss_module():
    assert set(LOSSES) == {"infonce", "kl", "pearson", "soft_ce", "smoothl1", "margin_mse", "listwise", "bank", "frame_ce",
                           "relational", "rkd_distance", "rkd_angle", "discrimination"}
    for cls in LOSSES.values():
        assert "Reference" in (cls.__doc__ or "")
