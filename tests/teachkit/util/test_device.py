"""teachkit.util.device: auto takes CUDA when present; an explicit CUDA without it names the field."""

from __future__ import annotations

import pytest
import torch

from teachkit.util.config import ConfigError
from teachkit.util.device import resolve_device


def test_auto_and_explicit_devices():
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_one_error_naming_the_field():
    with pytest.raises(ConfigError, match=r"^train.device 'cuda' requested but CUDA is not available"):
        resolve_device("cuda", "train.device")
    with pytest.raises(ConfigError, match=r"^device 'cuda:1' requested"):
        resolve_device("cuda:1")
