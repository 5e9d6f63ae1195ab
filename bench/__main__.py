"""``python -m bench [--full] [--only NAME ...]``: measure what precomputed teacher scores buy.

Writes ``bench/results.json`` (merged with figures already there when ``--only`` picks
some) and prints a table on stdout; progress goes to stderr. Quick mode (the default)
takes a few minutes on 2 cores; ``--full`` uses the bigger sizes documented per figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
from pathlib import Path

from .common import BenchConfig, Figure, log, python_info
from .registry import BENCHMARKS, Unavailable, load, select
from .workspace import Workspace

DEFAULT_OUT = Path(__file__).parent / "results.json"


def parse(argv: list[str]) -> tuple[BenchConfig, list[str], Path]:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="bigger sizes (tens of minutes)")
    p.add_argument("--tiny", action="store_true", help="smoke-test sizes (seconds; figures not meaningful)")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help=f"a benchmark ({', '.join(BENCHMARKS)}) or a figure name; repeatable")
    p.add_argument("--repeats", type=int, default=None, help="measurements per figure (default 5, 3 with --tiny)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch/faiss threads (default: torch's own choice; 1 steadies figures on a busy machine)")
    p.add_argument("--workdir", default="", help="keep synthetic stores here (default: a temporary folder)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON (default bench/results.json)")
    a = p.parse_args(argv)
    if a.full and a.tiny:
        p.error("--full and --tiny exclude each other")
    repeats = a.repeats if a.repeats is not None else (3 if a.tiny else 5)
    if repeats < 1:
        p.error(f"--repeats must be at least 1, got {repeats}")
    if a.threads < 0:
        p.error(f"--threads must be >= 0, got {a.threads}")
    try:
        names = select(a.only)
    except ValueError as e:
        p.error(str(e))
    cfg = BenchConfig(full=a.full, repeats=repeats, workdir=a.workdir, tiny=a.tiny, threads=a.threads)
    return cfg, names, a.out


def run(cfg: BenchConfig, names: list[str]) -> tuple[list[Figure], dict[str, str]]:
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    figures, skipped = [], {}
    with Workspace(cfg) as ws:
        for name in names:
            log(f"[bold]{name}[/bold] ({cfg.mode})")
            t0 = time.perf_counter()
            try:
                figures += load(name).run(cfg, ws)
            except Unavailable as e:
                skipped[name] = str(e)
                log(f"[yellow]{name} skipped:[/yellow] {e}")
            log(f"{name} took {time.perf_counter() - t0:.1f} s")
    return figures, skipped


def write_results(path: Path, cfg: BenchConfig, figures: list[Figure], skipped: dict, argv, elapsed) -> dict:
    """Merge this run's figures into ``path`` (figures from earlier runs keep their own mode)."""
    old = {}
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = {}
    stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    figs = dict(old.get("figures", {}))
    for f in figures:
        figs[f.name] = f.as_json() | {"mode": cfg.mode, "measured_at": stamp}
    ran = {_benchmark_of(f.name) for f in figures} | set(skipped)
    skips = {k: v for k, v in old.get("skipped", {}).items() if k not in ran} | skipped
    out = {
        "command": "python -m bench " + " ".join(argv),
        "mode": cfg.mode,
        "finished_at": stamp,
        "elapsed_s": elapsed,
        "machine": python_info(),
        "figures": figs,
        "skipped": skips,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, allow_nan=False) + "\n")
    return out


def _benchmark_of(figure: str) -> str | None:
    for name in BENCHMARKS:
        if figure in load(name).FIGURES:
            return name
    return None


def table(figures: list[Figure], skipped: dict[str, str]) -> str:
    """The stdout report: one line per figure, then the ``scale`` table."""
    head = f"{'figure':<26}{'median':>12}{'min':>12}{'max':>12}  {'unit':<10}{'goal':<10}{'met':<5}"
    lines = [head, "-" * len(head)]
    tables = []
    for f in figures:
        if f.table is not None:
            tables.append(f)
            continue
        met = "" if f.met is None else ("yes" if f.met else "NO")
        lines.append(f"{f.name:<26}{_num(f.median):>12}{_num(f.min):>12}{_num(f.max):>12}  "
                     f"{f.unit:<10}{f.goal:<10}{met:<5}")
    for name, why in skipped.items():
        lines.append(f"{name:<26}{'skipped: ' + why}")
    for f in tables:
        lines += ["", f"{f.name}:",
                  f"{'fraction':>9}{'rows':>15}{'GB':>8}{'B/score':>9}{'write Mrow/s':>14}{'batch ms':>10}{'loader Mrow/s':>15}"
                  f"{'stream Mrow/s':>15}{'matrix build s':>16}{'matrix batch ms':>17}"]
        for r in f.table:
            lines.append(f"{_pct(r['fraction']):>9}{r['rows']:>15,}{r['bytes'] / 1e9:>8.3f}{r['bytes_per_score']:>9.3f}"
                         f"{r['write_rows_per_s'] / 1e6:>14.2f}{r['batch_assembly_ms']['median']:>10.1f}"
                         f"{r['loader_rows_per_s']['median'] / 1e6:>15.3f}"
                         f"{r['stream_rows_per_s']['median'] / 1e6:>15.2f}"
                         f"{r['matrix_build_s']:>16.2f}{r['matrix_batch_ms']:>17.3f}")
        for lim in f.detail.get("limits", []):
            lines.append(f"{_pct(lim['fraction']):>9}{lim['rows']:>15,}  not run: {lim['limit']}")
    return "\n".join(lines)


def _pct(f: float) -> str:
    return f"{f * 100:g}%"


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "nan"
    return f"{x:.4g}" if abs(x) < 1e5 else f"{x:.3e}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cfg, names, out = parse(argv)
    t0 = time.perf_counter()
    figures, skipped = run(cfg, names)
    write_results(out, cfg, figures, skipped, argv, time.perf_counter() - t0)
    print(table(figures, skipped))
    log(f"wrote {out} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
