"""The relational losses against hand computations from the vectors themselves, masking and aggregation."""

import doctest
import importlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from student.losses import RELATIONAL_LOSSES, relational_kl, rkd_angle, rkd_distance, structure_discrimination
from student.losses.discrimination import StructureDiscrimination
from student.losses.intra import gram_mask
from student.losses.relational import RelationalKL
from student.losses.rkd_angle import gram_angles


def _unit(n, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=-1)


def _softmax_off_diagonal(m, tau):
    out = np.zeros_like(m)
    for i in range(len(m)):
        others = [j for j in range(len(m)) if j != i]
        e = np.exp(m[i, others] / tau)
        out[i, others] = e / e.sum()
    return out


def test_relational_kl_hand_value_over_the_other_instances():
    s, t = _unit(4, seed=1), _unit(4, seed=2)
    S, T = (s @ s.T), (t @ t.T)
    got = relational_kl(S, T, gram_mask(T), 0.1, 0.2)
    ps, pt = _softmax_off_diagonal(S.numpy(), 0.1), _softmax_off_diagonal(T.numpy(), 0.2)
    off = ~np.eye(4, dtype=bool)
    expected = (pt[off] * (np.log(pt[off]) - np.log(ps[off]))).sum() / 4
    assert got.item() == pytest.approx(expected, rel=1e-9)
    assert relational_kl(T, T, gram_mask(T), 0.2, 0.2).item() == pytest.approx(0.0, abs=1e-12)


def test_rkd_distance_from_the_gram_matrix_equals_distances_of_the_vectors():
    s, t = _unit(5, seed=3), _unit(5, seed=4)
    mask = gram_mask(t @ t.T)
    got = rkd_distance(s @ s.T, t @ t.T, mask)
    pairs = [(i, j) for i in range(5) for j in range(5) if i != j]
    ds = np.array([np.linalg.norm(s[i] - s[j]) for i, j in pairs])
    dt = np.array([np.linalg.norm(t[i] - t[j]) for i, j in pairs])
    x = np.abs(ds / ds.mean() - dt / dt.mean())
    expected = np.where(x < 1.0, 0.5 * x**2, x - 0.5).mean()  # Huber, delta = 1
    assert got.item() == pytest.approx(expected, rel=1e-7)
    # distances only up to scale: twice as far apart (same angles) is no loss
    assert rkd_distance(t @ t.T, t @ t.T, mask).item() == pytest.approx(0.0, abs=1e-12)


def test_rkd_angle_from_the_gram_matrix_equals_angles_of_the_vectors():
    s, t = _unit(4, seed=5), _unit(4, seed=6)
    ang = gram_angles(s @ s.T)
    for i, j, k in [(0, 1, 2), (3, 0, 1), (2, 3, 0)]:
        e1 = (s[i] - s[j]) / torch.linalg.norm(s[i] - s[j])
        e2 = (s[k] - s[j]) / torch.linalg.norm(s[k] - s[j])
        assert ang[i, j, k].item() == pytest.approx(float(e1 @ e2), rel=1e-9)
    mask = gram_mask(t @ t.T)
    got = rkd_angle(s @ s.T, t @ t.T, mask)
    ta = gram_angles(t @ t.T)
    trip = [(i, j, k) for i in range(4) for j in range(4) for k in range(4) if len({i, j, k}) == 3]
    x = np.array([abs(ang[i, j, k].item() - ta[i, j, k].item()) for i, j, k in trip])
    assert got.item() == pytest.approx(np.where(x < 1.0, 0.5 * x**2, x - 0.5).mean(), rel=1e-7)


def test_discrimination_counts_only_clearly_ordered_triplets_and_pushes_them_apart():
    t = torch.tensor([[1.0, 0.9, 0.1], [0.9, 1.0, 0.2], [0.1, 0.2, 1.0]], dtype=torch.float64)
    s = torch.tensor([[1.0, 0.3, 0.5], [0.3, 1.0, 0.4], [0.5, 0.4, 1.0]], dtype=torch.float64, requires_grad=True)
    loss = structure_discrimination(s, t, gram_mask(t), margin=0.1, gap=0.5)
    # anchor 0: 1 closer than 2 by 0.8 -> relu(0.1 - (0.3 - 0.5)) = 0.3; anchor 1: 0 vs 2 -> 0.2;
    # anchor 2: 1 vs 0 differ by 0.1 < gap -> no triplet
    assert loss.item() == pytest.approx(0.25)
    loss.backward()
    assert s.grad[0, 1] < 0 and s.grad[0, 2] > 0  # pull the teacher's neighbour closer, push the other away
    assert s.grad[2].abs().sum() == 0
    assert structure_discrimination(s, t, gram_mask(t), margin=0.1, gap=0.95).item() == 0.0


