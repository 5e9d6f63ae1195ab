"""Tables in the manual rendered from results JSON, never typed by hand.

A page says ``<!-- results: NAME -->`` (or ``<!-- results: NAME VIEW -->``) and this MkDocs
hook replaces the marker with a Markdown table rendered from ``docs/results/NAME.json``,
followed by a line naming the command that wrote the JSON. ``make docs-results`` copies each
JSON there from where its command wrote it (``SOURCES``). A marker whose JSON is missing
stops the build with one message saying which command writes it.

The README's headline table comes from the same renderer: ``python docs/hooks/results.py
readme`` rewrites the block between ``<!-- results: demo headline -->`` and
``<!-- /results -->`` in README.md (``make readme-results``); ``--check`` only compares.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "results"
ROOT = RESULTS.parent.parent

#: name -> (where its command writes the JSON, the make target, the command itself)
SOURCES = {
    "demo": ("runs/demo/metrics.json", "make student",
             "teachkit student compare --config configs/student_demo.toml"),
    "demo-audit": ("runs/demo-audit/audit_ablation.json", "make student-audit",
                   "teachkit student compare --config configs/student_demo.toml --ablation audit --out runs/demo-audit"),
    "demo-frames": ("runs/demo-frames/frames_ablation.json", "make student-frames",
                    "teachkit student compare --config configs/student_demo.toml --ablation frames --out runs/demo-frames"),
    "bench": ("bench/results.json", "make bench", "python -m bench"),
    "audit": ("runs/audit/measure.json", "make teachers",
              "teachkit captions measure --truth data/demo/ground_truth.json --out runs/audit/measure.json"),
}

#: a marker stands alone on its line (so prose can quote the syntax in backticks)
MARKER = re.compile(r"^<!--\s*results:\s*([\w-]+)(?:\s+([\w-]+))?\s*-->[ \t]*$", re.M)
README_BLOCK = re.compile(r"^(<!--\s*results:\s*([\w-]+)(?:\s+([\w-]+))?\s*-->\n).*?(<!-- /results -->)", re.S | re.M)

#: how the tables name a student of ``teachkit student compare`` (as student/comparison.py prints them)
STUDENT_LABELS = {
    "student_plain": "student plain",
    "student_distilled": "student distilled",
    "student_relational": "student relational",
    "student_distilled_relational": "student distilled + relational",
    "student_audited": "student distilled, audit-cleaned",
    "student_oracle": "student distilled, truth-cleaned (the bound)",
}
ABLATION_LABELS = {
    "all": "distilled, all captions",
    "audited": "distilled, audit-cleaned",
    "oracle": "distilled, truth-cleaned (the bound)",
    "plain_all": "plain, {n} frames",
    "plain_third": "plain, {n} frames",
    "distilled_third": "distilled, {n} frames",
}
T2V = ("R@1", "R@5", "R@10", "MdR", "MnR")
V2T = ("R@1", "R@5", "R@10", "MnR")


class ResultsError(Exception):
    """A marker that cannot be rendered: an unknown name or view, or a missing JSON."""


def load(name: str) -> dict:
    if name not in SOURCES:
        raise ResultsError(f"<!-- results: {name} -->: unknown results name; known: {', '.join(SOURCES)}")
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        src, target, _ = SOURCES[name]
        raise ResultsError(f"docs/results/{name}.json is missing: `{target}` writes it to {src}; "
                           f"run `{target}`, then `make docs-results`")
    return json.loads(path.read_text())


def provenance(name: str) -> str:
    src, target, command = SOURCES[name]
    return (f"*Rendered from `{src}`, written by `{target}` (`{command}`); "
            f"copied into `docs/results/{name}.json` by `make docs-results`.*")


def fmt(x) -> str:
    return "-" if x is None else f"{float(x):.1f}"


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def ordered(variants) -> list[str]:
    """Students in the order the tables name them (plain first), others after, as found."""
    known = list(STUDENT_LABELS) + list(ABLATION_LABELS)
    return sorted(variants, key=lambda v: (known.index(v) if v in known else len(known), v))


def seed_count(m: dict) -> int:
    return len(next(iter(m["seeds"].values())))


def demo_rows(m: dict, teachers: list[str] | None) -> list[tuple[str, dict]]:
    """(label, {"t2v", "v2t"}) per teacher (all, or those named), then per student's mean."""
    rows = []
    for t, tm in m["teachers"].items():
        if teachers is None or t in teachers:
            rows.append((f"teacher `{t}`", tm))
    n = seed_count(m)
    for variant in ordered(m["seeds"]):
        rows.append((f"{STUDENT_LABELS.get(variant, variant)} (mean of {n} seeds)", m["mean"][variant]))
    return rows


