"""`teachkit student ...` errors: one `error:` line at any width, exit 2 for bad input, no traceback."""

from __future__ import annotations

from typer.testing import CliRunner

from teachkit.cli import app


def _one_line(result, code):
    assert result.exit_code == code, (result.exit_code, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_missing_tokenizer_folder_is_one_line_even_when_longer_than_the_terminal(tmp_path, monkeypatch):
    deep = tmp_path / ("a-rather-long-folder-name-" * 3) / "tokenizer"
    config = tmp_path / "student.toml"
    config.write_text(f'[model]\ntokenizer = "{deep}"\n[data]\nstore = "{tmp_path / "store"}"\n')
    monkeypatch.setenv("COLUMNS", "80")  # rich used to wrap this line at 80 columns off a TTY
    line = _one_line(CliRunner().invoke(app, ["student", "train", "--config", str(config)]), 2)
    assert line == f"error: tokenizer folder {deep} does not exist" and len(line) > 80


def test_student_config_and_usage_errors_are_one_line(tmp_path):
    config = tmp_path / "student.toml"
    config.write_text('[train]\nsteps = 2\n')  # a tiny backbone without a tokenizer
    line = _one_line(CliRunner().invoke(app, ["student", "train", "--config", str(config)]), 2)
    assert line.startswith("error: model.tokenizer:")
    line = _one_line(CliRunner().invoke(app, ["student", "train", "--config", str(config), "--seed", "x"]), 2)
    assert "Invalid value for '--seed'" in line and "teachkit student train --help" in line
    line = _one_line(CliRunner().invoke(app, ["student", "train"]), 2)
    assert "Missing option '--config'" in line and "teachkit student train --help" in line


def test_search_outside_a_run_folder_is_one_line(tmp_path):
    line = _one_line(CliRunner().invoke(app, ["search", "a red square", "--run", str(tmp_path)]), 2)
    assert line == f"error: {tmp_path} is not a student run (no student.safetensors)"


def test_the_old_demo_command_runs_compare_with_one_deprecation_line():
    from pathlib import Path

    config = Path(__file__).resolve().parents[2] / "configs" / "student_demo.toml"
    result = CliRunner().invoke(app, ["student", "demo", "--config", str(config), "--seeds", "x"])
    assert result.exit_code == 2
    lines = [l for l in result.output.splitlines() if l.strip()]
    assert lines == ["deprecated: `teachkit student demo` is now `teachkit student compare`",
                     "error: --seeds must be comma-separated integers, got 'x'"]
    listed = CliRunner().invoke(app, ["student", "--help"]).output
    assert "compare-merge" in listed and " demo " not in listed  # the old names are hidden
