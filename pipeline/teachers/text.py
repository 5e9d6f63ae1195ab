"""``text`` teachers: TeachText-style scores from a text encoder alone.

TeachText (Croitoru et al., ICCV 2021, arXiv:2104.08271) distils several text encoders: a
caption's similarity to a video is judged by how close it is to the video's *other*
captions. Here: any Hugging Face text encoder or sentence-transformers folder (AutoModel +
AutoTokenizer serve both) embeds each caption by mean pooling of its token states,
L2-normalised; score(c, v) = mean cosine of c with every caption of v except c itself. A
pair where v has no caption other than c is not scored (:meth:`TextTeacher.pair_mask`).
There is no frame relevance, and no video is decoded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from teachkit.util.precision import autocast

from .checks import check_tokenizer_fits
from .protocol import BaseTeacher, CaptionBatch, Features, VideoBatch


def mean_pool(states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(N, D) unit vectors: the mean of each text's token states over its real tokens. The
    text teachers' embedding, and what a paraphrase-bootstrapped encoder is trained through
    (pipeline.bootstrap.paraphrase)."""
    m = attention_mask.unsqueeze(-1).to(states.dtype)
    return F.normalize((states * m).sum(1) / m.sum(1).clamp_min(1.0), dim=-1)


class TextTeacher(BaseTeacher):
    needs_frames = False

    def __init__(self, model: str | Path, device: torch.device, text_batch: int = 256,
                 max_length: int | None = None, precision: str = "auto"):
        from transformers import AutoModel, AutoTokenizer

        self.device = device
        self.precision = precision
        self.text_batch = text_batch
        self.model = AutoModel.from_pretrained(model).to(device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        check_tokenizer_fits(self.tokenizer, getattr(self.model.config, "vocab_size", None), model)
        self.max_length = length_limit(self.model, self.tokenizer, model, max_length)
        self._seen: dict[str, torch.Tensor] = {}  # caption text -> its embedding, made once per run

    @torch.inference_mode()
    def embed(self, texts: list[str]) -> torch.Tensor:
        """Normalised mean-pooled token states, (N, D) float32, in chunks of ``text_batch``
        (texts sorted by length first, so a chunk pads to similar lengths)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.zeros(len(texts), self.model.config.hidden_size, device=self.device)
        for lo in range(0, len(order), self.text_batch):
            rows = order[lo : lo + self.text_batch]
            tok = self.tokenizer(
                [texts[i] for i in rows], padding=True, truncation=True,
                max_length=self.max_length, return_tensors="pt",
            ).to(self.device)
            with autocast(self.device, self.precision):
                states = self.model(**tok).last_hidden_state.float()
            out[torch.tensor(rows, device=self.device)] = mean_pool(states, tok["attention_mask"])
        return out

    def _embed_indexed(self, items: list[tuple[int, str]]) -> torch.Tensor:
        """Embeddings of (caption index, text) pairs, each distinct text embedded once per run.

        The runner encodes a split's videos -- every caption -- before it encodes the same
        captions as queries, and a later split may repeat texts: remembering embeddings by
        text (not by index, which restarts per split) halves the encoder's work or better.
        """
        missing = list(dict.fromkeys(t for _, t in items if t not in self._seen))
        if missing:
            for t, e in zip(missing, self.embed(missing)):
                self._seen[t] = e
        if not items:
            return torch.zeros(0, self.model.config.hidden_size, device=self.device)
        return torch.stack([self._seen[t] for _, t in items])

    def encode_videos(self, batch: VideoBatch) -> Features:
        """A video is the set of its captions: (M, C, D) embeddings, mask and caption index."""
        width = max((len(c) for c in batch.captions), default=0)
        m = len(batch.video_ids)
        flat = self._embed_indexed([item for caps in batch.captions for item in caps])
        emb = torch.zeros(m, width, flat.shape[-1], device=self.device)
        mask = torch.zeros(m, width, dtype=torch.bool, device=self.device)
        index = torch.full((m, width), -1, dtype=torch.int64, device=self.device)
        row = 0
        for i, caps in enumerate(batch.captions):
            n = len(caps)
            emb[i, :n] = flat[row : row + n]
            mask[i, :n] = True
            index[i, :n] = torch.tensor([j for j, _ in caps], dtype=torch.int64)
            row += n
        return {"emb": emb, "mask": mask, "index": index}

    def encode_captions(self, batch: CaptionBatch) -> Features:
        index = torch.from_numpy(np.asarray(batch.index, dtype=np.int64)).to(self.device)
        emb = self._embed_indexed([(int(i), t) for i, t in zip(batch.index, batch.texts)])
        return {"emb": emb, "index": index}

    @staticmethod
    def _others(captions: Features, videos: Features) -> torch.Tensor:
        """(N, M, C): which captions of each video count for each query (not itself)."""
        return videos["mask"][None] & (videos["index"][None] != captions["index"][:, None, None])

    @torch.inference_mode()
    def score(self, captions: Features, videos: Features) -> torch.Tensor:
        sims = torch.einsum("nd,mcd->nmc", captions["emb"], videos["emb"])
        keep = self._others(captions, videos)
        return (sims * keep).sum(-1) / keep.sum(-1).clamp_min(1)

    def pair_mask(self, captions: Features, videos: Features) -> torch.Tensor:
        return self._others(captions, videos).any(-1)

    def holistic_videos(self, videos: Features) -> torch.Tensor:
        m = videos["mask"].unsqueeze(-1).float()
        return F.normalize((videos["emb"] * m).sum(1) / m.sum(1).clamp_min(1.0), dim=-1)

    def holistic_captions(self, captions: Features) -> torch.Tensor:
        return captions["emb"]


def length_limit(model, tokenizer, folder: str | Path, max_length: int | None = None) -> int:
    """The longest input a text encoder takes: the least of its position table, its tokenizer's
    limit, a sentence-transformers folder's ``max_seq_length`` and ``max_length`` if given."""
    limits = [getattr(model.config, "max_position_embeddings", None), max_length, _sentence_transformers_limit(folder)]
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if tok_limit and tok_limit < 1_000_000:  # "no limit" is stored as a huge number
        limits.append(tok_limit)
    return min(x for x in limits if x)


def _sentence_transformers_limit(model) -> int | None:
    """A sentence-transformers folder's ``max_seq_length`` (the length it was trained to embed)."""
    path = Path(model) / "sentence_bert_config.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("max_seq_length")


def build(cfg, model, device) -> TextTeacher:
    """The registry's entry (see pipeline.teachers.KINDS)."""
    return TextTeacher(model.path, device, text_batch=cfg.text_batch, max_length=cfg.max_length,
                       precision=cfg.precision)
