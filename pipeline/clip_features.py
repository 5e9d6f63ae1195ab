"""CLIP-family features for scoring: sentence, word and frame embeddings, projected.

transformers 5: ``get_*_features`` return output objects, and token/patch-level states are
not projected, so this module calls the towers and projects them itself. Two families fit
the same interface (:func:`family`):

* ``clip`` (``CLIPModel`` and look-alikes with ``text_projection`` / ``visual_projection``):
  the sentence is the projected pooled (EOS) state; words are the projected final-layer
  token states (after the final layer norm); a frame is the projected pooled (CLS) state.
* ``siglip`` (``SiglipModel``): the text tower's own ``head`` is its projection, applied to
  the last position for the sentence (SigLIP pools the last token and was trained on text
  padded to ``max_position_embeddings`` without an attention mask, so
  :func:`text_padding` asks for that padding and no mask is passed) and to every token for
  the words; a frame is the vision tower's attention-pooling head output.

Either way every feature is L2-normalised, so the scorers compute cosines.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .scorers import TextFeatures, VideoFeatures

FAMILIES = ("clip", "siglip")


def family(model) -> str:
    """``clip`` or ``siglip``; a TypeError naming what is missing for anything else."""
    if all(hasattr(model, p) for p in ("text_model", "vision_model", "text_projection", "visual_projection")):
        return "clip"
    text, vision = getattr(model, "text_model", None), getattr(model, "vision_model", None)
    if text is not None and vision is not None and hasattr(text, "head"):
        if getattr(vision, "head", None) is None:
            raise TypeError(f"{type(model).__name__}: a SigLIP vision tower without its pooling head "
                            "(vision_use_head = false) gives no frame embedding")
        return "siglip"
    raise TypeError(
        f"{type(model).__name__} is neither CLIP-like (text_model, vision_model, text_projection, "
        "visual_projection) nor SigLIP-like (text_model.head, vision_model.head)"
    )


def text_padding(model) -> dict:
    """Tokenizer padding arguments the family was trained with."""
    if family(model) == "siglip":
        return {"padding": "max_length", "max_length": model.config.text_config.max_position_embeddings}
    return {"padding": True}


def trim_padding(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch without its trailing all-padding columns (captions padded to ``max_words``).

    Exact for CLIP's text tower: its attention is causal and masked, its positions absolute,
    and its pooled state sits at a real token, so those columns change no real token's state;
    they only cost time (the demo's 64-caption batches are 24 of 32 tokens at most).
    """
    real = attention_mask.bool().any(0)
    width = int(real.nonzero().max()) + 1 if bool(real.any()) else 1
    return input_ids[:, :width], attention_mask[:, :width]


def encode_text(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, words: bool = False) -> TextFeatures:
    """Normalised sentence (and, with ``words``, word) embeddings; ``attention_mask`` marks real tokens."""
    if family(model) == "clip":
        input_ids, attention_mask = trim_padding(input_ids, attention_mask)
        out = model.text_model(input_ids=input_ids, attention_mask=attention_mask)
        project = model.text_projection
        sentence = project(out.pooler_output)
    else:
        out = model.text_model(input_ids=input_ids)  # as trained: fixed-length padding, no mask
        project = model.text_model.head
        sentence = out.pooler_output  # the head applied to the last position
    sentence = F.normalize(sentence.float(), dim=-1)
    if not words:
        return TextFeatures(sentence)
    w = F.normalize(project(out.last_hidden_state).float(), dim=-1)
    mask = attention_mask.bool()
    # X-CLIP's words exclude nothing but padding.
    return TextFeatures(sentence, w * mask.unsqueeze(-1), mask)


def encode_frames(model, pixel_values: torch.Tensor, frame_mask: torch.Tensor) -> VideoFeatures:
    """``pixel_values``: (M, T, 3, H, W); returns normalised (M, T, D) frame embeddings.

    Only real frames go through the vision tower (padding of short clips costs nothing);
    padded slots get zero vectors.
    """
    m, t = pixel_values.shape[:2]
    mask = frame_mask.bool().to(pixel_values.device)
    real = pixel_values[mask]  # (F, 3, H, W)
    kind = family(model)
    dim = model.visual_projection.out_features if kind == "clip" else model.config.vision_config.hidden_size
    emb = torch.zeros(m, t, dim, dtype=torch.float32, device=pixel_values.device)
    if real.shape[0]:
        pooled = model.vision_model(pixel_values=real).pooler_output
        if kind == "clip":
            pooled = model.visual_projection(pooled)
        emb[mask] = F.normalize(pooled.float(), dim=-1)
    return VideoFeatures(emb, mask)
