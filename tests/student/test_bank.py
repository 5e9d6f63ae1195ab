"""The bank term: teacher rows over every train video against a bank of the student's video
vectors (student/losses/bank.py), the reader's whole rows, the config and a training run."""

import json
import math

import numpy as np
import pytest
import torch

import stores
from teachkit.util.config import ConfigError
from stores.splits import split_pairs
from student.knowledge import MatrixReader
from student.losses import BankDistillation, bank_targets, pearson_rows
from student.model import StudentOutputs
from student.train import train
from teachkit_fixtures.experiment import tiny_experiment
from teachkit_fixtures.store import TOPK_K

from .test_knowledge import _matrix_reader


class _Batch:
    def __init__(self, rows, columns, teacher_columns=None, caption_rows=None):
        self.teacher_rows = rows
        self.video_columns = torch.tensor(columns)
        self.teacher_columns = teacher_columns
        self.caption_rows = None if caption_rows is None else torch.tensor(caption_rows)


def _unit(x):
    return torch.nn.functional.normalize(x, dim=-1)


def test_bank_targets_hand_values():
    # teacher 0 scores [1, 2, 3] (z = [-1.2247, 0, 1.2247]) at tau 0.5; teacher 1 scores only
    # the first two, [0, 4] (z = [-1, 1]) at tau 1; nobody scores the fourth video
    nan = float("nan")
    rows = torch.tensor([[[1.0, 2.0, 3.0, nan]], [[0.0, 4.0, nan, nan]]])
    got = bank_targets(rows, torch.tensor([0.5, 1.0]))
    z = math.sqrt(1.5)
    expect = [(-z / 0.5 - 1) / 2, (0 + 1) / 2, z / 0.5]
    assert got[0, :3].tolist() == pytest.approx(expect, rel=1e-5)
    assert torch.isnan(got[0, 3])


def test_first_step_reads_only_the_batch_videos_and_trains_both_towers():
    torch.manual_seed(0)
    text = _unit(torch.randn(2, 4)).requires_grad_()
    video = _unit(torch.randn(2, 4)).requires_grad_()
    rows = torch.randn(1, 2, 5)  # 2 captions over 5 train videos; the batch holds videos 3 and 1
    loss_fn = BankDistillation(["t"], weight=2.0, teacher_temperatures={"t": 0.5}, student_temperature=0.1)
    parts = loss_fn(StudentOutputs(text, video, text @ video.T, torch.zeros(()), None), _Batch(rows, [3, 1]))
    # the bank is empty: the row is the batch's two videos, in their slots
    s = torch.zeros(2, 5)
    s[:, [3, 1]] = text @ video.T
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[:, [3, 1]] = True
    expect = 2.0 * pearson_rows(s, bank_targets(rows, torch.tensor([0.5])), mask, 0.1, 1.0)
    assert parts["bank_distill_loss"].item() == pytest.approx(expect.item(), rel=1e-5)
    assert parts["bank/videos_filled"].item() == pytest.approx(2 / 5)
    parts["bank_distill_loss"].backward()
    assert text.grad.abs().sum() > 0 and video.grad.abs().sum() > 0
    bank = loss_fn.videos
    assert torch.equal(bank.vectors[[3, 1]], video.detach()) and bank.filled.tolist() == [False, True, False, True, False]


def test_the_bank_serves_earlier_videos_without_gradient():
    torch.manual_seed(1)
    loss_fn = BankDistillation(["t"], teacher_temperatures={"t": 1.0}, student_temperature=0.1)
    first = _unit(torch.randn(2, 4))
    t1 = _unit(torch.randn(2, 4))
    loss_fn(StudentOutputs(t1, first, t1 @ first.T, torch.zeros(()), None), _Batch(torch.randn(1, 2, 5), [0, 1]))
    text = _unit(torch.randn(2, 4)).requires_grad_()
    video = _unit(torch.randn(2, 4)).requires_grad_()
    rows = torch.randn(1, 2, 5)
    parts = loss_fn(StudentOutputs(text, video, text @ video.T, torch.zeros(()), None), _Batch(rows, [2, 1]))
    # slot 0 holds the first batch's vector, slots 2 and 1 this batch's, slots 3 and 4 nothing
    s = torch.zeros(2, 5)
    s[:, [2, 1]] = text @ video.T
    s[:, 0] = text @ first[0]
    mask = torch.tensor([[True, True, True, False, False]] * 2)
    expect = pearson_rows(s, bank_targets(rows, torch.tensor([1.0])), mask, 0.1, 1.0)
    assert parts["bank_distill_loss"].item() == pytest.approx(expect.item(), rel=1e-5)
    assert parts["bank/videos_filled"].item() == pytest.approx(3 / 5)
    bank = loss_fn.videos
    assert not bank.vectors.requires_grad
    assert torch.equal(bank.vectors[0], first[0]) and torch.equal(bank.vectors[1], video[1].detach())


