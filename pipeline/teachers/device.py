"""Device choice and mixed precision for teachers: CUDA with bf16 autocast, else CPU fp32,
unless a teacher's ``precision`` says otherwise (``bf16`` on a CPU with native bf16 --
AVX512_BF16 or AMX -- halves the demo's all-MiniLM-L6-v2 time; without it, it is slower)."""

from __future__ import annotations

import contextlib

import torch

from teachkit.util.errors import InputError


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present; an explicit CUDA device without CUDA is an error."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {spec!r} requested but CUDA is not available (device = \"auto\" uses it when present)")
    return device


def autocast(device: torch.device, precision: str = "auto"):
    """The encoders' autocast for a teacher's ``precision`` (pipeline.config.PRECISIONS): auto
    is bf16 on CUDA and fp32 on CPU, bf16 is bf16 on any device, fp32 is fp32."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
