"""--no-progress reaches every long step of the teacher stage (teachkit.util.progress is the one switch)."""

from __future__ import annotations

import pytest

import teachkit.util.progress as sp


@pytest.fixture(autouse=True)
def _restore():
    state = dict(sp._STATE)
    yield
    sp._STATE.update(state)


def test_manifest_probing_reports_progress_lines_and_obeys_no_progress(tmp_path, capfd):
    from pipeline.datasets.build import _probe_all

    paths = [tmp_path / f"missing{i}.mp4" for i in range(3)]
    _probe_all(paths, 1, True)
    assert "probing videos: 3/3 (100%)" in capfd.readouterr().err
    sp.configure(enabled=False)
    _probe_all(paths, 1, True)
    assert capfd.readouterr().err == ""
