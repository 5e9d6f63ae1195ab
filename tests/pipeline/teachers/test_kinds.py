"""pipeline.teachers.kinds: one table of teacher kinds that config, loading, fingerprints and the runner read."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json

import pytest

import stores
from pipeline.config import ConfigError, parse_config
from pipeline.teachers import build_teacher
from pipeline.teachers.kinds import KINDS, PLUGIN_USES, Kind, either, kind_of, kinds_that


def _raw(**teacher):
    return {"store": {"root": "store"}, "dataset": {"source": "data/a.jsonl"},
            "teachers": [{"name": "t", "kind": "clip", "model": "models/clip", **teacher}]}


def test_the_table_names_the_five_kinds():
    assert list(KINDS) == ["clip", "text", "plugin", "imported", "reranker"]
    assert all(name == k.name for name, k in KINDS.items())
    assert all(k.plugin in PLUGIN_USES and k.description and "\n" not in k.description for k in KINDS.values())


@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_has_a_module_that_defines_build(name):
    module = importlib.import_module(KINDS[name].module)
    assert callable(getattr(module, "build", None))


@pytest.mark.parametrize("name", list(KINDS))
def test_every_module_a_kind_lists_exists_and_computed_kinds_hash_their_own(name):
    kind = KINDS[name]
    for module in kind.code:
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin and spec.origin.endswith(".py"), module
    assert len(set(kind.code)) == len(kind.code)
    # a kind that computes scores hashes the module that builds it; an imported one has nothing to hash
    assert (kind.module in kind.code) == kind.computed


def test_capabilities_of_the_built_in_kinds():
    clip, text, plugin, imported, rr = (KINDS[n] for n in ("clip", "text", "plugin", "imported", "reranker"))
    assert kinds_that(lambda k: k.precision) == ["clip", "text"]
    assert kinds_that(lambda k: k.needs_candidates) == kinds_that(lambda k: k.local_only) == ["reranker"]
    assert kinds_that(lambda k: not k.computed) == ["imported"]
    assert kinds_that(lambda k: not k.reads_frames) == ["text", "imported"]
    assert (clip.bootstrap_objectives, text.bootstrap_objectives) == (("mean", "fine", "image"), ("paraphrase",))
    assert (plugin.plugin, rr.plugin, clip.plugin) == ("required", "optional", "no")


def test_every_bootstrap_objective_trains_one_kind():
    from pipeline.bootstrap.options import OBJECTIVES

    trained = [o for k in KINDS.values() for o in k.bootstrap_objectives]
    assert sorted(trained) == sorted(OBJECTIVES)  # each objective once, none the bootstrap does not know


@dataclasses.dataclass
class _T:  # the fields of a TeacherConfig the capability questions read
    kind: str
    plugin: str | None = None


def test_what_a_teacher_runs_depends_on_its_kind_and_its_plugin():
    """A plugin replaces a reranker's CLIP checkpoint: then no model, no scorer, no checkpoint checks."""
    rr = kind_of("reranker")
    assert (rr.encoder_of(_T("reranker")), rr.needs_model(_T("reranker")), rr.uses_scorer(_T("reranker"))) == (
        "clip", True, True)
    assert (rr.encoder_of(_T("reranker", "m:C")), rr.needs_model(_T("reranker", "m:C")),
            rr.uses_scorer(_T("reranker", "m:C"))) == (None, False, False)
    text = kind_of(_T("text"))
    assert (text.encoder_of(_T("text")), text.needs_model(_T("text")), text.uses_scorer(_T("text"))) == (
        "text", True, False)
    assert not kind_of("imported").needs_model(_T("imported")) and not kind_of("plugin").uses_scorer(_T("plugin", "m:C"))


def test_unknown_kinds_are_one_line_naming_the_kinds(tmp_path):
    with pytest.raises(ConfigError) as e:
        parse_config(_raw(kind="xclip"), tmp_path)
    assert str(e.value) == ("teachers[0] (t).kind must be one of ['clip', 'text', 'plugin', 'imported', 'reranker'], "
                            "got 'xclip'")
    with pytest.raises(ValueError) as e:
        kind_of("xclip")
    assert str(e.value) == "unknown teacher kind 'xclip'; kinds are ['clip', 'text', 'plugin', 'imported', 'reranker']"
    with pytest.raises(ValueError, match=r"^unknown teacher kind 'xclip'; kinds are \['clip'"):
        build_teacher(_T("xclip"), None, "cpu")  # refused before transformers or the module is imported


