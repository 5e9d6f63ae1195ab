"""Typed config: TOML to dataclasses, errors that name the field."""

import pytest

from student.config import ConfigError, ExperimentConfig, from_dict, load_comparison, load_experiment


def _write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


BASE = """
[model]
tokenizer = "tok"
[loss.coarse]
kind = "pearson"
teachers = ["a", "b"]
"""


def test_defaults_and_values(tmp_path):
    cfg = load_experiment(_write(tmp_path, BASE + "[train]\nsteps = 7\nlr = 1\n"))
    assert cfg.train.steps == 7 and cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert cfg.loss.coarse.kind == "pearson" and cfg.loss.teachers == ["a", "b"]
    plain = cfg.loss.without_distillation()
    assert not plain.coarse.active and not plain.fine.active and plain.retrieval == cfg.loss.retrieval


@pytest.mark.parametrize(
    "extra, field",
    [
        ("[train]\nstpes = 3\n", "train.stpes"),
        ("[train]\nsteps = 'many'\n", "train.steps"),
        ("[train]\nsteps = 0\n", "train.steps"),
        ("[loss.coarse]\nkind = 'kl'\nteachers = ['a']\naggregation = 'max'\n", "loss.coarse.aggregation"),
        ("[model]\ntokenizer = 't'\nhead = 'lstm'\n", "model.head"),
        ("[model]\ntokenizer = 't'\n[model.tiny]\nimage_size = 60\n", "model.tiny.image_size"),
        ("[loss.fine]\nweight = 1.0\n", "loss.fine.teachers"),
        ("[loss.coarse]\nkind = 'kl'\nteachers = ['a']\ntemperature = 0.1\n", "loss.coarse.temperature"),
        ("[loss.coarse]\nkind = 'kl'\nteachers = ['a']\nteacher_weights = { b = 1.0 }\n", "loss.coarse.teacher_weights.b"),
        ("[loss.coarse]\nkind = 'kl'\nteachers = ['a']\naggregation = 'weighted'\n", "loss.coarse.teacher_weights"),
        ("[loss.coarse]\nkind = 'kl'\nteachers = ['a']\nteacher_temperatures = { a = 0.0 }\n", "loss.coarse.teacher_temperatures.a"),
        ("[data]\nbatch_size = 1\n", "data.batch_size"),
        ("[loss.relational]\nkind = 'mckd'\nteachers = ['a']\n", "loss.relational.kind"),
        ("[loss.relational]\nkind = 'relational'\n", "loss.relational.teachers"),
        ("[loss.relational]\ndiscrimination = 1.0\n", "loss.relational.teachers"),
        ("[loss.relational]\nkind = 'relational'\nteachers = ['a']\nmodalities = ['audio']\n", "loss.relational.modalities"),
        ("[loss.relational]\nkind = 'rkd_angle'\nteachers = ['a']\nteacher_norm = 'zscore'\n", "loss.relational.teacher_norm"),
        ("[loss.relational]\nkind = 'relational'\nteachers = ['a']\naggregation = 'weighted'\n",
         "loss.relational.teacher_weights"),
    ],
)
def test_errors_name_the_field(tmp_path, extra, field):
    text = extra if "[model]" in extra else "[model]\ntokenizer = 't'\n" + extra
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_experiment(_write(tmp_path, text))


def test_fine_distillation_needs_the_afa_head(tmp_path):
    text = "[model]\ntokenizer = 't'\nhead = 'meanP'\n[loss.fine]\nweight = 1.0\nteachers = ['a']\n"
    with pytest.raises(ConfigError, match="loss.fine"):
        load_experiment(_write(tmp_path, text))


def test_comparison_config(tmp_path):
    demo = load_comparison(_write(tmp_path, "[comparison]\nseeds = [1, 2, 3]\nout = 'x'\n" + BASE))
    assert demo.seeds == [1, 2, 3] and demo.out == "x" and demo.experiment.loss.coarse.kind == "pearson"
    with pytest.raises(ConfigError, match="comparison.seedz"):
        load_comparison(_write(tmp_path, "[comparison]\nseedz = [1]\n" + BASE))


