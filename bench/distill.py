"""Figures 1 and 2: what distillation costs per epoch, from the store and online.

* ``distill_overhead`` -- a student epoch distilled from the store, as
  ``configs/student_demo.toml`` configures it (TeachCLIP: KL on the in-batch similarities
  of three teachers + the frame relevance of one) / the same epoch without distillation. Same batches (the student's fixed batch order), same initial weights, same
  loader and training step (``student.data.TrainBatches``, ``student.train.train_step``);
  the plain epoch's reader asks for no teacher, so it never queries the store.
* ``online_over_store`` -- the same distilled epoch with the teachers inside the loop, as
  the reference implementations do: every step the real teacher classes
  (``pipeline.teachers``) encode the batch's frames (pre-decoded at the teacher's sampling,
  so decoding is not charged to them) and captions and score them; the scores replace the
  store's in the batch. Reported beside it: the teachers' parameters / the student's.

Each repeat trains the three students side by side, one step each in a rotating order,
for a few epochs in quick mode (whose epoch is only three steps); each figure is the
median of the per-repeat ratios of their summed step times.
"""

from __future__ import annotations

import copy
import dataclasses
import time

import numpy as np
import torch

from .common import BenchConfig, Figure, log, spread, summarize
from .teacher_setup import project
from .workspace import Workspace

FIGURES = ("distill_overhead", "online_over_store")


