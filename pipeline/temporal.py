"""A teacher's temporal encoder: frame embeddings see each other before they are scored.

X-CLIP (Ma et al., 2022, arXiv:2207.07285) and CLIP4Clip's ``seqTransf`` (Luo et al., 2022,
arXiv:2104.08860) pass the per-frame CLIP embeddings through a small transformer over time
(learned position embeddings, a residual connection to the input) before pooling or fine
matching. Without it a video is a bag of frames: "moves left" and "moves right", "grows"
and "shrinks", "A, then B" and "B, then A" get the same mean frame.

A checkpoint folder carries it beside the CLIP weights as ``temporal.json`` (its shape) and
``temporal.safetensors``; :func:`load` returns None for a folder without one (any hub CLIP),
so a plain CLIP teacher is unchanged. Positions are the frames' sampled slots: a teacher
trained on a random ordered subset of its frames (``train_frames``) gives each frame the
position it has when all frames are scored.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .scorers import VideoFeatures

CONFIG = "temporal.json"
WEIGHTS = "temporal.safetensors"


class TemporalEncoder(nn.Module):
    """``layers`` pre-norm transformer layers over frames, plus the input (residual).

    The student's seqTransf head (:class:`student.heads.TemporalTransformer`) is the same
    block under other keys (``encoder.*``, ours ``layers.*``); both key sets are in weights
    already saved, so each stage keeps its own (see its docstring)."""

    def __init__(self, dim: int, layers: int, heads: int, max_frames: int):
        super().__init__()
        self.shape = {"dim": dim, "layers": layers, "heads": heads, "max_frames": max_frames}
        self.position = nn.Embedding(max_frames, dim)
        nn.init.normal_(self.position.weight, std=0.01)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, v: VideoFeatures, positions: torch.Tensor | None = None) -> VideoFeatures:
        """Normalised frames (M, T, D) in, normalised frames out; padded slots stay zero.

        ``positions`` (M, T) long: each slot's frame index (default: 0..T-1)."""
        m, t, _ = v.frames.shape
        if t > self.shape["max_frames"]:
            raise ValueError(f"the temporal encoder was trained for at most {self.shape['max_frames']} frames, "
                             f"got {t}: score with frames.num_frames <= {self.shape['max_frames']}")
        if positions is None:
            positions = torch.arange(t, device=v.frames.device).expand(m, t)
        mask = v.frame_mask.bool()
        x = v.frames + self.position(positions).to(v.frames.dtype)
        pad = ~mask & mask.any(1, keepdim=True)  # a video with no real frame attends to itself
        out = self.layers(x, src_key_padding_mask=pad) + v.frames
        return VideoFeatures(F.normalize(out.float(), dim=-1) * mask.unsqueeze(-1), mask)


def save(encoder: TemporalEncoder, folder: Path) -> None:
    from safetensors.torch import save_file

    (Path(folder) / CONFIG).write_text(json.dumps(encoder.shape, indent=2, sort_keys=True))
    save_file({k: v.detach().contiguous().cpu() for k, v in encoder.state_dict().items()}, str(Path(folder) / WEIGHTS))


def load(folder: str | Path) -> TemporalEncoder | None:
    """The folder's temporal encoder (eval mode), or None when it has none."""
    folder = Path(folder)
    if not (folder / CONFIG).is_file():
        return None
    from safetensors.torch import load_file

    encoder = TemporalEncoder(**json.loads((folder / CONFIG).read_text()))
    encoder.load_state_dict(load_file(str(folder / WEIGHTS)))
    return encoder.eval()
