"""teachkit.util.precision: auto is bf16 on CUDA and on CPUs with native bf16, fp32 elsewhere."""

from __future__ import annotations

import pytest
import torch

from teachkit.util import precision
from teachkit.util.precision import PRECISIONS, autocast, cpu_flags, cpu_has_native_bf16, resolve_precision

# /proc/cpuinfo excerpts: the 2-core machine (AVX512-F, no bf16), a Sapphire Rapids
# (AMX), a Cooper Lake (AVX512_BF16 only), and an Arm Neoverse V1 (BF16)
AVX512_ONLY = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512dq avx512bw avx512vl avx512_vnni\n"
AMX = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"
COOPER_LAKE = "flags\t\t: fpu avx2 avx512f avx512_bf16\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\nCPU implementer\t: 0x41\n"


@pytest.mark.parametrize("text, native", [(AVX512_ONLY, False), (AMX, True), (COOPER_LAKE, True), (ARM, True), ("", False)])
def test_native_bf16_is_read_from_the_cpu_flags(text, native):
    assert bool(cpu_flags(text) & precision.NATIVE_BF16_FLAGS) is native


def test_cpu_flags_reads_flags_and_features_lines_only():
    assert cpu_flags(ARM) == {"fp", "asimd", "sve", "bf16", "i8mm"}
    assert "avx512_bf16" not in cpu_flags("model name\t: avx512_bf16 lookalike\n")


def test_auto_follows_the_device_and_the_cpu(monkeypatch):
    monkeypatch.setenv("TEACHKIT_CPU_BF16", "0")
    assert not cpu_has_native_bf16()
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"  # CUDA always has it
    assert resolve_precision("auto", "meta") == "fp32"  # any other device: fp32
    monkeypatch.setenv("TEACHKIT_CPU_BF16", "1")
    assert cpu_has_native_bf16()
    assert resolve_precision("auto", "cpu") == "bf16"
    for forced in ("bf16", "fp32"):  # an explicit precision is never second-guessed
        for flag in ("0", "1"):
            monkeypatch.setenv("TEACHKIT_CPU_BF16", flag)
            assert resolve_precision(forced, "cpu") == forced


def test_without_the_override_the_cpu_flags_decide(monkeypatch, tmp_path):
    monkeypatch.delenv("TEACHKIT_CPU_BF16", raising=False)
    try:
        with open("/proc/cpuinfo") as f:
            expected = bool(cpu_flags(f.read()) & {"avx512_bf16", "amx_bf16", "bf16"})
    except OSError:
        expected = False
    assert cpu_has_native_bf16() is expected
    assert resolve_precision("auto", "cpu") == ("bf16" if expected else "fp32")


def test_bad_values_are_errors(monkeypatch):
    assert PRECISIONS == ("auto", "bf16", "fp32")
    with pytest.raises(ValueError, match=r"precision must be one of \['auto', 'bf16', 'fp32'\], got 'fp16'"):
        resolve_precision("fp16", "cpu")
    monkeypatch.setenv("TEACHKIT_CPU_BF16", "yes")
    with pytest.raises(ValueError, match="TEACHKIT_CPU_BF16 must be 0 or 1"):
        resolve_precision("auto", "cpu")


def test_autocast_computes_in_the_resolved_dtype(monkeypatch):
    x = torch.ones(2, 2)
    monkeypatch.setenv("TEACHKIT_CPU_BF16", "0")
    with autocast("cpu", "auto"):
        assert (x @ x).dtype == torch.float32
    with autocast(torch.device("cpu"), "bf16"):
        assert (x @ x).dtype == torch.bfloat16
    monkeypatch.setenv("TEACHKIT_CPU_BF16", "1")
    with autocast("cpu", "auto"):
        assert (x @ x).dtype == torch.bfloat16
    with autocast("cpu", "fp32"):
        assert (x @ x).dtype == torch.float32


def test_every_stage_names_the_same_precisions():
    from pipeline.bootstrap import options
    from pipeline import config
    from student.config import TrainConfig

    assert options.PRECISIONS is PRECISIONS and config.PRECISIONS is PRECISIONS
    from teachkit.util.config import ConfigError

    with pytest.raises(ConfigError, match=r"train.precision must be one of \['auto', 'bf16', 'fp32'\]"):
        TrainConfig(precision="fp16").check("train")
