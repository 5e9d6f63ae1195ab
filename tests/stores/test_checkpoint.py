"""stores.checkpoint: a checkpoint folder's identity, the same for the teacher stage and the student."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from stores.checkpoint import checkpoint_identity, folder_checksum, read_marker
from stores.fingerprint import FingerprintError, fingerprint


def _folder(root, weights=b"w1"):
    root.mkdir(parents=True)
    (root / "config.json").write_text('{"model_type": "clip"}')
    (root / "model.safetensors").write_bytes(weights)
    return root


def test_a_plain_folder_is_its_files_wherever_it_lies(tmp_path):
    a = _folder(tmp_path / "a")
    expected = hashlib.sha256()
    for name, data in (("config.json", b'{"model_type": "clip"}'), ("model.safetensors", b"w1")):
        expected.update(name.encode() + b"\0" + hashlib.sha256(data).hexdigest().encode() + b"\0")
    assert checkpoint_identity(a) == folder_checksum(a) == expected.hexdigest()
    shutil.copytree(a, tmp_path / "elsewhere")
    assert checkpoint_identity(tmp_path / "elsewhere") == checkpoint_identity(a)  # never the path
    (a / ".cache").mkdir()
    (a / ".cache" / "lock").write_text("x")  # hidden files are not the checkpoint
    assert checkpoint_identity(a) == expected.hexdigest()
    assert checkpoint_identity(_folder(tmp_path / "b", b"w2")) != checkpoint_identity(a)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FingerprintError, match="holds no files"):
        folder_checksum(tmp_path / "empty")


def test_a_bootstrapped_folder_is_its_marker_not_its_bytes(tmp_path):
    key = {"options_fingerprint": "o1", "data_fingerprint": "d1"}
    one, two = _folder(tmp_path / "one", b"w1"), _folder(tmp_path / "two", b"w1 rebuilt elsewhere")
    for folder in (one, two):
        (folder / "bootstrap.json").write_text(json.dumps({**key, "train": {"seconds": 1.0}}))
    assert read_marker(one)["options_fingerprint"] == "o1"
    expected = fingerprint("bootstrap-init", {**key, "init_fingerprint": None})
    assert checkpoint_identity(one) == checkpoint_identity(two) == expected
    (two / "bootstrap.json").write_text(json.dumps({**key, "init_fingerprint": "i1"}))
    assert checkpoint_identity(two) != expected  # fine-tuned from something: another artefact
    (one / "bootstrap.json").write_text("{not json")
    assert read_marker(one) is None and checkpoint_identity(one) == folder_checksum(one)


def test_the_teacher_stage_and_the_student_record_the_same_identity(tmp_path):
    from pipeline.bootstrap.checkpoint import init_identity
    from student.model import backbone_identity

    folder = _folder(tmp_path / "clip")
    assert init_identity(folder) == backbone_identity(str(folder))["checkpoint"] == checkpoint_identity(folder)
    (folder / "bootstrap.json").write_text(json.dumps({"options_fingerprint": "o", "data_fingerprint": "d",
                                                       "options": {"objective": "image"}}))
    assert init_identity(folder) == backbone_identity(str(folder))["checkpoint"] == checkpoint_identity(folder)
