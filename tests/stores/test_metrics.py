"""Retrieval metrics on matrices whose ranks are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from stores.metrics import format_table, retrieval_metrics, t2v_ranks, v2t_ranks

# captions c0..c3; c0 and c1 describe v0, c2 describes v1, c3 describes v2
SIM = np.array(
    [
        [0.9, 0.1, 0.2],  # c0: v0 first            -> t2v rank 1
        [0.5, 0.6, 0.1],  # c1: v1 beats v0          -> rank 2
        [0.3, 0.2, 0.4],  # c2: v1 last              -> rank 3
        [0.1, 0.0, 0.8],  # c3: v2 first             -> rank 1
    ]
)
GT = np.array([0, 0, 1, 2])


def test_t2v_ranks_and_summary():
    np.testing.assert_array_equal(t2v_ranks(SIM, GT), [1, 2, 3, 1])
    m = retrieval_metrics(SIM, GT, ks=(1, 2, 5))["t2v"]
    assert m == {"R@1": 50.0, "R@2": 75.0, "R@5": 100.0, "MdR": 1.5, "MnR": 1.75}


def test_v2t_with_several_captions_per_video_takes_the_best():
    # v0's column: c0 0.9 (rank 1), c1 0.5 (rank 2) -> 1; v1's: c2 0.2 behind c1 0.6 -> 2; v2's: c3 -> 1
    np.testing.assert_array_equal(v2t_ranks(SIM, GT), [1, 2, 1])
    m = retrieval_metrics(SIM, GT)["v2t"]
    assert m["R@1"] == pytest.approx(200 / 3) and m["R@5"] == 100.0
    assert m["MdR"] == 1.0 and m["MnR"] == pytest.approx(4 / 3)


def test_ties_count_against_the_query_and_nan_ranks_last():
    m = retrieval_metrics(np.zeros((3, 3)), np.arange(3))
    assert m["t2v"]["R@1"] == 0.0 and m["t2v"]["MdR"] == 3.0 and m["v2t"]["MnR"] == 3.0
    sim = np.array([[np.nan, 0.1, -5.0], [0.2, 0.3, np.nan]])
    np.testing.assert_array_equal(t2v_ranks(sim, np.array([0, 1])), [3, 1])


def test_a_videos_own_captions_never_push_each_other_down():
    # MSR-VTT repeats sentences within a video: identical captions tie exactly
    sim = np.array([[0.9, 0.1], [0.9, 0.1], [0.3, 0.2], [0.0, 0.5]])
    np.testing.assert_array_equal(v2t_ranks(sim, np.array([0, 0, 1, 1])), [1, 1])
    # but another video's caption tying with the best one counts against the query
    np.testing.assert_array_equal(v2t_ranks(sim[:, :1], np.array([0, 0, 0, 0])), [1])
    sim2 = np.array([[0.9, 0.1], [0.9, 0.1], [0.9, 0.2], [0.0, 0.95]])
    np.testing.assert_array_equal(v2t_ranks(sim2, np.array([0, 0, 1, 1])), [2, 1])


def test_matches_an_argsort_reference_on_random_scores():
    rng = np.random.default_rng(0)
    gt = np.repeat(np.arange(50), 3)  # 3 captions per video
    sim = rng.normal(size=(150, 50)) + 2.0 * np.eye(50)[gt]
    order = np.argsort(-sim, axis=1)
    ref_t2v = np.array([np.where(order[i] == gt[i])[0][0] + 1 for i in range(150)])
    np.testing.assert_array_equal(t2v_ranks(sim, gt), ref_t2v)
    order_v = np.argsort(-sim.T, axis=1)
    ref_v2t = np.array([min(np.where(order_v[v] == c)[0][0] + 1 for c in np.where(gt == v)[0]) for v in range(50)])
    np.testing.assert_array_equal(v2t_ranks(sim, gt), ref_v2t)
    m = retrieval_metrics(sim, gt)
    assert m["t2v"]["R@10"] == pytest.approx(100 * np.mean(ref_t2v <= 10))
    assert m["v2t"]["MdR"] == float(np.median(ref_v2t))


def test_refusals_and_table():
    with pytest.raises(ValueError, match="outside"):
        t2v_ranks(SIM, np.array([0, 0, 1, 3]))
    with pytest.raises(ValueError, match="at least one caption"):
        v2t_ranks(SIM[:, :3], np.array([0, 0, 0, 2]))
    table = format_table({"teacher": retrieval_metrics(SIM, GT)})
    assert "teacher" in table and "50.0" in table
