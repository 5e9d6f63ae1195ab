"""What every benchmark shares: sizes per mode, repeated timing, figures, progress.

A figure is the median of repeated measurements with their min and max. Ratios are
measured *paired*: the two sides run alternately in one process (A, B, A, B, ...), each
pair gives one ratio, and the figure is the median of those ratios -- on a shared machine
the absolute times drift, the ratio of neighbouring runs much less.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from rich.console import Console

#: progress goes to stderr; stdout carries only the results table
progress = Console(stderr=True, highlight=False)


@dataclass(frozen=True)
class BenchConfig:
    """Parsed once in ``bench.__main__``; ``full`` selects the bigger sizes."""

    full: bool = False
    repeats: int = 5
    workdir: str = ""  # where synthetic stores go (a temporary folder when empty)
    tiny: bool = False  # smoke-test sizes: seconds, not minutes; figures are not meaningful
    threads: int = 0  # torch / faiss threads; 0 leaves torch's default (one per core)

    @property
    def mode(self) -> str:
        return "tiny" if self.tiny else ("full" if self.full else "quick")

    @property
    def heavy_repeats(self) -> int:
        """Repeats of the figures that run a stage end to end: at most 3 outside --full."""
        return self.repeats if self.full else min(self.repeats, 3)

    def pick(self, tiny, quick, full):
        """The size for this mode."""
        return tiny if self.tiny else (full if self.full else quick)


@dataclass
class Figure:
    """One reported number: median of ``repeats`` measurements, with min and max."""

    name: str
    median: float
    min: float
    max: float
    unit: str
    repeats: int
    goal: str = ""  # e.g. "<= 1.05"; empty when the figure has no goal
    met: bool | None = None
    notes: str = ""
    detail: dict = field(default_factory=dict)
    table: list[dict] | None = None  # a figure that is a table (``scale``): one dict per row

    def as_json(self) -> dict:
        d = asdict(self)
        d.pop("name")
        if self.table is None:
            d.pop("table")
        else:  # no single number to report
            for k in ("median", "min", "max", "repeats", "goal", "met"):
                d.pop(k)
        return d


def summarize(
    name: str, values: list[float], unit: str, goal: str = "", notes: str = "", detail: dict | None = None
) -> Figure:
    """A :class:`Figure` from repeated measurements; ``goal`` like ``"<= 1.05"`` is checked."""
    if not values:
        raise ValueError(f"{name}: no measurements")
    med = statistics.median(values)
    return Figure(
        name, med, min(values), max(values), unit, len(values), goal, check_goal(med, goal), notes,
        detail or {},
    )


def check_goal(value: float, goal: str) -> bool | None:
    if not goal:
        return None
    op, target = goal.split()
    target = float(target)
    return {"<=": value <= target, ">=": value >= target, "<": value < target, ">": value > target,
            "==": value == target}[op]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Seconds one call of ``fn`` takes, and what it returned."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def repeat(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    return [timed(fn)[0] for _ in range(repeats)]


def paired(a: Callable[[], object], b: Callable[[], object], repeats: int, warmup: int = 1):
    """Alternate ``a`` and ``b``; return (times of a, times of b, ratios a/b per pair).

    The order flips every pair so neither side always runs second (warm caches, turbo).
    """
    for _ in range(warmup):
        a()
        b()
    ta, tb = [], []
    for i in range(repeats):
        if i % 2 == 0:
            ta.append(timed(a)[0])
            tb.append(timed(b)[0])
        else:
            tb.append(timed(b)[0])
            ta.append(timed(a)[0])
    return ta, tb, [x / y for x, y in zip(ta, tb)]


def spread(values: list[float]) -> dict:
    """median / min / max of a list, for the ``detail`` of a figure."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def to_torch(array):
    """A read-only numpy view (arrow's zero-copy output) as a tensor, without copying.

    torch warns that it cannot protect read-only memory; nothing here writes to it.
    """
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)


def finite_positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def log(msg: str) -> None:
    progress.print(f"[dim]bench[/dim] {msg}")


def python_info() -> dict:
    import os
    import platform

    import torch

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        # a shared machine: how busy it was (1, 5, 15-minute load averages) when the run ended
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
