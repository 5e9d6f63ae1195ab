"""The ``ray`` engine: the encode and score passes as Ray Data pipelines; the driver commits.

Encode pass: one dataset row per encode shard still needed (:func:`.work.encode_needed`).
Decoding runs in CPU tasks (``Dataset.map``, one per shard: every video of the shard decoded
once); the encoders run in an actor pool (``map_batches`` with
``compute=ray.data.ActorPoolStrategy(size=encode_actors)`` and ``num_gpus`` per actor when the
cluster has GPUs), each actor loading each teacher it encodes for once. An actor prepares
the frames (the teacher's ``prepare``), encodes and writes the shard through the store's own
writer (:class:`stores.writer.FeatureShards`) under its deterministic name, and returns a
small row of timings. Score pass: one row per caption shard still missing; scoring actors
(``score_actors``) load a teacher once and a split's features once, and write that shard's
embeddings, frames and scores (:func:`.shards.write_split`, the local engine's function).

Nothing is appended by Ray: a retried task rewrites the same shard with the same rows, and
the driver -- which holds every run's lock from the start -- commits last. The pipeline
streams: the driver holds result rows only, a decode task one shard's frames, an encoder
actor its models and one shard, a scoring actor its model and one split's features.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path

from teachkit.util.errors import RuntimeFailure, TeachkitError, UsageError

from .work import Job, commit_jobs, encode_needed, encode_units, encodings, run_writer, score_units

INSTALL = "the ray engine needs Ray: pip install 'teachkit[ray]'"


def import_ray():
    """``ray`` and ``ray.data``, or a usage error saying what to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UsageError(INSTALL) from None
    return ray


def runtime_env() -> dict:
    """What a cluster started here gives its workers: this checkout's packages on PYTHONPATH
    (plus the driver's own PYTHONPATH, e.g. a plugin's folder)."""
    code = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (code, os.environ.get("PYTHONPATH", "")) if p)
    return {"env_vars": {"PYTHONPATH": path}}


def connect(address: str | None, log) -> bool:
    """Join the cluster at ``address`` (or start one here); True when this call started Ray."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    if address:
        log(f"ray: joining the cluster at {address}")
        ray.init(address=address, log_to_driver=False)
    else:
        log("ray: starting a local cluster (set [engine] address or --address to join one)")
        ray.init(runtime_env=runtime_env(), include_dashboard=False, log_to_driver=False)
    return True


def run_ray(teachers, cfg, store, splits, log, progress: bool) -> list:
    """Compute ``teachers`` on Ray (see module docstring); return their outcomes."""
    ray = import_ray()
    started_here = connect(cfg.engine.address, log)
    started = time.perf_counter()
    jobs = []
    try:
        for ident in teachers:  # the driver holds every run's lock, and loads no model
            writer = run_writer(store, ident)
            done = writer.begin()
            if done:
                log(f"{ident.name}: resuming run {writer.run} ({done} shard files already written)")
            jobs.append(Job(ident, None, writer))
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = progress
        gpus = cfg.engine.gpus_per_actor
        if gpus is None:
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        spec = _Spec(store.root if isinstance(store.root, str) else str(store.root), cfg.store.options or None,
                     teachers, cfg.frames, cfg.engine.shard_videos)
        _encode(ray, jobs, splits, cfg, spec, gpus, log)
        _score(ray, jobs, splits, cfg, spec, gpus, log)
        return commit_jobs(jobs, splits, started, cfg.engine.shard_videos, cfg.engine.keep_features)
    except BaseException as e:
        err = original_error(e)
        for j in jobs:
            if not j.committed:
                j.writer.fail(err.one_line() if err is not None else f"{type(e).__name__}: {e}")
        if err is not None and err is not e:
            raise err from None
        raise
    finally:
        if started_here:
            ray.shutdown()


class _Spec:
    """What every actor needs to rebuild the run's view of the store (picklable)."""

    def __init__(self, root, options, teachers, frames, shard_videos):
        self.root, self.options, self.teachers = root, options, teachers
        self.frames, self.shard_videos = frames, shard_videos

    def open(self):
        from stores.layout import Store
        from stores.splits import load_splits

        store = Store(self.root, options=self.options)
        return store, load_splits(store)


