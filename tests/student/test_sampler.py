"""Teacher-guided batches (coverage against random ones) and the listwise loss."""

import json

import numpy as np
import pytest
import torch

import stores
from stores.splits import split_pairs
from student.data import batch_order
from student.knowledge import MatrixReader
from student.losses.listwise import ListwiseDistillation, listwise_kl, top_mask
from student.sampler import coverage, guided_order


@pytest.fixture(scope="module")
def csr_and_rows(topk_store, tmp_path_factory):
    with stores.connect(topk_store) as con:
        pairs = [(c, v) for c, v, _ in split_pairs(con, "train")]
    videos = sorted({v for _, v in pairs})
    reader = MatrixReader(str(topk_store), "train", ["topk_t"], [], pairs, videos, tmp_path_factory.mktemp("cache"))
    col = {v: j for j, v in enumerate(videos)}
    return reader.sparse("topk_t"), np.array([col[v] for _, v in pairs], dtype=np.int64)


def test_guided_batches_cover_more_than_random_ones(csr_and_rows):
    csr, video_rows = csr_and_rows
    guided = guided_order(video_rows, 4, 60, 0, csr, anchors=1)
    random = batch_order(video_rows, 4, 60, 0)
    assert all(len(b) == 4 and len(set(video_rows[b].tolist())) == 4 for b in guided)  # no video twice
    for b in guided[:10]:  # the anchor's best-scored other videos follow it (while they fit in the batch)
        anchor_top = [int(v) for v in csr.top(int(b[0]), 3) if v != video_rows[b[0]]]
        assert video_rows[b[1]] == anchor_top[0]
    g, r = coverage(csr, guided, video_rows), coverage(csr, random, video_rows)
    # random: the diagonal plus about (k - 1) / (V - 1) of the rest; guided: anchor rows too
    assert r == pytest.approx(0.25 + 0.75 * 2 / 11, abs=0.06)
    assert g > r + 0.05  # about 0.48: one anchor row of four is 3/4 scored instead of ~0.39
    assert [b.tolist() for b in guided_order(video_rows, 4, 60, 0, csr, anchors=1)] == [b.tolist() for b in guided]


def test_listwise_kl_by_hand():
    s = torch.tensor([[1.0, 0.0, 2.0, 5.0]])
    t = torch.tensor([[2.0, 1.0, 0.0, 9.0]])
    mask = torch.tensor([[True, True, True, False]])  # the fourth video is no candidate
    pt = torch.softmax(torch.tensor([2.0, 1.0, 0.0]) / 0.5, 0)
    ps = torch.softmax(torch.tensor([1.0, 0.0, 2.0]) / 0.1, 0)
    expect = (pt * (pt.log() - ps.log())).sum()
    assert listwise_kl(s, t, mask, 0.1, 0.5).item() == pytest.approx(expect.item(), rel=1e-5)
    # top = 2: only the two best-scored candidates stay
    assert top_mask(t, mask, 2).tolist() == [[True, True, False, False]]
    pt2, ps2 = torch.softmax(torch.tensor([2.0, 1.0]) / 0.5, 0), torch.softmax(torch.tensor([1.0, 0.0]) / 0.1, 0)
    assert listwise_kl(s, t, mask, 0.1, 0.5, top=2).item() == pytest.approx(
        (pt2 * (pt2.log() - ps2.log())).sum().item(), rel=1e-5)
    # a one-candidate row has nothing to rank: a graph-connected zero
    one = listwise_kl(s.requires_grad_(), t, torch.tensor([[True, False, False, False]]), 0.1, 0.5)
    assert one.item() == 0.0 and one.requires_grad


def test_listwise_module_reads_the_nan_masked_batch():
    class Out:
        sim = torch.tensor([[0.9, 0.1], [0.2, 0.8]])

    class Batch:
        teacher_scores = torch.tensor([[[0.5, float("nan")], [0.1, 1.5]]])

    parts = ListwiseDistillation(["r"], teacher_temperatures={"r": 1.0}, student_temperature=1.0,
                                 directions=("t2v",))(Out(), Batch())
    # row 0 has one candidate (dropped); row 1: KL over both entries
    pt, ps = torch.softmax(torch.tensor([0.1, 1.5]), 0), torch.softmax(torch.tensor([0.2, 0.8]), 0)
    assert parts["listwise_distill_loss"].item() == pytest.approx((pt * (pt.log() - ps.log())).sum().item(), rel=1e-5)


def test_training_on_guided_batches_logs_coverage(topk_store, synthetic_store, tiny_config, tmp_path):
    from student.train import train

    _, tok, _ = synthetic_store
    coverages = {}
    for sampler in ("random", "guided"):
        cfg = tiny_config(topk_store, tok, tmp_path / "cache", tmp_path / "runs", **{
            "output.name": sampler, "data.sampler": sampler, "data.guided_anchors": 1, "train.steps": 6,
            "loss.coarse": {"kind": "listwise", "teachers": ["topk_t"], "directions": ["t2v"]},
            "loss.fine": {"weight": 0.0}})
        result = train(cfg)
        coverages[sampler] = result.timings["teacher_coverage"]["topk_t"]
        rows = [json.loads(line) for line in (result.folder / "train_log.jsonl").read_text().splitlines()]
        assert all(0 < r["coverage/topk_t"] <= 1 for r in rows if "loss" in r)
        assert np.isfinite(result.last_loss)
    assert coverages["guided"] > coverages["random"]
