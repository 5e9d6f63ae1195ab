"""Device choice and mixed precision for teachers: CUDA with bf16 autocast, else CPU fp32."""

from __future__ import annotations

import contextlib

import torch

from stores.errors import InputError


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present; an explicit CUDA device without CUDA is an error."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {spec!r} requested but CUDA is not available (device = \"auto\" uses it when present)")
    return device


def autocast(device: torch.device):
    """bf16 autocast on CUDA (encoders); a no-op on CPU, which computes in fp32."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
