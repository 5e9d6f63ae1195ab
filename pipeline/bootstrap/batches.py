"""Which videos share a contrastive batch while a bootstrapped checkpoint trains.

``random`` (the default): each epoch visits the videos in a new random order, ``batch`` at a
time. A random batch of 64 out of thousands almost never holds two videos that differ in
one detail (the same events in the other order, one object of another shape), so nothing
in the loss asks the model to tell them apart.

``similar``: hard negatives by batch composition. Half of each batch are the epoch's next
videos, the other half the nearest neighbour of each of them, by the words of their
captions (bag of words, IDF-weighted, cosine; token ids hashed into at most ``HASH_DIM``
buckets, so any tokenizer works); a neighbour already in the batch is replaced by the next
video of the epoch. Videos whose captions use the same words (order twins, a shape or a
colour swapped) then meet in one batch and the loss must separate them. No model is used,
so it serves a checkpoint trained from scratch as well as a fine-tune.
"""

from __future__ import annotations

import numpy as np
import torch

SAMPLING = ("random", "similar")
HASH_DIM = 4096


def caption_words(input_ids: torch.Tensor, attention_mask: torch.Tensor, caption_video: np.ndarray,
                  n_videos: int) -> np.ndarray:
    """(videos, buckets) IDF-weighted, L2-normalised bag of words of each video's captions;
    a token in every video's captions (BOS, EOS, "a") weighs nothing."""
    ids = input_ids.numpy()
    real = attention_mask.numpy().astype(bool)
    vocab = int(ids.max()) + 1
    dim = min(vocab, HASH_DIM)
    rows = np.repeat(caption_video, real.sum(1))
    cols = ids[real] % dim
    counts = np.zeros((n_videos, dim), dtype=np.float32)
    np.add.at(counts, (rows, cols), 1.0)
    idf = np.log(n_videos / np.maximum((counts > 0).sum(0), 1))
    words = counts * idf
    return words / np.maximum(np.linalg.norm(words, axis=1, keepdims=True), 1e-12)


def nearest_videos(words: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Each video's most similar other video (cosine of ``words``; ties to the lower index)."""
    n = len(words)
    out = np.zeros(n, dtype=np.int64)
    w = torch.from_numpy(words)
    for start in range(0, n, chunk):
        sim = w[start : start + chunk] @ w.T
        sim[torch.arange(sim.shape[0]), torch.arange(start, start + sim.shape[0])] = -float("inf")
        out[start : start + chunk] = sim.argmax(1).numpy()
    return out


class BatchPlan:
    """Draws the videos of each step: ``next(plan)`` -> array of ``batch`` distinct video rows."""

    def __init__(self, n_videos: int, batch: int, rng: np.random.Generator, neighbours: np.ndarray | None = None):
        self.n, self.batch, self.rng, self.neighbours = n_videos, batch, rng, neighbours
        self.order, self.pos = rng.permutation(n_videos), 0

    def _take(self) -> int:
        if self.pos >= self.n:
            self.order, self.pos = self.rng.permutation(self.n), 0
        self.pos += 1
        return int(self.order[self.pos - 1])

    def __next__(self) -> np.ndarray:
        if self.neighbours is None:  # the original epoch walk: whole batches, a new order when one no longer fits
            if self.pos + self.batch > self.n:
                self.order, self.pos = self.rng.permutation(self.n), 0
            self.pos += self.batch
            return self.order[self.pos - self.batch : self.pos]
        picked: list[int] = []
        seen: set[int] = set()
        while len(picked) < self.batch:
            v = self._take()
            if v in seen:
                continue
            picked.append(v)
            seen.add(v)
            u = int(self.neighbours[v])
            if len(picked) < self.batch and u not in seen:
                picked.append(u)
                seen.add(u)
        return np.array(picked, dtype=np.int64)
