"""CLIP-family features for scoring: sentence, word and frame embeddings, projected.

transformers 5: ``get_*_features`` return output objects, and token/patch-level states are
not projected, so this module calls the towers and applies ``text_projection`` /
``visual_projection`` itself. Word features are the projected final-layer token states
(after CLIP's final layer norm); the sentence is the projected pooled (EOS) state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .scorers import TextFeatures, VideoFeatures


def encode_text(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, words: bool = False) -> TextFeatures:
    out = model.text_model(input_ids=input_ids, attention_mask=attention_mask)
    sentence = F.normalize(model.text_projection(out.pooler_output).float(), dim=-1)
    if not words:
        return TextFeatures(sentence)
    w = F.normalize(model.text_projection(out.last_hidden_state).float(), dim=-1)
    mask = attention_mask.bool()
    # CLIP's EOS token carries the sentence; X-CLIP's words exclude nothing but padding.
    return TextFeatures(sentence, w * mask.unsqueeze(-1), mask)


def encode_frames(model, pixel_values: torch.Tensor, frame_mask: torch.Tensor) -> VideoFeatures:
    """``pixel_values``: (M, T, 3, H, W); returns normalised (M, T, D) frame embeddings.

    Only real frames go through the vision tower (padding of short clips costs nothing);
    padded slots get zero vectors.
    """
    m, t = pixel_values.shape[:2]
    mask = frame_mask.bool().to(pixel_values.device)
    real = pixel_values[mask]  # (F, 3, H, W)
    dim = model.visual_projection.out_features
    emb = torch.zeros(m, t, dim, dtype=torch.float32, device=pixel_values.device)
    if real.shape[0]:
        out = model.vision_model(pixel_values=real)
        emb[mask] = F.normalize(model.visual_projection(out.pooler_output).float(), dim=-1)
    return VideoFeatures(emb, mask)
