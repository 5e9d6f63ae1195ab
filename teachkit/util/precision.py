"""Mixed precision: what ``precision = "auto" | "bf16" | "fp32"`` means, for every stage.

The teachers' encoders, the bootstrap's trainers and the student all run their forward
passes under :func:`autocast`, so the rule lives here once:

* ``fp32`` -- no autocast anywhere.
* ``bf16`` -- bf16 autocast on any device (on a CPU without native bf16 it is emulated and
  slower than fp32, but asked for).
* ``auto`` -- bf16 where the hardware runs it natively: always on CUDA; on a CPU only with
  AVX512_BF16 or AMX (x86) or the BF16 extension (Arm). Elsewhere fp32.

Why the CPU test: the demo's all-MiniLM-L6-v2 judges and teachers run about 1.75x faster in
bf16 on a CPU with native bf16, and several times slower on one without (AVX512-F alone is
not enough: oneDNN then converts every operand in software). ``auto`` takes the fast side
on each machine. torch's ``backends.cpu.get_cpu_capability()`` is no help here: it reports
the vector width (``AVX512``) the kernels were picked for, not the bf16 extension, so the
flags come from ``/proc/cpuinfo``. Where those cannot be read (macOS, Windows) ``auto`` stays
fp32. ``TEACHKIT_CPU_BF16=1`` (or ``0``) overrides the detection, for tests and for
machines that misreport.
"""

from __future__ import annotations

import contextlib
import os
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where a precision is used, not where configs name one
    import torch

#: the values every ``precision`` field accepts (teachers, bootstrap options, student)
PRECISIONS = ("auto", "bf16", "fp32")

#: overrides the CPU detection: "1" says the CPU has native bf16, "0" that it has not
CPU_BF16_ENV = "TEACHKIT_CPU_BF16"

#: /proc/cpuinfo flags of a native bf16 dot product: x86 AVX512_BF16 / AMX-BF16, Arm BF16
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The feature flags of ``/proc/cpuinfo`` text (x86 ``flags``, Arm ``Features`` lines)."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return frozenset(flags)


@lru_cache(maxsize=1)
def _detected_cpu_bf16() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return bool(cpu_flags(f.read()) & NATIVE_BF16_FLAGS)
    except OSError:
        return False


def cpu_has_native_bf16() -> bool:
    """Whether this machine's CPU computes bf16 natively (see the module; ``TEACHKIT_CPU_BF16`` wins)."""
    override = os.environ.get(CPU_BF16_ENV, "").strip()
    if override in ("0", "1"):
        return override == "1"
    if override:
        raise ValueError(f"{CPU_BF16_ENV} must be 0 or 1, got {override!r}")
    return _detected_cpu_bf16()


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``bf16`` or ``fp32``: what ``precision`` (one of :data:`PRECISIONS`) runs as on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    import torch

    kind = torch.device(device).type
    if kind == "cuda" or (kind == "cpu" and cpu_has_native_bf16()):
        return "bf16"
    return "fp32"


def autocast(device: torch.device | str, precision: str = "auto"):
    """The autocast context of a forward pass at ``precision`` on ``device`` (a no-op for fp32)."""
    import torch

    device = torch.device(device)
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
