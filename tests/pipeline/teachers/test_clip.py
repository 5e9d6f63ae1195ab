"""clip teachers: the torch frame transform matches CLIPImageProcessor, and stored `mean`
scores / frame relevance equal a numpy computation from the model's own projected embeddings."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from pipeline.config import parse_config
from pipeline.run import run_teachers
from pipeline.teachers.image_processing import FrameTransform
from pipeline.teachers.testing import random_frames, tiny_clip, write_dataset
from teachkit_fixtures.vocab import WORDS

import stores


def _processor(siglip=False, **kwargs):
    from transformers import CLIPImageProcessor, SiglipImageProcessor

    return (SiglipImageProcessor if siglip else CLIPImageProcessor)(**kwargs)


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        (dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}), (24, 40)),  # upscale, landscape
        (dict(size={"shortest_edge": 20}, crop_size={"height": 20, "width": 20}), (64, 36)),  # downscale, portrait
        (dict(size={"shortest_edge": 16}, crop_size={"height": 24, "width": 20}), (30, 30)),  # crop pads
        (dict(size={"height": 28, "width": 18}, do_center_crop=False, resample=2), (40, 50)),  # exact, bilinear
        (dict(), (90, 120)),  # CLIP defaults: 224 shortest edge, 224 crop
        (dict(siglip=True, size={"height": 32, "width": 32}), (24, 40)),  # SigLIP: exact resize, no crop
    ],
)
def test_frame_transform_matches_clip_image_processor(kwargs, shape):
    rng = np.random.default_rng(0)
    frames = np.concatenate([random_frames(rng, 2, shape), rng.integers(0, 256, (1, *shape, 3), dtype=np.uint8)])
    proc = _processor(**kwargs)
    expected = proc(images=list(frames), return_tensors="np")["pixel_values"]
    ours = FrameTransform.from_dict(proc.to_dict())
    got = ours.normalize(ours.resize_crop(frames)).numpy()
    assert got.shape == expected.shape
    # in grey levels: torch's antialiased uint8 resize rounds like PIL's on all but a few pixels
    levels = np.abs(got - expected) * np.array(proc.image_std)[None, :, None, None] * 255
    assert levels.max() <= 2.0 + 1e-3
    assert (levels > 0.5).mean() < 0.01


def _run_mean_and_fine(root, source, model, names, **fine):
    """Run two clip teachers of ``model`` (scorers mean and fine, float32 scores) into ``root/store``."""
    raw = {
        "store": {"root": str(root / "store")},
        "dataset": {"source": str(source)},
        "frames": {"num_frames": 4},
        "teachers": [
            {"name": names[0], "kind": "clip", "model": str(model), "scorer": "mean", "score_dtype": "float32"},
            {"name": names[1], "kind": "clip", "model": str(model), "scorer": "fine", "score_dtype": "float32",
             **fine},
        ],
    }
    return run_teachers(parse_config(raw, root), out=lambda s: None, progress=False)


@pytest.fixture(scope="module")
def clip_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("clip")
    videos = {
        "v0": ("test", ["a red ball moves left", "red ball"]),
        "v1": ("test", ["a blue box jumps up"]),
        "v2": ("test", ["green cat sits down"]),
        "v3": ("train", ["a cat"]),
    }
    source = write_dataset(root / "data", videos, frames=6)
    model = tiny_clip(root / "clip", WORDS)
    outcomes = _run_mean_and_fine(root, source, model, ("mean", "fine"), frame_relevance="all")
    return root, model, outcomes


def _sampled_frames(root, vid, num_frames):
    """A test video's frames decoded with PyAV and sampled uniformly (CLIP4Clip)."""
    with av.open(str(root / "data" / "videos" / f"{vid}.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    idx = np.linspace(0, len(frames) - 1, num_frames).astype(int)
    return [frames[i] for i in idx]


def _hand_features(root, model_dir, video_ids, texts, num_frames=4):
    """Projected, normalised embeddings straight from transformers (PIL processor, PyAV decode)."""
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    model = CLIPModel.from_pretrained(model_dir).eval()
    proc = CLIPImageProcessor.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    videos = []
    for vid in video_ids:
        pixels = proc(images=_sampled_frames(root, vid, num_frames), return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            emb = model.get_image_features(pixel_values=pixels).pooler_output.numpy().astype(np.float64)
        videos.append(emb / np.linalg.norm(emb, axis=1, keepdims=True))
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        t = model.get_text_features(**enc).pooler_output.numpy().astype(np.float64)
    return np.stack(videos), t / np.linalg.norm(t, axis=1, keepdims=True)


def _stored(root, teacher, table="scores"):
    with stores.connect(root / "store") as con:
        cols = "caption_id, video_id, score" + (", frame" if table == "frames" else "")
        return con.execute(
            f"SELECT {cols} FROM {table} WHERE teacher = ? AND split = 'test' ORDER BY ALL", [teacher]
        ).fetchall()


def test_mean_scores_equal_a_numpy_computation(clip_store):
    root, model, outcomes = clip_store
    assert [o.status for o in outcomes] == ["computed", "computed"]
    vids = ["v0", "v1", "v2"]
    caps = {"v0_0": "a red ball moves left", "v0_1": "red ball", "v1_0": "a blue box jumps up",
            "v2_0": "green cat sits down"}
    frames, text = _hand_features(root, model, vids, list(caps.values()))
    video = frames.mean(1)
    video /= np.linalg.norm(video, axis=1, keepdims=True)
    expected = text @ video.T  # captions x videos
    rows = _stored(root, "mean")
    assert len(rows) == 4 * 3
    got = np.zeros_like(expected)
    for c, v, s in rows:
        got[list(caps).index(c), vids.index(v)] = s
    assert np.abs(expected).max() > 0.05  # not a degenerate all-zero comparison
    np.testing.assert_allclose(got, expected, atol=2e-4)

    # frame relevance of each caption's own video: cosine of the sentence with each frame
    frames_rows = _stored(root, "mean", "frames")
    assert len(frames_rows) == 4 * 4  # 4 captions x 4 sampled frames
    for c, v, s, f in frames_rows:
        assert v == c.split("_")[0]
        assert s == pytest.approx(text[list(caps).index(c)] @ frames[vids.index(v), f], abs=2e-4)


def test_fine_teacher_stores_every_pair_and_all_frame_relevance(clip_store):
    root, _, _ = clip_store
    scores = _stored(root, "fine")
    assert len(scores) == 4 * 3 and len({(c, v) for c, v, _ in scores}) == 12
    frames = _stored(root, "fine", "frames")
    assert len(frames) == 4 * 3 * 4  # frame_relevance = "all": every scored pair x 4 frames
    # the relevance does not depend on the scorer: both teachers share the model
    own = {(c, v, f): s for c, v, s, f in _stored(root, "mean", "frames")}
    for c, v, s, f in frames:
        if (c, v, f) in own:
            assert s == pytest.approx(own[(c, v, f)], abs=1e-6)


def test_metrics_are_committed_and_queryable(clip_store):
    root, _, outcomes = clip_store
    with stores.connect(root / "store") as con:
        r1 = con.execute(
            "SELECT teacher, json_extract(metrics, '$.t2v.\"R@1\"')::DOUBLE FROM runs "
            "WHERE status = 'committed' ORDER BY teacher"
        ).fetchall()
    assert [t for t, _ in r1] == ["fine", "mean"]
    by_name = {o.name: o.metrics for o in outcomes}
    for teacher, value in r1:
        assert value == by_name[teacher]["t2v"]["R@1"]
        assert by_name[teacher]["captions"] == 4 and by_name[teacher]["videos"] == 3


def test_siglip_teacher_matches_siglip_own_features(tmp_path):
    """A SiglipModel runs as a clip teacher: mean scores equal its own get_*_features cosines."""
    from transformers import AutoTokenizer, SiglipImageProcessor, SiglipModel

    from pipeline.teachers.testing import tiny_siglip

    videos = {"v0": ("test", ["a red ball moves left"]), "v1": ("test", ["a blue box jumps up"]),
              "v2": ("test", ["green cat sits down"]), "v3": ("train", ["a cat"])}
    source = write_dataset(tmp_path / "data", videos, frames=6)
    model_dir = tiny_siglip(tmp_path / "siglip", WORDS)
    outcomes = _run_mean_and_fine(tmp_path, source, model_dir, ("sig", "sig_fine"))
    assert [o.status for o in outcomes] == ["computed", "computed"]

    model = SiglipModel.from_pretrained(model_dir).eval()
    proc = SiglipImageProcessor.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    vids, texts = ["v0", "v1", "v2"], [videos[v][1][0] for v in ("v0", "v1", "v2")]
    video = []
    for vid in vids:
        pixels = proc(images=_sampled_frames(tmp_path, vid, 4), return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            emb = model.get_image_features(pixel_values=pixels).pooler_output.numpy().astype(np.float64)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        v = emb.mean(0)
        video.append(v / np.linalg.norm(v))
    # SigLIP's own recipe: text padded to the trained length, no attention mask
    enc = tok(texts, padding="max_length", max_length=model.config.text_config.max_position_embeddings,
              return_tensors="pt")
    with torch.no_grad():
        t = model.get_text_features(input_ids=enc["input_ids"]).pooler_output.numpy().astype(np.float64)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    expected = t @ np.stack(video).T
    got = np.zeros_like(expected)
    for c, v, s in _stored(tmp_path, "sig"):
        got[vids.index(c.split("_")[0]), vids.index(v)] = s
    assert np.abs(expected).max() > 0.05
    # SigLIP's processor resizes with PIL; ours in torch (a grey level here and there)
    np.testing.assert_allclose(got, expected, atol=2e-3)
    fine = _stored(tmp_path, "sig_fine")
    assert len(fine) == 9 and all(np.isfinite(s) for _, _, s in fine)


def test_non_clip_checkpoints_are_refused_with_a_reason(tmp_path):
    from pipeline.teachers.clip import ClipTeacher
    from pipeline.teachers.models import ModelError
    from pipeline.teachers.testing import tiny_text_encoder

    bert = tiny_text_encoder(tmp_path / "bert", WORDS)
    with pytest.raises(ModelError, match="neither CLIP-like .* nor SigLIP-like"):
        ClipTeacher(bert, torch.device("cpu"))


def test_text_features_ignore_trailing_padding(tmp_path):
    """Captions padded to a fixed length (the bootstrap's batches) give the sentence and word
    features of the padding-free batch; the tower sees only the columns up to the longest."""
    from transformers import AutoTokenizer, CLIPModel

    from pipeline.clip_features import encode_text

    words = "a red ball moves left blue box".split()
    folder = tiny_clip(tmp_path / "clip", words)
    model, tok = CLIPModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    texts = ["a red ball moves left", "blue box"]
    padded = tok(texts, padding="max_length", max_length=16, return_tensors="pt")
    widths = []
    hook = model.text_model.register_forward_pre_hook(
        lambda m, args, kwargs: widths.append(kwargs["input_ids"].shape[1]), with_kwargs=True)
    with torch.no_grad():
        got = encode_text(model, padded["input_ids"], padded["attention_mask"], words=True)
        hook.remove()
        out = model.text_model(input_ids=padded["input_ids"], attention_mask=padded["attention_mask"])
    longest = int(padded["attention_mask"].sum(1).max())
    assert widths == [longest] and longest < 16
    want = torch.nn.functional.normalize(model.text_projection(out.pooler_output), dim=-1)
    assert torch.allclose(got.sentence, want, atol=1e-5)
    want_words = torch.nn.functional.normalize(model.text_projection(out.last_hidden_state), dim=-1)
    mask = padded["attention_mask"][:, :longest].bool()
    assert torch.equal(got.word_mask, mask)
    assert torch.allclose(got.words, (want_words[:, :longest] * mask.unsqueeze(-1)), atol=1e-5)
