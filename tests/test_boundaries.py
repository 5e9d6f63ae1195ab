"""The package boundaries, checked statically on the source tree.

- ``stores`` alone spells out the store's layout: a hive path literal (``teacher=``,
  ``run=``, ``split=``, ``manifest=``) in a string of ``pipeline``, ``student``,
  ``teachkit`` or ``bench`` is a leak.
- ``teachkit.util.atomic`` alone renames files: every temporary-file-then-rename goes through it.
- Imports go ``pipeline -> stores <- student``, with ``teachkit`` and ``bench`` above both:
  import-linter (``[tool.importlinter]`` in pyproject.toml) over the real import graph, and a
  deliberately wrong contract that must fail, so the check cannot pass vacuously.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE_STORES = ("pipeline", "student", "teachkit", "bench")
WRITERS = ("pipeline", "student", "stores", "teachkit", "bench")

#: ``teacher=<x>``-style hive parts; SQL (``split = ?``, ``split='train'``) is not a path
LAYOUT = re.compile(r"(?<![A-Za-z0-9_])(teacher|run|split|manifest)=(?![\s'\"=])")
RENAMES = {("os", "replace"), ("os", "rename"), ("os", "renames"), ("shutil", "move")}
TMP_NAME = re.compile(r"\.tmp\b|\.partial\b|partial-")


def _sources(packages) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def _strings(tree: ast.AST):
    """(line, text) of every string in ``tree``, in order; an f-string's fields read as ``{}``."""
    parts = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in parts:
            found.append((node.lineno, node.col_offset, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            found.append((node.lineno, node.col_offset, text))
    return [(line, text) for line, _, text in sorted(found)]


def layout_leaks(source: str, name: str = "<string>") -> list[str]:
    return [f"{name}:{line}: {text!r}" for line, text in _strings(ast.parse(source)) if LAYOUT.search(text)]


def rename_calls(source: str, name: str = "<string>") -> list[str]:
    """Calls that rename files (``os.replace``, ``Path.rename``, ...) and temporary-name literals."""
    out = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else None
            if (owner, node.func.attr) in RENAMES or node.func.attr == "rename":
                out.append(f"{name}:{node.lineno}: {ast.unparse(node.func)}(...)")
    out += [f"{name}:{line}: {text!r}" for line, text in _strings(tree) if TMP_NAME.search(text)]
    return out


def test_the_scanners_find_what_they_look_for():
    leaks = layout_leaks(
        'p = root / "scores" / f"teacher={t}" / f"run={r}"\n'
        'q = root.glob("split=*/part-*.parquet")\n'
        'ok = con.execute("SELECT * FROM videos WHERE split = ? AND kind=\'x\'", [s])\n'
        "also_ok = build(train_split=split)\n"
        'sql = "WHERE split=\'train\'"\n'
    )
    assert [x.split(":")[1] for x in leaks] == ["1", "1", "2"]
    found = rename_calls(
        "import os, shutil\nos.replace(a, b)\nPath(a).rename(b)\nshutil.move(a, b)\n"
        'tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")\ntext.replace("a", "b")\n'
    )
    assert [x.split(":")[1] for x in found] == ["2", "3", "4", "5"]


def test_no_store_path_literal_outside_stores():
    leaks = [x for p in _sources(OUTSIDE_STORES) for x in layout_leaks(p.read_text(), str(p.relative_to(ROOT)))]
    assert not leaks, "store layout spelled out outside stores/ (ask a Store method):\n" + "\n".join(leaks)


def test_only_util_atomic_renames_files():
    atomic = ROOT / "teachkit" / "util" / "atomic.py"
    found = [
        x for p in _sources(WRITERS) if p != atomic for x in rename_calls(p.read_text(), str(p.relative_to(ROOT)))
    ]
    assert not found, "rename or temporary name outside teachkit.util.atomic (use teachkit.util.atomic.atomic_path):\n" + "\n".join(found)


def _lint_imports(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        found = shutil.which("lint-imports")
        if found is None:
            pytest.fail("lint-imports is not installed (import-linter, a dev dependency: make setup-dev)")
        exe = Path(found)
    return subprocess.run([str(exe), "--no-cache", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_rules_hold():
    result = _lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 1 kept, 0 broken" in result.stdout, result.stdout


def test_a_wrong_import_rule_is_reported_broken(tmp_path):
    # claims pipeline sits below stores: the real graph (pipeline imports stores) breaks it
    config = tmp_path / "wrong.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["pipeline", "stores"]\n\n'
        '[[tool.importlinter.contracts]]\nname = "stores above pipeline (wrong on purpose)"\n'
        'type = "layers"\nlayers = ["stores", "pipeline"]\n'
    )
    result = _lint_imports("--config", str(config))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout and "pipeline" in result.stdout and "-> stores" in result.stdout, result.stdout


def test_importing_stores_loads_no_torch():
    # the store is the light contract: `teachkit sql`, the report and any reader open it
    # without paying for torch, transformers or the stages
    code = ("import sys, stores, stores.splits, stores.sql, stores.truth; "
            "heavy = sorted(m for m in ('torch', 'transformers', 'pipeline', 'student', 'teachkit.audit') if m in sys.modules); "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
