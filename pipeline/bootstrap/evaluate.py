"""Held-out retrieval of a bootstrapped teacher: load it like a hub model and score a split.

A check that the bootstrap produced a teacher worth distilling, run by ``teachkit teachers
bootstrap --eval``. It loads the folder through ``from_pretrained`` (the teacher stage's
path), scores every caption of ``split`` against every video of ``split`` with the scorer
the teacher was trained for, and returns :func:`teachkit.util.metrics.retrieval_metrics`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .checkpoint import read_marker
from .data import read_split


def load_teacher(folder: str | Path):
    """``(model, tokenizer, processor)`` through the same ``from_pretrained`` calls as for a hub CLIP."""
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        processor = AutoImageProcessor.from_pretrained(folder)
        model = CLIPModel.from_pretrained(folder).eval()
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    return model, AutoTokenizer.from_pretrained(folder), processor


def evaluate_checkpoint(
    folder: str | Path,
    store_root: str | Path,
    split: str = "test",
    scorer: str | None = None,
    num_frames: int | None = None,
    block: int = 256,
) -> dict:
    """t2v / v2t retrieval metrics of the teacher in ``folder`` on ``split`` of the store.

    ``scorer`` and ``num_frames`` default to what the teacher was bootstrapped with.
    """
    import torch

    from pipeline.clip_features import encode_frames, encode_text
    from pipeline.scorers import VideoFeatures, get_scorer
    from teachkit.util.metrics import retrieval_metrics

    from .data import decode_videos, normalise

    trained = (read_marker(Path(folder)) or {}).get("options", {})
    from pipeline.temporal import load as load_temporal

    from .train import scorer_of

    scorer = scorer or scorer_of(trained.get("objective", "mean"))
    temporal = load_temporal(folder)
    num_frames = num_frames or trained.get("num_frames", 12)
    model, tokenizer, processor = load_teacher(folder)
    rows = read_split(store_root, split)
    frameset = decode_videos(rows.videos, processor, num_frames, trained.get("fps"))
    row_of = {v: i for i, v in enumerate(frameset.video_ids)}
    captions = [(vid, text) for _, vid, text in rows.captions if vid in row_of]
    score = get_scorer(scorer)
    with torch.inference_mode():
        videos = []
        for i in range(0, len(frameset.video_ids), 64):
            pix = normalise(torch.from_numpy(frameset.frames[i : i + 64]), processor)
            v = encode_frames(model, pix, torch.from_numpy(frameset.mask[i : i + 64]))
            videos.append(v if temporal is None else temporal(v))
        frames = torch.cat([v.frames for v in videos])
        fmask = torch.cat([v.frame_mask for v in videos])
        video = VideoFeatures(frames, fmask)
        sims = []
        for i in range(0, len(captions), block):
            enc = tokenizer(
                [t for _, t in captions[i : i + block]], padding=True, truncation=True, return_tensors="pt"
            )
            text = encode_text(model, enc["input_ids"], enc["attention_mask"], words=scorer == "fine")
            sims.append(score(text, video).float().numpy())
    sim = np.concatenate(sims)
    return retrieval_metrics(sim, np.array([row_of[v] for v, _ in captions]))
