"""Figure 3: ``teacher_stage_efficiency`` -- how close the teacher stage runs to its model.

End-to-end throughput of the real runner (``pipeline.run.run_teachers``: decode, prepare,
encode, score, frame relevance, write shards) over the same teacher's forward-only
throughput on the same batches with the videos decoded and prepared beforehand. Model
loading and the test-split metrics are outside both (the runner times them separately);
each end-to-end repeat writes a fresh store so nothing is cached.
"""

from __future__ import annotations

import itertools
import shutil

import numpy as np

from .common import BenchConfig, Figure, log, spread, summarize, timed
from .teacher_setup import project, visual_teacher
from .workspace import Workspace

FIGURES = ("teacher_stage_efficiency",)


def forward_only(teacher, tcfg, splits, prepared) -> None:
    """The runner's model work on pre-decoded videos: the same batches, nothing written."""
    from pipeline.teachers.protocol import CaptionBatch, VideoBatch, concat_features, take

    for split in splits.values():
        n = len(split.video_ids)
        parts = []
        for lo in range(0, n, tcfg.video_batch):
            idx = range(lo, min(lo + tcfg.video_batch, n))
            parts.append(teacher.encode_videos(VideoBatch(
                [split.video_ids[i] for i in idx], [prepared[split.name][i] for i in idx],
                [split.video_captions[i] for i in idx],
            )))
        videos = concat_features(parts)
        for lo in range(0, len(split.caption_ids), tcfg.text_batch):
            chunk = np.arange(lo, min(lo + tcfg.text_batch, len(split.caption_ids)))
            cf = teacher.encode_captions(CaptionBatch(
                [split.caption_ids[i] for i in chunk], [split.texts[i] for i in chunk], chunk))
            for vlo in range(0, n, tcfg.score_batch):
                teacher.score(cf, take(videos, slice(vlo, vlo + tcfg.score_batch))).float().cpu().numpy()
            rel = teacher.frame_relevance(cf, take(videos, split.caption_video[chunk]))
            if rel is not None:
                rel.float().cpu().numpy()


def run(cfg: BenchConfig, ws: Workspace) -> list[Figure]:
    from pipeline.run import run_teachers
    from stores.splits import load_splits
    from pipeline.run.prepare import identify_teacher
    from pipeline.teachers import build_teacher
    from teachkit.util.device import resolve_device
    from stores import Store
    from teachkit.util.media import decode_frames

    p = project(cfg, ws)
    pcfg = p.config()
    tcfg = visual_teacher(pcfg)
    ident = identify_teacher(tcfg, pcfg.frames, Store(pcfg.store.root).require_manifest())
    teacher = build_teacher(tcfg, ident.model, resolve_device(tcfg.device))
    splits = load_splits(pcfg.store.root)
    videos = sum(len(s.video_ids) for s in splits.values())
    prepared = {
        name: [teacher.prepare(decode_frames(path, pcfg.frames.num_frames, pcfg.frames.fps)) for path in s.paths]
        for name, s in splits.items()
    }
    quiet = lambda _msg: None  # noqa: E731
    stages: list[dict] = []
    counter = itertools.count()

    def end_to_end() -> float:
        root = p.folder / f"store-e2e-{next(counter)}"
        shutil.rmtree(root, ignore_errors=True)
        (o,) = run_teachers(p.config(store_root=root), only=[tcfg.name], out=quiet, log=quiet, progress=False)
        if o.status != "computed":
            raise RuntimeError(f"expected a computed run, got {o.status}")
        shutil.rmtree(root, ignore_errors=True)
        t = o.timings
        stages.append(t)
        # "wall" is the whole computation of this single teacher (the runner's timings)
        return t["wall"] - t.get("load", 0.0) - t.get("metrics", 0.0)

    def forward() -> float:
        return timed(lambda: forward_only(teacher, tcfg, splits, prepared))[0]

    log(f"teacher stage: {videos} videos, end-to-end runner vs forward-only, {cfg.heavy_repeats} pairs")
    e2e_s, fwd_s = [], []
    end_to_end(), forward()  # warm-up pair: first-call allocations, page cache
    stages.clear()
    for i in range(cfg.heavy_repeats):
        order = (end_to_end, forward) if i % 2 == 0 else (forward, end_to_end)
        for fn in order:
            (e2e_s if fn is end_to_end else fwd_s).append(fn())
    ratio = [f / e for f, e in zip(fwd_s, e2e_s)]  # throughput ratio = inverse time ratio
    breakdown = {k: spread([s[k] for s in stages]) for k in stages[0] if k not in ("wall", "own")}
    return [summarize(
        "teacher_stage_efficiency", ratio, "ratio", ">= 0.9",
        f"runner videos/s over forward-only videos/s: teacher {tcfg.name} ({tcfg.scorer} scorer) of "
        f"configs/demo.toml, {tcfg.video_batch} videos per batch",
        {"videos": videos, "frames_per_video": pcfg.frames.num_frames,
         "end_to_end_videos_per_s": spread([videos / t for t in e2e_s]),
         "forward_videos_per_s": spread([videos / t for t in fwd_s]),
         "runner_stage_seconds": breakdown},
    )]
