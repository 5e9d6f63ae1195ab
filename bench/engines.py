"""The teacher stage's local engine on CPU, and what kept encode shards save on a re-score.

* ``runner_over_parts_local``: the runner's wall time for the demo project's first CLIP
  teacher (model load and metrics left out, as in ``teacher_stage_efficiency``) over decode
  alone + forward alone. On CPU decoding and the encoders share the cores, so the runner cannot
  hide one behind the other; the goal is that it adds little to their sum (<= 1.1). Decode
  alone: every video decoded and prepared by the runner's own function in its thread pool
  (``[frames] decode_workers``); forward alone: the teacher's model work on the pre-decoded
  videos (:func:`bench.teacher_stage.forward_only`).
* ``rescore_speedup``: the first run's wall time over that of a re-score with a new scorer
  (``fine`` -> ``mean``) from the encode shards it kept (``[engine] keep_features``): what not
  decoding and encoding again saves (whole ``run_teachers`` calls, model load included).

The Ray engine's figures are in :mod:`bench.ray_engine`; ``teacher_stage_efficiency``
(:mod:`bench.teacher_stage`) stays the GPU figure. Each run writes a fresh store.
"""

from __future__ import annotations

import dataclasses
import itertools
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .common import BenchConfig, Figure, log, spread, summarize, timed
from .teacher_setup import project, visual_teacher
from .teacher_stage import forward_only
from .workspace import Workspace

FIGURES = ("runner_over_parts_local", "rescore_speedup")


@dataclass
class Parts:
    """The demo project's first CLIP teacher, its decode-alone and forward-alone seconds."""

    project: object
    teacher: object  # its config
    videos: int
    decode_s: list[float]
    forward_s: list[float]

    @property
    def fastest(self) -> float:
        """decode + forward at their fastest pair: the strict side of the ratio."""
        return min(d + f for d, f in zip(self.decode_s, self.forward_s))

    def detail(self) -> dict:
        return {"videos": self.videos, "teacher": self.teacher.name, "scorer": self.teacher.scorer,
                "decode_alone_s": spread(self.decode_s), "forward_alone_s": spread(self.forward_s)}

    def runner(self, engine: str, **engine_fields) -> tuple[float, dict]:
        """One run of the teacher on a fresh store: (wall without metrics -- and without model
        load for the local engine, whose driver loads it --, the run's timings)."""
        from pipeline.run import run_teachers

        c = config(self.project, engine, **engine_fields)
        (o,) = run_teachers(c, only=[self.teacher.name], out=_quiet, log=_quiet, progress=False)
        shutil.rmtree(c.store.root, ignore_errors=True)
        t = o.timings
        return t["wall"] - t.get("metrics", 0.0) - (t.get("load", 0.0) if engine == "local" else 0.0), t


_STORES = itertools.count()


def config(p, engine: str, **engine_fields):
    """The project's teacher config on a fresh store, with ``[engine]`` fields set."""
    c = p.config(store_root=p.folder / f"store-engines-{next(_STORES)}")
    return dataclasses.replace(c, engine=dataclasses.replace(c.engine, kind=engine, **engine_fields))


def parts(cfg: BenchConfig, ws: Workspace) -> Parts:
    """Measured once per bench run (shared with bench.ray_engine)."""
    return ws.once("engine-parts", lambda: _parts(cfg, ws))


def _parts(cfg: BenchConfig, ws: Workspace) -> Parts:
    from pipeline.run.prepare import identify_teacher
    from pipeline.run.videos import Encoder, decode_video, preparations
    from pipeline.teachers import build_teacher
    from teachkit.util.device import resolve_device
    from stores import Store
    from stores.splits import load_splits

    p = project(cfg, ws)
    pcfg = p.config()
    tcfg = visual_teacher(pcfg)
    ident = identify_teacher(tcfg, pcfg.frames, Store(pcfg.store.root).require_manifest())
    teacher = build_teacher(tcfg, ident.model, resolve_device(tcfg.device))
    splits = load_splits(pcfg.store.root)
    _, prepares = preparations([Encoder(None, teacher, tcfg)])
    (key,) = prepares  # the teacher's one preparation (resize + crop)

    def decode_all():
        with ThreadPoolExecutor(pcfg.frames.decode_workers) as pool:
            return {name: list(pool.map(lambda path: decode_video(path, pcfg.frames, prepares)[0][key], s.paths))
                    for name, s in splits.items()}

    prepared = decode_all()  # warm-up: page cache
    decode_s = [timed(decode_all)[0] for _ in range(cfg.heavy_repeats)]
    forward_s = [timed(lambda: forward_only(teacher, tcfg, splits, prepared))[0] for _ in range(cfg.heavy_repeats)]
    return Parts(p, tcfg, sum(len(s.video_ids) for s in splits.values()), decode_s, forward_s)


def run(cfg: BenchConfig, ws: Workspace) -> list[Figure]:
    from pipeline.run import run_teachers

    pt = parts(cfg, ws)
    log(f"engines: {pt.videos} videos, teacher {pt.teacher.name}: local runner vs decode + forward alone")
    pt.runner("local")  # warm-up: first-call allocations
    local_s = [pt.runner("local")[0] for _ in range(cfg.heavy_repeats)]

    full_s, rescore_s = [], []
    name = pt.teacher.name
    for _ in range(cfg.heavy_repeats):
        c = config(pt.project, "local", keep_features=True)
        full_s.append(timed(lambda: run_teachers(c, only=[name], out=_quiet, log=_quiet, progress=False))[0])
        c2 = dataclasses.replace(c, teachers=tuple(dataclasses.replace(t, scorer="mean") if t.name == name else t
                                                   for t in c.teachers))
        rescore_s.append(timed(lambda: run_teachers(c2, only=[name], out=_quiet, log=_quiet, progress=False))[0])
        shutil.rmtree(c.store.root, ignore_errors=True)
    return [
        summarize("runner_over_parts_local", [s / pt.fastest for s in local_s], "ratio", "<= 1.1",
                  "local runner wall (no load, no metrics) over decode alone + forward alone, on CPU",
                  pt.detail() | {"runner_s": spread(local_s)}),
        summarize("rescore_speedup", [f / r for r, f in zip(rescore_s, full_s)], "ratio", "",
                  f"first run's wall over a re-score's with a new scorer ({pt.teacher.scorer} -> mean) from "
                  "the kept encode shards (no decoding, no video encoding)",
                  {"videos": pt.videos, "first_run_s": spread(full_s), "rescore_s": spread(rescore_s)}),
    ]


def _quiet(_msg: str) -> None:
    pass
