"""The report's figures, drawn with matplotlib (Agg: no display needed).

Each function takes what :mod:`teachkit.report.results`, :mod:`~teachkit.report.relevance`
and :mod:`~teachkit.report.agreement` read and returns a matplotlib ``Figure``; the page
(:mod:`teachkit.report.page`) saves and embeds them.
"""

from __future__ import annotations

import re
import textwrap

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .agreement import AuditCurve  # noqa: E402
from .relevance import CaptionRelevance  # noqa: E402
from .results import ModelResult  # noqa: E402

TEACHER_COLOUR = "#7f7f7f"
# the students' colours: tab10 without its grey (the teachers' colour)
PALETTE = tuple(c for i, c in enumerate(plt.get_cmap("tab10").colors) if i != 7)
SEED = re.compile(r"-seed\d+$")


def _figure(w: float, h: float, n: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize=(w, h), dpi=100, layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    return fig, list(axes)


def comparison(models: list[ModelResult], metric: str = "R@1") -> Figure:
    """Teachers and students side by side: bars at the mean over seeds, +- one standard
    deviation, every seed as a dot."""
    fig, axes = _figure(max(6.0, 1.1 * len(models) + 2), 3.6, 2)
    x = np.arange(len(models))
    students = [m.name for m in models if m.kind != "teacher"]
    for ax, direction in zip(axes, ("t2v", "v2t")):
        for i, m in enumerate(models):
            vals = m.values(direction, metric)
            if not vals:
                continue
            colour = TEACHER_COLOUR if m.kind == "teacher" else PALETTE[students.index(m.name) % len(PALETTE)]
            ax.bar(i, np.mean(vals), color=colour, alpha=0.75, yerr=np.std(vals) if len(vals) > 1 else None, capsize=4)
            ax.scatter(np.full(len(vals), i) + np.linspace(-0.15, 0.15, len(vals)), vals, color="black", s=12, zorder=3)
            top = max(max(vals), np.mean(vals) + np.std(vals))  # above the error bar and every dot
            ax.annotate(f"{np.mean(vals):.1f}", (i, top), ha="center", va="bottom", fontsize=8,
                        xytext=(0, 3), textcoords="offset points")
        ax.set_xticks(x, [m.name.removeprefix("student_") for m in models], rotation=25, ha="right")
        ax.set_title(f"{direction} {metric} (test split)")
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(axis="y", alpha=0.3)
    return fig


def training_curves(logs: dict[str, list[dict]]) -> Figure:
    """Every loss the runs logged, and validation R@1 when the runs logged it."""
    loss_keys = ["loss"] + sorted({k for rows in logs.values() for r in rows for k in r if k.endswith("_loss")})
    val_keys = sorted({k for rows in logs.values() for r in rows for k in r if k.startswith("val/") and k.endswith("R@1")})
    keys = loss_keys + val_keys
    cols = min(3, len(keys))
    nrows = -(-len(keys) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.0 * nrows), dpi=100, layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, cols, squeeze=False)).ravel()
    variants = sorted({SEED.sub("", name) for name in logs})
    for ax, key in zip(axes, keys):
        for name, rows in logs.items():
            pts = [(r["step"], r[key]) for r in rows if key in r]
            if not pts:
                continue
            steps, vals = zip(*pts)
            colour = PALETTE[variants.index(SEED.sub("", name)) % len(PALETTE)]
            ax.plot(steps, vals, color=colour, alpha=0.8, lw=1.2, marker="o" if key.startswith("val/") else None,
                    ms=3, label=SEED.sub("", name))
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    axes[0].legend(unique.values(), unique.keys(), fontsize=8)
    return fig


