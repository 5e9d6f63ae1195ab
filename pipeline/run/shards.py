"""Score one split of one teacher into shards: blocks of captions x the plan's videos.

The score pass: the split's video features come from the encode pass's shards
(:func:`.videos.load_features`); a shard (or a list of them) is the unit an engine hands out.

Shard ``i`` holds captions ``[i * shard_captions, (i + 1) * shard_captions)`` of the split
(:meth:`SplitData.shards`); a shard already on disk is skipped, so a killed run resumes
where it stopped and writes every row exactly once. Within a shard, captions are encoded in
``text_batch`` blocks and scored against ``score_batch`` blocks of the cached video features.

Rows promised per caption whose video was decodable (captions of an undecodable video are
skipped with it): ``full`` -- every decodable video of the split; ``topk`` -- the teacher's
top-k videos by holistic embedding plus the positive (a reranker's top-k: another
teacher's run's best-scored k, :mod:`.candidates`). Pairs the teacher declines
(``pair_mask``) are not stored. Frame relevance is stored for each caption's own video
(``own``) or for every scored pair (``all``); the frames shard is written before the scores
shard, whose presence marks the shard done.

Holistic embeddings (``embeddings`` table), when the teacher offers them and its config
does not say ``embeddings = "none"``: the split's video embeddings in one shard
(``part-video-00000``), written before any scores shard of the split, and each shard's
caption embeddings (``part-caption-<i>``), written before that shard's frames and scores.
So a resumed run finds exactly the embeddings of the shards it skips.

Score rows are sorted within a shard by :func:`stores.writer.score_row_order`: video-major
when the shard holds fewer captions than there are videos (then ``video_id`` collapses into
runs and ``caption_id`` costs codes of the shard's own captions), caption-major otherwise.
Readers never rely on row order.
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import torch

from stores.embeddings import vectors_table
from stores.writer import score_row_order

from ..plans import build_index, topk_candidates
from ..teachers.protocol import BaseTeacher, CaptionBatch, Features, take
from stores.splits import SplitData
from .candidates import chunk_candidates
from .errors import NonFiniteScoreError
from .videos import EncodedVideos

PAIR_CHUNK = 8192  # pairs per frame_relevance call in "all" mode


def frame_mode(job) -> str:
    """The frame relevance this job stores: the configured mode, or none if the teacher has none."""
    fn = getattr(type(job.teacher), "frame_relevance", None)
    has = callable(fn) and fn is not BaseTeacher.frame_relevance
    return job.cfg.frame_relevance if has else "none"


def embedding_kinds(job) -> tuple[str, ...]:
    """The embeddings this job stores: ``video`` / ``caption`` where the teacher has them."""
    if job.cfg.embeddings == "none":
        return ()
    out = []
    for kind, method in (("video", "holistic_videos"), ("caption", "holistic_captions")):
        fn = getattr(type(job.teacher), method, None)
        if callable(fn) and fn is not getattr(BaseTeacher, method):
            out.append(kind)
    return tuple(out)


def pending_shards(job, split: SplitData) -> list[int]:
    return [i for i in range(len(split.shards(job.cfg.shard_captions)))
            if not job.writer.has_shard("scores", split.name, i)]


def write_split(job, split: SplitData, enc: EncodedVideos, progress=None, only=None) -> None:
    """Write every pending shard of ``split`` for ``job`` (those in ``only`` if given): the
    unit of the score pass, wherever an engine runs it (see module docstring)."""
    shards = split.shards(job.cfg.shard_captions)
    pending = pending_shards(job, split)
    if only is not None:
        pending = [i for i in pending if i in set(only)]
    if not pending:
        return
    row_of = np.full(len(split.video_ids), -1, dtype=np.int64)
    row_of[enc.ok] = np.arange(len(enc.ok))
    index = None
    kinds = embedding_kinds(job)
    reranked = getattr(job, "candidates", None)  # a reranker: candidates from another run, no index
    own_index = job.cfg.plan == "topk" and reranked is None
    if enc.features is not None and (own_index or "video" in kinds):
        start = time.perf_counter()
        with torch.inference_mode():
            holistic = job.teacher.holistic_videos(enc.features).float().cpu().numpy()
        if "video" in kinds and not job.writer.has_shard("embeddings", split.name, 0, "video"):
            job.writer.write_shard("embeddings", split.name, 0,
                                   vectors_table(split.video_array.take(pa.array(enc.ok)), holistic), "video")
        if own_index:
            index = build_index(holistic)
        job.add_time("index", time.perf_counter() - start)
    if reranked is not None:
        index = _Reranked(reranked.for_split(split), row_of)
    mode = frame_mode(job)
    task = None
    if progress is not None:
        total = sum(len(shards[i]) for i in pending)
        task = progress.add_task(f"{split.name}: {job.name}", total=total, unit="captions")
    for s in pending:
        caps = np.arange(shards[s].start, shards[s].stop, dtype=np.int64)
        caps = caps[row_of[split.caption_video[caps]] >= 0] if len(caps) else caps
        score_parts, frame_parts, caption_vectors = [], [], []
        for lo in range(0, len(caps), job.cfg.text_batch):
            chunk = caps[lo : lo + job.cfg.text_batch]
            start = time.perf_counter()
            cf = job.teacher.encode_captions(
                CaptionBatch([split.caption_ids[i] for i in chunk], [split.texts[i] for i in chunk], chunk)
            )
            if "caption" in kinds:
                with torch.inference_mode():
                    caption_vectors.append(job.teacher.holistic_captions(cf).float().cpu().numpy())
            job.add_time("encode_captions", time.perf_counter() - start)
            _check_distinct(job, split, chunk, cf)
            start = time.perf_counter()
            own = row_of[split.caption_video[chunk]]
            ci, vr, sc = _score_chunk(job, split, s, cf, enc.features, own, index, chunk)
            score_parts.append((chunk[ci], enc.ok[vr], sc))
            if mode != "none":
                pairs = (np.arange(len(chunk)), own) if mode == "own" else (ci, vr)
                frame_parts.append(_frames_table(job, split, chunk, cf, enc.features, enc.ok, *pairs))
            job.add_time("score", time.perf_counter() - start)
        start = time.perf_counter()
        if "caption" in kinds:
            vecs = np.concatenate(caption_vectors) if caption_vectors else np.zeros((0, 0), np.float32)
            job.writer.write_shard("embeddings", split.name, s,
                                   vectors_table(split.caption_array.take(pa.array(caps)), vecs), "caption")
        if mode != "none":
            job.writer.write_shard("frames", split.name, s, _concat(frame_parts, _FRAMES))
        job.writer.write_shard("scores", split.name, s, _shard_scores(split, score_parts))
        job.add_time("write", time.perf_counter() - start)
        if task is not None:
            progress.advance(task, len(shards[s]))


def _check_distinct(job, split: SplitData, chunk, cf: Features) -> None:
    """Refuse a teacher under which distinct captions all encode the same (scores would be garbage).

    Seen with a CLIP folder saved without its tokenizer files: transformers builds a
    2-token tokenizer, every caption becomes the same ids, and each video gets one score
    for every caption. Compared: the holistic caption embedding when the teacher has one,
    else every floating feature. Only the built-in encoders are checked: a plugin may map
    distinct captions to one embedding on purpose (a toy teacher that only reads colours).
    """
    from ..teachers.kinds import kind_of

    if kind_of(job.cfg).encoder_of(job.cfg) is None:  # a plugin (or a reranker's plugin) scores its own way
        return
    distinct = len({split.texts[i] for i in chunk})
    if distinct < 2:
        return
    try:
        with torch.inference_mode():
            tensors = [job.teacher.holistic_captions(cf)]
    except (AttributeError, NotImplementedError):
        tensors = [v for v in cf.values() if torch.is_tensor(v) and v.is_floating_point()]
    if tensors and all(len(t) > 1 and bool((t == t[:1]).all()) for t in tensors):
        from ..teachers.models import ModelError

        raise ModelError(
            f"teacher {job.name}: {distinct} distinct captions of split {split.name} all encode to the "
            "same embedding (a tokenizer that does not fit the model?); nothing written"
        )


def _score_chunk(job, split, shard, cf: Features, videos: Features, own, index, chunk):
    """(caption rows in chunk, video feature rows, scores) of the pairs the plan promises."""
    t, bs = job.teacher, job.cfg.score_batch
    n = len(own)
    if isinstance(index, _Reranked):
        cands = chunk_candidates(index.lists, chunk, own, index.row_of)
        cols = np.unique(cands[cands >= 0])
    elif job.cfg.plan == "topk":
        with torch.inference_mode():
            q = t.holistic_captions(cf).float().cpu().numpy()
        cands = topk_candidates(index, q, own, job.cfg.k)
        cols = np.unique(cands[cands >= 0])
    else:
        cands, cols = None, np.arange(len(next(iter(videos.values()))), dtype=np.int64)
    sims = np.empty((n, len(cols)), dtype=np.float32)
    keep = np.ones((n, len(cols)), dtype=bool)
    for lo in range(0, len(cols), bs):
        block = slice(lo, lo + bs) if cands is None else cols[lo : lo + bs]
        vf = take(videos, block)
        with torch.inference_mode():
            s = t.score(cf, vf)
            m = t.pair_mask(cf, vf) if callable(getattr(t, "pair_mask", None)) else None
        width = s.shape[1]
        sims[:, lo : lo + width] = s.float().cpu().numpy()
        if m is not None:
            keep[:, lo : lo + width] = m.cpu().numpy()
    if cands is None:
        ci, cj = np.nonzero(keep)
        vr = cols[cj]
    else:
        ci, k = np.nonzero(cands >= 0)
        vr = cands[ci, k]
        cj = np.searchsorted(cols, vr)
        wanted = keep[ci, cj]
        ci, cj, vr = ci[wanted], cj[wanted], vr[wanted]
    sc = sims[ci, cj]
    bad = ~np.isfinite(sc)
    if bad.any():
        i = int(np.argmax(bad))
        raise NonFiniteScoreError(
            f"teacher {job.name}: {int(bad.sum())} non-finite scores in split {split.name} shard {shard} "
            f"(e.g. caption {split.caption_ids[chunk[ci[i]]]} x video row {vr[i]}: {sc[i]}); nothing written"
        )
    return ci, vr, sc


class _Reranked:
    """A reranker's candidate lists of one split (split video rows) and the encoded row of each video."""

    def __init__(self, lists: np.ndarray, row_of: np.ndarray):
        self.lists, self.row_of = lists, row_of


