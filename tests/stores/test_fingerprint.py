"""Fingerprints: one canonical form per value, and no silent fallback for odd values."""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path

import pytest

from stores import FingerprintError, canonical_json, file_checksum, fingerprint, tree_checksum


class Scorer(enum.Enum):
    MEAN = "mean"


@dataclasses.dataclass
class Cfg:
    name: str
    frames: int
    scorer: Scorer


def test_stable_across_dict_ordering_and_equal_structures():
    a = {"model": {"name": "clip", "rev": "abc"}, "frames": 12, "fps": 1.0}
    b = {"fps": 1.0, "frames": 12, "model": {"rev": "abc", "name": "clip"}}
    assert fingerprint(a) == fingerprint(b)
    assert canonical_json(a) == canonical_json(b)
    assert fingerprint(Cfg("x", 12, Scorer.MEAN)) == fingerprint({"scorer": "mean", "frames": 12, "name": "x"})
    assert fingerprint((1, 2)) == fingerprint([1, 2])
    assert len(fingerprint(a)) == 64 and fingerprint(a) == fingerprint(dict(a))


def test_distinguishes_what_matters():
    assert fingerprint({"fps": 1.0}) != fingerprint({"fps": 1.0000001})
    assert fingerprint({"frames": 12}) != fingerprint({"frames": "12"})
    assert fingerprint("a", "b") != fingerprint("ab")
    assert fingerprint([1, 2]) != fingerprint([2, 1])


@pytest.mark.parametrize(
    "value",
    [object(), {1, 2}, {1: "int key"}, float("nan"), float("inf"), {"nested": [b"bytes"]}, lambda x: x],
)
def test_unhashable_values_raise(value):
    with pytest.raises(FingerprintError):
        fingerprint({"cfg": value})


def test_file_and_tree_checksums(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.bin").write_bytes(b"abc")
    (tmp_path / "d" / "sub" / "b.bin").write_bytes(b"def")
    # sha256("abc"), a published test vector
    assert file_checksum(tmp_path / "d" / "a.bin") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    before = tree_checksum(tmp_path / "d")
    assert tree_checksum(tmp_path / "d") == before
    (tmp_path / "d" / "sub" / "b.bin").write_bytes(b"deg")
    assert tree_checksum(tmp_path / "d") != before
    (tmp_path / "d" / "sub" / "b.bin").rename(tmp_path / "d" / "sub" / "c.bin")
    assert tree_checksum(tmp_path / "d") not in (before,)
    with pytest.raises(FingerprintError, match="missing"):
        tree_checksum(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FingerprintError, match="no files"):
        tree_checksum(Path(tmp_path / "empty"))
