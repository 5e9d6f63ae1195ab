"""Time-order hard negatives of the bootstrap trainer (pipeline/bootstrap/negatives.py)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from pipeline.bootstrap import BootstrapOptionsError, parse_options
from pipeline.bootstrap.negatives import parse_negatives, reorder_index, reordered
from pipeline.bootstrap.vocab import build_tokenizer, tokenize

MICRO = {
    "image_size": 32, "patch_size": 16, "vision_hidden": 32, "vision_layers": 1, "vision_heads": 2,
    "text_hidden": 32, "text_layers": 1, "text_heads": 2, "embed_dim": 16, "max_words": 12,
    "num_frames": 4, "train_frames": 3, "steps": 40, "batch_size": 8, "lr": 1e-3, "threads": 1,
}


def test_reorder_index_swaps_halves_and_reverses_the_real_frames_only():
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0], [0, 1, 1, 0, 1, 0]]).bool()
    assert reorder_index(mask, "swap").tolist() == [[3, 4, 5, 0, 1, 2], [2, 3, 0, 1, 4, 5], [0, 2, 4, 3, 1, 5]]
    assert reorder_index(mask, "reverse").tolist() == [[5, 4, 3, 2, 1, 0], [3, 2, 1, 0, 4, 5], [0, 4, 2, 3, 1, 5]]
    frames = torch.arange(6.0).view(1, 6, 1).expand(3, 6, 2)
    assert reordered(frames, mask, "swap")[1, :, 0].tolist() == [2.0, 3.0, 0.0, 1.0, 4.0, 5.0]
    with pytest.raises(ValueError, match="unknown temporal negative"):
        reorder_index(mask, "shuffle")


def test_options_validate_and_fingerprint_only_when_set():
    assert parse_negatives("swap+reverse") == ("swap", "reverse")
    assert parse_negatives(None) == ()
    for bad in ("shuffle", "swap+swap", ""):
        with pytest.raises(ValueError):
            parse_negatives(bad)
    base = parse_options({"objective": "fine", "temporal_layers": 1})
    timed = parse_options({"objective": "fine", "temporal_layers": 1, "temporal_negatives": "swap"})
    assert timed.temporal_negatives == "swap"
    assert base.fingerprint() != timed.fingerprint()
    assert base.fingerprint() == dataclasses.replace(timed, temporal_negatives=None).fingerprint()
    with pytest.raises(BootstrapOptionsError, match=r"teachers.bootstrap.temporal_negatives must be kinds from"):
        parse_options({"objective": "fine", "temporal_layers": 1, "temporal_negatives": "backwards"})
    with pytest.raises(BootstrapOptionsError, match=r"temporal_negatives needs teachers.bootstrap.temporal_layers > 0"):
        parse_options({"objective": "fine", "temporal_negatives": "swap"})


@pytest.mark.parametrize("objective", ["fine", "mean"])
def test_negative_columns_are_the_reordered_clips_scored(objective):
    """The extra columns score the captions against each video with its frames reordered:
    the same as feeding the reordered pixels, without a second pass through the vision tower."""
    from pipeline.bootstrap.train import build_clip, build_temporal, contrastive_logits, symmetric_infonce

    opts = parse_options({"objective": objective, "temporal_layers": 1, **MICRO})
    texts = ["a red square slides right", "the blue block stays still", "a green disc grows"]
    tok = build_tokenizer(texts, opts.max_words)
    model, temporal = build_clip(opts, tok), None
    temporal = build_temporal(model, opts).eval()
    ids, am = tokenize(tok, texts, opts.max_words)
    pix = torch.randn(3, 4, 3, 32, 32)
    fmask = torch.tensor([[True, True, True, True], [True, True, True, False], [True, True, True, True]])
    slots = torch.tensor([[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]])
    with torch.no_grad():
        plain = contrastive_logits(model, objective, ids, am, pix, fmask, temporal, slots)
        both = contrastive_logits(model, objective, ids, am, pix, fmask, temporal, slots, ("swap", "reverse"))
        assert both.shape == (3, 9)
        torch.testing.assert_close(both[:, :3], plain)
        for i, kind in enumerate(("swap", "reverse"), start=1):
            index = reorder_index(fmask, kind)
            moved = pix.gather(1, index.view(3, 4, 1, 1, 1).expand_as(pix))
            direct = contrastive_logits(model, objective, ids, am, moved, fmask, temporal, slots)
            torch.testing.assert_close(both[:, 3 * i : 3 * i + 3], direct, rtol=1e-4, atol=1e-4)
        assert not torch.allclose(both[:, 3:6], plain, atol=1e-3)  # the order reaches the scores
        # a clip whose frames are all alike is its own reordering: nothing to tell apart (a still
        # clip's negative costs its caption a constant, README: Teachers)
        still = pix[:, :1].expand_as(pix).contiguous()
        same = contrastive_logits(model, objective, ids, am, still, fmask, temporal, slots, ("reverse",))
        torch.testing.assert_close(same[:, :3], same[:, 3:])
    # the loss contrasts captions with every column, videos with the captions only
    logits = torch.tensor([[5.0, 0.0, 4.0, 0.0], [0.0, 5.0, 0.0, 4.0]])
    expected = (torch.nn.functional.cross_entropy(logits, torch.arange(2))
                + torch.nn.functional.cross_entropy(logits[:, :2].T, torch.arange(2))) / 2
    torch.testing.assert_close(symmetric_infonce(logits), expected)
    assert symmetric_infonce(logits) > symmetric_infonce(logits[:, :2])
