"""``run_audit``: score every caption of a split, choose the threshold, commit it as a store run.

The audit is a run like a teacher's: its fingerprint hashes the audit config, the manifest, the
fingerprints of the teacher runs it read and this package's code, and it is written through
:class:`stores.RunWriter` (a ``caption_audit`` shard where :class:`stores.Store` puts it,
then the ``runs`` row with ``kind = 'audit'``, written last). An unchanged audit is ``cached``:
nothing is read but the run records. The views ``caption_audit`` and ``exclusions``
(:mod:`stores.connect`) show the current audit: the one committed or found cached last.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from stores.fingerprint import canonical, canonical_json, fingerprint, tree_checksum
from stores.layout import Store
from .mixture import fit_mixture
from .signals import CAPTIONS_SQL, AuditError, combine, evidence, judges, signal_parts, teacher_runs

KIND = "audit"
THRESHOLDS = ("mixture", "fraction", "score")


@dataclass(frozen=True)
class AuditConfig:
    """The ``[audit]`` table of an audit config (configs/audit_demo.toml)."""

    name: str = "audit"  # the name its runs row carries in the store (the runs table's teacher column)
    split: str = "train"
    teachers: tuple[str, ...] = ()  # empty: every current teacher with scores of the split
    holdout: dict = field(default_factory=dict)  # teacher -> "all" | "fold:i/n": overrides the run's own
    # rank | margin | relative | siblings, or several joined by "+" (teachkit/audit/signals.py)
    signal: str = "rank"
    threshold: str = "mixture"  # mixture (NCR's two-component GMM) | fraction | score
    fraction: float | None = None  # threshold = "fraction": flag this share of the split
    score: float | None = None  # threshold = "score": flag captions scoring at least this


@dataclass(frozen=True)
class AuditOutcome:
    status: str  # cached | computed
    run: str
    captions: int
    flagged: int
    rate: float
    threshold: float
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    def line(self) -> str:
        return (f"audit {self.run}: {self.status}, {self.flagged} of {self.captions} captions flagged "
                f"(rate {self.rate:.3f}, score >= {self.threshold:.3f})")


@dataclass(frozen=True)
class _AuditStore:
    root: Path = Path("store")


@dataclass(frozen=True)
class AuditFile:
    """An audit config file: ``[store] root`` and ``[audit]`` (read by :mod:`teachkit.util.config`)."""

    store: _AuditStore = field(default_factory=_AuditStore)
    audit: AuditConfig = field(default_factory=AuditConfig)


def load_audit_config(path: str | Path, base: Path | None = None,
                      overrides: list[str] | tuple[str, ...] = ()) -> tuple[Path, AuditConfig]:
    """``(store_root, AuditConfig)`` from a TOML file with ``[store] root`` and ``[audit]``,
    through the loader every stage shares (``--set audit.fraction=0.1`` overrides a field;
    relative paths resolve against ``base``, default the working directory)."""
    from teachkit.util.config import ConfigError, load

    try:
        cfg = load(AuditFile, path, overrides, base=base)
    except ConfigError as e:
        raise AuditError(str(e)) from None
    return cfg.store.root, parse_audit(dataclasses.asdict(cfg.audit))


def parse_audit(raw: dict) -> AuditConfig:
    """Validate an ``[audit]`` table; errors name the field."""
    from teachkit.util.config import ConfigError, build

    if isinstance(raw, dict):  # a table from dataclasses.asdict holds tuples where TOML has arrays
        raw = {k: list(v) if isinstance(v, tuple) else v for k, v in raw.items()}
    try:
        cfg = build(AuditConfig, raw, "audit")
    except ConfigError as e:
        raise AuditError(str(e)) from None
    signal_parts(cfg.signal)
    if cfg.threshold not in THRESHOLDS:
        raise AuditError(f"audit.threshold must be one of {list(THRESHOLDS)}, got {cfg.threshold!r}")
    if cfg.threshold == "fraction" and not (cfg.fraction is not None and 0 < cfg.fraction < 1):
        raise AuditError(f"audit.fraction: threshold = 'fraction' needs 0 < fraction < 1, got {cfg.fraction!r}")
    if cfg.threshold == "score" and cfg.score is None:
        raise AuditError(f"audit.score: threshold = 'score' needs a number, got {cfg.score!r}")
    if not all(isinstance(v, str) for v in cfg.holdout.values()):
        raise AuditError(f"audit.holdout: expected a table of teacher = \"all\" | \"fold:i/n\", got {cfg.holdout!r}")
    return cfg


def code_version() -> str:
    return "audit:" + tree_checksum(Path(__file__).parent, (".py",))[:16]


def choose_flagged(scores: np.ndarray, cfg: AuditConfig) -> tuple[np.ndarray, float, dict]:
    """``(flagged mask, threshold, how it was chosen)``; flagged: score at or above the threshold.

    ``fraction`` flags exactly that share, the highest scores first (ties in caption order).
    """
    if cfg.threshold == "fraction":
        k = int(round(cfg.fraction * len(scores)))
        flagged = np.zeros(len(scores), dtype=bool)
        flagged[np.argsort(-scores, kind="stable")[:k]] = True
        t = float(scores[flagged].min()) if k else float(scores.max())
        return flagged, t, {"method": "fraction", "fraction": cfg.fraction}
    t, how = _threshold(scores, cfg)
    return scores >= t, t, how


def _threshold(scores: np.ndarray, cfg: AuditConfig) -> tuple[float, dict]:
    if cfg.threshold == "score":
        return float(cfg.score), {"method": "score"}
    mix = fit_mixture(scores)
    grid = np.sort(scores)
    wrong = mix.posterior_wrong(grid) > 0.5
    # the lowest score from which on every higher score is "wrong" (the posterior's crossing)
    if not wrong[-1]:
        return float(np.inf), {"method": "mixture", "mixture": mix.as_dict(), "note": "no wrong component"}
    first = len(wrong)  # the lowest score from which on the posterior says "wrong"
    while first > 0 and wrong[first - 1]:
        first -= 1
    return float(grid[first]), {"method": "mixture", "mixture": mix.as_dict()}


def run_audit(store_root: str | Path, cfg: AuditConfig, log=print, force: bool = False) -> AuditOutcome:
    """Compute (or find cached) the audit ``cfg`` of the store at ``store_root``."""
    from stores import connect
    from stores.writer import RunWriter

    start = time.perf_counter()
    store = Store(store_root)
    manifest = store.require_manifest()
    with connect(store.root) as con:
        teachers = teacher_runs(con, cfg.split, cfg.teachers, cfg.holdout)
        config = {"audit": canonical(cfg), "teachers": {t.name: {"run": t.fingerprint, "holdout": str(t.holdout)
                                                           if t.holdout else None} for t in teachers}}
        cv = code_version()
        fp = fingerprint("caption-audit", config, manifest.fingerprint, cv)
        row = store.committed_run(cfg.name, fp)
        if row is not None and not force:
            store.make_current(cfg.name, row)  # an earlier audit asked for again is current again
            m = json.loads(row["metrics"])
            return AuditOutcome("cached", row["run"], m["captions"], m["flagged"], m["rate"], m["threshold"],
                                tuple(m.get("notes", ())), time.perf_counter() - start)
        captions = [tuple(r) for r in con.execute(CAPTIONS_SQL, [cfg.split]).fetchall()]
        if not captions:
            raise AuditError(f"split {cfg.split!r} has no captions")
        who, notes = judges(captions, teachers)
        for n in notes:
            log(f"audit: note: {n}")
        missing_notes: list[str] = []
        judging = {name for names in who.values() for name in names}  # the others' evidence is never read
        ev = evidence(con, cfg.split, [t for t in teachers if t.name in judging], cfg.signal, missing_notes)
        for n in missing_notes:
            log(f"audit: note: {n}")
        notes += missing_notes
    scores = combine(captions, who, ev)
    missing = int(np.isnan(scores).sum())
    if missing:
        notes.append(f"{missing} captions have no teacher score of their own video: score 0, not flagged")
        log(f"audit: note: {notes[-1]}")
    scores = np.nan_to_num(scores, nan=0.0)
    flagged, threshold, how = choose_flagged(scores, cfg)
    rate = float(flagged.mean())
    data = pa.table({
        "caption_id": [c for c, _ in captions], "video_id": [v for _, v in captions],
        "score": scores.astype(np.float32), "flagged": flagged,
    })
    writer = RunWriter(store, cfg.name, KIND, fp, canonical_json(config), cv, score_dtype="float32")
    writer.begin()
    writer.write_shard("caption_audit", cfg.split, 0, data)
    seconds = time.perf_counter() - start
    judged = {t.name: sum(1 for w in who.values() if t.name in w) for t in teachers}
    metrics = {"captions": len(captions), "flagged": int(flagged.sum()), "rate": rate, "threshold": threshold,
               "selection": how, "judged": judged, "notes": notes, "signal": cfg.signal}
    writer.commit(timings={"audit": round(seconds, 3)}, metrics=metrics)
    return AuditOutcome("computed", writer.run, len(captions), int(flagged.sum()), rate, threshold,
                        tuple(notes), seconds)
