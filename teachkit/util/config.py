"""The one configuration loader of every stage: TOML -> a typed tree of frozen dataclasses.

Each stage declares its own dataclasses (``pipeline.config``, ``student.config``); this
module turns TOML into them, the same way for all:

- unknown fields, missing required fields and values of the wrong type raise
  :class:`ConfigError` naming the dotted field (``teachers[1].plan``, ``loss.coarse.kind``),
  so a typo fails before anything runs and never falls back to a default;
- ``--set a.b=v`` overrides (:func:`apply_overrides`) change any field after the file is
  read and before it is checked, with the same errors; values are TOML literals (``20``,
  ``1e-3``, ``true``, ``"text"``, ``[0, 1]``), and a bare word that is no TOML literal
  (``--set model.head=afa``) is taken as a string, which the field's type then checks;
- fields typed ``Path`` resolve relative paths against one base folder, once, here.

A list of tables (``[[teachers]]``) is addressed by position or by its items' ``name``:
``--set teachers.clip_fine.video_batch=8`` and ``--set teachers[1].video_batch=8`` are the
same override. Fields typed ``dict`` are free-form tables (e.g. a plugin's options): any key
below them is accepted and the consumer validates it.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from .errors import InputError


class ConfigError(InputError):
    """A configuration value that is missing, unknown or of the wrong type or range (one line)."""


# -- reading ------------------------------------------------------------------------------


def read_toml(path: str | Path) -> dict:
    """The parsed TOML of ``path``; a missing file or bad TOML is a :class:`ConfigError`."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror or e}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {' '.join(str(e).split())}") from None


# -- overrides ----------------------------------------------------------------------------

_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)((?:\[\d+\])*)")


