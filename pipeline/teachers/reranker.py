"""``reranker`` teachers: a pair-only scorer of another teacher's top-k candidates.

The strongest video-text scorers -- a fine-grained X-CLIP-style scorer, a cross-encoder, a
video MLLM asked "does this caption describe the video?" (its yes/no likelihood) -- have no
embeddings of their own to search with and cost far too much per pair to run inside a
training loop or over every pair of a split. A reranker scores, once, only the pairs a
``topk`` plan promises, and takes each caption's candidates from another teacher's
committed run (``candidates = "clip_mean"``: that run's k best videos by its stored
scores, plus the positive; :mod:`pipeline.run.candidates`). The candidate run's
fingerprint is part of the reranker's, so a new candidate run is a new reranker run.

The scorer is either a CLIP checkpoint with a scorer from :mod:`pipeline.scorers`
(``model`` + ``scorer = "fine"``) or a plugin class (``plugin = "module:Class"`` with
``[teachers.options]``) implementing ``encode_videos``, ``encode_captions`` and ``score``
of :mod:`pipeline.teachers.protocol`; its ``holistic_*`` methods, if any, are hidden, so
a reranker stores no embeddings and never builds an index. ``frame_relevance`` and
``pair_mask`` pass through when the scorer has them.
"""

from __future__ import annotations

from .protocol import BaseTeacher, Features, VideoBatch, CaptionBatch


class Reranker(BaseTeacher):
    """The teacher protocol of a scorer, without its embeddings (pairs only)."""

    def __init__(self, scorer):
        self.scorer = scorer
        self.needs_frames = bool(scorer.needs_frames)
        self.prepare_key = getattr(scorer, "prepare_key", None)
        self.version = str(getattr(scorer, "version", ""))

    def prepare(self, frames):
        fn = getattr(self.scorer, "prepare", None)
        return fn(frames) if callable(fn) else frames

    def encode_videos(self, batch: VideoBatch) -> Features:
        return self.scorer.encode_videos(batch)

    def encode_captions(self, batch: CaptionBatch) -> Features:
        return self.scorer.encode_captions(batch)

    def score(self, captions: Features, videos: Features):
        return self.scorer.score(captions, videos)

    def pair_mask(self, captions: Features, videos: Features):
        fn = getattr(self.scorer, "pair_mask", None)
        return fn(captions, videos) if callable(fn) else None


class FrameReranker(Reranker):
    """A reranker whose scorer also gives frame relevance (the X-CLIP scorer does)."""

    def frame_relevance(self, captions: Features, videos: Features):
        return self.scorer.frame_relevance(captions, videos)


def _has_frames(scorer) -> bool:
    fn = getattr(type(scorer), "frame_relevance", None)
    return callable(fn) and fn is not BaseTeacher.frame_relevance


def build(cfg, model, device) -> Reranker:
    """The registry's entry: the configured scorer (plugin or CLIP checkpoint) as a reranker."""
    if cfg.plugin:
        from .plugin import instantiate

        scorer = instantiate(cfg.plugin, None if model is None else str(model.path), device, cfg.options)
    else:
        from .clip import ClipTeacher

        scorer = ClipTeacher(model.path, device, scorer=cfg.scorer, max_length=cfg.max_length)
    return (FrameReranker if _has_frames(scorer) else Reranker)(scorer)
