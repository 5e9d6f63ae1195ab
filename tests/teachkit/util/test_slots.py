"""Training frame slots (teachkit.util.slots): ordered real frames, one per segment."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("how", ["segment", "random"])
def test_training_slots_are_ordered_real_frames(how):
    from teachkit.util.slots import training_slots

    mask = np.ones((3, 12), dtype=bool)
    mask[2, 3:] = False  # a short clip: three real frames
    slots = training_slots(mask, 4, np.random.default_rng(0), how)
    assert slots.shape == (3, 4) and bool((slots[:, 1:] > slots[:, :-1]).all())  # distinct, in temporal order
    assert slots[2].tolist()[:3] == [0, 1, 2] and np.take_along_axis(mask, slots, 1)[2].tolist() == [
        True, True, True, False]  # the short clip keeps every real frame, then padding
    assert np.array_equal(slots, training_slots(mask, 4, np.random.default_rng(0), how))


def test_segment_slots_span_the_clip_one_per_segment():
    from teachkit.util.slots import training_slots

    mask = np.zeros((500, 12), dtype=bool)
    mask[:, :12] = True
    mask[250:, 9:] = False  # half the clips have 9 real frames
    slots = training_slots(mask, 4, np.random.default_rng(1), "segment")
    n = mask.sum(1, keepdims=True)
    lo, hi = np.arange(4) * n / 4, (np.arange(4) + 1) * n / 4
    assert bool(((slots >= np.floor(lo)) & (slots < hi)).all())  # slot i lies in segment i
    # every frame of a segment is drawn (12 frames, 4 segments of 3)
    assert [sorted(set(slots[:250, i].tolist())) for i in range(4)] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    # random subsets may leave the clip's end out entirely; segments never do
    rand = training_slots(mask[:250], 4, np.random.default_rng(1), "random")
    assert bool((rand.max(1) < 9).any()) and bool((slots[:250].max(1) >= 9).all())
    with pytest.raises(ValueError, match="frame sampling"):
        training_slots(mask, 4, np.random.default_rng(1), "strided")
