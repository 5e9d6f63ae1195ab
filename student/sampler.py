"""Teacher-guided batches: each batch holds captions, their teacher's top videos and those videos' captions.

In a random batch of B pairs a ``topk`` teacher (k scores per caption out of V videos) has
scored the diagonal and about ``k / V`` of the rest: coarse distillation of such a teacher
gets almost no signal (``coverage``, the fraction of in-batch entries the teacher scored,
is near ``1/B + k/V``). :func:`guided_order` fills each batch with ``anchors`` groups of
``ceil(B / anchors)`` pairs. A group starts from an anchor caption (the anchors walk through
a fresh permutation of the videos, as :func:`student.data.batch_order` does) and grows
greedily: the next video is the one most of the group's captions hold among their teacher
candidates, and it joins with whichever of its captions lists most of the batch's videos.
So rows and columns of a group are both mostly scored. A batch still never holds a video
twice; the order is fixed by the seed, like the random one.

:func:`coverage` measures it on any order: ``bench`` and the trainer's log report it for
random and guided batches.
"""

from __future__ import annotations

import math

import numpy as np

from .data import captions_by_video
from .sparse import SparseScores


def guided_order(video_rows: np.ndarray, batch_size: int, steps: int, seed: int, csr: SparseScores,
                anchors: int) -> list[np.ndarray]:
    """``steps`` batches of caption indices, each ``anchors`` groups grown around an anchor caption.

    ``video_rows[i]`` is caption i's video column in ``csr`` (whose rows are the captions).
    A group grows greedily: the next video is the one most of the group's captions have as
    a candidate (ties: the first met, i.e. the best-scored of the earliest caption), and it
    comes with the one of its captions whose own candidates hold most of the batch's videos.
    """
    by_video, videos = captions_by_video(video_rows, batch_size)
    group = math.ceil(batch_size / max(1, min(anchors, batch_size)))
    rng = np.random.default_rng(seed)
    order, at = rng.permutation(videos), 0
    batches: list[np.ndarray] = []
    while len(batches) < steps:
        picks: list[int] = []
        taken: set[int] = set()
        while len(picks) < batch_size:
            while int(order[at]) in taken:  # the next anchor video not yet in this batch
                at += 1
                if at == len(order):
                    order, at = rng.permutation(videos), 0
            v = int(order[at])
            members = _grow(csr, by_video, _caption_of(by_video[v], rng), v, taken,
                            min(group, batch_size - len(picks)))
            picks += members
        batches.append(np.array(picks, dtype=np.int64))
    return batches


def _grow(csr: SparseScores, by_video: dict, anchor: int, anchor_video: int, taken: set, size: int) -> list[int]:
    """One group: the anchor caption, then greedily the videos its members' candidates share."""
    members = [anchor]
    taken.add(anchor_video)
    gain: dict[int, int] = {}  # candidate video -> how many of the group's captions list it
    caption = anchor
    while len(members) < size:
        cols, scores = csr.row(caption)
        for n in cols[np.argsort(-scores.astype(np.float32), kind="stable")].tolist():  # best-scored first
            if n not in taken and n in by_video:
                gain[n] = gain.get(n, 0) + 1
        if not gain:
            break
        best = max(gain, key=gain.get)  # insertion order breaks ties: earliest, best-scored first
        del gain[best]
        caption = _best_caption(csr, by_video[best], taken)
        members.append(caption)
        taken.add(best)
    return members


def _caption_of(captions: list[int], rng) -> int:
    return captions[int(rng.integers(len(captions)))]


def _best_caption(csr: SparseScores, captions: list[int], taken: set) -> int:
    """The caption whose candidates hold most of the batch's videos (first on ties)."""
    if len(captions) == 1:
        return captions[0]
    hits = [sum(1 for c in csr.row(i)[0].tolist() if c in taken) for i in captions]
    return captions[int(np.argmax(hits))]


def coverage(csr: SparseScores, order: list[np.ndarray], video_rows: np.ndarray) -> float:
    """Mean over ``order``'s batches of the fraction of in-batch (caption, video) entries ``csr`` scored."""
    if not order:
        return float("nan")
    return float(np.mean([(~np.isnan(csr.gather(b, video_rows[b]))).mean() for b in order]))


def guided_batches(cfg, trainset, reader, progress=None) -> list[np.ndarray]:
    """The guided batch order of a run (``data.sampler = "guided"``), guided by ``data.guided_teacher``.

    That teacher's CSR is the one ``reader`` already holds when it distils it, else it is
    built (or found in the cache) for the batch order alone, so a plain student can train on
    guided batches too.
    """
    from .config import ConfigError
    from .knowledge import MatrixReader

    d = cfg.data
    teacher = d.guided_teacher or (cfg.loss.coarse.teachers[0] if cfg.loss.coarse.active else "")
    if not teacher:
        raise ConfigError("data.guided_teacher: guided batches need a top-k teacher (none set, no coarse teacher)")
    csr = reader.sparse(teacher) if isinstance(reader, MatrixReader) else None
    if csr is None:
        pairs = list(zip(trainset.caption_ids, (trainset.video_ids[r] for r in trainset.video_rows)))
        try:
            own = MatrixReader(d.store, d.train_split, [teacher], [], pairs, trainset.video_ids, d.cache, progress)
        except ValueError as e:
            raise ConfigError(f"data.guided_teacher: {e}") from None
        csr = own.sparse(teacher)
    if csr is None:
        raise ConfigError(f"data.guided_teacher: teacher {teacher!r} did not score a topk plan; "
                          "guided batches follow a top-k teacher's candidates")
    return guided_order(trainset.video_rows, d.batch_size, cfg.train.steps, cfg.train.seed, csr, d.guided_anchors)
