"""A ``plugin`` teacher with no model: a video is its mean colour, a caption the colours it names.

The runner finds it by dotted path (:data:`PLUGIN`, or ``teachkit_fixtures.colour.ColourTeacher``)
as it finds a user's class; a subprocess or a Ray worker needs :data:`teachkit_fixtures.SUPPORT`
on its ``PYTHONPATH``. It has every optional part of the protocol (frame relevance, holistic
embeddings), so the top-k plan, frame tables and embeddings all have something to store.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch
import torch.nn.functional as F

PLUGIN = "teachkit_fixtures.colour:ColourTeacher"
PAIR_ONLY = "teachkit_fixtures.colour:PairOnly"
COLOURS = {"red": 0, "green": 1, "blue": 2}


class ColourTeacher:
    """Videos: mean RGB of each frame; captions: the colours they name. Captions naming a
    colour point at videos of that colour.

    Options: ``nan`` puts a NaN in the first score (the runner must refuse it); ``flag``, a
    file that makes every score call sleep 0.4 s while it exists (a slow driver to kill).
    ``TK_COLOUR_DELAY`` (seconds) slows every score call too, without changing the
    fingerprint. ``calls`` counts constructions and score calls in this process.
    """

    needs_frames = True
    version = "1"
    calls = {"score": 0, "init": 0}

    def __init__(self, model=None, device=None, nan=False, flag=""):
        self.delay, self.nan, self.flag = float(os.environ.get("TK_COLOUR_DELAY", "0")), nan, flag
        ColourTeacher.calls["init"] += 1

    def encode_videos(self, batch):
        frames = torch.stack([torch.from_numpy(f.frames).float().mean((1, 2)) for f in batch.frames])
        mask = torch.from_numpy(np.stack([f.mask for f in batch.frames]))
        return {"frames": F.normalize(frames + 1.0, dim=-1), "mask": mask}

    def encode_captions(self, batch):
        v = torch.full((len(batch.texts), 3), 0.1)
        for i, text in enumerate(batch.texts):
            for word in text.split():
                if word in COLOURS:
                    v[i, COLOURS[word]] += 1.0
        return {"emb": F.normalize(v, dim=-1)}

    def _video(self, v):
        m = v["mask"].unsqueeze(-1).float()
        return F.normalize((v["frames"] * m).sum(1) / m.sum(1), dim=-1)

    def score(self, captions, videos):
        ColourTeacher.calls["score"] += 1
        time.sleep(self.delay)
        if self.flag and os.path.exists(self.flag):
            time.sleep(0.4)
        s = captions["emb"] @ self._video(videos).T
        if self.nan:
            s[0, 0] = float("nan")
        return s

    def frame_relevance(self, captions, videos):
        rel = torch.einsum("nd,ntd->nt", captions["emb"], videos["frames"])
        return rel.masked_fill(~videos["mask"], float("nan"))

    def holistic_videos(self, videos):
        return self._video(videos)

    def holistic_captions(self, captions):
        return captions["emb"]


class PairOnly(ColourTeacher):
    """A pair scorer with no embeddings and no frame relevance (a reranker's): the colour score
    negated and times ``scale``, so reranking reorders the candidates."""

    holistic_videos = None
    holistic_captions = None
    frame_relevance = None

    def __init__(self, model=None, device=None, scale=1.0):
        super().__init__(model, device)
        self.scale = scale

    def score(self, captions, videos):
        return -(captions["emb"] @ self._video(videos).T) * self.scale
