"""Which of a clip's sampled frames one training step sees: shared by the bootstrap and the student.

Kept apart from :mod:`teachkit.util.media` on purpose: media decides what a teacher scores and
is hashed into every teacher's fingerprint, while this only shapes training batches, so editing
it must not recompute a cached teacher.
"""

from __future__ import annotations

import numpy as np

#: how a training step picks ``k`` of a clip's sampled frames (:func:`training_slots`)
SLOT_SAMPLING = ("segment", "random")


def training_slots(mask: np.ndarray, k: int, rng: np.random.Generator, how: str = "segment") -> np.ndarray:
    """Per video, ``k`` frame slots in temporal order for one training step.

    ``mask``: (B, T) bool, the real frames (they come first, padding after). Returns (B, k)
    slot indices.

    - ``segment`` (TSN, Wang et al. 2016; CLIP4Clip-style training on sparse frames): the
      video's real frames are cut into ``k`` equal segments and one frame is drawn from each,
      so every step still spans the whole clip, as the uniform frames it is tested on do;
    - ``random``: ``k`` of the real frames drawn without replacement, in order (a step may
      see only one end of the clip).

    A video with fewer than ``k`` real frames gets all of them followed by padded slots
    (which stay masked).
    """
    if how not in SLOT_SAMPLING:
        raise ValueError(f"frame sampling must be one of {list(SLOT_SAMPLING)}, got {how!r}")
    mask = np.asarray(mask, dtype=bool)
    if how == "random":
        keys = rng.random(mask.shape) + (~mask) * 2.0  # real frames first
        return np.sort(np.argsort(keys, axis=1, kind="stable")[:, :k], axis=1)
    n = mask.sum(1)
    u = rng.random((mask.shape[0], k))
    slots = np.floor((np.arange(k)[None, :] + u) * n[:, None] / k).astype(np.int64)
    few = n < k
    slots[few] = np.arange(k)[None, :]
    return slots