def metric_cells(tm: dict, directions: dict) -> list[str]:
    if "t2v" not in tm:  # a teacher the split cannot measure (a text teacher on one caption per video)
        return ["not measurable"] + [""] * (sum(len(k) for k in directions.values()) - 1)
    return [fmt(tm[d].get(k)) for d, keys in directions.items() for k in keys]


def render_demo(m: dict, view: str) -> str:
    if view == "table":
        head = ["model"] + [f"t2v {k}" for k in T2V] + [f"v2t {k}" for k in V2T]
        body = [[label] + metric_cells(tm, {"t2v": T2V, "v2t": V2T}) for label, tm in demo_rows(m, None)]
        return table(head, body)
    if view == "headline":
        coarse = m.get("config", {}).get("loss", {}).get("coarse", {}).get("teachers")
        head = ["model", "t2v R@1", "t2v R@5", "v2t R@1"]
        body = [[label] + metric_cells(tm, {"t2v": ("R@1", "R@5"), "v2t": ("R@1",)})
                for label, tm in demo_rows(m, coarse)]
        return table(head, body)
    if view == "seeds":
        return render_seeds(m, {v: STUDENT_LABELS.get(v, v).removeprefix("student ") for v in m["seeds"]})
    raise ResultsError(f"<!-- results: demo {view} -->: unknown view; demo has table, headline, seeds")


def render_seeds(m: dict, labels: dict[str, str]) -> str:
    """t2v and v2t R@1 of each student per seed, with mean and std over the seeds."""
    seeds = list(next(iter(m["seeds"].values())))
    head = ["student"] + [f"seed {s}" for s in seeds] + ["mean", "std"]
    body = []
    for d in ("t2v", "v2t"):
        for v in ordered(m["seeds"]):
            per_seed = m["seeds"][v]
            body.append([f"{labels[v]}, {d} R@1"] + [fmt(per_seed[s][d]["R@1"]) for s in seeds]
                        + [fmt(m["mean"][v][d]["R@1"]), fmt(m["std"][v][d]["R@1"])])
    return table(head, body)


def render_ablation(m: dict, view: str) -> str:
    if view != "seeds":
        raise ResultsError(f"<!-- results: ... {view} -->: unknown view; an ablation has seeds")
    frames = m.get("num_frames", {})
    labels = {v: ABLATION_LABELS.get(v, v).format(n=frames.get(v, "?")) for v in m["seeds"]}
    return render_seeds(m, labels)


def value(x):
    return x["median"] if isinstance(x, dict) else x


