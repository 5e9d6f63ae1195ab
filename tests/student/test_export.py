"""`teachkit student export --format hf`: the exported model gives the run's vectors."""

import json
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import stores
from student.frame_cache import FrameCache, cache_key
from stores.splits import split_pairs
from student.train import train
from teachkit_fixtures.experiment import tiny_experiment


@pytest.fixture(scope="module")
def exported(synthetic_store, tmp_path_factory):
    from typer.testing import CliRunner

    from teachkit.cli import app

    store, tok, _ = synthetic_store
    root = tmp_path_factory.mktemp("export")
    torch.set_num_threads(1)
    run = train(tiny_experiment(store, tok, root / "cache", root / "runs", **{"train.steps": 3})).folder
    out = root / "hf"
    res = CliRunner().invoke(app, ["student", "export", str(run), "--format", "hf", str(out)])
    assert res.exit_code == 0, res.output
    return run, out, store, root / "cache"


def _test_split(run, store, cache_root):
    spec = json.loads((run / "student.json").read_text())
    vectors = json.loads((run / "vectors.json").read_text())
    with stores.connect(store) as con:
        texts = {c: t for c, _, t in split_pairs(con, "test", drop_excluded=False)}
    manifest = json.loads((store / "manifest.json").read_text())["fingerprint"]
    cache = FrameCache.open(cache_root / "frames" / cache_key(manifest, "test", spec["num_frames"], spec["fps"], spec["image_size"]))
    rows = cache.rows()
    r = np.array([rows[v] for v in vectors["video_ids"]])
    return [texts[c] for c in vectors["caption_ids"]], torch.from_numpy(np.asarray(cache.frames[r])), torch.from_numpy(cache.mask[r])


def test_exported_loader_gives_the_runs_vectors(exported):
    run, out, store, cache_root = exported
    texts, frames, mask = _test_split(run, store, cache_root)
    sys.path.insert(0, str(out))
    try:
        from teachkit_student import ExportedStudent  # the loader written into the export, not student/
    finally:
        sys.path.remove(str(out))
    s = ExportedStudent(out)
    assert type(s).__module__ == "teachkit_student"
    assert np.allclose(s.encode_text(texts).numpy(), np.load(run / "captions.npy"), atol=1e-5)
    video, weights = s.encode_video(frames, mask)
    assert np.allclose(video.numpy(), np.load(run / "videos.npy"), atol=1e-5)
    assert weights.shape == mask.shape and torch.allclose(weights.sum(1), torch.ones(len(mask)), atol=1e-5)


def test_plain_transformers_clip_gives_the_runs_features(exported):
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, CLIPModel

    from student.heads import build_head

    run, out, store, cache_root = exported
    texts, frames, mask = _test_split(run, store, cache_root)
    clip = CLIPModel.from_pretrained(str(out)).eval()
    tok = AutoTokenizer.from_pretrained(str(out))
    cfg = json.loads((out / "video_head.json").read_text())
    enc = tok(texts, padding="max_length", truncation=True, max_length=cfg["max_words"], return_tensors="pt")
    with torch.no_grad():
        text = clip.get_text_features(**enc).pooler_output
        x = frames.flatten(0, 1).permute(0, 3, 1, 2).float() / 255.0
        x = (x - torch.tensor(cfg["pixel_mean"]).view(1, 3, 1, 1)) / torch.tensor(cfg["pixel_std"]).view(1, 3, 1, 1)
        feats = clip.get_image_features(pixel_values=x).pooler_output.view(*frames.shape[:2], -1)
        head = build_head(cfg["head"], dim=cfg["dim"], heads=cfg["heads"], max_frames=cfg["max_frames"], **cfg["options"])
        head.load_state_dict(load_file(str(out / "video_head.safetensors")))
        video, _ = head.eval()(feats, mask)
    assert np.allclose(F.normalize(text, dim=-1).numpy(), np.load(run / "captions.npy"), atol=1e-5)
    assert np.allclose(F.normalize(video, dim=-1).numpy(), np.load(run / "videos.npy"), atol=1e-5)


def test_model_card_names_data_teachers_metrics_and_config(exported):
    run, out, store, _ = exported
    card = (out / "README.md").read_text()
    teachers = json.loads((run / "teachers.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert teachers["manifest"] in card
    for t, r in teachers["used"].items():
        assert f"| {t} | {r['kind']} | `{r['fingerprint']}` |" in card
    assert f"| t2v | {metrics['t2v']['R@1']:.1f} |" in card
    assert '"teacher_temperature": 0.5' in card  # the config, verbatim
    assert "get_text_features` gives the caption vectors" in card  # this tokenizer ends texts with its EOS
    assert "dataset `synthetic`" in card and card.startswith("---\nlibrary_name: transformers\n")


def test_the_image_processor_loads_with_auto_classes(exported):
    from transformers import AutoImageProcessor

    _, out, _, _ = exported
    cfg = json.loads((out / "video_head.json").read_text())
    proc = AutoImageProcessor.from_pretrained(str(out))
    frame = np.zeros((48, 80, 3), dtype=np.uint8)
    assert tuple(proc(images=[frame], return_tensors="pt")["pixel_values"].shape) == (1, 3, cfg["image_size"], cfg["image_size"])


def test_export_refuses_what_is_not_a_run_or_would_be_overwritten(exported, tmp_path):
    from teachkit.util.errors import InputError
    from student.export import export_run

    run, out, _, _ = exported
    with pytest.raises(InputError, match="not a student run"):
        export_run(tmp_path, tmp_path / "x")
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not an export"):
        export_run(run, tmp_path / "keep")
    with pytest.raises(InputError, match="formats are"):
        export_run(run, tmp_path / "y", "onnx")
    export_run(run, out)  # an earlier export is replaced
    assert (out / "video_head.json").exists()
