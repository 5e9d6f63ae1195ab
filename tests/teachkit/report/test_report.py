"""The report: every section drawn from the inputs that exist, a note for each that does not."""

from __future__ import annotations

import base64
import json
import re

import matplotlib.colors
import numpy as np
import pytest

import stores
from teachkit.report import build_report
from teachkit.report.agreement import AuditCurve, agreement, audit_curve
from teachkit.report.relevance import StudentFrames, caption_relevance, pick_captions
from teachkit.report.results import ModelResult, merge_teachers, read_group, teacher_results, training_logs


def _images(page: str) -> dict[str, bytes]:
    return {alt: base64.b64decode(data) for alt, data in re.findall(r"<img alt='([^']+)' src='data:image/png;base64,([^']+)'>", page)}


def test_full_report_is_self_contained_with_every_figure(run_group, tmp_path):
    out = tmp_path / "report"
    page_path = build_report(run_group["store"], run_group["runs"], out, run_group["ground_truth"], run_group["bench"])
    page = page_path.read_text()
    images = _images(page)
    assert set(images) == {"comparison", "training", "relevance-0", "relevance-1", "relevance-2", "relevance-3",
                           "agreement", "scale"}
    for stem, data in images.items():
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), stem
        assert (out / f"{stem}.png").read_bytes() == data  # the PNGs beside the page are the inline ones
    # nothing is fetched: no external URL, no script, no stylesheet link
    assert not re.search(r"(src|href)=['\"](?!data:)", page)
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "no caption audit" in page
    # the comparison table: both teachers and both student variants, students over 2 seeds
    for name in ("fine_t", "sparse_t", "plain", "distilled"):
        assert f"<td>{name}</td>" in page
    metrics = json.loads((run_group["runs"] / "metrics.json").read_text())
    r1 = [metrics["seeds"]["student_distilled"][s]["t2v"]["R@1"] for s in ("0", "1")]
    assert f"{np.mean(r1):.1f} ± {np.std(r1):.1f}" in page


def test_report_without_optional_inputs_says_what_is_missing(run_group, tmp_path):
    page = build_report(run_group["store"], run_group["runs"], tmp_path / "r", None, tmp_path / "none.json").read_text()
    assert "No scale results" in page and "no ground truth given" in page
    assert "scale" not in _images(page) and "relevance-0" in _images(page)


