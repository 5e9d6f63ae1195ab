"""`teachkit teachers run` / `list`: results on stdout, one-line errors, states per teacher."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pipeline.teachers.testing import tiny_clip, write_dataset
from teachkit.cli import app
from teachkit_fixtures.vocab import WORDS


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    write_dataset(root / "data", {"v0": ("test", ["a red ball"]), "v1": ("test", ["a blue box"]),
                                  "v2": ("train", ["red box"])}, frames=3)
    tiny_clip(root / "models" / "clip", WORDS)
    config = root / "teachers.toml"
    config.write_text(
        '[store]\nroot = "store"\n[dataset]\nsource = "data/annotations.jsonl"\n[frames]\nnum_frames = 2\n'
        '[[teachers]]\nname = "clip"\nkind = "clip"\nmodel = "./models/clip"\n'
        '[[teachers]]\nname = "outside"\nkind = "imported"\n'
    )
    return root, config


def test_list_run_list(project, monkeypatch):
    root, config = project
    monkeypatch.chdir(root)
    runner = CliRunner()
    before = runner.invoke(app, ["teachers", "list", "--config", str(config)])
    assert before.exit_code == 0, before.output
    assert "no manifest" in before.stdout and "outside" in before.stdout

    first = runner.invoke(app, ["teachers", "run", "--config", str(config), "--no-progress"])
    assert first.exit_code == 0, first.output
    lines = first.stdout.splitlines()
    assert lines[0].split()[:2] == ["outside", "missing"]
    assert lines[1].split()[:2] == ["clip", "computed"] and "5 scores" in lines[1]  # 2x2 test + 1x1 train
    assert "t2v R@1" in first.stdout

    again = runner.invoke(app, ["teachers", "run", "--config", str(config), "--only", "clip", "--no-progress"])
    assert again.exit_code == 0 and again.stdout.splitlines()[0].split()[:2] == ["clip", "cached"]

    listing = runner.invoke(app, ["teachers", "list", "--config", str(config)])
    states = {line.split()[0]: line.split()[2] for line in listing.stdout.splitlines()[1:3]}
    assert states == {"clip": "cached", "outside": "missing"}


def test_a_cached_run_never_imports_torch(project, monkeypatch):
    """What makes the cached rerun take about a second: no torch, no model (bench: cache_rerun_s)."""
    import subprocess
    import sys

    root, config = project
    monkeypatch.chdir(root)
    run = ["teachers", "run", "--config", str(config), "--only", "clip", "--no-progress"]
    assert CliRunner().invoke(app, run).exit_code == 0  # computed (or already cached)
    code = (
        "import sys\nfrom teachkit.cli import app\n"
        f"try:\n    app({run!r})\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('torch imported' if 'torch' in sys.modules else 'no torch')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].split()[:2] == ["clip", "cached"]
    assert out.stdout.splitlines()[-1] == "no torch"


def test_errors_are_one_line_on_stderr(project, monkeypatch, tmp_path):
    root, config = project
    monkeypatch.chdir(root)
    bad = tmp_path / "bad.toml"
    bad.write_text(config.read_text().replace('kind = "clip"', 'kind = "clip"\nplan = "topk"'))
    result = CliRunner().invoke(app, ["teachers", "run", "--config", str(bad)])
    assert result.exit_code == 2  # bad input
    assert result.stderr.strip() == "error: teachers[0] (clip).k: a topk plan needs k >= 1 (videos per caption)"

    only = CliRunner().invoke(app, ["teachers", "run", "--config", str(config), "--only", "nope"])
    assert only.exit_code == 2 and "no teacher named 'nope'" in only.stderr


def test_imported_teachers_are_reported_not_run(project, monkeypatch):
    import numpy as np

    from pipeline.importer import ImportSpec, import_scores

    root, config = project
    monkeypatch.chdir(root)
    runner = CliRunner()
    before = runner.invoke(app, ["teachers", "run", "--config", str(config), "--only", "outside", "--no-progress"])
    assert before.exit_code == 0 and before.stdout.split()[:2] == ["outside", "missing"]

    np.save(root / "sim.npy", np.array([[0.9, 0.1], [0.2, 0.8]], dtype=np.float32))
    (root / "caps.txt").write_text("v0_0\nv1_0\n")
    (root / "vids.txt").write_text("v0\nv1\n")
    import_scores(root / "store", ImportSpec("outside", root / "sim.npy", root / "caps.txt", root / "vids.txt", "test"))

    after = runner.invoke(app, ["teachers", "run", "--config", str(config), "--only", "outside", "--no-progress"])
    assert after.exit_code == 0, after.output
    assert after.stdout.split()[:2] == ["outside", "imported"] and "4 scores" in after.stdout
    listing = runner.invoke(app, ["teachers", "list", "--config", str(config)])
    assert [line.split()[2] for line in listing.stdout.splitlines() if line.startswith("outside")] == ["imported"]