def test_v2t_rows_are_videos_over_a_bank_of_captions_and_the_directions_add():
    torch.manual_seed(2)
    text = _unit(torch.randn(2, 4))
    video = _unit(torch.randn(2, 4))
    rows, columns = torch.randn(1, 2, 5), torch.randn(1, 2, 6)  # 5 train videos, 6 train captions
    batch = _Batch(rows, [4, 0], columns, [5, 2])
    outputs = StudentOutputs(text, video, text @ video.T, torch.zeros(()), None)
    both = BankDistillation(["t"], directions=("t2v", "v2t"))(outputs, batch)
    t2v = BankDistillation(["t"], directions=("t2v",))(outputs, batch)["bank_distill_loss"]
    v2t = BankDistillation(["t"], directions=("v2t",))(outputs, batch)
    s = torch.zeros(2, 6)
    s[:, [5, 2]] = video @ text.T
    mask = torch.zeros(2, 6, dtype=torch.bool)
    mask[:, [5, 2]] = True
    expect = pearson_rows(s, bank_targets(columns, torch.tensor([1.0])), mask, 0.05, 1.0)
    assert v2t["bank_distill_loss"].item() == pytest.approx(expect.item(), rel=1e-5)
    assert v2t["bank/captions_filled"].item() == pytest.approx(2 / 6) and "bank/videos_filled" not in v2t
    assert both["bank_distill_loss"].item() == pytest.approx(t2v.item() + v2t["bank_distill_loss"].item(), rel=1e-5)


def test_a_batch_without_rows_is_refused():
    class NoRows:
        teacher_rows = None
        video_columns = None

    v = _unit(torch.randn(2, 4))
    with pytest.raises(ValueError, match="teacher_rows"):
        BankDistillation(["t"])(StudentOutputs(v, v, v @ v.T, torch.zeros(()), None), NoRows())


def test_full_rows_are_the_stored_scores_over_every_video(topk_store, tmp_path):
    store = topk_store
    reader = _matrix_reader(store, tmp_path, ["fine_t", "sparse_t", "topk_t"], [])
    with stores.connect(store) as con:
        pairs = [(c, v) for c, v, _ in split_pairs(con, "train")]
        videos = sorted({v for _, v in pairs})
        captions = [pairs[0][0], pairs[-1][0], pairs[3][0]]
        rows = reader.full_rows(captions)
        assert rows.shape == (3, 3, len(videos))
        for k, teacher in enumerate(["fine_t", "sparse_t", "topk_t"]):
            for i, c in enumerate(captions):
                stored = dict(con.execute("SELECT video_id, score FROM scores WHERE teacher = ? AND split = 'train' "
                                          "AND caption_id = ?", [teacher, c]).fetchall())
                for j, v in enumerate(videos):
                    if v in stored:
                        assert rows[k, i, j] == pytest.approx(stored[v], abs=1e-3)
                    else:
                        assert np.isnan(rows[k, i, j])
        assert (~np.isnan(rows[2])).sum(1).tolist() == [TOPK_K] * 3  # a topk teacher: its k entries per row
        assert np.isnan(rows[1]).any() and not np.isnan(rows[0]).any()

        # by video: every caption's score with each video, the same entries read the other way
        with pytest.raises(ValueError, match="columns=True"):
            reader.full_columns(videos[:1])
        by_video = MatrixReader(str(store), "train", ["fine_t", "sparse_t", "topk_t"], [], pairs, videos, tmp_path,
                                columns=True)
        picked = [videos[2], videos[0], videos[-1]]
        cols = by_video.full_columns(picked)
        assert cols.shape == (3, 3, len(pairs))
        full = by_video.full_rows([c for c, _ in pairs])  # (K, C, V)
        expect = full[:, :, [videos.index(v) for v in picked]].transpose(0, 2, 1)
        assert np.array_equal(np.isnan(cols), np.isnan(expect))
        assert np.allclose(np.nan_to_num(cols), np.nan_to_num(expect))
        assert (~np.isnan(cols[2])).sum() > 0  # the topk teacher scored some captions of these videos


def test_bank_needs_the_matrix_source_and_a_non_negative_weight(synthetic_store, tmp_path):
    store, tok, _ = synthetic_store
    with pytest.raises(ConfigError, match="teacher_source = 'matrix'"):
        tiny_experiment(store, tok, tmp_path / "c", tmp_path / "r", **{"loss.coarse.bank_weight": 1.0,
                                                                       "data.teacher_source": "window"})
    with pytest.raises(ConfigError, match="bank_weight must be >= 0"):
        tiny_experiment(store, tok, tmp_path / "c", tmp_path / "r", **{"loss.coarse.bank_weight": -1.0})
    off = tiny_experiment(store, tok, tmp_path / "c", tmp_path / "r", **{"loss.coarse.bank_weight": 1.0,
                                                                         "loss.coarse.kind": "none"})
    assert not off.loss.coarse.bank  # the bank reads the coarse teachers: off with them


@pytest.mark.parametrize("workers", [0, 2])
def test_a_run_with_the_bank_logs_its_term_and_fills_the_bank(synthetic_store, tmp_path, workers):
    store, tok, _ = synthetic_store
    cfg = tiny_experiment(store, tok, tmp_path / "cache", tmp_path / "runs",
                          **{"loss.coarse.bank_weight": 1.0, "train.steps": 6, "data.num_workers": workers})
    result = train(cfg)
    rows = [json.loads(line) for line in (result.folder / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "bank_distill_loss" in r]
    assert len(steps) == 6 and all(math.isfinite(r["bank_distill_loss"]) for r in steps)
    with stores.connect(store) as con:
        pairs = split_pairs(con, "train")
    n_videos, n_captions = len({v for _, v, _ in pairs}), len(pairs)
    # batches of 4 distinct videos and captions: after the first step 4 slots of each are known, then more
    assert steps[0]["bank/videos_filled"] == pytest.approx(4 / n_videos)
    assert steps[0]["bank/captions_filled"] == pytest.approx(4 / n_captions)
    assert steps[-1]["bank/videos_filled"] > steps[0]["bank/videos_filled"]
    assert steps[-1]["bank/captions_filled"] > steps[0]["bank/captions_filled"]
