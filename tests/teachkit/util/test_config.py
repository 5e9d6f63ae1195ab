"""The one config loader: TOML to typed dataclasses, errors naming the field, --set overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from teachkit.util.config import ConfigError, apply_overrides, build, load, parse_value
from teachkit.util.errors import InputError


@dataclass(frozen=True)
class Inner:
    steps: int = 3
    lr: float = 0.1
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Item:
    name: str
    size: int = 1
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Root:
    out: Path
    train: Inner = field(default_factory=Inner)
    items: tuple[Item, ...] = ()
    limit: int | None = None


def test_builds_typed_tree_and_resolves_paths(tmp_path):
    cfg = build(Root, {"out": "runs", "train": {"lr": 1, "tags": ["a"]}, "items": [{"name": "x"}]}, base=tmp_path)
    assert cfg == Root(tmp_path / "runs", Inner(3, 1.0, ["a"]), (Item("x"),), None)
    assert isinstance(cfg.train.lr, float) and isinstance(cfg.items, tuple)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"out": "o", "train": {"stpes": 1}}, r"unknown field train\.stpes; train fields are \['lr', 'steps', 'tags'\]"),
        ({"out": "o", "train": {"steps": "many"}}, r"train\.steps must be an integer, got 'many'"),
        ({"out": "o", "train": {"steps": True}}, r"train\.steps must be an integer"),
        ({"out": "o", "train": {"lr": float("inf")}}, r"train\.lr must be finite"),
        ({"out": "o", "train": {"tags": "a"}}, r"train\.tags must be a list"),
        ({"out": "o", "items": [{"size": 2}]}, r"items\[0\]\.name: required field missing"),
        ({"out": "o", "items": [{"name": "x", "size": 1.5}]}, r"items\[0\]\.size must be an integer"),
        ({"train": {}}, r"^out: required field missing"),
        ({"out": "o", "train": 3}, r"train must be a table, got int"),
        ({"out": "o", "limit": "x"}, r"limit must be an integer"),
    ],
)
def test_errors_name_the_dotted_field(data, message):
    with pytest.raises(ConfigError, match=message) as err:
        build(Root, data)
    assert isinstance(err.value, InputError) and err.value.exit_code == 2
    assert "\n" not in str(err.value)


def test_set_values_are_toml_literals_or_bare_strings():
    assert parse_value("20") == 20 and parse_value("1e-3") == 0.001 and parse_value("true") is True
    assert parse_value("[0, 1]") == [0, 1] and parse_value('"x y"') == "x y"
    assert parse_value("afa") == "afa" and parse_value("runs/demo") == "runs/demo"


def test_overrides_set_nested_fields_list_items_by_name_or_index_and_free_tables():
    raw = {"out": "o", "items": [{"name": "a"}, {"name": "b"}]}
    got = apply_overrides(raw, ["train.steps=20", "items.b.size=4", "items[0].options.depth=2", "limit=7"], Root)
    cfg = build(Root, got)
    assert cfg.train.steps == 20 and cfg.items[1].size == 4 and cfg.items[0].options == {"depth": 2} and cfg.limit == 7
    assert raw == {"out": "o", "items": [{"name": "a"}, {"name": "b"}]}  # the input is not changed


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.stpes=3", r"--set train\.stpes: unknown field train\.stpes"),
        ("nope=1", r"--set nope: unknown field nope"),
        ("train.steps", r"expected FIELD=VALUE"),
        ("items.zz.size=1", r"--set items\.zz\.size: no item named 'zz'; names are \['a'\]"),
        ("items[3].size=1", r"no item \[3\]"),
        ("train..steps=1", r"not a field path"),
    ],
)
def test_bad_overrides_are_one_line_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides({"out": "o", "items": [{"name": "a"}]}, [override], Root)


def test_an_override_of_the_wrong_type_names_the_field(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('out = "o"\n[train]\nsteps = 2\n')
    assert load(Root, path, ["train.steps=5"], base=tmp_path).train.steps == 5
    with pytest.raises(ConfigError, match=r"train\.steps must be an integer, got 'five'"):
        load(Root, path, ["train.steps=five"])


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load(Root, tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("out = \n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load(Root, bad)
