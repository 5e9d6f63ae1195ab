"""Bootstrapped teachers: small CLIPs trained on the demo's train split, saved like hub models.

No pretrained CLIP weights can be downloaded where the demo runs, so ``make teachers`` first
trains small ``CLIPModel`` checkpoints (:func:`ensure_checkpoint`, cached after the first
time); the teacher stage then loads them with ``from_pretrained`` exactly as it would load
``openai/clip-vit-base-patch32``.
"""

from .checkpoint import BootstrapResult, bootstrap, ensure_checkpoint
from .options import BootstrapOptions, BootstrapOptionsError, parse_options

__all__ = [
    "BootstrapOptions",
    "BootstrapOptionsError",
    "BootstrapResult",
    "bootstrap",
    "ensure_checkpoint",
    "parse_options",
]
