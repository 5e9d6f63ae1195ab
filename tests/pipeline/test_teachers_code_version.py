"""pipeline.code_version: editing the source that shapes a kind's scores changes its version only."""

from __future__ import annotations

import importlib

import pytest

from pipeline.code_version import KIND_MODULES, code_version, source_hash


def test_versions_are_per_kind_and_name_the_package():
    clip, text = code_version("clip"), code_version("text")
    assert clip != text
    assert clip.split("+")[0] == text.split("+")[0] and len(clip.split("+")[-1]) == 12
    assert "pipeline.scorers" in KIND_MODULES["clip"] and "pipeline.scorers" not in KIND_MODULES["text"]
    with pytest.raises(ValueError, match="unknown teacher kind"):
        code_version("xclip")


def test_source_edits_change_the_hash(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "tk_cv_probe.py").write_text("SCALE = 1\n")
    importlib.invalidate_caches()
    before = source_hash(("tk_cv_probe",))
    assert code_version("plugin", ("tk_cv_probe",)) != code_version("plugin")
    source_hash.cache_clear()  # a new process would see the edit; the cache lives per process
    (tmp_path / "tk_cv_probe.py").write_text("SCALE = 2\n")
    assert source_hash(("tk_cv_probe",)) != before
    with pytest.raises(RuntimeError, match="cannot locate the source of module 'tk_cv_missing'"):
        source_hash(("tk_cv_missing",))
