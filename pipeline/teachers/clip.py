"""``clip`` teachers: a CLIP-family checkpoint (CLIPModel or SiglipModel) with a scorer from pipeline.scorers.

Loaded from a local folder (or a resolved Hugging Face snapshot) with ``from_pretrained``:
the model, its tokenizer and its image processor's config. Frames are resized and cropped
per that config on the CPU in the decoding threads (:meth:`ClipTeacher.prepare`), then
normalised and encoded on the teacher's device. Each video's frames and each caption are
encoded once; ``score`` applies the configured scorer (``mean`` or ``fine``) to blocks of
the cached features, and frame relevance is the cosine of the sentence with each frame. A
checkpoint folder that carries a temporal encoder (:mod:`pipeline.temporal`) has its frames
pass through it first, so every scorer, the frame relevance and the holistic vector see them
in context.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from teachkit.util.precision import autocast

from .. import scorers
from ..clip_features import encode_frames, encode_text, family, text_padding
from .checks import check_tokenizer_fits
from .image_processing import FrameTransform
from .models import ModelError
from .protocol import BaseTeacher, CaptionBatch, Features, VideoBatch


class ClipTeacher(BaseTeacher):
    needs_frames = True

    def __init__(self, model: str | Path, device: torch.device, scorer: str = "mean",
                 max_length: int | None = None, precision: str = "auto"):
        from transformers import AutoModel, AutoTokenizer

        self.device = device
        self.precision = precision
        self.scorer_name = scorer
        self._score = scorers.get_scorer(scorer)
        self.model = AutoModel.from_pretrained(model).to(device).eval()
        try:
            self.family = family(self.model)
        except TypeError as e:
            raise ModelError(f"model folder {model}: {e}; clip teachers take CLIP or SigLIP checkpoints "
                             "(use a plugin teacher for other architectures)") from None
        self.padding = text_padding(self.model)
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        check_tokenizer_fits(self.tokenizer, getattr(self.model.config.text_config, "vocab_size", None), model)
        self.transform = FrameTransform.from_pretrained(model)
        from ..temporal import load as load_temporal  # X-CLIP / seqTransf encoder over frames, if saved

        self.temporal = load_temporal(model)
        if self.temporal is not None:
            self.temporal.to(device)
        self.prepare_key = ("clip-frames", self.transform)
        limit = self.model.config.text_config.max_position_embeddings
        self.max_length = min(max_length or limit, limit)

    # -- frames ---------------------------------------------------------------------
    def prepare(self, frames) -> tuple[torch.Tensor, np.ndarray]:
        """Resize + crop the real frames of one decoded video (CPU, uint8); pad the rest."""
        mask = np.asarray(frames.mask, dtype=bool)
        real = self.transform.resize_crop(frames.frames[mask])
        out = torch.zeros((len(mask),) + tuple(real.shape[1:]), dtype=torch.uint8)
        out[torch.from_numpy(mask)] = real
        return out, mask

    @torch.inference_mode()
    def encode_videos(self, batch: VideoBatch) -> Features:
        pixels = torch.stack([f[0] for f in batch.frames]).to(self.device, non_blocking=True)
        mask = torch.from_numpy(np.stack([f[1] for f in batch.frames])).to(self.device)
        with autocast(self.device, self.precision):
            v = encode_frames(self.model, self.transform.normalize(pixels), mask)
            if self.temporal is not None:
                v = self.temporal(v)
        return {"frames": v.frames.float(), "frame_mask": v.frame_mask}

    # -- captions -------------------------------------------------------------------
    @torch.inference_mode()
    def encode_captions(self, batch: CaptionBatch) -> Features:
        args = {"max_length": self.max_length, **self.padding}
        tok = self.tokenizer(list(batch.texts), truncation=True, return_tensors="pt", **args).to(self.device)
        ids = tok["input_ids"]
        # SigLIP tokenizers return no attention mask: the real tokens are the non-padding ones
        mask = tok["attention_mask"] if "attention_mask" in tok else ids != self.tokenizer.pad_token_id
        with autocast(self.device, self.precision):
            t = encode_text(self.model, ids, mask, words=self.scorer_name == "fine")
        out = {"sentence": t.sentence.float()}
        if t.words is not None:
            out |= {"words": t.words.float(), "word_mask": t.word_mask}
        return out

    # -- scoring --------------------------------------------------------------------
    @staticmethod
    def _text(c: Features) -> scorers.TextFeatures:
        return scorers.TextFeatures(c["sentence"], c.get("words"), c.get("word_mask"))

    @staticmethod
    def _video(v: Features) -> scorers.VideoFeatures:
        return scorers.VideoFeatures(v["frames"], v["frame_mask"])

    @torch.inference_mode()
    def score(self, captions: Features, videos: Features) -> torch.Tensor:
        return self._score(self._text(captions), self._video(videos))

    @torch.inference_mode()
    def frame_relevance(self, captions: Features, videos: Features) -> torch.Tensor:
        return scorers.frame_relevance(self._text(captions), self._video(videos))

    def holistic_videos(self, videos: Features) -> torch.Tensor:
        return scorers.mean_video(self._video(videos))

    def holistic_captions(self, captions: Features) -> torch.Tensor:
        return captions["sentence"]


def build(cfg, model, device) -> ClipTeacher:
    """The registry's entry (see pipeline.teachers.KINDS)."""
    return ClipTeacher(model.path, device, scorer=cfg.scorer, max_length=cfg.max_length, precision=cfg.precision)