class Epochs:
    """One epoch of the student three ways, each from the same initial weights."""

    def __init__(self, cfg: BenchConfig, ws: Workspace):
        import stores
        from stores.splits import load_splits
        from pipeline.run.prepare import identify_teacher
        from pipeline.teachers import build_teacher
        from teachkit.util.device import resolve_device
        from teachkit.util.media import decode_frames
        from student.data import TrainBatches, batch_order, build_train_set
        from student.frame_cache import frame_cache
        from stores.splits import split_pairs
        from student.knowledge import knowledge_reader
        from student.model import build_student, load_tokenizer

        p = project(cfg, ws)
        pcfg = p.config()
        store = pcfg.store.root
        self.exp = exp = p.student_experiment()
        m, d = exp.model, exp.data
        self.tokenizer = load_tokenizer(m.tokenizer or m.backbone)
        self.model0 = build_student(m, self.tokenizer, exp.train.logit_scale_init, seed=0)
        with stores.connect(store) as con:
            manifest = stores.Store(store).require_manifest()
            pairs = split_pairs(con, d.train_split)
            cache = frame_cache(con, store, manifest.fingerprint, d.train_split, d.cache, m.num_frames, m.fps,
                                self.model0.image_size, workers=1)
        train = build_train_set(pairs, cache, self.tokenizer, m.max_words)
        per_epoch = len(set(train.video_rows.tolist())) // d.batch_size  # every video once
        # the quick project's epoch is 3 steps: time several, so a ratio is not one step's noise
        self.epochs = cfg.pick(tiny=1, quick=6, full=2)
        steps = per_epoch * self.epochs
        order = batch_order(train.video_rows, d.batch_size, steps, exp.train.seed)
        coarse, fine = exp.loss.coarse.teachers, exp.loss.fine.teachers

        train_pairs = list(zip(train.caption_ids, (train.video_ids[r] for r in train.video_rows)))

        def batches(score_teachers, frame_teachers):
            # data.teacher_source as configured (the matrix cache by default): built here, once
            # per store and teacher run, shared by every later student, so not charged to epochs
            reader = knowledge_reader(d, score_teachers, frame_teachers, train_pairs, train.video_ids)
            return TrainBatches(train, order, cache.folder, reader, d.teacher_window)

        t0 = time.perf_counter()
        self.store_batches = batches(coarse, fine)
        self.reader_setup_s = time.perf_counter() - t0
        self.teacher_source = d.teacher_source
        self.plain_batches = batches([], [])
        self.steps, self.videos = steps, len(set(train.video_rows.tolist()))

        # the online teachers: the real classes, built as the teacher stage builds them
        self.teachers = {}
        for name in dict.fromkeys(coarse + fine):
            tcfg = pcfg.teacher(name)
            teacher_id = identify_teacher(tcfg, pcfg.frames, manifest)
            self.teachers[name] = build_teacher(tcfg, teacher_id.model, resolve_device("cpu"))
        split = load_splits(store)[d.train_split]
        self.split = split
        self.caption_index = {c: i for i, c in enumerate(split.caption_ids)}
        self.video_index = {v: i for i, v in enumerate(split.video_ids)}
        # decoded (and prepared per teacher) once, outside every timing: the online epoch is
        # charged for the teachers' forward passes only
        self.teacher_frames: dict[str, dict] = {}
        decoded = None
        for name, t in self.teachers.items():
            if not t.needs_frames:
                continue
            if decoded is None:
                decoded = {v: decode_frames(path, pcfg.frames.num_frames, pcfg.frames.fps)
                           for v, path in zip(split.video_ids, split.paths)}
            self.teacher_frames[name] = {v: t.prepare(f) for v, f in decoded.items()}
        self.coarse, self.fine = coarse, fine

    # -- parameters -------------------------------------------------------------------
    def parameter_counts(self) -> dict:
        student = sum(p.numel() for p in self.model0.parameters())
        teachers = {n: sum(p.numel() for p in t.model.parameters()) for n, t in self.teachers.items()}
        return {"student": student, "teachers": teachers, "teachers_over_student": sum(teachers.values()) / student}

    # -- the epochs -------------------------------------------------------------------
    def _fresh(self, distilled: bool):
        from student.losses import build_objective
        from student.train import make_optimizer

        model = copy.deepcopy(self.model0).train()
        loss = self.exp.loss if distilled else self.exp.loss.without_distillation()
        # the in-batch recipe: the bank term (rows over every train video) has no online
        # counterpart short of each teacher scoring every train video at every step
        loss = dataclasses.replace(loss, coarse=dataclasses.replace(loss.coarse, bank_weight=0.0))
        objective = build_objective(loss, self.exp.train.logit_scale_max)
        return model, objective, make_optimizer(model, self.exp.train)

    def _runner(self, dataset, distilled: bool, knowledge=None):
        """A function that takes this student's next training step and returns (seconds, assembly)."""
        from student.data import make_loader
        from student.train import train_step

        model, objective, optimizer = self._fresh(distilled)
        device = torch.device("cpu")
        batches = iter(make_loader(dataset, self.exp.data.num_workers))

        def step() -> tuple[float, float]:
            t0 = time.perf_counter()
            batch = next(batches)  # a window's store query lands on the first step of the window
            if knowledge is not None:
                batch = knowledge(batch)
            loss, _ = train_step(model, objective, optimizer, batch, device, self.exp.train.grad_clip,
                                 precision=self.exp.train.precision)
            float(loss)  # the trainer reads every loss (and so waits for the step)
            return time.perf_counter() - t0, batch.assembly_s

        return step

    def interleaved(self) -> dict[str, tuple[float, float]]:
        """One pass of each student, step by step in turn: name -> (seconds, assembly seconds).

        Interleaving the three at every step, with a rotating order, exposes them to the
        same machine state; whole passes one after another drifted by 10-20 % here.
        """
        runners = {
            "plain": self._runner(self.plain_batches, distilled=False),
            "store": self._runner(self.store_batches, distilled=True),
            "online": self._runner(self.plain_batches, distilled=True, knowledge=self.online_knowledge),
        }
        names = list(runners)
        totals = {n: [0.0, 0.0] for n in names}
        for i in range(self.steps):
            for n in names[i % 3:] + names[: i % 3]:
                seconds, assembly = runners[n]()
                totals[n][0] += seconds
                totals[n][1] += assembly
        return {n: (t[0], t[1]) for n, t in totals.items()}

    @torch.inference_mode()
    def online_knowledge(self, batch):
        """The batch's teacher scores and frame relevance, computed now by the teachers."""
        from pipeline.teachers.protocol import CaptionBatch, VideoBatch
        from student.knowledge import align_relevance

        s = self.split
        vrows = [self.video_index[v] for v in batch.video_ids]
        crows = np.array([self.caption_index[c] for c in batch.caption_ids], dtype=np.int64)
        feats = {}
        for name, t in self.teachers.items():
            videos = t.encode_videos(VideoBatch(
                list(batch.video_ids),
                [self.teacher_frames[name][v] for v in batch.video_ids] if t.needs_frames else None,
                [s.video_captions[r] for r in vrows],
            ))
            captions = t.encode_captions(CaptionBatch(
                list(batch.caption_ids), [s.texts[i] for i in crows], crows))
            feats[name] = (captions, videos)
        scores = []
        for name in self.coarse:
            t, (c, v) = self.teachers[name], feats[name]
            sim = t.score(c, v).float()
            mask = t.pair_mask(c, v)
            scores.append(sim if mask is None else sim.masked_fill(~mask, float("nan")))
        rel = []
        for name in self.fine:
            t, (c, v) = self.teachers[name], feats[name]
            r = t.frame_relevance(c, v).float().numpy()  # rows aligned: caption i, video i
            rel.append(align_relevance(r, batch.frame_mask.numpy()))
        return dataclasses.replace(
            batch,
            teacher_scores=torch.stack(scores).clone(),
            teacher_relevance=torch.from_numpy(np.stack(rel)) if rel else batch.teacher_relevance,
        )