def _batch(*teachers):
    grams = torch.stack([x @ x.T for x in teachers])
    return SimpleNamespace(teacher_video_sims=grams, teacher_caption_sims=grams.flip(0))


@pytest.mark.parametrize("kind", sorted(RELATIONAL_LOSSES) + ["discrimination"])
def test_a_teacher_without_an_embedding_is_the_loss_of_the_batch_without_it(kind):
    cls = RELATIONAL_LOSSES.get(kind, StructureDiscrimination)
    opts = {"gap": 0.1} if kind == "discrimination" else {}
    s, t = _unit(5, seed=7), _unit(5, seed=8)
    out = SimpleNamespace(video=s, text=s)
    full = _batch(t)
    full.teacher_video_sims[0, 2, :] = float("nan")  # video 2 has no teacher embedding
    full.teacher_video_sims[0, :, 2] = float("nan")
    keep = [0, 1, 3, 4]
    loss = cls(["a"], modalities=("video",), **opts)
    sub = cls(["a"], modalities=("video",), **opts)(SimpleNamespace(video=s[keep], text=s[keep]), _batch(t[keep]))
    assert loss(out, full)[f"{loss.name}_distill_loss"].item() == pytest.approx(
        sub[f"{loss.name}_distill_loss"].item(), rel=1e-9)


def test_teachers_aggregate_as_the_coarse_losses_do():
    s, a, b = _unit(4, seed=9), _unit(4, seed=10), _unit(4, seed=11)
    out = SimpleNamespace(video=s, text=s)
    batch = _batch(a, b)
    one = {t: RelationalKL([t], teacher_index={t: i}, student_temperature=0.1, teacher_temperatures={t: 0.2})(
        out, batch)["relational_distill_loss"].item() for i, t in enumerate("ab")}
    opts = dict(student_temperature=0.1, teacher_temperatures={"a": 0.2, "b": 0.2})
    mean_loss = RelationalKL(["a", "b"], aggregation="mean_loss", **opts)(out, batch)
    assert mean_loss["relational_distill_loss"].item() == pytest.approx((one["a"] + one["b"]) / 2)
    weighted = RelationalKL(["a", "b"], aggregation="weighted", teacher_weights={"a": 2.0, "b": 0.5}, **opts)(out, batch)
    assert weighted["relational_distill_loss"].item() == pytest.approx(2.0 * one["a"] + 0.5 * one["b"])
    # mean_matrix: one loss on the mean of the teacher logits (T_k / tau_k)
    merged = RelationalKL(["a", "b"], aggregation="mean_matrix", **opts)(out, batch)["relational_distill_loss"]
    mean_gram = {m: (batch.teacher_video_sims if m == "video" else batch.teacher_caption_sims).mean(0) / 0.2
                 for m in ("video", "caption")}
    expected = np.mean([relational_kl(s @ s.T, mean_gram[m], gram_mask(mean_gram[m]), 0.1, 1.0).item()
                        for m in ("video", "caption")])
    assert merged.item() == pytest.approx(expected)


def test_relational_kl_moves_the_student_towards_the_teachers_structure():
    torch.manual_seed(0)
    t = _unit(6, seed=12).float()
    x = torch.randn(6, 6, requires_grad=True)
    loss = RelationalKL(["t"], teacher_temperatures={"t": 0.1})
    batch = _batch(t)
    opt = torch.optim.SGD([x], lr=0.5)
    first = None
    for _ in range(100):
        v = F.normalize(x, dim=-1)
        value = loss(SimpleNamespace(video=v, text=v), batch)["relational_distill_loss"]
        first = value.item() if first is None else first
        opt.zero_grad()
        value.backward()
        opt.step()
    assert value.item() < 0.2 * first


@pytest.mark.parametrize("module", ["relational", "rkd_distance", "rkd_angle", "discrimination"])
def test_each_loss_module_carries_a_runnable_example(module):
    mod = importlib.import_module(f"student.losses.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
