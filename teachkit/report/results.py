"""What the report reads besides the store's frame views: run results, logs, benchmarks.

Students come from a run group (``runs/demo``): ``teachkit student compare`` writes
``metrics.json`` there with every variant's metrics per seed; any other group is read run
by run (each ``<run>/metrics.json`` is one model, without seeds). Teachers come from the
store's ``current_runs`` metrics (computed by the teacher stage from the stored scores);
a teacher without them there keeps the figures the demo computed from its scores.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from student.logs import read_jsonl

DIRECTIONS = ("t2v", "v2t")


@dataclass
class ModelResult:
    """One bar of the comparison: a teacher (one value) or a student variant (one per seed)."""

    name: str
    kind: str  # "teacher" | "student"
    seeds: dict[str, dict] = field(default_factory=dict)  # seed (or "-") -> {"t2v": {...}, "v2t": {...}}

    def values(self, direction: str, metric: str) -> list[float]:
        return [float(m[direction][metric]) for m in self.seeds.values() if metric in m.get(direction, {})]


@dataclass
class RunGroup:
    """The student runs of one group folder."""

    folder: Path
    students: list[ModelResult]
    runs: dict[str, Path]  # run name -> folder, in a stable order
    afa_run: Path | None  # the run whose frame weights the heatmaps show
    teachers: list[ModelResult] = field(default_factory=list)  # as the demo measured them, if it did


def merge_teachers(stored: list[ModelResult], demo: list[ModelResult]) -> list[ModelResult]:
    """The store's figures of each teacher, else the demo's; sorted by name."""
    by_name = {m.name: m for m in demo} | {m.name: m for m in stored}
    return [by_name[k] for k in sorted(by_name)]


def teacher_results(con) -> list[ModelResult]:
    """Each current teacher's stored test metrics (``current_runs.metrics``)."""
    rows = con.execute("SELECT teacher, metrics FROM current_runs ORDER BY teacher").fetchall()
    out = []
    for teacher, metrics in rows:
        m = json.loads(metrics or "{}")
        if all(d in m for d in DIRECTIONS):
            out.append(ModelResult(teacher, "teacher", {"-": m}))
    return out


def read_group(folder: str | Path) -> RunGroup:
    """The student results and run folders of ``folder`` (a demo output or any run group)."""
    folder = Path(folder)
    demo = folder / "metrics.json"
    if demo.exists():
        m = json.loads(demo.read_text())
        if "seeds" in m:
            from student.comparison import VARIANTS

            order = {v: i for i, v in enumerate(VARIANTS)}  # plain, distilled, ..., the cleaned ones
            variants = sorted(m["seeds"], key=lambda v: (order.get(v, len(order)), v))
            students = [ModelResult(v, "student", dict(m["seeds"][v])) for v in variants]
            runs = {Path(p).name: _locate(folder, p) for v in m.get("runs", {}).values() for p in v.values()}
            runs = {k: p for k, p in runs.items() if p is not None}
            distilled = [p for k, p in runs.items() if k.startswith("distilled")]
            teachers = [ModelResult(t, "teacher", {"-": tm}) for t, tm in sorted(m.get("teachers_full", {}).items())]
            return RunGroup(folder, students, runs, _first_afa(distilled or list(runs.values())), teachers)
    runs = {p.parent.name: p.parent for p in sorted(folder.glob("*/metrics.json")) if not p.parent.name.startswith(".")}
    students = [ModelResult(name, "student", {"-": json.loads((p / "metrics.json").read_text())}) for name, p in runs.items()]
    return RunGroup(folder, students, runs, _first_afa(list(runs.values())))


def _locate(group: Path, recorded: str) -> Path | None:
    """A run folder as recorded (relative to where the demo ran) or found beside metrics.json."""
    for p in (Path(recorded), group / Path(recorded).name):
        if (p / "metrics.json").exists():
            return p
    return None


def _first_afa(folders: list[Path]) -> Path | None:
    for p in folders:
        spec = p / "student.json"
        if spec.exists() and json.loads(spec.read_text()).get("head") == "afa":
            return p
    return None


def training_logs(group: RunGroup) -> dict[str, list[dict]]:
    """Run name -> its ``train_log.jsonl`` rows (runs that logged nothing are left out)."""
    logs = {name: read_jsonl(p) for name, p in group.runs.items()}
    return {k: v for k, v in logs.items() if v}


def scale_table(path: str | Path) -> list[dict] | None:
    """The ``scale`` table of ``bench/results.json``, or None when there is none."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        table = json.loads(path.read_text()).get("figures", {}).get("scale", {}).get("table")
    except ValueError:
        return None
    return table or None


def ground_truth(path: str | Path | None) -> dict | None:
    """The demo's ``ground_truth.json`` (caption -> events, wrong captions), or None."""
    if path is None:
        return None
    from teachkit.util.errors import InputError

    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"--ground-truth {path}: no such file") from None
    except ValueError as e:
        raise InputError(f"--ground-truth {path}: not JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("captions", {}), dict):
        raise InputError(f"--ground-truth {path}: expected an object with a 'captions' table")
    return data
