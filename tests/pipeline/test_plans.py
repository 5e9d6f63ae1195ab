"""pipeline.plans: the topk candidates are the exact top-k by inner product plus the positive."""

from __future__ import annotations

import numpy as np

from pipeline.plans import build_index, topk_candidates


def _unit(rng, n, d=6):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_topk_is_the_exact_top_k_then_the_missing_positive():
    rng = np.random.default_rng(0)
    videos, queries = _unit(rng, 20), _unit(rng, 7)
    sims = queries @ videos.T
    ranked = np.argsort(-sims, axis=1)
    # positives: for some queries inside their top-3, for others far outside
    positives = np.array([ranked[0, 0], ranked[1, 2], ranked[2, 19], ranked[3, 10], ranked[4, 3], 0, 19])
    cands = topk_candidates(build_index(videos), queries, positives, k=3)
    assert cands.shape == (7, 4)
    for i in range(7):
        assert list(cands[i, :3]) == list(ranked[i, :3])
        in_top = positives[i] in ranked[i, :3]
        assert cands[i, 3] == (-1 if in_top else positives[i])
        got = set(cands[i][cands[i] >= 0])
        assert got == set(ranked[i, :3]) | {positives[i]}
        assert len(got) == (3 if in_top else 4)


def test_k_larger_than_the_split_keeps_every_video_once():
    rng = np.random.default_rng(1)
    videos, queries = _unit(rng, 4), _unit(rng, 3)
    cands = topk_candidates(build_index(videos), queries, np.array([0, 1, 2]), k=50)
    assert cands.shape == (3, 5)
    for row in cands:
        assert sorted(row[row >= 0]) == [0, 1, 2, 3]