def _encode(ray, jobs, splits, cfg, spec, gpus, log) -> None:
    groups = encodings(jobs)
    store = jobs[0].writer.store
    rows: dict[tuple[str, int], list[str]] = {}
    for fp, name, i in encode_units(jobs, splits, cfg.engine.shard_videos):
        if encode_needed(store, groups[fp], splits[name], i):
            rows.setdefault((name, i), []).append(fp)
    if not rows:
        return
    from .videos import shard_ranges

    items = []
    for (name, i), fps in rows.items():
        split = splits[name]
        videos = shard_ranges(split, cfg.engine.shard_videos)[i]
        visual = any(_needs_frames(groups[fp][0].ident) for fp in fps)
        items.append({"split": name, "index": i, "encodings": json.dumps(fps),
                      "paths": [str(split.paths[v]) if visual else "" for v in videos]})
    log(f"ray: encoding {len(items)} shard(s) of {len(groups)} encoding(s) on {cfg.engine.encode_actors} actor(s)")
    ds = ray.data.from_items(items)
    # a ray_remote_args_fn keeps Ray Data from fusing the decode tasks into the actor pool
    # (decoding would then run inside the encoder actors, one shard at a time)
    ds = ds.map(decode_shard, fn_kwargs={"frames": cfg.frames}, ray_remote_args_fn=decode_task_args)
    ds = ds.map_batches(EncodeActor, batch_size=1, fn_constructor_kwargs={"spec": spec},
                        compute=ray.data.ActorPoolStrategy(size=cfg.engine.encode_actors),
                        num_gpus=gpus or None, num_cpus=1)
    for row in _rows(ds):
        for fp, timings in json.loads(row["timings"]).items():
            for j in groups[fp]:
                for k, v in timings.items():
                    j.add_time(k, v)


def _score(ray, jobs, splits, cfg, spec, gpus, log) -> None:
    by_name = {j.name: j for j in jobs}
    items = [{"teacher": n, "split": s, "index": i} for n, s, i in score_units(jobs, splits)
             if not by_name[n].writer.has_shard("scores", s, i)]
    if not items:
        return
    log(f"ray: scoring {len(items)} caption shard(s) on {cfg.engine.score_actors} actor(s)")
    ds = ray.data.from_items(items)
    ds = ds.map_batches(ScoreActor, batch_size=1, fn_constructor_kwargs={"spec": spec},
                        compute=ray.data.ActorPoolStrategy(size=cfg.engine.score_actors),
                        num_gpus=gpus or None, num_cpus=1)
    for row in _rows(ds):
        for k, v in json.loads(row["timings"]).items():
            by_name[row["teacher"]].add_time(k, v)


def _needs_frames(ident) -> bool:
    """Whether a teacher's encoding decodes frames, without loading it (text teachers never do)."""
    from ..teachers.kinds import kind_of

    return kind_of(ident.cfg).reads_frames


def decode_task_args() -> dict:
    """A decode task: one CPU, spread over the cluster's nodes."""
    return {"num_cpus": 1, "scheduling_strategy": "SPREAD"}


def decode_shard(row: dict, frames) -> dict:
    """A CPU task: decode every video of one encode shard (``paths``; "" for none needed)."""
    from .videos import decode_video

    start = time.perf_counter()
    decoded = [decode_video(p, frames, None) if p else None for p in row["paths"]]
    return {"split": row["split"], "index": row["index"], "encodings": row["encodings"],
            "decoded": pickle.dumps(decoded, protocol=pickle.HIGHEST_PROTOCOL),
            "decode_s": time.perf_counter() - start}


class EncodeActor:
    """An encoder actor: loads each teacher it encodes for once, writes encode shards."""

    def __init__(self, spec: _Spec):
        self.spec = spec
        self.store, self.splits = spec.open()
        self.teachers = {p.encode_fingerprint: p for p in reversed(spec.teachers)}  # the first of each encoding
        self.encoders: dict = {}

    def encoder(self, fp: str):
        from stores.writer import FeatureShards

        from .local import load_teacher
        from .videos import Encoder

        if fp not in self.encoders:
            ident = self.teachers[fp]
            self.encoders[fp] = Encoder(FeatureShards(self.store, fp), load_teacher(ident, _quiet), ident.cfg)
        return self.encoders[fp]

    def __call__(self, batch: dict) -> dict:
        return _reporting(self.encode, batch, ("split", "index", "timings"))

    def encode(self, batch: dict) -> dict:
        from .videos import encode_shard, prepare_decoded, preparations, shard_ranges

        out = {"split": [], "index": [], "timings": []}
        for name, index, fps, blob, decode_s in zip(batch["split"], batch["index"], batch["encodings"],
                                                     batch["decoded"], batch["decode_s"]):
            split, index = self.splits[str(name)], int(index)
            encs = [self.encoder(fp) for fp in json.loads(str(fps))]
            for e in encs:
                e.timings.clear()
            keys, prepares = preparations(encs)
            start = time.perf_counter()
            decoded = prepare_decoded(pickle.loads(blob), prepares)
            prepare_s = time.perf_counter() - start
            encode_shard(split, index, shard_ranges(split, self.spec.shard_videos)[index], decoded, encs, keys)
            timings = {}
            for fp, e in zip(json.loads(str(fps)), encs):
                timings[fp] = dict(e.timings) | ({"decode": float(decode_s), "prepare": prepare_s}
                                                 if e.needs_frames else {})
            out["split"].append(str(name))
            out["index"].append(index)
            out["timings"].append(json.dumps(timings))
        return out