def parse_value(text: str) -> Any:
    """A ``--set`` value: a TOML literal, else the text itself as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def split_path(path: str) -> list[str | int]:
    """``"teachers[1].model"`` -> ``["teachers", 1, "model"]``."""
    parts: list[str | int] = []
    for piece in path.split("."):
        m = _SEGMENT.fullmatch(piece)
        if not m:
            raise ConfigError(f"--set {path}: not a field path (use a.b.c or a[0].b)")
        parts.append(m.group(1))
        parts.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return parts


def parse_override(text: str) -> tuple[str, Any]:
    """``"train.steps=20"`` -> ``("train.steps", 20)``."""
    path, eq, value = text.partition("=")
    path = path.strip()
    if not eq or not path:
        raise ConfigError(f"--set {text!r}: expected FIELD=VALUE, e.g. --set train.steps=20")
    return path, parse_value(value.strip())


def apply_overrides(raw: dict, overrides: list[str] | tuple[str, ...], schema: type | None = None) -> dict:
    """A copy of ``raw`` (parsed TOML) with each ``FIELD=VALUE`` of ``overrides`` set.

    With ``schema`` (the dataclass the TOML becomes) every path is checked against its
    fields first, so ``--set train.stpes=3`` fails naming ``train.stpes`` instead of
    creating a table nothing reads.
    """
    import copy

    out = copy.deepcopy(raw)
    for text in overrides or ():
        path, value = parse_override(text)
        parts = split_path(path)
        if schema is not None:
            check_path(schema, parts, path)
        _assign(out, parts, value, path)
    return out


def check_path(schema: type, parts: list[str | int], path: str) -> None:
    """Raise :class:`ConfigError` unless ``parts`` names a field of dataclass ``schema``."""
    tp: Any = schema
    where = ""
    for i, part in enumerate(parts):
        tp = _unwrap_optional(tp)
        if tp is dict or typing.get_origin(tp) is dict:
            return  # a free-form table: its keys are the consumer's to check
        item = _sequence_item(tp)
        if item is not None:
            if not isinstance(part, int) and not (dataclasses.is_dataclass(item) and "name" in _fields(item)):
                raise ConfigError(f"--set {path}: {where} is a list; address an item as {where}[N]")
            tp, where = item, f"{where}[{part}]" if isinstance(part, int) else f"{where}.{part}"
            continue
        if not dataclasses.is_dataclass(tp) or isinstance(part, int):
            raise ConfigError(f"--set {path}: {where or 'config'} has no field {part!r}")
        fields = _fields(tp)
        if part not in fields:
            raise ConfigError(f"--set {path}: unknown field {_join(where, part)}; fields are {sorted(fields)}")
        tp, where = typing.get_type_hints(tp)[part], _join(where, part)


def _assign(node: Any, parts: list[str | int], value: Any, path: str) -> None:
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            index = part if isinstance(part, int) else _index_by_name(node, part, path)
            if not 0 <= index < len(node):
                raise ConfigError(f"--set {path}: no item [{index}] (the list has {len(node)})")
            if last:
                node[index] = value
                return
            node = node[index]
            continue
        if not isinstance(node, dict) or isinstance(part, int):
            raise ConfigError(f"--set {path}: {part!r} is not inside a table")
        if last:
            node[part] = value
            return
        if part not in node:
            node[part] = [] if isinstance(parts[i + 1], int) else {}
        node = node[part]


def _index_by_name(items: list, name: str, path: str) -> int:
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == name:
            return i
    names = [item.get("name") for item in items if isinstance(item, dict)]
    raise ConfigError(f"--set {path}: no item named {name!r}; names are {names}")


# -- building -----------------------------------------------------------------------------


def build(cls: type, data: Any, where: str = "", base: Path | None = None, skip: frozenset[str] = frozenset()) -> Any:
    """Dataclass ``cls`` from plain TOML ``data``, every field converted to its annotation.

    ``where`` prefixes field names in errors; ``base`` resolves relative ``Path`` fields
    (default: the working directory); fields in ``skip`` are left to the caller.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} must be a table, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    fields = _fields(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown field {_join(where, unknown[0])}; {where or 'config'} fields are {sorted(fields)}")
    kwargs = {}
    for name, f in fields.items():
        if name in skip:
            continue
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{_join(where, name)}: required field missing")
            continue
        kwargs[name] = convert(hints[name], data[name], _join(where, name), base)
    return cls(**kwargs)


def convert(tp: Any, value: Any, where: str, base: Path | None = None) -> Any:
    """``value`` as type ``tp`` (dataclasses, Optional, list, tuple, dict, Path and scalars)."""
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where, base)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return convert(arg, value, where, base)
            except ConfigError as e:
                errors.append(e)
        if len(errors) == 1:
            raise errors[0]
        raise ConfigError(f"{where}: {value!r} does not match {_type_name(tp)}")
    item = _sequence_item(tp)
    if item is not None:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, got {_kind(value)}")
        items = [convert(item, v, f"{where}[{i}]", base) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table, got {_kind(value)}")
        args = typing.get_args(tp)
        if not args or args[1] is Any:
            return dict(value)
        return {str(k): convert(args[1], v, f"{where}.{k}", base) for k, v in value.items()}
    if tp is Any:
        return value
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where} must be a path string, got {value!r}")
        if "://" in value:  # a URL (s3://, file://; a store root): not a path relative to base
            return value
        p = Path(value).expanduser()
        return p if p.is_absolute() else (base if base is not None else Path.cwd()) / p
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be finite, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported config type {tp}")  # a bug in the dataclasses


def load(cls: type, path: str | Path, overrides: list[str] | tuple[str, ...] = (), base: Path | None = None) -> Any:
    """``cls`` from the TOML file ``path`` with ``overrides`` applied (see module doc)."""
    return build(cls, apply_overrides(read_toml(path), overrides, cls), base=base)


# -- helpers ------------------------------------------------------------------------------


def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return tp


def _sequence_item(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is list:
        return typing.get_args(tp)[0]
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return args[0]
    return None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: Any) -> str:
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), type(value).__name__)


def _type_name(tp: Any) -> str:
    return " | ".join(getattr(a, "__name__", str(a)) for a in typing.get_args(tp))


__all__ = [
    "ConfigError",
    "apply_overrides",
    "build",
    "check_path",
    "convert",
    "load",
    "parse_override",
    "parse_value",
    "read_toml",
    "split_path",
]
