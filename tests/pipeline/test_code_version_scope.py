"""A teacher's code version hashes the code its scores depend on, and no training code."""

from __future__ import annotations

from pipeline.code_version import COMMON_MODULES
from pipeline.teachers.kinds import KINDS, kind_of

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