def test_the_old_demo_table_is_read_with_a_deprecation_line(tmp_path):
    said = []
    old = load_comparison(_write(tmp_path, "[demo]\nseeds = [5, 6]\nout = 'y'\n" + BASE), ["demo.jobs=2"], warn=said.append)
    assert (old.seeds, old.out, old.jobs) == ([5, 6], "y", 2)
    assert said == ["deprecated: the [demo] table is now [comparison]; [demo] is read as [comparison]",
                    "deprecated: --set demo.* is now --set comparison.*"]
    with pytest.raises(ConfigError, match=r"\[demo\] and \[comparison\] are one table"):
        load_comparison(_write(tmp_path, "[demo]\nseeds = [1]\n[comparison]\nseeds = [2]\n" + BASE), warn=said.append)
    with pytest.raises(ConfigError, match="distilled"):
        load_comparison(_write(tmp_path, "[model]\ntokenizer = 't'\n"))


def test_the_shipped_demo_config_parses():
    from pathlib import Path

    demo = load_comparison(Path(__file__).parents[2] / "configs" / "student_demo.toml")
    assert len(demo.seeds) >= 3
    assert demo.experiment.loss.coarse.active or demo.experiment.loss.fine.active


def test_from_dict_round_trips():
    cfg = from_dict(ExperimentConfig, {"model": {"tokenizer": "t"}}).check()
    assert from_dict(ExperimentConfig, cfg.to_dict()) == cfg


def test_overrides_change_any_field_and_are_checked(tmp_path):
    path = _write(tmp_path, BASE)
    cfg = load_experiment(path, ["train.steps=20", "data.batch_size=32", "model.head=meanP", "loss.coarse.directions=['t2v']"])
    assert (cfg.train.steps, cfg.data.batch_size, cfg.model.head, cfg.loss.coarse.directions) == (20, 32, "meanP", ["t2v"])
    with pytest.raises(ConfigError, match=r"--set train\.stpes: unknown field train\.stpes"):
        load_experiment(path, ["train.stpes=3"])
    with pytest.raises(ConfigError, match=r"train\.steps must be > 0"):
        load_experiment(path, ["train.steps=0"])
    demo = load_comparison(path, ["comparison.seeds=[4]", "train.steps=2"])
    assert demo.seeds == [4] and demo.experiment.train.steps == 2
    with pytest.raises(ConfigError, match=r"--set comparison\.seedz"):
        load_comparison(path, ["comparison.seedz=[4]"])


def _toml(data: dict, prefix: str = "") -> str:
    """A nested dict of scalars and lists as TOML tables (enough for the tiny config)."""
    import json

    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) and v is not None}
    out = [f"[{prefix}]"] if prefix and scalars else []
    out += [f"{k} = {json.dumps(v)}" for k, v in scalars.items()]
    for k, v in data.items():
        if isinstance(v, dict):
            out.append(_toml(v, f"{prefix}.{k}" if prefix else k))
    return "\n".join(out)


def test_student_train_set_is_recorded_in_the_runs_config_json(synthetic_store, tiny_config, tmp_path):
    import dataclasses
    import json

    from typer.testing import CliRunner

    from teachkit.cli import app

    store, tok, _ = synthetic_store
    cfg = tiny_config(store, tok, tmp_path / "cache", tmp_path / "runs")
    path = _write(tmp_path, _toml(dataclasses.asdict(cfg)))
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["student", "train", "-c", str(path), "--out", str(run), "--no-progress",
                                      "--set", "train.steps=1", "--set", "data.batch_size=3"])
    assert result.exit_code == 0, result.output
    recorded = json.loads((run / "config.json").read_text())
    assert recorded["train"]["steps"] == 1 and recorded["data"]["batch_size"] == 3
    assert cfg.train.steps != 1 and cfg.data.batch_size != 3  # both really changed
    bad = CliRunner().invoke(app, ["student", "train", "-c", str(path), "--set", "data.batchsize=3"])
    assert bad.exit_code == 2
    assert "unknown field data.batchsize" in bad.output and "Traceback" not in bad.output
