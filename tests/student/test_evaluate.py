"""Metrics through the faiss path on a similarity matrix with known ranks."""

import numpy as np
import pytest

from teachkit.util.metrics import retrieval_metrics
from student.evaluate import evaluate_vectors

# 6 captions x 5 videos; captions 0 and 1 describe video 0
SIM = np.array(
    [
        [0.9, 0.1, 0.2, 0.3, 0.4],  # v0: rank 1
        [0.2, 0.8, 0.7, 0.1, 0.0],  # v0: rank 3
        [0.5, 0.6, 0.9, 0.8, 0.7],  # v1: rank 4
        [0.1, 0.2, 0.3, 0.0, 0.05],  # v2: rank 1
        [0.3, 0.2, 0.1, 0.25, 0.0],  # v3: rank 2
        [0.6, 0.5, 0.4, 0.3, 0.2],  # v4: rank 5
    ],
    dtype=np.float32,
)
GT = np.array([0, 0, 1, 2, 3, 4])


def test_faiss_ranking_matches_hand_computed_ranks():
    # videos are the unit basis, so caption vector i . video j == SIM[i, j]
    m = evaluate_vectors(SIM, np.eye(5, dtype=np.float32), GT)
    t2v_ranks = [1, 3, 4, 1, 2, 5]
    assert m["t2v"]["R@1"] == pytest.approx(100 * 2 / 6)
    assert m["t2v"]["R@5"] == pytest.approx(100.0)
    assert m["t2v"]["MdR"] == pytest.approx(np.median(t2v_ranks))
    assert m["t2v"]["MnR"] == pytest.approx(np.mean(t2v_ranks))
    # v2t: each video's best caption: v0 -> caption 0 (1), v1 2, v2 4, v3 4, v4 3
    v2t_ranks = [1, 2, 4, 4, 3]
    assert m["v2t"]["R@1"] == pytest.approx(20.0)
    assert m["v2t"]["R@5"] == pytest.approx(100.0)
    assert m["v2t"]["MdR"] == pytest.approx(3.0)
    assert m["v2t"]["MnR"] == pytest.approx(np.mean(v2t_ranks))
    assert m == retrieval_metrics(SIM, GT)


def test_faiss_path_on_random_vectors_equals_dense_products():
    rng = np.random.default_rng(0)
    text = rng.normal(size=(40, 16)).astype(np.float32)
    video = rng.normal(size=(20, 16)).astype(np.float32)
    gt = np.arange(40) % 20
    assert evaluate_vectors(text, video, gt) == retrieval_metrics(text @ video.T, gt)
