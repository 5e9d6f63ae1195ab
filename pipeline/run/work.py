"""What a teacher run has to do, whichever engine does it: jobs, their encodings, units, commit.

A run is two passes that meet on disk (see :mod:`.videos` and :mod:`.shards`). Their units of
work are listed here the same way for every engine:

* an *encode unit* ``(encoding, split, index)``: one encode shard of one encoding;
* a *score unit* ``(teacher, split, index)``: one caption shard of one teacher.

The lists cover every selected teacher and every shard, done or not, in a fixed order, so
``--shard i/n`` jobs started at different times agree on their shares (:func:`share`);
whether a unit still has work is asked when it runs (:func:`encode_needed`, the writers'
``has_shard``). Only the driver commits (:func:`commit_jobs`): it records the failures the
encode shards name, measures the test split from the stored scores, writes the ``runs`` row
and, unless told to keep them, deletes the encode shards of encodings whose runs all committed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from teachkit.util.errors import RuntimeFailure
from stores.splits import SplitData
from stores.writer import FeatureShards, RunWriter, ShardWriter

from .prepare import TeacherIdentity

# .shards and .videos import torch: a run whose teachers are all cached never does


@dataclass
class Outcome:
    """What happened to one teacher in a run (also what the CLI prints)."""

    name: str
    kind: str
    status: str  # cached | computed | imported | missing
    run: str | None = None
    rows: int = 0
    frame_rows: int = 0
    skipped_videos: int = 0
    loaded: bool = False  # whether this run loaded the teacher's model
    seconds: float = 0.0  # this teacher's own time (load, encode, score, write, metrics)
    metrics: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    def line(self) -> str:
        head = f"{self.name:<16} {self.status:<9}"
        if self.status == "missing":
            return head + " no imported scores in the store (`teachkit scores import`)"
        text = f"{head} run {self.run}  {self.rows:,} scores"
        if self.frame_rows:
            text += f", {self.frame_rows:,} frame scores"
        if self.status == "computed":
            text += f"  in {self.seconds:.1f}s"
        if self.skipped_videos:
            text += f"  (skipped {self.skipped_videos} undecodable video(s); see the failures view)"
        return text


class Job:
    """A teacher being computed: its ident, model (None where this process does not load it),
    writer (a :class:`RunWriter` on the driver, a :class:`ShardWriter` on a worker) and tallies."""

    def __init__(self, ident: TeacherIdentity, teacher, writer: ShardWriter):
        self.ident, self.cfg, self.name = ident, ident.cfg, ident.name
        self.teacher, self.writer = teacher, writer
        self.timings: dict[str, float] = defaultdict(float)
        self.committed = False
        self.candidates = None  # rerankers: pipeline.run.candidates.CandidateLists

    def add_time(self, stage: str, seconds: float) -> None:
        self.timings[stage] += seconds


def run_writer(store, ident: TeacherIdentity) -> RunWriter:
    """The driver's writer of a teacher run (it holds the lock and commits)."""
    cfg = ident.cfg
    return RunWriter(store, ident.name, cfg.kind, ident.fingerprint, ident.config_json, ident.code_version,
                     cfg.score_dtype, embedding_dtype=_embedding_dtype(cfg))


def shard_writer(store, ident: TeacherIdentity) -> ShardWriter:
    """A worker's writer of a teacher run's shards (no lock, no commit)."""
    cfg = ident.cfg
    return ShardWriter(store, ident.name, ident.fingerprint, cfg.score_dtype, embedding_dtype=_embedding_dtype(cfg))


def _embedding_dtype(cfg) -> str:
    return cfg.embeddings if cfg.embeddings != "none" else "float16"


def encodings(jobs: list[Job]) -> dict[str, list[Job]]:
    """Encode fingerprint -> the jobs sharing that encoding, in config order (the first encodes)."""
    out: dict[str, list[Job]] = {}
    for j in jobs:
        out.setdefault(j.ident.encode_fingerprint, []).append(j)
    return out