def test_report_refuses_a_folder_that_is_not_a_report(run_group, tmp_path):
    from teachkit.util.errors import InputError

    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="not a report folder"):
        build_report(run_group["store"], run_group["runs"], tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_results_read_students_per_seed_and_teachers_from_current_runs(run_group):
    group = read_group(run_group["runs"])
    assert [m.name for m in group.students] == ["student_plain", "student_distilled"]  # the demo's order
    assert all(len(m.seeds) == 2 for m in group.students)
    assert sorted(group.runs) == ["distilled-seed0", "distilled-seed1", "plain-seed0", "plain-seed1"]
    assert group.afa_run.name == "distilled-seed0"
    with stores.connect(run_group["store"]) as con:
        stored = dict(con.execute("SELECT teacher, metrics FROM current_runs").fetchall())
        teachers = {m.name: m for m in teacher_results(con)}
    # the synthetic teacher runs were committed without metrics: the demo's figures stand in
    assert all(json.loads(stored[t] or "{}") == {} for t in stored) and teachers == {}
    demo = json.loads((run_group["runs"] / "metrics.json").read_text())["teachers_full"]
    merged = merge_teachers(list(teachers.values()), group.teachers)
    assert [m.name for m in merged] == ["fine_t", "sparse_t"]
    assert merged[0].values("t2v", "R@1") == [demo["fine_t"]["t2v"]["R@1"]]
    fake = ModelResult("fine_t", "teacher", {"-": {"t2v": {"R@1": 99.0}, "v2t": {"R@1": 98.0}}})
    assert merge_teachers([fake], group.teachers)[0].values("t2v", "R@1") == [99.0]  # the store's figures win
    logs = training_logs(group)
    rows = logs["distilled-seed0"]
    assert [r["step"] for r in rows if "loss" in r] == list(range(6))
    assert [r["step"] for r in rows if "val/t2v/R@1" in r] == [1, 3, 5]


def test_relevance_places_teacher_values_at_their_source_frames(run_group):
    gt = json.loads(run_group["ground_truth"].read_text())
    with stores.connect(run_group["store"]) as con:
        ids = pick_captions(con, "test", gt, 3)
        assert len(ids) == 3 and len({c.split("#")[0] for c in ids}) == 3  # one caption per video
        student = StudentFrames(read_group(run_group["runs"]).afa_run, run_group["store"])
        c = caption_relevance(con, ids[0], gt, student)
        stored = con.execute("SELECT frame, score FROM frames WHERE caption_id = ? ORDER BY frame", [ids[0]]).fetchall()
    teacher = next(r for r in c.rows if r.label == "teacher fine_t")
    # the synthetic teacher stored 5 frames of a 6-frame video and no sampling config: linspace(0, 5, 5)
    assert teacher.positions.tolist() == [0, 1, 2, 3, 5]
    assert np.allclose(teacher.values, [s for _, s in stored])
    afa = next(r for r in c.rows if r.label.startswith("student AFA"))
    assert afa.positions.tolist() == [0, 1, 3, 5]  # the student's 4 frames of 6
    assert afa.values.sum() == pytest.approx(1.0, abs=1e-5) and (afa.values > 0).all()
    assert c.events == [(c.events[0][0], [1, 2, 3, 4])] and "square" in c.events[0][0]


def _avg_ranks(x):
    x = np.asarray(x)
    return np.array([(x < v).sum() + ((x == v).sum() + 1) / 2 for v in x])


def test_average_ranks_match_the_definition_row_by_row():
    from teachkit.report.agreement import average_ranks

    x = np.random.default_rng(0).integers(0, 5, (20, 9)).astype(np.float64)  # many ties
    np.testing.assert_array_equal(average_ranks(x), [_avg_ranks(row) for row in x])


def test_agreement_ranks_ties_by_their_average_rank(run_group):
    with stores.connect(run_group["store"]) as con:
        con.execute("CREATE TEMP TABLE scores AS SELECT * FROM (VALUES "
                    "('a', 'test', 'test000#0', 'v1', 1.0), ('a', 'test', 'test000#0', 'v2', 1.0), "
                    "('a', 'test', 'test000#0', 'v3', 2.0), ('b', 'test', 'test000#0', 'v1', 0.1), "
                    "('b', 'test', 'test000#0', 'v2', 0.3), ('b', 'test', 'test000#0', 'v3', 0.2)) "
                    "t(teacher, split, caption_id, video_id, score)")
        rho = agreement(con, "test")
    assert list(rho) == [("a", "b")]
    assert rho[("a", "b")].tolist() == [pytest.approx(np.corrcoef([1.5, 1.5, 3], [1, 3, 2])[0, 1])]


def test_agreement_is_spearman_per_caption(run_group):
    with stores.connect(run_group["store"]) as con:
        rho = agreement(con, "test")
        rows = con.execute("SELECT teacher, caption_id, video_id, score FROM scores WHERE split = 'test'").fetchall()
    assert list(rho) == [("fine_t", "sparse_t")]
    by = {}
    for t, c, v, s in rows:
        by.setdefault(c, {}).setdefault(t, {})[v] = s
    expected = []
    for c, t in sorted(by.items()):
        common = sorted(set(t["fine_t"]) & set(t["sparse_t"]))
        a = np.argsort(np.argsort([t["fine_t"][v] for v in common]))
        b = np.argsort(np.argsort([t["sparse_t"][v] for v in common]))
        expected.append(np.corrcoef(a, b)[0, 1])
    assert sorted(rho[("fine_t", "sparse_t")]) == pytest.approx(sorted(expected))


def test_audit_curve_against_the_ground_truth(run_group):
    gt = {"captions": {f"c{i}": {"wrong": i in (0, 2)} for i in range(4)}}
    with stores.connect(run_group["store"]) as con:
        assert audit_curve(con, gt) is None  # no caption_audit view: no audit
        con.execute("CREATE TEMP TABLE caption_audit AS SELECT * FROM (VALUES ('c0', 0.9, true), ('c1', 0.8, true), "
                    "('c2', 0.7, false), ('c3', 0.1, false)) t(caption_id, score, flagged)")
        curve = audit_curve(con, gt)
        assert "4 captions audited, 2 flagged" in audit_curve(con, None)
    assert isinstance(curve, AuditCurve)
    assert curve.precision.tolist() == [1.0, 0.5, pytest.approx(2 / 3), 0.5]
    assert curve.recall.tolist() == [0.5, 0.5, 1.0, 1.0]
    assert curve.flagged == (0.5, 0.5) and (curve.wrong, curve.audited) == (2, 4)


def test_report_draws_an_audit_when_the_store_has_one(run_group, tmp_path, monkeypatch):
    import teachkit.report.build as build

    gt = json.loads(run_group["ground_truth"].read_text())
    real = stores.connect

    def with_audit(root):
        con = real(root)
        ids = sorted(gt["captions"])
        con.execute("CREATE TEMP TABLE caption_audit AS SELECT unnest(?::VARCHAR[]) caption_id, "
                    "unnest(?::DOUBLE[]) score, unnest(?::BOOLEAN[]) flagged",
                    [ids, [float(c == "train000#1") for c in ids], [c == "train000#1" for c in ids]])
        return con

    monkeypatch.setattr(build.stores, "connect", with_audit)
    page = build_report(run_group["store"], run_group["runs"], tmp_path / "r", run_group["ground_truth"]).read_text()
    assert "audit" in _images(page)


def test_teachkit_report_command(run_group, tmp_path):
    from typer.testing import CliRunner

    from teachkit.cli import app

    out = tmp_path / "cli-report"
    res = CliRunner().invoke(app, ["report", "--store", str(run_group["store"]), "--runs", str(run_group["runs"]),
                                   "--out", str(out), "--captions", "2"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(out / "report.html")
    assert sorted(p.name for p in out.glob("relevance-*.png")) == ["relevance-0.png", "relevance-1.png"]
    res = CliRunner().invoke(app, ["report", "--store", str(run_group["store"]), "--runs", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "no such run folder" in res.output


def test_the_cli_starts_without_matplotlib_or_torch():
    import subprocess
    import sys

    code = ("import sys, teachkit.cli; heavy = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'matplotlib', 'torch', 'transformers'}); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bad_report_inputs_are_one_line_errors(run_group, tmp_path):
    from typer.testing import CliRunner

    from teachkit.cli import app

    base = ["report", "--store", str(run_group["store"]), "--runs", str(run_group["runs"]), "--out", str(tmp_path / "r")]
    cases = [
        (["--ground-truth", str(tmp_path / "missing.json")], "--ground-truth", "no such file"),
        (["--caption", "nobody#0"], "--caption nobody#0", "not a caption"),
        (["--captions", "0"], "--captions", ">= 1"),
    ]
    for extra, *words in cases:
        res = CliRunner().invoke(app, base + extra)
        assert res.exit_code == 2, res.output
        errors = [line for line in res.stderr.splitlines() if line.startswith("error")]
        assert len(errors) == 1 and res.stderr.rstrip().endswith(errors[0]), res.stderr  # progress lines, then one
        assert errors[0].startswith("error: ") and all(w in errors[0] for w in words), errors[0]
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_students_keep_the_demos_order_and_never_take_the_teachers_grey():
    from teachkit.report.figures import PALETTE, TEACHER_COLOUR, comparison

    assert len(PALETTE) == 9 and all(matplotlib.colors.to_hex(c) != TEACHER_COLOUR for c in PALETTE)
    fig_models = [ModelResult(f"student_{i}", "student", {"0": {"t2v": {"R@1": float(i)}, "v2t": {"R@1": 1.0}}})
                  for i in range(9)] + [ModelResult("t", "teacher", {"-": {"t2v": {"R@1": 5.0}, "v2t": {"R@1": 5.0}}})]
    fig = comparison(fig_models)
    bars = [p for p in fig.axes[0].patches]
    colours = [matplotlib.colors.to_hex(b.get_facecolor()[:3]) for b in bars]
    assert colours[-1] == TEACHER_COLOUR and TEACHER_COLOUR not in colours[:-1] and len(set(colours[:-1])) == 9
