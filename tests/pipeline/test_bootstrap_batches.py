"""Batch composition of the bootstrap trainer (pipeline/bootstrap/batches.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.bootstrap import BootstrapOptionsError, parse_options
from pipeline.bootstrap.batches import BatchPlan, caption_words, nearest_videos


def _ids(captions: list[list[int]], width: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.zeros(len(captions), width, dtype=torch.long)
    mask = torch.zeros(len(captions), width, dtype=torch.long)
    for i, c in enumerate(captions):
        ids[i, : len(c)] = torch.tensor(c)
        mask[i, : len(c)] = 1
    return ids, mask


def test_nearest_video_shares_the_rare_words_and_ignores_the_common_ones():
    # token 1 and 2 (BOS, EOS) in every caption; video 0 and 2 say the same words in another order
    captions = [[1, 5, 6, 7, 2], [1, 8, 9, 2], [1, 7, 6, 5, 2], [1, 8, 10, 2], [1, 11, 12, 2]]
    ids, mask = _ids(captions)
    words = caption_words(ids, mask, np.arange(5), 5)
    assert np.allclose(np.linalg.norm(words, axis=1), 1.0)
    assert words[:, 1].max() == 0 and words[:, 2].max() == 0  # in every video: no weight
    assert nearest_videos(words).tolist()[:4] == [2, 3, 0, 1]
    assert nearest_videos(words, chunk=2).tolist() == nearest_videos(words).tolist()


def test_similar_batches_pair_neighbours_and_keep_videos_distinct():
    neighbours = np.array([1, 0, 3, 2, 5, 4, 7, 6, 9, 8])
    plan = BatchPlan(10, 4, np.random.default_rng(0), neighbours)
    seen = []
    for _ in range(50):
        batch = next(plan)
        assert len(batch) == 4 and len(set(batch.tolist())) == 4
        assert all(int(neighbours[v]) in batch for v in batch)  # every pair whole: 4 = 2 pairs
        seen += batch.tolist()
    assert set(seen) == set(range(10))
    random = BatchPlan(10, 4, np.random.default_rng(0))
    batches = [next(random) for _ in range(4)]  # an epoch of 2 whole batches, then a new order
    assert sorted(np.concatenate(batches[:2]).tolist()) != list(range(10))
    assert len(set(np.concatenate(batches[:2]).tolist())) == 8


def test_batch_sampling_option_validates_and_fingerprints_only_when_set():
    base = parse_options({"objective": "mean"})
    assert base.batch_sampling == "random"
    similar = parse_options({"objective": "mean", "batch_sampling": "similar"})
    assert similar.fingerprint() != base.fingerprint()
    assert parse_options({"objective": "mean", "batch_sampling": "random"}).fingerprint() == base.fingerprint()
    with pytest.raises(BootstrapOptionsError, match="teachers.bootstrap.batch_sampling must be one of"):
        parse_options({"objective": "mean", "batch_sampling": "hard"})