def render_bench(m: dict, view: str) -> str:
    figs = m["figures"]
    if view == "figures":
        body = []
        for name, f in figs.items():
            if "table" in f or "median" not in f:
                continue
            goal = f.get("goal") or "-"
            met = {True: "met", False: "missed", None: ""}[f.get("met")]
            body.append([f"`{name}`", f"{f['median']:.4g}", f"{f['min']:.4g}-{f['max']:.4g}",
                         f.get("unit", ""), f"{goal} {met}".strip()])
        return table(["figure", "median", "min-max", "unit", "goal"], body)
    if view == "scale":
        if "scale" not in figs:
            raise ResultsError("<!-- results: bench scale -->: bench/results.json has no `scale` figure "
                               "(`python -m bench --only scale` writes it)")
        head = ["% of MSR-VTT train", "rows", "GB", "bytes/score", "write Mrow/s", "batch ms (window)",
                "stream Mrow/s", "matrix build s", "matrix batch ms"]
        body = [[f"{100 * r['fraction']:g}%", f"{r['rows']:.3g}", f"{r['bytes'] / 1e9:.3g}",
                 f"{r['bytes_per_score']:.3g}", f"{r['write_rows_per_s'] / 1e6:.3g}",
                 f"{value(r['batch_assembly_ms']):.3g}", f"{value(r['stream_rows_per_s']) / 1e6:.3g}",
                 f"{value(r['matrix_build_s']):.3g}", f"{value(r['matrix_batch_ms']):.3g}"]
                for r in figs["scale"]["table"]]
        return table(head, body)
    raise ResultsError(f"<!-- results: bench {view} -->: unknown view; bench has figures, scale")


def render_audit(m: dict, view: str) -> str:
    """The caption audit against the demo's known wrong captions (``teachkit captions measure``)."""
    if view == "figures":
        head = ["captions", "wrong", "flagged", "precision", "recall", "F1", "AUC", "best F1 (any cut)"]
        body = [[str(m["captions"]), str(m["wrong"]), str(m["flagged"]), f"{m['precision']:.3f}",
                 f"{m['recall']:.3f}", f"{m['f1']:.3f}", f"{m['auc']:.3f}",
                 f"{m['best_f1']:.3f} (flagging {m['best_flagged']})"]]
        return table(head, body)
    if view == "kinds":
        body = [[f"`{k}`", str(v["wrong"]), f"{v['found']}", f"{v['recall']:.2f}", f"{v['auc']:.3f}"]
                for k, v in m["per_kind"].items()]
        return table(["noise kind", "wrong", "flagged", "recall", "AUC"], body)
    raise ResultsError(f"<!-- results: audit {view} -->: unknown view; audit has figures, kinds")


RENDERERS = {
    "audit": (render_audit, "figures"),
    "demo": (render_demo, "table"),
    "demo-audit": (render_ablation, "seeds"),
    "demo-frames": (render_ablation, "seeds"),
    "bench": (render_bench, "figures"),
}


def render(name: str, view: str | None = None) -> str:
    """The Markdown of one marker: the table, then the line naming its command."""
    m = load(name)
    fn, default = RENDERERS[name]
    return fn(m, view or default) + "\n\n" + provenance(name)


def on_page_markdown(markdown: str, page, config, files) -> str:
    """MkDocs hook: replace every results marker of a page with its rendered table."""
    from mkdocs.exceptions import PluginError

    try:
        return MARKER.sub(lambda mt: render(mt.group(1), mt.group(2)), markdown)
    except ResultsError as e:
        raise PluginError(f"{page.file.src_uri}: {e}") from None


def readme(path: Path, check: bool) -> int:
    """Rewrite (or with ``check`` compare) every marked block of ``path``; 1 when stale."""
    text = path.read_text()
    new = README_BLOCK.sub(lambda mt: mt.group(1) + render(mt.group(2), mt.group(3)) + "\n" + mt.group(4), text)
    if new == text:
        return 0
    if check:
        print(f"{path}: its results tables differ from docs/results/*.json; run `make readme-results`",
              file=sys.stderr)
        return 1
    path.write_text(new)
    print(f"{path}: results tables rewritten", file=sys.stderr)
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] != "readme":
        sys.exit("usage: python docs/hooks/results.py readme [--check] [README.md]")
    rest = [a for a in args[1:] if a != "--check"]
    try:
        sys.exit(readme(Path(rest[0]) if rest else ROOT / "README.md", "--check" in args))
    except ResultsError as e:
        sys.exit(f"error: {e}")
