"""Video heads: shapes, normalisation, and AFA's zero weight on padded frames."""

import torch

from student.heads import AFA, HEADS, afa_weights, build_head, masked_mean


def test_afa_gives_padded_frames_zero_weight():
    torch.manual_seed(0)
    head = AFA(dim=8, heads=2, max_frames=5, seq_layers=1)
    frames = torch.randn(3, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    video, w = head(frames, mask)
    assert w.shape == (3, 5)
    assert torch.all(w[~mask] == 0)
    assert torch.allclose(w.sum(1), torch.ones(3))
    assert torch.allclose(w[2, 0], torch.tensor(1.0))
    assert torch.allclose(video.norm(dim=-1), torch.ones(3), atol=1e-5)
    # what sits in the padded slots cannot change the video vector
    noisy = frames.clone()
    noisy[~mask] = 100 * torch.randn(int((~mask).sum()), 8)
    video2, _ = head(noisy, mask)
    assert torch.allclose(video, video2, atol=1e-5)


def test_afa_weights_are_a_tempered_softmax_over_real_frames():
    logits = torch.tensor([[0.0, 0.1 * torch.log(torch.tensor(3.0)), 5.0]])
    w = afa_weights(logits, torch.tensor([[True, True, False]]), temperature=0.1)
    assert torch.allclose(w, torch.tensor([[0.25, 0.75, 0.0]]), atol=1e-6)
    empty = afa_weights(torch.zeros(1, 2), torch.zeros(1, 2, dtype=torch.bool), 0.1)
    assert torch.all(empty == 0)


def test_meanp_is_the_mean_of_normalised_real_frames():
    frames = torch.tensor([[[3.0, 0.0], [0.0, 2.0], [5.0, 5.0]]])
    mask = torch.tensor([[True, True, False]])
    v = masked_mean(frames, mask)
    assert torch.allclose(v, torch.tensor([[2**-0.5, 2**-0.5]]))


def test_every_head_builds_and_respects_the_mask():
    torch.manual_seed(0)
    frames = torch.randn(2, 4, 16)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    for name in HEADS:
        head = build_head(name, dim=16, heads=2, max_frames=4, seq_layers=1)
        video, w = head(frames, mask)
        assert video.shape == (2, 16)
        assert (w is not None) == (name == "afa")
        noisy = frames.clone()
        noisy[0, 2:] = 50.0
        assert torch.allclose(head(noisy, mask)[0], video, atol=1e-5), name
