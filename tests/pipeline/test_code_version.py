"""pipeline.code_version: editing the source that shapes a kind's scores changes its version only; no training code is hashed."""

from __future__ import annotations

import importlib

import pytest

from pipeline.code_version import COMMON_MODULES, code_version, package_version, source_hash
from pipeline.teachers.kinds import KINDS, kind_of


def test_versions_are_per_kind_and_name_the_package():
    clip, text = code_version("clip"), code_version("text")
    assert clip != text
    assert clip.split("+")[0] == text.split("+")[0] and len(clip.split("+")[-1]) == 12
    assert "pipeline.scorers" in kind_of("clip").code and "pipeline.scorers" not in kind_of("text").code
    with pytest.raises(ValueError, match=r"^unknown teacher kind 'xclip'; kinds are \['clip', 'text', 'plugin', "):
        code_version("xclip")


@pytest.mark.parametrize("name", list(KINDS))
def test_the_version_hashes_the_modules_the_kinds_table_lists(name):
    """One source: code_version reads Kind.code, after the modules every kind shares."""
    expected = f"{package_version()}+{source_hash(COMMON_MODULES + KINDS[name].code)[:12]}"
    assert code_version(name) == expected


def test_a_reranker_hashes_both_of_its_scorers():
    """A reranker runs a CLIP checkpoint (temporal encoder included) or a plugin: an edit to either recomputes it."""
    rr = set(kind_of("reranker").code)
    assert set(kind_of("clip").code) <= rr and set(kind_of("plugin").code) <= rr
    assert "pipeline.run.candidates" in rr and "pipeline.run.candidates" not in kind_of("clip").code


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

#: modules only the trainers use: editing them must recompute no cached teacher
TRAINING_ONLY = ("teachkit.util.optim", "teachkit.util.contrastive", "teachkit.util.slots", "teachkit.util.device")


def test_the_autocast_rule_is_hashed_for_the_kinds_that_autocast():
    for name, kind in KINDS.items():
        autocasts = kind.encoder is not None  # the built-in clip and text encoders run under it
        assert ("teachkit.util.precision" in kind.code) is autocasts, name
    assert "teachkit.util.precision" not in COMMON_MODULES  # plugins and imported scores do not use it
    assert "teachkit.util.precision" not in kind_of("imported").code


def test_no_teacher_hashes_training_code():
    for kind in KINDS.values():
        assert not set(TRAINING_ONLY) & set(COMMON_MODULES + kind.code), kind.name
