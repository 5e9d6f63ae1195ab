"""Every benchmark through ``python -m bench``; the JSON's shape and what it must show.

``make test`` runs them at tiny size (about 30 s); ``make test-slow`` (``TEACHKIT_SLOW=1``)
at the quick size ``make bench`` uses (a few minutes).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.common import check_goal, paired, summarize
from bench.registry import BENCHMARKS, load, select

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # every benchmark end to end
MODE = "quick" if os.environ.get("TEACHKIT_SLOW") else "tiny"


COUNTS = ("loads",)  # units of figures whose right value is 0


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_numbers(d: dict, where: str, allow_zero: bool = False) -> None:
    """Every number in a figure's measurements is finite and positive (counts may be 0)."""
    for k, v in d.items():
        if isinstance(v, dict):
            _check_numbers(v, f"{where}.{k}", allow_zero)
        elif _number(v):
            assert math.isfinite(v) and (v > 0 or (allow_zero and v == 0)), f"{where}.{k} = {v}"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *(["--tiny"] if MODE == "tiny" else []), "--repeats", "2",
         "--threads", "1", "--workdir", str(tmp / "work"), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300 if MODE == "tiny" else 1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc


def test_every_figure_is_reported_with_a_sane_shape(results):
    data, _ = results
    assert data["mode"] == MODE
    expected = {f for name in BENCHMARKS for f in load(name).FIGURES}
    reported = set(data["figures"]) | {f for name in data["skipped"] for f in load(name).FIGURES}
    assert reported == expected
    for name, fig in data["figures"].items():
        if fig["unit"] == "table":
            assert fig["table"], name
            for row in fig["table"]:
                _check_numbers(row, name)
            continue
        assert fig["repeats"] >= 1 and fig["mode"] == MODE
        assert fig["min"] <= fig["median"] <= fig["max"], name
        _check_numbers({k: fig[k] for k in ("median", "min", "max")}, name, fig["unit"] in COUNTS)
        assert fig["met"] is None if not fig["goal"] else isinstance(fig["met"], bool)


def test_the_stages_are_measured_as_they_are(results):
    figs = results[0]["figures"]
    # a rerun of an unchanged teacher stage loads no model
    assert figs["cache_rerun_model_loads"]["max"] == 0
    assert figs["cache_rerun_s"]["detail"]["cached_every_time"]
    assert figs["cache_rerun_model_loads"]["detail"]["transformers_imported"] is False
    # the online teachers teach what the store holds (float16 rounding apart)
    agree = figs["online_over_store"]["detail"]["online_vs_store_first_batch"]
    assert agree["scores"]["same_nan"] and agree["scores"]["max_abs_diff"] < 1e-2
    assert agree["relevance"]["same_nan"] and agree["relevance"]["max_abs_diff"] < 1e-2
    params = figs["online_over_store"]["detail"]["parameters"]
    assert params["teachers_over_student"] > 1


def test_scale_grows_with_the_fraction(results):
    rows = results[0]["figures"]["scale"]["table"]
    assert [r["fraction"] for r in rows] == sorted(r["fraction"] for r in rows)
    assert rows[0]["rows"] < rows[-1]["rows"] and rows[0]["bytes"] < rows[-1]["bytes"]


def test_store_figures_match_the_store(results):
    figs = results[0]["figures"]
    b = figs["bytes_per_score"]
    assert b["median"] == pytest.approx(b["detail"]["bytes"] / b["detail"]["rows"])
    # ids are dictionary encoded: a row costs little more than its float16 score
    assert 1.0 < b["median"] < 4.0
    assert figs["search_qps_ratio"]["detail"]["top_k_agreement"] == 1.0


def test_table_on_stdout_progress_on_stderr(results):
    _, proc = results
    assert proc.stdout.splitlines()[0].split()[:4] == ["figure", "median", "min", "max"]
    assert "bytes_per_score" in proc.stdout
    assert "writing a synthetic store" in proc.stderr and "writing" not in proc.stdout


def test_only_accepts_benchmarks_and_figures():
    assert select(["search_qps_ratio"]) == ["search"]
    assert select(["scale", "store_bytes"]) == ["store_bytes", "scale"]
    assert select([]) == list(BENCHMARKS)
    with pytest.raises(ValueError, match="neither a benchmark"):
        select(["nope"])


def test_goals_and_pairing():
    assert check_goal(1.04, "<= 1.05") is True and check_goal(0.7, ">= 0.8") is False
    f = summarize("x", [3.0, 1.0, 2.0], "ratio", ">= 2")
    assert (f.median, f.min, f.max, f.met) == (2.0, 1.0, 3.0, True)
    calls = []
    ta, tb, r = paired(lambda: calls.append("a"), lambda: calls.append("b"), repeats=3, warmup=0)
    assert calls == ["a", "b", "b", "a", "a", "b"] and len(r) == 3
    assert all(x == pytest.approx(a / b) for x, a, b in zip(r, ta, tb))