class ScoreActor:
    """A scoring actor: loads each teacher it scores for once, and one split's features at a time."""

    def __init__(self, spec: _Spec):
        self.spec = spec
        self.store, self.splits = spec.open()
        self.teachers = {p.name: p for p in spec.teachers}
        self.jobs: dict = {}
        self.features = (None, None)  # ((encoding, split, device), EncodedVideos)

    def job(self, name: str):
        from .local import load_teacher
        from .work import shard_writer

        if name not in self.jobs:
            ident = self.teachers[name]
            self.jobs[name] = Job(ident, load_teacher(ident, _quiet), shard_writer(self.store, ident))
        return self.jobs[name]

    def __call__(self, batch: dict) -> dict:
        return _reporting(self.score, batch, ("teacher", "split", "index", "timings"))

    def score(self, batch: dict) -> dict:
        from stores.writer import FeatureShards

        from .shards import write_split
        from .videos import load_features

        out = {"teacher": [], "split": [], "index": [], "timings": []}
        for name, split_name, index in zip(batch["teacher"], batch["split"], batch["index"]):
            job, split = self.job(str(name)), self.splits[str(split_name)]
            job.timings.clear()
            device = getattr(job.teacher, "device", None)
            key = (job.ident.encode_fingerprint, split.name, str(device))
            if self.features[0] != key:
                self.features = (None, None)  # one split's features at a time
                start = time.perf_counter()
                enc = load_features(FeatureShards(self.store, key[0]), split, self.spec.shard_videos, device)
                self.features = (key, enc)
                job.add_time("read_features", time.perf_counter() - start)
            write_split(job, split, self.features[1], None, only=[int(index)])
            out["teacher"].append(str(name))
            out["split"].append(split.name)
            out["index"].append(int(index))
            out["timings"].append(json.dumps(dict(job.timings)))
        return out


def _reporting(fn, batch: dict, columns: tuple[str, ...]) -> dict:
    """``fn(batch)`` with an ``error`` column: a teachkit error (a bad checkpoint, non-finite
    scores) travels back as a row, whole, because Ray re-raises a task's exception as its own
    type with the original only in the traceback text."""
    try:
        out = fn(batch)
        return out | {"error": [b""] * len(out[columns[0]])}
    except TeachkitError as e:
        try:
            blob = pickle.dumps(e)
            pickle.loads(blob)
        except Exception:  # an error class that does not round-trip: keep its line
            blob = pickle.dumps(RuntimeFailure(e.one_line()))
        return {c: [""] if c != "index" else [-1] for c in columns} | {"timings": ["{}"], "error": [blob]}


def _rows(ds):
    """The result rows of a dataset; the first error row stops the pipeline and is raised."""
    for row in ds.iter_rows():
        if row["error"]:
            raise pickle.loads(row["error"])
        yield row


def original_error(e: BaseException) -> TeachkitError | None:
    """The teachkit error a Ray task raised, out of Ray's wrappers (None if there is none).

    Ray re-raises a task's exception as ``RayTaskError(<its class>)``, an instance of both
    whose message carries the remote traceback; its ``cause`` is the exception itself."""
    seen, stack = set(), [e]
    while stack:
        x = stack.pop()
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, TeachkitError) and not type(x).__name__.startswith("RayTaskError"):
            return x
        stack += [getattr(x, "cause", None), x.__cause__, x.__context__]
    return None


def _quiet(_msg: str) -> None:
    pass


__all__ = ["INSTALL", "connect", "import_ray", "run_ray", "runtime_env"]