def agreement(e: Epochs) -> dict:
    """Max |online - stored| on the first batch: the online epoch must teach the same thing."""
    batch = next(iter(e.store_batches))
    online = e.online_knowledge(batch)

    def diff(a, b):
        both = ~(torch.isnan(a) | torch.isnan(b))
        same_nan = bool(torch.equal(torch.isnan(a), torch.isnan(b)))
        return {"max_abs_diff": float((a[both] - b[both]).abs().max()) if both.any() else 0.0, "same_nan": same_nan}

    return {"scores": diff(online.teacher_scores, batch.teacher_scores),
            "relevance": diff(online.teacher_relevance, batch.teacher_relevance)}


def run(cfg: BenchConfig, ws: Workspace) -> list[Figure]:
    e = Epochs(cfg, ws)
    rounds = cfg.heavy_repeats
    agree = agreement(e)
    log(f"distill: online teachers vs store on one batch: {agree}")
    log(f"distill: {e.epochs} epoch(s) of {e.steps // e.epochs} steps of {e.exp.data.batch_size}; "
        f"plain, store, online x {rounds}")
    # one untimed pass: first-call allocations, the frame cache's page cache, the memory maps
    e.interleaved()
    names = ("plain", "store", "online")
    times: dict[str, list[float]] = {n: [] for n in names}
    assembly: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(rounds):
        for n, (seconds, a) in e.interleaved().items():
            times[n].append(seconds)
            assembly[n].append(a)
    overhead = [s / p for s, p in zip(times["store"], times["plain"])]
    online = [o / s for o, s in zip(times["online"], times["store"])]
    detail = {
        "steps_per_epoch": e.steps // e.epochs, "epochs_timed": e.epochs, "batch_size": e.exp.data.batch_size,
        "videos": e.videos,
        "student_frames": e.exp.model.num_frames, "head": e.exp.model.head,
        "config": "configs/student_demo.toml (store, cache, batch_size overridden)",
        "coarse": {"kind": e.exp.loss.coarse.kind, "teachers": e.coarse},
        "fine_teachers": e.fine,
        "epoch_s": {n: spread(v) for n, v in times.items()},
        # where the overhead goes: the loader's batch assembly (teacher queries included) per epoch
        "assembly_s": {"store": spread(assembly["store"]), "plain": spread(assembly["plain"])},
        "num_workers": e.exp.data.num_workers, "teacher_window": e.exp.data.teacher_window,
        "teacher_source": e.teacher_source, "reader_setup_s": round(e.reader_setup_s, 3),
        "online_vs_store_first_batch": agree,
    }
    params = e.parameter_counts()
    return [
        summarize("distill_overhead", overhead, "ratio", "<= 1.05",
                  "distilled-from-store epoch / plain epoch (same batches, weights, loader, step)", detail),
        summarize("online_over_store", online, "ratio", "",
                  f"teachers in the loop / store; teachers have {params['teachers_over_student']:.1f}x "
                  "the student's parameters", detail | {"parameters": params}),
    ]
