"""The training split of a store, decoded once and held in memory as uint8 frames.

A bootstrapped teacher trains on the ``train`` split only (the store's ``videos`` and
``captions`` views; never the dataset's ground truth or other splits). Every train video is
decoded once with :func:`teachkit.util.media.decode_frames` and passed through the teacher's own
image processor without rescaling or normalising, so the frames kept in memory are exactly
the resized, centre-cropped uint8 pixels the teacher stage will feed the saved model;
:func:`normalise` applies the processor's rescale and mean/std per batch.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stores.fingerprint import file_checksum, fingerprint
from teachkit.util.media import MediaError, decode_frames
from stores.splits import load_split

SPLIT = "train"


@dataclass(frozen=True)
class SplitRows:
    """The rows of one split: videos (id, resolved path) and captions (id, video id, text)."""

    videos: list[tuple[str, Path]]
    captions: list[tuple[str, str, str]]

    def fingerprint(self) -> str:
        """Ids, texts and the bytes of every video file: a regenerated demo is new data."""
        files = [(vid, file_checksum(path) if path.is_file() else "missing") for vid, path in self.videos]
        return fingerprint("bootstrap-data", files, [list(c) for c in self.captions])


def read_split(store_root: Path, split: str = SPLIT, videos: Path | None = None) -> SplitRows:
    """The videos and captions of ``split`` from the store's current manifest
    (:func:`stores.splits.load_split`; video paths against ``videos`` or the recorded root)."""
    data = load_split(store_root, split, videos)
    if data is None or not data.caption_ids:
        n_videos, n_captions = (0, 0) if data is None else (len(data.video_ids), len(data.caption_ids))
        raise ValueError(
            f"store {store_root} has {n_videos} videos and {n_captions} captions in split "
            f"{split!r}; a bootstrapped teacher needs both (build the manifest first)"
        )
    return SplitRows(list(zip(data.video_ids, data.paths)), data.captions())


@dataclass
class FrameSet:
    """Decoded videos: ``frames`` (V, T, 3, S, S) uint8, ``mask`` (V, T) bool, ``video_ids``."""

    video_ids: list[str]
    frames: np.ndarray
    mask: np.ndarray
    failures: list[tuple[str, str]]

    def subset(self, video_ids: list[str]) -> "FrameSet":
        """The same frames for ``video_ids`` only (in that order)."""
        row = {v: i for i, v in enumerate(self.video_ids)}
        idx = np.array([row[v] for v in video_ids], dtype=np.int64)
        return FrameSet(list(video_ids), self.frames[idx], self.mask[idx], self.failures)


def decode_videos(
    videos: list[tuple[str, Path]], processor, num_frames: int, fps: float | None, workers: int | None = None
) -> FrameSet:
    """Decode and preprocess every video once; undecodable ones are reported and left out.

    PyAV decodes outside the GIL, so a few threads keep the cores busy.
    """
    from concurrent.futures import ThreadPoolExecutor

    def one(item):
        vid, path = item
        try:
            sampled = decode_frames(path, num_frames, fps)
        except MediaError as e:
            return vid, None, str(e)
        real = int(sampled.mask.sum())
        pix = processor(
            images=list(sampled.frames[:real]), do_rescale=False, do_normalize=False, return_tensors="np"
        )["pixel_values"]
        out = np.zeros((num_frames, *pix.shape[1:]), dtype=np.uint8)
        out[:real] = np.clip(np.rint(pix), 0, 255).astype(np.uint8)
        return vid, (out, sampled.mask), None

    from teachkit.util.progress import progress

    ids, frames, masks, failures = [], [], [], []
    with ThreadPoolExecutor(workers or min(4, os.cpu_count() or 1)) as pool, progress(transient=True) as bar:
        task = bar.add_task("bootstrap: decoding videos", total=len(videos), unit="videos")
        for vid, got, error in pool.map(one, videos):  # map keeps the input order
            bar.advance(task)
            if got is None:
                failures.append((vid, error))
                print(f"bootstrap: skipping video {vid}: {error}", file=sys.stderr)
                continue
            ids.append(vid)
            frames.append(got[0])
            masks.append(got[1])
    if not ids:
        raise ValueError("no video of the split could be decoded")
    return FrameSet(ids, np.stack(frames), np.stack(masks), failures)


def normalise(frames_uint8, processor):
    """uint8 (..., 3, H, W) tensor -> float pixels exactly as ``processor`` would give them."""
    import torch

    mean = torch.tensor(processor.image_mean, dtype=torch.float32, device=frames_uint8.device).view(3, 1, 1)
    std = torch.tensor(processor.image_std, dtype=torch.float32, device=frames_uint8.device).view(3, 1, 1)
    return (frames_uint8.float() * float(processor.rescale_factor) - mean) / std
