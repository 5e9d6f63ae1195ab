"""Synthetic stores for the student tests: tiny MP4s (PyAV), captions, two teachers.

Teacher ``fine_t`` scores every (caption, video) pair of both splits, stores frame
relevance for each matched pair and holistic embeddings (8-d, float16) of every video and
every caption but the last train video's (an id without an embedding); teacher ``sparse_t`` scores only the first half of the
videos for each caption (a ``topk``-like plan), so the loader has entries to mask.
``topk_store`` copies it and adds ``topk_t``, a committed ``topk`` run (float16) of k = 3
videos per caption, its own among them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from stores.layout import Store
from stores.writer import RunWriter

COLOURS = {"red": (220, 40, 40), "green": (50, 190, 70), "blue": (50, 80, 235), "white": (235, 235, 235)}
MOVES = ("left", "right")
T_FRAMES = 6  # frames per synthetic video
TEACHER_FRAMES = 5  # frames the synthetic teacher "sampled"


def write_video(path, colour, move, size=32, n=T_FRAMES, fps=8):
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        for i in range(n):
            img = np.zeros((size, size, 3), dtype=np.uint8)
            x = 4 + (i * 3 if move == "right" else (n - 1 - i) * 3)
            img[12:20, x : x + 8] = colour
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def save_tokenizer(folder, texts):
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


def build_store(root, n_train=12, n_test=6, caps_per_video=2, seed=0):
    """A committed store over tiny videos; returns (root, tokenizer folder, info)."""
    rng = np.random.default_rng(seed)
    vdir = root / "videos"
    vdir.mkdir(parents=True)
    vids, splits, paths, caps = [], [], [], []
    combos = [(c, m) for c in COLOURS for m in MOVES]
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            vid = f"{split}{i:03d}"
            colour, move = combos[i % len(combos)]
            p = vdir / f"{vid}.mp4"
            write_video(p, COLOURS[colour], move)
            vids.append(vid)
            splits.append(split)
            paths.append(str(p))
            for k in range(caps_per_video):
                caps.append((f"{vid}#{k}", vid, split, f"a {colour} square moves {move} take {k}"))
    store = Store(root / "store", create=True)
    store.write_manifest(
        "synthetic",
        pa.table({"video_id": vids, "split": splits, "path": paths, "duration": [0.75] * len(vids),
                  "fps": [8.0] * len(vids), "frames": [T_FRAMES] * len(vids)}),
        pa.table({"caption_id": [c[0] for c in caps], "video_id": [c[1] for c in caps],
                  "split": [c[2] for c in caps], "text": [c[3] for c in caps]}),
    )
    erng = np.random.default_rng(seed + 100)
    for teacher, sparse in (("fine_t", False), ("sparse_t", True)):
        w = RunWriter(store, teacher, "synthetic", f"{teacher}-fp-{seed}", "{}", "test", score_dtype="float32")
        w.begin()
        for si, split in enumerate(("train", "test")):
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


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run faster on one thread, above all on cores other processes share."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def synthetic_store(tmp_path_factory):
    """(store folder, tokenizer folder, root) of a session-wide synthetic store (read only)."""
    root = tmp_path_factory.mktemp("student_store")
    store, tok = build_store(root)
    return store, tok, root


@pytest.fixture
def teacher_frames():
    return TEACHER_FRAMES


@pytest.fixture
def tiny_config():
    """``tiny_config(store, tok, cache, runs, **{"train.steps": 2, ...})``: an ExperimentConfig."""
    return tiny_experiment


def tiny_experiment(store, tok, cache, runs, **overrides):
    """A tiny ExperimentConfig (seconds on CPU) over the synthetic store."""
    from student.config import ExperimentConfig, from_dict

    data = {
        "model": {"tokenizer": str(tok), "head": "afa", "num_frames": 4, "max_words": 12,
                  "tiny": {"image_size": 32, "patch_size": 16, "hidden_size": 32, "intermediate_size": 64,
                           "layers": 1, "heads": 2, "projection_dim": 32}},
        "data": {"store": str(store), "cache": str(cache), "batch_size": 4, "teacher_window": 3,
                 "decode_workers": 1, "eval_batch_size": 8},
        "train": {"steps": 4, "lr": 2e-3, "warmup_steps": 1, "log_every": 1},
        "loss": {"coarse": {"kind": "kl", "teachers": ["fine_t", "sparse_t"], "teacher_temperature": 0.5},
                 "fine": {"weight": 1.0, "teachers": ["fine_t"]}},
        "output": {"runs": str(runs), "name": "tiny"},
    }
    for path, value in overrides.items():
        node = data
        keys = path.split(".")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return from_dict(ExperimentConfig, data).check()


TOPK_K = 3


def add_topk_teacher(store_root, name="topk_t", k=TOPK_K, seed=5):
    """A committed ``topk`` run: each train caption scored against k random videos (its own among them)."""
    import json

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


@pytest.fixture(scope="session")
def topk_store(synthetic_store, tmp_path_factory):
    """A copy of the synthetic store with a third, ``topk`` teacher ``topk_t`` (k = TOPK_K)."""
    import shutil

    store, _, _ = synthetic_store
    root = tmp_path_factory.mktemp("topk") / "store"
    shutil.copytree(store, root)
    add_topk_teacher(root)
    return root
