"""Stores the tests build: :func:`build_store` writes every manifest; :func:`small_store` (no
video files) and :func:`synthetic_store` (tiny videos, two teachers, a tokenizer) are built on it.

:func:`synthetic_store`: teacher ``fine_t`` scores every (caption, video) pair of both splits,
stores frame relevance for each matched pair and holistic embeddings (8-d, float16) of every
video and every caption but the last train video's (an id without an embedding); teacher
``sparse_t`` scores only the first half of the videos for each caption (a ``topk``-like plan),
so the loader has entries to mask. :func:`add_topk_teacher` adds ``topk_t``, a committed
``topk`` run (float16) of k = :data:`TOPK_K` videos per caption, its own among them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from stores.layout import Store
from stores.writer import RunWriter

from pipeline.teachers.testing import write_video

from .media import square_frames


def build_store(root, videos, captions, missing=(), dataset: str = "synthetic", duration: float = 1.0,
                fps: float = 8.0, frames: int = 8, options: dict | None = None) -> Store:
    """A new store at ``root`` (a folder or a URL) with one manifest.

    ``videos``: ``(video_id, split)`` or ``(video_id, split, path)``, the path ``/nowhere/<id>.mp4``
    when left out (the writer never reads it); ``captions``: ``(caption_id, video_id, split, text)``;
    ``missing``: ``(video_id, reason)``. Every video gets ``duration``, ``fps`` and ``frames``;
    ``options`` go to the file system (an S3 endpoint, say).
    """
    store = Store(root, create=True, options=options)
    rows = [(v[0], v[1], v[2] if len(v) > 2 else f"/nowhere/{v[0]}.mp4") for v in videos]
    store.write_manifest(
        dataset,
        pa.table({
            "video_id": [v for v, _, _ in rows], "split": [s for _, s, _ in rows], "path": [str(p) for _, _, p in rows],
            "duration": pa.array([duration] * len(rows), pa.float32()),
            "fps": pa.array([fps] * len(rows), pa.float32()),
            "frames": pa.array([frames] * len(rows), pa.int32()),
        }),
        pa.table({
            "caption_id": [c[0] for c in captions], "video_id": [c[1] for c in captions],
            "split": [c[2] for c in captions], "text": [c[3] for c in captions],
        }),
        list(missing),
    )
    return store


def small_store(root) -> Store:
    """Test videos v0..v3 (2 captions each, ``v<k>#<j>``, text ``caption v<k>#<j>``) and train
    videos t0..t1 (1 caption each); no video files."""
    vids = [("v0", "test"), ("v1", "test"), ("v2", "test"), ("v3", "test"), ("t0", "train"), ("t1", "train")]
    caps = [(f"{v}#{j}", v, s, f"caption {v}#{j}") for v, s in vids for j in range(2 if s == "test" else 1)]
    return build_store(root, vids, caps, dataset="tiny")


# -- the student tests' synthetic store -------------------------------------------------

COLOURS = {"red": (220, 40, 40), "green": (50, 190, 70), "blue": (50, 80, 235), "white": (235, 235, 235)}
MOVES = ("left", "right")
T_FRAMES = 6  # frames per synthetic video
TEACHER_FRAMES = 5  # frames the synthetic teacher "sampled"
TOPK_K = 3


def square_clip(path, colour, move, size=32, n=T_FRAMES, fps=8) -> Path:
    """A square of ``colour`` sliding 3 pixels a frame to the ``move`` side."""
    xs = [4 + (i * 3 if move == "right" else (n - 1 - i) * 3) for i in range(n)]
    return write_video(path, square_frames(colour, xs, size), fps=fps, crf=None)


def save_tokenizer(folder, texts):
    """A lower-casing word-level tokenizer of the words of ``texts``: ``<bos> text <eos>``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<bos>", "<unk>", "<eos>"]
    words = sorted({w for t in texts for w in t.lower().split()})
    vocab = {w: i for i, w in enumerate(specials + words)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A <eos>", special_tokens=[("<bos>", 1), ("<eos>", 3)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>", unk_token="<unk>"
    )
    fast.save_pretrained(str(folder))
    return folder


def synthetic_store(root: Path, n_train=12, n_test=6, caps_per_video=2, seed=0) -> tuple[Path, Path]:
    """A committed store over tiny videos at ``root/store``; returns (store folder, tokenizer folder)."""
    rng = np.random.default_rng(seed)
    vdir = root / "videos"
    vdir.mkdir(parents=True)
    videos, caps = [], []
    combos = [(c, m) for c in COLOURS for m in MOVES]
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            vid = f"{split}{i:03d}"
            colour, move = combos[i % len(combos)]
            videos.append((vid, split, square_clip(vdir / f"{vid}.mp4", COLOURS[colour], move)))
            for k in range(caps_per_video):
                caps.append((f"{vid}#{k}", vid, split, f"a {colour} square moves {move} take {k}"))
    store = build_store(root / "store", videos, caps, duration=0.75, frames=T_FRAMES)
    vids = [v for v, _, _ in videos]
    splits = [s for _, s, _ in videos]
    erng = np.random.default_rng(seed + 100)
    for teacher, sparse in (("fine_t", False), ("sparse_t", True)):
        w = RunWriter(store, teacher, "synthetic", f"{teacher}-fp-{seed}", "{}", "test", score_dtype="float32")
        w.begin()
        for split in ("train", "test"):
            svids = [v for v, s in zip(vids, splits) if s == split]
            scaps = [c for c in caps if c[2] == split]
            ci, vi, sc = [], [], []
            for cid, own, _, _ in scaps:
                for j, v in enumerate(svids):
                    if sparse and j >= len(svids) // 2:
                        continue
                    ci.append(cid)
                    vi.append(v)
                    sc.append(float(rng.normal()) + (2.0 if v == own else 0.0))
            w.write_shard("scores", split, 0, pa.table({"caption_id": ci, "video_id": vi, "score": sc}))
            if not sparse:
                fc, fv, ff, fs = [], [], [], []
                for cid, own, _, _ in scaps:
                    for f in range(TEACHER_FRAMES):
                        fc.append(cid)
                        fv.append(own)
                        ff.append(f)
                        fs.append(float(rng.normal()))
                w.write_shard("frames", split, 0, pa.table({"caption_id": fc, "video_id": fv, "frame": ff, "score": fs}))
                from stores.embeddings import vectors_table

                kept = svids[:-1] if split == "train" else svids  # the last train video has none
                ev = erng.normal(size=(len(kept), 8))
                w.write_shard("embeddings", split, 0, vectors_table(kept, ev / np.linalg.norm(ev, axis=1, keepdims=True)), "video")
                ec = erng.normal(size=(len(scaps), 8))
                w.write_shard("embeddings", split, 0, vectors_table([c[0] for c in scaps],
                                                                     ec / np.linalg.norm(ec, axis=1, keepdims=True)), "caption")
        w.commit()
    tok = save_tokenizer(root / "tokenizer", [c[3] for c in caps])
    return root / "store", tok


def add_topk_teacher(store_root, name="topk_t", k=TOPK_K, seed=5):
    """A committed ``topk`` run: each train caption scored against k random videos (its own among them)."""
    import stores
    from stores.splits import split_pairs

    rng = np.random.default_rng(seed)
    store = Store(store_root)
    config = json.dumps({"kind": "clip", "plan": {"kind": "topk", "k": k}})
    w = RunWriter(store, name, "clip", f"{name}-fp", config, "test", score_dtype="float16")
    w.begin()
    with stores.connect(store_root) as con:
        for split in ("train", "test"):
            pairs = split_pairs(con, split, drop_excluded=False)
            vids = sorted({v for _, v, _ in pairs})
            ci, vi, sc = [], [], []
            for c, own, _ in pairs:
                others = [v for v in vids if v != own]
                for v in [own] + list(rng.choice(others, k - 1, replace=False)):
                    ci.append(c)
                    vi.append(v)
                    sc.append(float(rng.normal()) + (2.0 if v == own else 0.0))
            order = rng.permutation(len(ci))  # readers never rely on row order
            w.write_shard("scores", split, 0, pa.table({
                "caption_id": [ci[i] for i in order], "video_id": [vi[i] for i in order],
                "score": pa.array(np.array(sc, np.float32)[order].astype(np.float16))}))
    w.commit()
