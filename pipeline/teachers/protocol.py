"""The teacher protocol: what the runner needs from a teacher, built-in or a user's plugin.

A teacher turns a batch of videos and a batch of captions into *features* -- a dict of
tensors whose first dimension is the batch (``Features``) -- and scores a block of captions
against a block of videos. The runner owns everything else: decoding, batching, score
plans, shards, resumption, failures and metrics. So X-CLIP, TS2-Net or X-Pool code with its
own checkpoint plugs in by implementing four methods::

    class MyTeacher:                          # named in the config as "my_pkg.teachers:MyTeacher"
        needs_frames = True                   # False: encode_videos gets no frames

        def __init__(self, model, device, **options): ...   # model: resolved path/id or None

        def encode_videos(self, batch: VideoBatch) -> Features: ...
        def encode_captions(self, batch: CaptionBatch) -> Features: ...
        def score(self, captions: Features, videos: Features) -> torch.Tensor:  # (N, M) float
            ...

Optional methods (the runner checks with ``getattr``; :class:`BaseTeacher` gives defaults):

* ``prepare(frames: SampledFrames) -> Any`` -- CPU work on one decoded video (resize, crop),
  run in the decoding thread pool; ``encode_videos`` then receives the prepared items in
  ``batch.frames``. ``prepare_key`` (a hashable) lets teachers with identical preparation
  share its result.
* ``frame_relevance(captions, videos) -> (N, T)`` -- relevance of each frame of row i's video
  to row i's caption (aligned rows); NaN marks padded frames, which are not stored.
* ``pair_mask(captions, videos) -> (N, M) bool`` -- pairs the teacher can score at all
  (default: all); unscored pairs are not stored.
* ``holistic_videos(videos) -> (M, D)`` / ``holistic_captions(captions) -> (N, D)`` --
  normalised vectors for the ``topk`` plan's faiss index (inner product).
* ``version: str`` -- bump to invalidate stored scores when the plugin's behaviour changes
  without its module changing (the module's source is already fingerprinted).

Rerankers (``kind = "reranker"``) are pair-only scorers: a fine-grained X-CLIP-style scorer,
a cross-encoder plugin, an MLLM whose score is the likelihood of "yes" to "does this caption
describe the video?". They implement only the four methods above (``holistic_*`` are
neither needed nor used: a reranker has no embeddings of its own, stores none and builds no
index) and score a ``topk`` plan whose candidates come from another teacher's committed
run, that run's ``k`` best-scored videos per caption plus the positive::

    [[teachers]]
    name = "rerank_fine"
    kind = "reranker"
    candidates = "clip_mean"                  # whose committed run gives the candidates
    plan = "topk"
    k = 50
    model = "artifacts/teachers/clip_fine"    # a CLIP checkpoint with a pipeline.scorers scorer,
    scorer = "fine"
    # plugin = "my_pkg.rerankers:VideoLLMYesNo"   # ... or a plugin class, with [teachers.options]

The candidate run's fingerprint is part of the reranker's, so a recomputed candidate
teacher means a recomputed reranker; a reranker listed with its candidate teacher runs after
it (:mod:`pipeline.teachers.reranker`, :mod:`pipeline.run.candidates`).

Feature batches are concatenated along dim 0 after zero-padding every other dim to the
largest batch (:func:`concat_features`), so masks must be boolean with False for padding.
Video features are stored between the encode and score passes (one row per video, exact
dtype and values) and read back on the CPU; they are moved to ``teacher.device`` when the
teacher has that attribute, so a teacher on a GPU should keep one.
Scores must be finite where scored: the runner refuses NaN/inf and names the teacher.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

Features = dict[str, torch.Tensor]


@dataclass
class VideoBatch:
    """A batch of videos of one split.

    ``frames[i]`` is what the teacher's ``prepare`` returned for video i (by default the
    decoded :class:`teachkit.util.media.SampledFrames`), or None when the teacher needs no frames.
    ``captions[i]`` lists video i's captions as (index, text); ``index`` is the caption's
    position in the split (the same number :class:`CaptionBatch` carries), so a teacher can
    recognise a caption it is scoring (TeachText never compares a caption with itself).
    """

    video_ids: list[str]
    frames: list[Any] | None
    captions: list[list[tuple[int, str]]]


@dataclass
class CaptionBatch:
    caption_ids: list[str]
    texts: list[str]
    index: np.ndarray  # (N,) int64, position of each caption in its split


@runtime_checkable
class Teacher(Protocol):
    needs_frames: bool

    def encode_videos(self, batch: VideoBatch) -> Features: ...

    def encode_captions(self, batch: CaptionBatch) -> Features: ...

    def score(self, captions: Features, videos: Features) -> torch.Tensor: ...


class BaseTeacher:
    """Defaults for the optional parts of :class:`Teacher` (subclassing it is optional)."""

    needs_frames = True
    prepare_key: Any = None
    version = ""

    def prepare(self, frames):
        return frames

    def pair_mask(self, captions: Features, videos: Features) -> torch.Tensor | None:
        return None

    def frame_relevance(self, captions: Features, videos: Features) -> torch.Tensor | None:
        return None

    def holistic_videos(self, videos: Features) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no holistic embeddings (needed by plan = 'topk')")

    def holistic_captions(self, captions: Features) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no holistic embeddings (needed by plan = 'topk')")


# -- feature batches -------------------------------------------------------------------


def concat_features(parts: list[Features]) -> Features:
    """Concatenate feature batches along dim 0, zero-padding other dims to the largest."""
    if not parts:
        raise ValueError("no feature batches to concatenate")
    keys = list(parts[0])
    for p in parts[1:]:
        if list(p) != keys:
            raise ValueError(f"feature batches disagree on keys: {keys} vs {list(p)}")
    out = {}
    for k in keys:
        tensors = [p[k] for p in parts]
        shape = [max(t.shape[d] for t in tensors) for d in range(1, tensors[0].dim())]
        padded = []
        for t in tensors:
            pad = []
            for d in reversed(range(1, t.dim())):
                pad += [0, shape[d - 1] - t.shape[d]]
            padded.append(F.pad(t, pad) if any(pad) else t)
        out[k] = torch.cat(padded, 0)
    return out


def take(features: Features, index: torch.Tensor | np.ndarray | slice) -> Features:
    """Rows ``index`` of every tensor (a slice gives views, an index array copies)."""
    if isinstance(index, slice):
        return {k: v[index] for k, v in features.items()}
    if isinstance(index, np.ndarray):
        index = torch.from_numpy(np.ascontiguousarray(index, dtype=np.int64))
    return {k: v.index_select(0, index.to(v.device)) for k, v in features.items()}


def batch_size(features: Features) -> int:
    sizes = {v.shape[0] for v in features.values()}
    if len(sizes) != 1:
        raise ValueError(f"feature tensors disagree on batch size: {sorted(sizes)}")
    return sizes.pop()


def to_device(features: Features, device: torch.device) -> Features:
    return {k: v.to(device) for k, v in features.items()}
