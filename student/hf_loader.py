"""Use a student exported by ``teachkit student export RUN --format hf OUT`` without teachkit.

The export folder holds a transformers ``CLIPModel`` (``CLIPModel.from_pretrained(OUT)``)
and its tokenizer, the video head as ``video_head.safetensors`` + ``video_head.json``, and
two plain Python files: ``teachkit_heads.py`` (the head modules, a copy of
``student/heads.py``) and ``teachkit_student.py`` (this file). With torch, transformers and
safetensors installed::

    import sys; sys.path.insert(0, OUT)
    from teachkit_student import ExportedStudent
    student = ExportedStudent(OUT)
    text = student.encode_text(["a red circle moves left"])        # (1, D), normalised
    video, weights = student.encode_video(frames)                   # frames: uint8 (M, T, H, W, 3)
    scores = text @ video.T

The vectors are the run's: captions pool the last real token (the training pooling), and
frames are resized as in training (shorter side, bilinear with antialias, centre crop,
rounded to uint8), scaled to [0, 1] and normalised with CLIP's mean and std.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

try:  # inside teachkit
    from .heads import build_head
except ImportError:  # in an export folder, beside teachkit_heads.py
    from teachkit_heads import build_head

HEAD_WEIGHTS = "video_head.safetensors"
HEAD_CONFIG = "video_head.json"


def load_video_head(folder: str | Path) -> tuple[torch.nn.Module, dict]:
    """The exported video head (eval mode) and its config."""
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg = json.loads((folder / HEAD_CONFIG).read_text())
    head = build_head(cfg["head"], dim=cfg["dim"], heads=cfg["heads"], max_frames=cfg["max_frames"], **cfg["options"])
    head.load_state_dict(load_file(str(folder / HEAD_WEIGHTS)))
    return head.eval(), cfg


def resize_frames(frames: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> uint8 (N, size, size, 3): shorter side to ``size``, centre crop."""
    n, h, w, _ = frames.shape
    if h == size and w == size:
        return frames
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    x = frames.permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (nh - size) // 2, (nw - size) // 2
    x = x[:, :, top : top + size, left : left + size]
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def pixel_values(frames: torch.Tensor, cfg: dict) -> torch.Tensor:
    """uint8 (N, H, W, 3) frames -> the CLIP vision tower's normalised input (N, 3, S, S)."""
    x = resize_frames(frames, cfg["image_size"]).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(cfg["pixel_mean"]).view(1, 3, 1, 1)
    std = torch.tensor(cfg["pixel_std"]).view(1, 3, 1, 1)
    return (x - mean) / std


class ExportedStudent:
    """The student's text and video towers from an export folder (CPU unless moved)."""

    def __init__(self, folder: str | Path):
        from transformers import AutoTokenizer, CLIPModel

        self.folder = Path(folder)
        self.clip = CLIPModel.from_pretrained(str(self.folder)).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.folder))
        self.head, self.cfg = load_video_head(self.folder)

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        enc = self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=self.cfg["max_words"],
                             return_tensors="pt")
        out = self.clip.text_model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
        last = enc["attention_mask"].long().sum(1).clamp_min(1) - 1
        pooled = out.last_hidden_state[torch.arange(len(texts)), last]
        return F.normalize(self.clip.text_projection(pooled).float(), dim=-1)

    @torch.no_grad()
    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (M, T, H, W, 3) -> projected frame features (M, T, D) (``get_image_features``)."""
        m, t = frames.shape[:2]
        feats = self.clip.get_image_features(pixel_values=pixel_values(frames.flatten(0, 1), self.cfg))
        feats = getattr(feats, "pooler_output", feats)  # transformers 5 returns an output object
        return feats.view(m, t, -1)

    @torch.no_grad()
    def encode_video(self, frames: torch.Tensor, mask: torch.Tensor | None = None):
        """Normalised video vectors (M, D) and the head's frame weights (M, T) or None."""
        frames = torch.as_tensor(frames)
        if mask is None:
            mask = torch.ones(frames.shape[:2], dtype=torch.bool)
        video, weights = self.head(self.encode_frames(frames), torch.as_tensor(mask).bool())
        return F.normalize(video.float(), dim=-1), weights