def encode_units(jobs: list[Job], splits: dict[str, SplitData], shard_videos: int) -> list[tuple[str, str, int]]:
    """Every ``(encoding, split, index)`` of these jobs, in a fixed order."""
    from .videos import shard_ranges

    return [(fp, name, i) for fp in encodings(jobs) for name, split in splits.items()
            for i in range(len(shard_ranges(split, shard_videos)))]


def score_units(jobs: list[Job], splits: dict[str, SplitData]) -> list[tuple[str, str, int]]:
    """Every ``(teacher, split, index)`` of these jobs, in a fixed order."""
    return [(j.name, name, i) for j in jobs for name, split in splits.items()
            for i in range(len(split.shards(j.cfg.shard_captions)))]


def encode_needed(store, group: list[Job], split: SplitData, index: int) -> bool:
    """Whether an encode shard is still to be written: missing while a job of its encoding
    has a caption shard of the split left to score."""
    from .shards import pending_shards

    if FeatureShards(store, group[0].ident.encode_fingerprint).has(split.name, index):
        return False
    return any(pending_shards(j, split) for j in group)


def share(units: list, index: int, count: int) -> list:
    """Job ``index`` of ``count``'s deterministic share: every ``count``-th unit from ``index``."""
    return units[index::count]


def missing_scores(job: Job, splits: dict[str, SplitData]) -> int:
    """Caption shards of the job's run not written yet (0: complete, it can be committed)."""
    from .shards import pending_shards

    return sum(len(pending_shards(job, s)) for s in splits.values())


def commit_jobs(jobs: list[Job], splits: dict[str, SplitData], started: float, shard_videos: int,
                keep_features: bool) -> list[Outcome]:
    """Commit every job (the driver only), then drop the encode shards no uncommitted job needs."""
    from .quality import EVAL_SPLIT, stored_metrics
    from .videos import stored_notes

    outcomes, empty = [], []
    for j in jobs:
        t0 = time.perf_counter()
        shards = FeatureShards(j.writer.store, j.ident.encode_fingerprint)
        for split in splits.values():
            fails, warns = stored_notes(shards, split, shard_videos)
            j.writer.write_failures(f"videos-{split.name}", fails)
            j.writer.write_failures(f"warnings-{split.name}", warns, level="warning")
        failures = j.writer.failures()
        failed = {item for item, _ in failures}
        rows = j.writer.rows("scores")
        if rows == 0:  # the others still commit; this one is refused below
            empty.append(_empty_run(j, failures, splits))
            continue
        metrics = stored_metrics(j.writer, splits[EVAL_SPLIT]) if EVAL_SPLIT in splits else {}
        j.add_time("metrics", time.perf_counter() - t0)
        own = sum(j.timings.values())
        # "wall": the whole computation, shared by the teachers computed together
        timings = {k: round(v, 3) for k, v in j.timings.items()} | {
            "own": round(own, 3), "wall": round(time.perf_counter() - started, 3)}
        j.writer.commit(timings=timings, metrics=metrics)
        j.committed = True
        outcomes.append(Outcome(
            j.name, j.cfg.kind, "computed", j.writer.run, rows, j.writer.rows("frames"),
            len(failed), loaded=j.teacher is not None, seconds=own, metrics=metrics, timings=timings,
        ))
        j.teacher = None
    if not keep_features:
        for fp, group in encodings(jobs).items():
            if all(j.committed for j in group):
                FeatureShards(group[0].writer.store, fp).remove()
    if empty:
        raise empty[0]
    return outcomes


def _empty_run(job: Job, failures: list[tuple[str, str]], splits: dict) -> RuntimeFailure:
    """The error for a run that scored no pair: it is never committed (it would be `cached` after)."""
    videos = sum(len(s.video_ids) for s in splits.values())
    if failures:
        item, why = failures[0]
        return RuntimeFailure(
            f"teacher {job.name}: no video could be decoded ({len(failures)} of {videos} failed, e.g. "
            f"{item}: {why}); nothing committed"
        )
    return RuntimeFailure(f"teacher {job.name}: the run scored no (caption, video) pair; nothing committed")
