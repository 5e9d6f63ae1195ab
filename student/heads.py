"""Video heads: frame embeddings in, one video vector out (a registry by name).

Every head takes projected frame embeddings ``(M, T, D)``, a frame mask ``(M, T)`` (True
for real frames) and optionally each slot's frame index ``(M, T)`` and returns the L2-normalised video vector ``(M, D)`` and, for heads that
weigh frames, the frame weights ``(M, T)`` (None otherwise).

* ``meanP`` -- CLIP4Clip's parameter-free head (Luo et al., 2022, arXiv:2104.08860): the
  mask-aware mean of the normalised frame embeddings.
* ``seqTransf`` -- CLIP4Clip's sequential head: frame embeddings plus learned position
  embeddings go through a small temporal transformer, with a residual connection to the
  input, then meanP.
* ``afa`` -- TeachCLIP's Attentional Frame-feature Aggregation (Tian et al., CVPR 2024,
  arXiv:2308.01217): a small MLP gives each frame one logit, a softmax over frames (with
  temperature) gives its weight, and the video is the weighted sum of the normalised frame
  embeddings. By default it sits on top of the temporal transformer, as in TeachCLIP.
  Unlike the published code, padded frames get weight exactly zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def masked_mean(frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real frames of normalised embeddings, normalised: (M, D)."""
    frames = F.normalize(frames, dim=-1)
    m = mask.to(frames.dtype).unsqueeze(-1)
    return F.normalize((frames * m).sum(1) / m.sum(1).clamp_min(1.0), dim=-1)


def afa_weights(logits: torch.Tensor, mask: torch.Tensor, temperature: float) -> torch.Tensor:
    """Softmax of frame logits over real frames; padded frames get weight 0: (M, T)."""
    logits = (logits / temperature).masked_fill(~mask, float("-inf"))
    w = torch.softmax(logits, dim=-1)
    return torch.nan_to_num(w, nan=0.0)  # a video with no real frame gets no weight at all


class TemporalTransformer(nn.Module):
    """CLIP4Clip's seqTransf block: position embeddings, transformer, residual.

    The same block as the teachers' :class:`pipeline.temporal.TemporalEncoder`, kept apart
    on purpose: the student may not import the teacher stage, the two save under different
    keys (``encoder.*`` here, ``layers.*`` there) in weights already written (student runs,
    bootstrapped teachers), and the student's allows zero layers."""

    def __init__(self, dim: int, layers: int, heads: int, max_frames: int):
        super().__init__()
        self.position = nn.Embedding(max_frames, dim)
        nn.init.normal_(self.position.weight, std=0.01)
        layer = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=4 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False) if layers > 0 else None

    def forward(self, frames: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """``positions`` (M, T): each slot's frame index (default 0..T-1; a subset trained on
        keeps the indices its frames have when all are encoded)."""
        if self.encoder is None:
            return frames
        t = frames.shape[1]
        pos = self.position(torch.arange(t, device=frames.device))[None] if positions is None else self.position(positions)
        x = frames + pos
        # a video with no real frame would make every key masked (NaN): let it see itself
        pad = ~mask & mask.any(1, keepdim=True)
        return self.encoder(x, src_key_padding_mask=pad) + frames


class MeanP(nn.Module):
    def __init__(self, dim: int, **_):
        super().__init__()

    def forward(self, frames, mask, positions=None):
        return masked_mean(frames, mask), None


class SeqTransf(nn.Module):
    def __init__(self, dim: int, heads: int, max_frames: int, seq_layers: int = 1, **_):
        super().__init__()
        self.temporal = TemporalTransformer(dim, seq_layers, heads, max_frames)

    def forward(self, frames, mask, positions=None):
        return masked_mean(self.temporal(frames, mask, positions), mask), None


class AFA(nn.Module):
    def __init__(
        self,
        dim: int,
        heads: int,
        max_frames: int,
        seq_layers: int = 1,
        afa_temporal: bool = True,
        afa_hidden: int = 0,
        afa_temperature: float = 0.1,
        **_,
    ):
        super().__init__()
        self.temporal = TemporalTransformer(dim, seq_layers, heads, max_frames) if afa_temporal else None
        hidden = afa_hidden or dim
        self.scorer = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.temperature = afa_temperature

    def forward(self, frames, mask, positions=None):
        if self.temporal is not None:
            frames = self.temporal(frames, mask, positions)
        w = afa_weights(self.scorer(frames).squeeze(-1).float(), mask, self.temperature)
        video = (F.normalize(frames, dim=-1) * w.unsqueeze(-1).to(frames.dtype)).sum(1)
        return F.normalize(video, dim=-1), w


HEADS: dict[str, type[nn.Module]] = {"meanP": MeanP, "seqTransf": SeqTransf, "afa": AFA}


def build_head(name: str, dim: int, heads: int, max_frames: int, **options) -> nn.Module:
    try:
        cls = HEADS[name]
    except KeyError:
        raise ValueError(f"unknown head {name!r}; heads are {sorted(HEADS)}") from None
    return cls(dim=dim, heads=heads, max_frames=max_frames, **options)
