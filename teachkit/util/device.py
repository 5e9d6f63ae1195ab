"""Which device a stage computes on: one rule for the teachers, the bootstrap and the student.

``auto`` takes CUDA when torch sees it, else the CPU. A CUDA device named explicitly on a
machine without CUDA is an error that names the config field, never a silent CPU run: a
run the user sized for a GPU would otherwise take hours on the CPU.
"""

from __future__ import annotations

import torch

from .config import ConfigError


def resolve_device(spec: str = "auto", field: str = "device") -> torch.device:
    """The device of ``spec`` (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ...); ``field`` names
    the config field in the error."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{field} {spec!r} requested but CUDA is not available "
                          f"({field} = \"auto\" uses it when present)")
    return device
