"""pipeline.scorers: mean (CLIP4Clip meanP), fine (X-CLIP) and frame relevance vs numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pipeline import scorers


def _features(seed=0, n=3, m=4, t=5, l=6, d=8):
    g = torch.Generator().manual_seed(seed)
    words = F.normalize(torch.randn(n, l, d, generator=g), dim=-1)
    word_mask = torch.ones(n, l, dtype=torch.bool)
    word_mask[0, 4:] = False  # a short caption
    words = words * word_mask.unsqueeze(-1)
    sentence = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    frames = F.normalize(torch.randn(m, t, d, generator=g), dim=-1)
    frame_mask = torch.ones(m, t, dtype=torch.bool)
    frame_mask[1, 3:] = False  # a short clip, padded
    frames = frames * frame_mask.unsqueeze(-1)
    return scorers.TextFeatures(sentence, words, word_mask), scorers.VideoFeatures(frames, frame_mask)


def _np_mean_video(v):
    f, m = v.frames.numpy().astype(np.float64), v.frame_mask.numpy()
    pooled = np.stack([f[i][m[i]].mean(0) for i in range(len(f))])
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def test_mean_is_cosine_with_the_mask_aware_mean_frame():
    t, v = _features()
    expected = t.sentence.numpy().astype(np.float64) @ _np_mean_video(v).T
    np.testing.assert_allclose(scorers.score_mean(t, v).numpy(), expected, atol=1e-6)
    # padding does not count: the short clip's mean uses its 3 real frames only
    padded_garbage = scorers.VideoFeatures(v.frames.clone(), v.frame_mask)
    padded_garbage.frames[1, 3:] = 5.0
    np.testing.assert_allclose(scorers.score_mean(t, padded_garbage).numpy(), expected, atol=1e-6)


def _np_pool(s, axis, tau):
    """sum(softmax(s / tau) * s) along axis, over the entries present (a 1-D slice)."""
    w = np.exp((s - s.max(axis=axis, keepdims=True)) / tau)
    w = w / w.sum(axis=axis, keepdims=True)
    return (w * s).sum(axis=axis)


def _np_fine(t, v, tau):
    sent = t.sentence.numpy().astype(np.float64)
    vid = _np_mean_video(v)
    out = np.zeros((len(sent), len(vid)))
    for i in range(out.shape[0]):
        w = t.words[i][t.word_mask[i]].numpy().astype(np.float64)  # (L_i, D)
        for j in range(out.shape[1]):
            f = v.frames[j][v.frame_mask[j]].numpy().astype(np.float64)  # (T_j, D)
            s_sv = sent[i] @ vid[j]
            s_sf = _np_pool(f @ sent[i], 0, tau)
            s_wv = _np_pool(w @ vid[j], 0, tau)
            wf = w @ f.T  # (L_i, T_j)
            w2f = _np_pool(_np_pool(wf, 1, tau), 0, tau)
            f2w = _np_pool(_np_pool(wf, 0, tau), 0, tau)
            out[i, j] = (s_sv + s_sf + s_wv + (w2f + f2w) / 2) / 4
    return out


@pytest.mark.parametrize("tau", [0.01, 1.0])
def test_fine_matches_a_per_pair_numpy_xclip(tau):
    t, v = _features(seed=1)
    expected = _np_fine(t, v, tau)
    np.testing.assert_allclose(scorers.score_fine(t, v, tau=tau).numpy(), expected, atol=1e-5)
    # padding is ignored even when the caller leaves garbage in it
    t.words[0, 4:] = 3.0
    v.frames[1, 3:] = -2.0
    np.testing.assert_allclose(scorers.score_fine(t, v, tau=tau).numpy(), expected, atol=1e-5)


def test_fine_needs_words():
    t, v = _features()
    with pytest.raises(ValueError, match="word features"):
        scorers.score_fine(scorers.TextFeatures(t.sentence), v)


def test_frame_relevance_is_sentence_frame_cosine_with_nan_padding():
    t, v = _features(seed=2, n=4, m=4)
    rel = scorers.frame_relevance(t, v).numpy()  # aligned: caption i with video i
    expected = np.einsum("nd,ntd->nt", t.sentence.numpy(), v.frames.numpy())
    real = v.frame_mask.numpy()
    np.testing.assert_allclose(rel[real], expected[real], atol=1e-6)
    assert np.isnan(rel[~real]).all() and (~real).sum() == 2


def test_registry_names_the_scorers():
    import subprocess
    import sys

    assert list(scorers.SCORERS) == ["mean", "fine"]
    # config validates scorer names with this very registry, which therefore imports no torch
    code = ("import sys, pipeline.config as c, pipeline.scorers as s; "
            "print(c.SCORERS is s.SCORERS, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["True", "False"], out.stderr
    assert scorers.get_scorer("mean") is scorers.score_mean
    with pytest.raises(ValueError, match="unknown scorer 'max'"):
        scorers.get_scorer("max")