@pytest.mark.parametrize(
    "teacher, message",
    [
        (dict(kind="plugin", plugin="m:C", precision="fp32"),
         "teachers[0] (t).precision is only used by kind = 'clip' or 'text' (a plugin sets its own)"),
        (dict(kind="text", plugin="m:C"), "teachers[0] (t): `plugin` and `options` are only used by kind = "
                                          "'plugin' or 'reranker'"),
        (dict(kind="text", model=None), "teachers[0] (t).model: a text teacher needs a model (folder, package:... "
                                        "or HF id)"),
        (dict(kind="reranker", model=None, candidates="c", plan="topk", k=2),
         "teachers[0] (t).model: a reranker teacher needs a model (folder, package:... or HF id) or a plugin"),
        (dict(kind="plugin", plugin="m:C", candidates="c"),
         "teachers[0] (t).candidates is only used by kind = 'reranker'"),
        (dict(bootstrap={"objective": "paraphrase"}),
         "teachers[0] (t).bootstrap: clip teachers are bootstrapped with objective 'mean', 'fine' or 'image', "
         "text teachers with 'paraphrase'; got kind 'clip', objective 'paraphrase'"),
        (dict(bootstrap={"lr": 0.1}), "teachers[0] (t).bootstrap.objective is required: one of "
                                      "['mean', 'fine', 'image']"),
        (dict(scorer="max"), "teachers[0] (t).scorer must be one of ['mean', 'fine'], got 'max'"),
    ],
)
def test_config_errors_name_the_kinds_the_table_gives(teacher, message, tmp_path):
    with pytest.raises(ConfigError) as e:
        parse_config(_raw(**teacher), tmp_path)
    assert str(e.value) == message


def test_a_scorer_is_checked_only_where_it_decides_the_scores(tmp_path):
    """The scorer is read from pipeline.scorers.SCORERS, and only for a teacher whose CLIP encoder uses it."""
    plugin_rr = dict(kind="reranker", model=None, plugin="m:C", candidates="c", plan="topk", k=2, scorer="max")
    assert parse_config(_raw(**plugin_rr), tmp_path).teachers[0].scorer == "max"  # unused, so not refused
    with pytest.raises(ConfigError, match=r"\.scorer must be one of \['mean', 'fine'\]"):
        parse_config(_raw(**dict(plugin_rr, plugin=None, model="m")), tmp_path)


def test_either_joins_kind_names_for_one_line():
    assert either(["a"]) == "'a'"
    assert either(["a", "b"]) == "'a' or 'b'"
    assert either(["a", "b", "c"]) == "'a', 'b' or 'c'"


def test_a_new_kind_is_one_row_and_config_reads_its_capabilities(monkeypatch, tmp_path):
    """Capabilities, not names: a kind added to the table is validated by what it can do."""
    monkeypatch.setitem(KINDS, "pairs", dataclasses.replace(KINDS["reranker"], name="pairs"))
    with pytest.raises(ConfigError, match=r"^teachers\[0\] \(t\)\.candidates: a pairs needs the teacher"):
        parse_config(_raw(kind="pairs", plan="topk", k=2), tmp_path)
    with pytest.raises(ConfigError, match=r"candidates is only used by kind = 'reranker' or 'pairs'$"):
        parse_config(_raw(candidates="c"), tmp_path)
    assert isinstance(kind_of("pairs"), Kind) and kind_of("pairs").needs_candidates


def test_the_runner_orders_teachers_by_capability_not_name(monkeypatch, tmp_path):
    """A kind that reads another run's candidates runs after it, on the local engine only, whatever its name."""
    from pipeline.run import run_teachers
    from pipeline.teachers.testing import write_dataset
    from teachkit.util.errors import UsageError
    from teachkit_fixtures.colour import PAIR_ONLY, PLUGIN
    from teachkit_fixtures.vocab import VIDEOS

    monkeypatch.setitem(KINDS, "pairs", dataclasses.replace(KINDS["reranker"], name="pairs"))
    source = write_dataset(tmp_path / "data", VIDEOS, frames=4)
    teachers = [
        {"name": "rr", "kind": "pairs", "plugin": PAIR_ONLY, "candidates": "cands", "plan": "topk", "k": 2},
        {"name": "cands", "kind": "plugin", "plugin": PLUGIN},
    ]
    cfg = parse_config({"store": {"root": str(tmp_path / "store")}, "dataset": {"source": str(source)},
                        "frames": {"num_frames": 3}, "teachers": teachers}, tmp_path)
    with pytest.raises(UsageError, match=r"^teacher rr: pairs teachers run on the local engine, without --shard$"):
        run_teachers(cfg, out=lambda _: None, progress=False, shard=(0, 1))
    outcomes = run_teachers(cfg, out=lambda _: None, progress=False)
    assert [(o.name, o.kind, o.status) for o in outcomes] == [("rr", "pairs", "computed"), ("cands", "plugin", "computed")]
    with stores.connect(tmp_path / "store") as con:
        runs = dict(con.execute("SELECT teacher, config FROM current_runs").fetchall())
        fps = dict(con.execute("SELECT teacher, fingerprint FROM current_runs").fetchall())
    # planned after its candidates were committed in the same call: their run is part of its identity
    assert json.loads(runs["rr"])["candidates"] == {"teacher": "cands", "run": fps["cands"]}
    assert "scorer" not in json.loads(runs["rr"])  # a plugin, not a CLIP scorer, decides its scores
