"""The frames of the test clips; :func:`pipeline.teachers.testing.write_video` writes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.teachers.testing import write_video


def gray_frames(n_frames: int = 8, size: int = 32) -> np.ndarray:
    """(n, size, size, 3) uint8: frame ``i`` is a flat gray of level ``20 * i`` (capped at 255)."""
    levels = np.minimum(20 * np.arange(n_frames), 255).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (n_frames, size, size, 3)).copy()


def square_frames(colour, xs, size: int = 32, top: int = 12, side: int = 8) -> np.ndarray:
    """A ``side`` x ``side`` square of ``colour`` on black, its left edge at ``xs[i]`` in frame ``i``."""
    out = np.zeros((len(xs), size, size, 3), dtype=np.uint8)
    for i, x in enumerate(xs):
        out[i, top : top + side, x : x + side] = colour
    return out


def write_mp4(path: str | Path, n_frames: int = 8, size: int = 32, fps: int = 8) -> Path:
    """An H.264 clip of :func:`gray_frames` (so decodes are checkable), at the encoder's default quality."""
    return write_video(path, gray_frames(n_frames, size), fps=fps, crf=None)
