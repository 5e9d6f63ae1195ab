"""Retrieval metrics on matrices whose ranks are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from teachkit.util.metrics import NOT_MEASURABLE, format_table, retrieval_metrics, t2v_ranks, teacher_metrics, v2t_ranks

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
    # per query video, each video's best caption: v0 sees v0 0.9, v1 0.3, v2 0.1 -> 1;
    # v1 sees v0 max(0.1, 0.6) = 0.6 above its own 0.2 -> 2; v2 sees its own 0.8 first -> 1
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


def clip4clip_metrics(x: np.ndarray) -> dict:
    """CLIP4Clip's ``metrics.compute_metrics``, transcribed: the rank of each row's diagonal."""
    sx = np.sort(-x, axis=1)
    d = np.diag(-x)[:, None]
    ind = np.where(sx - d == 0)[1]
    return {"R@1": 100 * np.mean(ind == 0), "R@5": 100 * np.mean(ind < 5), "R@10": 100 * np.mean(ind < 10),
            "MdR": np.median(ind) + 1, "MnR": np.mean(ind) + 1}


def clip4clip_v2t(sim: np.ndarray, gt: np.ndarray) -> dict:
    """``compute_metrics(tensor_video_to_text_sim(sim_tensor))`` of ``main_task_retrieval.py``.

    The captions x videos matrix is cut into one block per video's captions (captions in
    video order), padded with -inf to the longest block: (videos, max captions, videos); the
    max over each block's captions, transposed, is the videos x videos matrix ranked.
    """
    n_videos = sim.shape[1]
    blocks = [sim[gt == v] for v in range(n_videos)]
    width = max(len(b) for b in blocks)
    tensor = np.stack([np.vstack([b, np.full((width - len(b), n_videos), -np.inf)]) for b in blocks])
    return clip4clip_metrics(tensor.max(axis=1).T)


def _signal(rng, n_videos, per_video, strength=2.0):
    gt = np.repeat(np.arange(n_videos), per_video)
    return rng.normal(size=(len(gt), n_videos)) + strength * np.eye(n_videos)[gt], gt


def test_v2t_follows_clip4clip_with_several_captions_per_video():
    rng = np.random.default_rng(0)
    sim, gt = _signal(rng, 200, 5, strength=1.0)
    ours = retrieval_metrics(sim, gt, ks=(1, 5, 10))["v2t"]
    ref = clip4clip_v2t(sim, gt)
    for k in ("R@1", "R@5", "R@10", "MdR", "MnR"):
        assert ours[k] == pytest.approx(ref[k]), k
    # the rule it replaces (the best caption among *all* other captions) agrees on R@1 only
    best = np.array([sim[gt == v, v].max() for v in range(200)])
    old = np.array([1 + int((sim[gt != v, v] >= best[v]).sum()) for v in range(200)])
    assert 100 * np.mean(old == 1) == pytest.approx(ref["R@1"])
    assert np.all(old >= v2t_ranks(sim, gt)) and np.mean(old) > ref["MnR"] + 1.0


def test_v2t_with_uneven_captions_per_video_and_shuffled_rows():
    rng = np.random.default_rng(1)
    counts = rng.integers(1, 6, size=60)
    gt = np.repeat(np.arange(60), counts)
    sim = rng.normal(size=(len(gt), 60)) + 1.5 * np.eye(60)[gt]
    perm = rng.permutation(len(gt))  # caption order does not matter
    ours = retrieval_metrics(sim[perm], gt[perm], ks=(1, 5, 10))["v2t"]
    ref = clip4clip_v2t(sim, gt)
    assert {k: ours[k] for k in ref} == pytest.approx(ref)


def test_with_one_caption_per_video_v2t_is_the_transpose():
    rng = np.random.default_rng(2)
    sim, gt = _signal(rng, 80, 1)
    ours = retrieval_metrics(sim, gt, ks=(1, 5, 10))
    assert {k: ours["t2v"][k] for k in ("R@1", "R@5", "R@10", "MdR", "MnR")} == pytest.approx(clip4clip_metrics(sim))
    assert {k: ours["v2t"][k] for k in ("R@1", "R@5", "R@10", "MdR", "MnR")} == pytest.approx(clip4clip_metrics(sim.T))


def test_t2v_matches_an_argsort_reference_on_random_scores():
    rng = np.random.default_rng(0)
    sim, gt = _signal(rng, 50, 3)
    order = np.argsort(-sim, axis=1)
    ref_t2v = np.array([np.where(order[i] == gt[i])[0][0] + 1 for i in range(150)])
    np.testing.assert_array_equal(t2v_ranks(sim, gt), ref_t2v)


def test_teacher_metrics_leave_out_unscored_videos_and_captions():
    rng = np.random.default_rng(3)
    sim, gt = _signal(rng, 6, 2)
    full = teacher_metrics(sim, gt, "test")
    failed = sim.copy()
    failed[:, 5] = np.nan  # video 5 failed to decode: nothing stored for it
    failed[gt == 5] = np.nan  # nor for its captions
    m = teacher_metrics(failed, gt, "test")
    ref = retrieval_metrics(sim[gt < 5][:, :5], gt[gt < 5])
    assert (m["captions"], m["videos"], m["split"]) == (10, 5, "test") and full["videos"] == 6
    assert m["t2v"] == ref["t2v"] and m["v2t"] == ref["v2t"]
    # a caption whose own pair was not scored is no query; its other scores stay candidates
    partial = sim.copy()
    partial[0, gt[0]] = np.nan
    p = teacher_metrics(partial, gt)
    assert p["captions"] == 11 and p["t2v"] == retrieval_metrics(sim[1:], gt[1:])["t2v"]


def test_a_text_teacher_with_one_caption_per_video_is_not_measurable():
    # each caption scored against every other video, never its own (it has no other caption)
    sim = np.ones((4, 4)) * 0.5
    np.fill_diagonal(sim, np.nan)
    m = teacher_metrics(sim, np.arange(4), "test")
    assert m["not_measurable"] == NOT_MEASURABLE and m["captions"] == 0 and "t2v" not in m
    table = format_table({"minilm": m})
    assert "minilm" in table and "not measurable: no caption has a score for its own video" in table


def test_refusals_and_table():
    with pytest.raises(ValueError, match="outside"):
        t2v_ranks(SIM, np.array([0, 0, 1, 3]))
    with pytest.raises(ValueError, match="at least one caption"):
        v2t_ranks(SIM[:, :3], np.array([0, 0, 0, 2]))
    table = format_table({"teacher": retrieval_metrics(SIM, GT)})
    assert "teacher" in table and "50.0" in table
