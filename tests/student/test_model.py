"""The student model: a CLIP from a local folder, one vector per caption and per video,
and a safetensors round trip."""

import torch

from student.config import ModelConfig, TinyClipConfig
from student.model import build_student, load_student, load_tokenizer, save_student, tiny_clip_config, tokenize


def _tiny(tok):
    return ModelConfig(
        tokenizer=str(tok), head="seqTransf", num_frames=3, max_words=10,
        tiny=TinyClipConfig(image_size=32, patch_size=16, hidden_size=32, intermediate_size=64, layers=1, heads=2,
                            projection_dim=16),
    )


def test_backbone_from_a_local_folder_and_round_trip(synthetic_store, tmp_path):
    from transformers import CLIPModel

    _, tok, _ = synthetic_store
    tokenizer = load_tokenizer(str(tok))
    cfg = _tiny(tok)
    folder = tmp_path / "clip"
    CLIPModel(tiny_clip_config(cfg, tokenizer, 10.0)).save_pretrained(folder)
    from dataclasses import replace

    model = build_student(replace(cfg, backbone=str(folder)), tokenizer, 10.0, seed=0).eval()
    ids, mask = tokenize(tokenizer, ["a red square moves left", "a blue square"], 10)
    frames = torch.randint(0, 255, (2, 3, 48, 48, 3), dtype=torch.uint8)  # resized to 32 inside
    fmask = torch.tensor([[1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    with torch.no_grad():
        out = model(ids, mask, frames, fmask)
    assert out.text.shape == (2, 16) and out.video.shape == (2, 16) and out.sim.shape == (2, 2)
    assert torch.allclose(out.text.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert torch.allclose(out.sim, out.text @ out.video.T)
    save_student(model, tokenizer, tmp_path / "run", {"max_words": 10, "num_frames": 3})
    again, tok2, spec = load_student(tmp_path / "run")
    with torch.no_grad():
        out2 = again(ids, mask, frames, fmask)
    assert torch.allclose(out.sim, out2.sim, atol=1e-6)
    assert spec["head"] == "seqTransf" and tok2("a red square")["input_ids"] == tokenizer("a red square")["input_ids"]


def test_text_vector_is_the_last_real_token(synthetic_store):
    import torch.nn.functional as F

    _, tok, _ = synthetic_store
    tokenizer = load_tokenizer(str(tok))
    model = build_student(_tiny(tok), tokenizer, 10.0, seed=0).eval()
    ids, mask = tokenize(tokenizer, ["a red square moves left", "a blue square"], 10)
    widths = []
    hook = model.clip.text_model.register_forward_pre_hook(
        lambda m, args, kwargs: widths.append(kwargs["input_ids"].shape[1]), with_kwargs=True)
    with torch.no_grad():
        got = model.encode_text(ids, mask)
        hook.remove()
        # the reference: the whole padded batch through the tower, pooled at the last real token
        states = model.clip.text_model(input_ids=ids, attention_mask=mask).last_hidden_state
        want = F.normalize(model.clip.text_projection(states[torch.arange(2), mask.sum(1) - 1]), dim=-1)
    # padding after the EOS changes nothing (causal attention, last-real-token pooling), so the
    # tower only sees the columns up to the longest caption's end
    assert widths == [int(mask.sum(1).max())] and widths[0] < 10
    assert torch.allclose(got, want, atol=1e-5)


def test_a_bootstrapped_artefact_is_a_backbone_with_its_own_tokenizer_and_identity(synthetic_store, tmp_path):
    import json
    import shutil
    from dataclasses import replace

    from transformers import CLIPModel

    from stores.checkpoint import folder_checksum
    from stores.fingerprint import fingerprint
    from student.model import backbone_identity

    _, tok, _ = synthetic_store
    tokenizer = load_tokenizer(str(tok))
    cfg = _tiny(tok)
    folder = tmp_path / "clip_base"
    CLIPModel(tiny_clip_config(cfg, tokenizer, 10.0)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    # a plain folder: a checksum of its files, the same wherever it lies (never the path)
    plain = backbone_identity(str(folder))
    assert plain == {"backbone": str(folder), "checkpoint": folder_checksum(folder)}
    shutil.copytree(folder, tmp_path / "moved")
    assert backbone_identity(str(tmp_path / "moved"))["checkpoint"] == plain["checkpoint"]
    (folder / "bootstrap.json").write_text(json.dumps(
        {"options_fingerprint": "o1", "data_fingerprint": "d1", "options": {"objective": "image"}, "train": {}}))
    # a bootstrapped artefact: the fingerprints its marker commits, as the teacher stage's init identity
    assert backbone_identity(str(folder)) == {
        "backbone": str(folder), "objective": "image",
        "checkpoint": fingerprint("bootstrap-init", {"options_fingerprint": "o1", "data_fingerprint": "d1",
                                                     "init_fingerprint": None})}
    # tokenizer = "": the backbone's own (the artefact carries the vocabulary)
    own = load_tokenizer(str(folder))
    model = build_student(replace(cfg, backbone=str(folder), tokenizer=""), own, 10.0, seed=0)
    assert model.clip.config.text_config.vocab_size == len(own)
    assert backbone_identity("tiny") == {"backbone": "tiny"}