def _frames_table(job, split, chunk, cf: Features, videos: Features, ok, ci, vr) -> pa.Table:
    """Frame relevance rows for the aligned pairs (chunk[ci], ok[vr]); NaN (padding) dropped."""
    parts = []
    for lo in range(0, len(ci), PAIR_CHUNK):
        c, v = ci[lo : lo + PAIR_CHUNK], vr[lo : lo + PAIR_CHUNK]
        with torch.inference_mode():
            rel = job.teacher.frame_relevance(take(cf, c), take(videos, v))
        rel = rel.float().cpu().numpy()
        if np.isinf(rel).any():
            raise NonFiniteScoreError(
                f"teacher {job.name}: {int(np.isinf(rel).sum())} infinite frame relevance values in split "
                f"{split.name}; nothing written"
            )
        pi, slot = np.nonzero(~np.isnan(rel))
        parts.append(pa.table({
            "caption_id": split.caption_array.take(pa.array(chunk[c[pi]])),
            "video_id": split.video_array.take(pa.array(ok[v[pi]])),
            "frame": pa.array(slot.astype(np.int16)),
            "score": pa.array(rel[pi, slot].astype(np.float32)),
        }))
    return _concat(parts, _FRAMES)


def _shard_scores(split: SplitData, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> pa.Table:
    """One shard's (caption row, video row, score) parts as a table in its compact row order."""
    if not parts:
        return _SCORES.empty_table()
    caption_rows, video_rows, scores = (np.concatenate(x) for x in zip(*parts))
    order = score_row_order(caption_rows, video_rows)
    return _scores_table(split, caption_rows[order], video_rows[order], scores[order])


def _scores_table(split: SplitData, caption_rows, video_rows, scores) -> pa.Table:
    return pa.table({
        "caption_id": split.caption_array.take(pa.array(caption_rows, pa.int64())),
        "video_id": split.video_array.take(pa.array(video_rows, pa.int64())),
        "score": pa.array(np.asarray(scores, dtype=np.float32)),
    })


_SCORES = pa.schema([("caption_id", pa.string()), ("video_id", pa.string()), ("score", pa.float32())])
_FRAMES = pa.schema([("caption_id", pa.string()), ("video_id", pa.string()), ("frame", pa.int16()),
                     ("score", pa.float32())])


def _concat(parts: list[pa.Table], schema: pa.Schema) -> pa.Table:
    parts = [p for p in parts if p.num_rows]
    return pa.concat_tables(parts) if parts else schema.empty_table()
