"""The folder a bench run works in, and the synthetic stores it builds once per run."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .common import BenchConfig, log
from .synthetic import SyntheticSpec, SyntheticStore, build


class Workspace:
    """Synthetic stores keyed by fraction of MSR-VTT, built on first use and shared."""

    def __init__(self, cfg: BenchConfig):
        self.cfg = cfg
        self._own = not cfg.workdir
        self.root = Path(cfg.workdir or tempfile.mkdtemp(prefix="teachkit-bench-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self._stores: dict[float, SyntheticStore] = {}
        self._memo: dict[str, object] = {}

    def once(self, key: str, build):
        """``build()`` the first time ``key`` is asked for in this run, then the same object."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def synthetic(self, fraction: float) -> SyntheticStore:
        if fraction not in self._stores:
            spec = SyntheticSpec.fraction(fraction)
            path = self.root / f"synthetic-{fraction:g}"
            shutil.rmtree(path, ignore_errors=True)
            log(f"writing a synthetic store at {fraction * 100:g}% of MSR-VTT ({spec.rows:,} score rows)")
            self._stores[fraction] = build(path, spec)
        return self._stores[fraction]

    def drop(self, fraction: float) -> None:
        """Delete a store that is no longer needed (the big ones fill the disk)."""
        s = self._stores.pop(fraction, None)
        if s is not None:
            shutil.rmtree(s.root, ignore_errors=True)

    def path(self, name: str) -> Path:
        p = self.root / name
        p.mkdir(parents=True, exist_ok=True)
        return p

    def close(self) -> None:
        if self._own:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
