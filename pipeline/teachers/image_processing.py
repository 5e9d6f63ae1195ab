"""A CLIP image processor in torch: resize, center crop, rescale, normalise, from its config.

The Hugging Face processor works one PIL image at a time; a teacher sees twelve frames per
video and thousands of videos, so this module reads the same ``preprocessor_config.json``
and does the work in batches: resize + crop of one video's frames on the CPU (uint8, in
the decoding threads), then rescale + normalise on the teacher's device. torch's
antialiased uint8 resize rounds like PIL's on all but a fraction of a percent of pixels,
which differ by one or two grey levels; ``tests/pipeline/teachers/test_clip.py.py`` checks
the output against ``CLIPImageProcessor`` itself.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

CONFIG_NAME = "preprocessor_config.json"
_MODES = {2: "bilinear", 3: "bicubic"}  # PIL resample codes transformers stores
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class FrameTransform:
    """One processor's geometry and normalisation (hashable: teachers that share it share work)."""

    shortest_edge: int | None = 224  # resize so the short side is this (aspect kept)...
    size: tuple[int, int] | None = None  # ...or to exactly (height, width)
    resample: int = 3
    crop: tuple[int, int] | None = (224, 224)  # center crop (height, width), padding with 0
    rescale: float | None = 1 / 255
    mean: tuple[float, ...] | None = OPENAI_CLIP_MEAN
    std: tuple[float, ...] | None = OPENAI_CLIP_STD

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "FrameTransform":
        path = Path(folder) / CONFIG_NAME
        if not path.exists():
            raise FileNotFoundError(f"{folder}: no {CONFIG_NAME}; save the image processor with the model")
        return cls.from_dict(json.loads(path.read_text()), source=str(path))

    @classmethod
    def from_dict(cls, d: dict, source: str = "image processor config") -> "FrameTransform":
        """Read a transformers image-processor config (CLIP defaults for missing keys)."""
        shortest, size = 224, None
        if d.get("do_resize", True):
            s = d.get("size", {"shortest_edge": 224})
            if isinstance(s, int):
                s = {"shortest_edge": s}
            if set(s) == {"shortest_edge"}:
                shortest = int(s["shortest_edge"])
            elif set(s) == {"height", "width"}:
                shortest, size = None, (int(s["height"]), int(s["width"]))
            else:
                raise ValueError(f"{source}: unsupported resize size {s}")
        else:
            shortest = None
        resample = int(d.get("resample", 3))
        if resample not in _MODES:
            raise ValueError(f"{source}: unsupported resample {resample} (bilinear=2 and bicubic=3 are)")
        crop = None
        # processors without a crop step (SigLIP: an exact resize) write neither key
        if d.get("do_center_crop", "crop_size" in d or "size" not in d):
            c = d.get("crop_size", {"height": 224, "width": 224})
            crop = (int(c), int(c)) if isinstance(c, int) else (int(c["height"]), int(c["width"]))
        rescale = float(d.get("rescale_factor", 1 / 255)) if d.get("do_rescale", True) else None
        mean = std = None
        if d.get("do_normalize", True):
            mean = _triple(d.get("image_mean", OPENAI_CLIP_MEAN))
            std = _triple(d.get("image_std", OPENAI_CLIP_STD))
        return cls(shortest, size, resample, crop, rescale, mean, std)

    # -- geometry (CPU, uint8) ------------------------------------------------------
    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) after resize, as transformers computes it (long side truncated)."""
        if self.size is not None:
            return self.size
        if self.shortest_edge is None:
            return height, width
        short, long = (width, height) if width <= height else (height, width)
        new_long = int(self.shortest_edge * long / short)
        return (new_long, self.shortest_edge) if width <= height else (self.shortest_edge, new_long)

    def resize_crop(self, frames: np.ndarray) -> torch.Tensor:
        """(T, H, W, 3) uint8 frames -> (T, 3, h, w) uint8, resized and center-cropped."""
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        h, w = x.shape[-2:]
        out_h, out_w = self.output_size(h, w)
        if (out_h, out_w) != (h, w) and x.shape[0]:
            x = _resize_uint8(x.contiguous(), (out_h, out_w), _MODES[self.resample])
        if self.crop is not None:
            x = center_crop(x, self.crop)
        return x.contiguous()

    # -- values (any device) --------------------------------------------------------
    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (..., 3, h, w) -> float32 pixel values, rescaled and normalised."""
        y = x.float()
        if self.rescale is not None:
            y = y * self.rescale
        if self.mean is not None:
            mean = torch.tensor(self.mean, device=y.device).view(3, 1, 1)
            std = torch.tensor(self.std, device=y.device).view(3, 1, 1)
            y = (y - mean) / std
        return y


def _triple(v) -> tuple[float, ...]:
    v = (float(v),) * 3 if isinstance(v, (int, float)) else tuple(float(x) for x in v)
    if len(v) != 3:
        raise ValueError(f"image mean/std must have 3 values, got {v}")
    return v


def _resize_uint8(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Antialiased resize of uint8 images. torch's CPU uint8 kernels track PIL; elsewhere
    (or on older torch) resize in float and round, which can differ by a few grey levels."""
    try:
        return F.interpolate(x, size=size, mode=mode, antialias=True, align_corners=False)
    except RuntimeError:
        y = F.interpolate(x.float(), size=size, mode=mode, antialias=True, align_corners=False)
        return y.round_().clamp_(0, 255).to(torch.uint8)


def center_crop(x: torch.Tensor, crop: tuple[int, int]) -> torch.Tensor:
    """transformers' center crop: offsets floor((size - crop) / 2); zero-pad when too small."""
    ch, cw = crop
    h, w = x.shape[-2:]
    if ch > h or cw > w:
        nh, nw = max(ch, h), max(cw, w)
        top, left = math.ceil((nh - h) / 2), math.ceil((nw - w) / 2)
        x = F.pad(x, (left, nw - w - left, top, nh - h - top))
        h, w = nh, nw
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[..., top : top + ch, left : left + cw]