def relevance_heatmap(c: CaptionRelevance) -> Figure:
    """Rows: each teacher's frame relevance, the student's AFA weights, the true events;
    columns: the video's source frames. Each row is min-max scaled (the models score on
    different scales); grey cells are frames the model did not sample."""
    n_rows = len(c.rows) + (1 if c.events else 0)
    fig = Figure(figsize=(9.0, 0.55 * n_rows + 1.5), dpi=100, layout="constrained")
    ax = fig.subplots()
    grid = np.full((n_rows, c.n_frames), np.nan)
    labels = []
    for i, row in enumerate(c.rows):
        v = np.asarray(row.values, dtype=float)
        span = v.max() - v.min()
        grid[i, row.positions] = (v - v.min()) / span if span > 0 else 0.5
        labels.append(f"{row.label}\n{v.min():.2f} to {v.max():.2f}")
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#e6e6e6")
    ax.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    if c.events:
        # one colour per event on the last row, drawn as rectangles over the grey
        for k, (label, frames) in enumerate(c.events):
            for f in frames:
                ax.add_patch(matplotlib.patches.Rectangle((f - 0.5, n_rows - 1.5), 1, 1, color=PALETTE[(k + 1) % len(PALETTE)],
                                                          label=label if f == frames[0] else None))
        labels.append("ground truth events")
        fig.legend(loc="outside lower center", ncol=len(c.events), fontsize=8, frameon=False)
    ax.set_yticks(range(n_rows), labels, fontsize=8)
    ax.set_xticks(range(c.n_frames))
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("source frame")
    ax.set_title("\n".join(textwrap.wrap(f'{c.caption_id}: "{c.text}"', 110)), fontsize=9)
    return fig


def agreement_figure(rho: dict[tuple[str, str], np.ndarray]) -> Figure:
    """Per-caption Spearman correlation between every pair of teachers."""
    fig, (ax,) = _figure(max(5.0, 1.6 * len(rho) + 1.5), 3.4)
    labels = [f"{a}\nvs {b}\nmean {v.mean():.2f}" for (a, b), v in rho.items()]
    ax.boxplot(list(rho.values()), showfliers=False, showmeans=True, whis=(10, 90))
    ax.set_xticks(range(1, len(rho) + 1), labels, fontsize=8)
    ax.set_ylabel("Spearman's rho per caption\n(box: quartiles, whiskers: p10-p90)")
    ax.set_title("teacher agreement (test split)")
    ax.grid(axis="y", alpha=0.3)
    return fig


def audit_figure(curve: AuditCurve) -> Figure:
    """Precision against recall of the audit's ranking (most suspicious first)."""
    fig, (ax,) = _figure(4.6, 3.6)
    ax.plot(curve.recall, curve.precision, color=PALETTE[0])
    ax.axhline(curve.wrong / curve.audited, color=TEACHER_COLOUR, ls="--", lw=1, label="wrong-caption rate")
    if curve.flagged is not None:
        ax.scatter([curve.flagged[1]], [curve.flagged[0]], color=PALETTE[3], zorder=3, label="the audit's flags")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"caption audit ({curve.wrong} wrong of {curve.audited})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def _median(v):
    return v["median"] if isinstance(v, dict) else v


def scale_figure(table: list[dict]) -> Figure:
    """``bench`` scale curves: per-batch teacher cost and throughput as the store grows."""
    rows = sorted(table, key=lambda r: r["rows"])
    n = np.array([r["rows"] for r in rows], dtype=float)
    fig, axes = _figure(12.0, 3.4, 3)
    series = [
        (axes[0], "ms per 128 x 128 batch", [("window loader", "batch_assembly_ms"), ("matrix loader", "matrix_batch_ms")]),
        (axes[1], "million rows / s", [("write", "write_rows_per_s"), ("DuckDB stream", "stream_rows_per_s")]),
        (axes[2], "seconds", [("matrix build (once)", "matrix_build_s")]),
    ]
    for ax, ylabel, lines in series:
        for k, (label, key) in enumerate(lines):
            if not all(key in r for r in rows):
                continue
            y = np.array([_median(r[key]) for r in rows], dtype=float)
            if "rows_per_s" in key:
                y = y / 1e6
            ax.plot(n, y, marker="o", color=PALETTE[k], label=label)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("scores in the store")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    axes[0].set_yscale("log")
    fig.suptitle("scale (bench/results.json)", fontsize=10)
    return fig
