"""Fixtures of the student tests: the synthetic store of :mod:`teachkit_fixtures.store` (tiny
MP4s, captions, teachers ``fine_t`` and ``sparse_t``), a copy with a ``topk`` teacher, and the
tiny experiment of :mod:`teachkit_fixtures.experiment`."""

from __future__ import annotations

import pytest

from teachkit_fixtures.experiment import tiny_experiment
from teachkit_fixtures.store import TEACHER_FRAMES, add_topk_teacher, synthetic_store as build_synthetic_store


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run faster on one thread, above all on cores other processes share."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def synthetic_store(tmp_path_factory):
    """(store folder, tokenizer folder, root) of a session-wide synthetic store (read only)."""
    root = tmp_path_factory.mktemp("student_store")
    store, tok = build_synthetic_store(root)
    return store, tok, root


@pytest.fixture
def teacher_frames():
    return TEACHER_FRAMES


@pytest.fixture
def tiny_config():
    """``tiny_config(store, tok, cache, runs, **{"train.steps": 2, ...})``: an ExperimentConfig."""
    return tiny_experiment


@pytest.fixture(scope="session")
def topk_store(synthetic_store, tmp_path_factory):
    """A copy of the synthetic store with a third, ``topk`` teacher ``topk_t`` (k = TOPK_K)."""
    import shutil

    store, _, _ = synthetic_store
    root = tmp_path_factory.mktemp("topk") / "store"
    shutil.copytree(store, root)
    add_topk_teacher(root)
    return root
