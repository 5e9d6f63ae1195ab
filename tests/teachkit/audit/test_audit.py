"""The caption audit on a synthetic store whose wrong captions are known.

40 train videos with 4 captions each; 16 captions are "wrong": every teacher scores them highest
on some other video, and the in-sample teacher (trained on them) still ranks them a little
better than its held-out fold teachers do.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import stores
from stores import RunWriter
from stores.embeddings import vectors_table
from teachkit.audit import AuditError, parse_audit, run_audit
from teachkit.audit.measure import auc, detection, format_detection, measure_audit
from teachkit.audit.mixture import fit_mixture
from teachkit.audit.signals import combine, judges, TeacherRun
from stores.folds import Holdout, caption_folds, held_out, parse_holdout
from teachkit_fixtures.store import build_store

N_VIDEOS, PER_VIDEO = 40, 4


def _dataset(tmp_path):
    vids = [f"t{i:02d}" for i in range(N_VIDEOS)]
    caps = [(f"{v}#{j}", v) for v in vids for j in range(PER_VIDEO)]
    store = build_store(tmp_path / "store", [(v, "train") for v in vids],
                        [(c, v, "train", f"text {c}") for c, v in caps])
    rng = np.random.default_rng(0)
    wrong = {c for c, _ in caps if rng.random() < 0.1} | {caps[0][0]}
    return store, vids, caps, wrong


def _teacher(store, name, vids, caps, wrong, holdout, seed, own_boost, embed_dim=0):
    """Scores: noise, +6 on the own video for correct captions, +6 elsewhere for wrong ones.
    With ``embed_dim``: caption embeddings near their video's direction, each wrong one near a
    scene of its own."""
    rng = np.random.default_rng(seed)
    cid, vid, score = [], [], []
    for c, v in caps:
        s = rng.normal(0, 1, len(vids))
        own = vids.index(v)
        if c in wrong:
            s[(own + 7) % len(vids)] += 6.0
            s[own] += own_boost  # an in-sample teacher learnt the wrong caption a little
        else:
            s[own] += 6.0
        cid += [c] * len(vids)
        vid += vids
        score += s.tolist()
    config = {"kind": "clip"} | ({"holdout": holdout} if holdout else {})
    w = RunWriter(store, name, "clip", name * 8, json.dumps(config), "0", score_dtype="float32")
    w.begin()
    w.write_shard("scores", "train", 0, pa.table({"caption_id": cid, "video_id": vid, "score": pa.array(score, pa.float32())}))
    if embed_dim:
        directions = rng.normal(0, 1, (len(vids) + len(caps), embed_dim))
        rows = [len(vids) + i if c in wrong else vids.index(v) for i, (c, v) in enumerate(caps)]
        emb = directions[rows] + rng.normal(0, 0.3, (len(caps), embed_dim))
        w.write_shard("embeddings", "train", 0, vectors_table([c for c, _ in caps], emb), kind="caption")
    w.commit()


@pytest.fixture
def audited(tmp_path):
    store, vids, caps, wrong = _dataset(tmp_path)
    _teacher(store, "full", vids, caps, wrong, None, 1, own_boost=5.0)
    _teacher(store, "f0", vids, caps, wrong, "fold:0/2", 2, own_boost=0.0)
    _teacher(store, "f1", vids, caps, wrong, "fold:1/2", 3, own_boost=0.0)
    return store, caps, wrong


def test_folds_are_balanced_per_video_and_stable():
    caps = [(f"v{i}#{j}", f"v{i}") for i in range(50) for j in range(4)]
    folds = caption_folds(caps, 2)
    assert folds == caption_folds(list(reversed(caps)), 2)  # depends on ids only, not order
    for i in range(50):
        assert sorted(folds[f"v{i}#{j}"] for j in range(4)) == [0, 0, 1, 1]
    assert held_out(caps, parse_holdout("fold:1/2")) == {c for c, f in folds.items() if f == 1}
    assert held_out(caps, parse_holdout("all")) == {c for c, _ in caps}
    assert held_out(caps, None) == set()
    for bad in ("fold:2/2", "fold:0/1", "half", "fold:a/2"):
        with pytest.raises(ValueError, match="fold"):
            parse_holdout(bad)


def test_judges_use_only_held_out_teachers_and_fall_back_with_a_note():
    caps = [(f"v{i}#{j}", f"v{i}") for i in range(5) for j in range(2)]
    full, f0 = TeacherRun("full", "a", "a", None), TeacherRun("f0", "b", "b", Holdout(0, 2))
    who, notes = judges(caps, [full])
    assert all(w == ["full"] for w in who.values()) and "no teacher declares a holdout" in notes[0]
    who, notes = judges(caps, [full, f0])
    fold0 = held_out(caps, Holdout(0, 2))
    assert {c for c, w in who.items() if w == ["f0"]} == fold0
    assert {c for c, w in who.items() if w == ["full", "f0"]} == {c for c, _ in caps} - fold0
    assert any("held out by no teacher" in n for n in notes)


def test_robust_combination_standardises_each_teacher_over_its_own_captions():
    caps = [("a", "x"), ("b", "x"), ("c", "y"), ("d", "y")]
    who = {"a": ["t"], "b": ["t"], "c": ["u"], "d": ["u"]}
    ev = {"t": {"rank": {"a": 0.0, "b": 1.0, "c": 50.0, "d": 50.0}},
          "u": {"rank": {"a": 9.0, "b": 9.0, "c": 100.0, "d": 102.0}}}
    z = combine(caps, who, ev)  # t judges a, b only; u judges c, d only: scales no longer matter
    np.testing.assert_allclose(z, [-1 / 1.4826, 1 / 1.4826, -1 / 1.4826, 1 / 1.4826])


def test_a_teachers_signals_are_standardised_apart_then_averaged():
    caps = [("a", "x"), ("b", "x"), ("c", "y")]
    who = {c: ["t"] for c, _ in caps}
    # rank on a scale of units, siblings on a scale of thousands: each counts the same
    ev = {"t": {"rank": {"a": 0.0, "b": 1.0, "c": 2.0}, "siblings": {"a": 4000.0, "b": 1000.0, "c": 1000.0}}}
    z = combine(caps, who, ev)
    rank_z = np.array([-1.0, 0.0, 1.0]) / 1.4826
    sib_z = (np.array([4000.0, 1000.0, 1000.0]) - 1000.0) / np.array([4000.0, 1000.0, 1000.0]).std()  # MAD 0: std
    np.testing.assert_allclose(z, (rank_z + sib_z) / 2)


def test_sibling_signals_single_out_the_caption_that_disagrees_with_its_video():
    from teachkit.audit.signals import _against_siblings, _sibling_agreement

    video = np.array(["x", "x", "x", "y", "y", "z"])
    own = np.array([5.0, 5.0, 2.0, 1.0, 3.0, 9.0])
    # x: 5 - mean(5, 2), 5 - mean(5, 2), 2 - mean(5, 5); y: 1 - 3, 3 - 1; z alone: 0
    np.testing.assert_allclose(_against_siblings(video, own), [1.5, 1.5, -3.0, -2.0, 2.0, 0.0])
    e = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.6, 0.8], [1.0, 0.0]])
    # x: the median of (1, 0) for the two alike, of (0, 0) for the odd one; y: 1; z alone: 0
    np.testing.assert_allclose(_sibling_agreement(video, e), [0.5, 0.5, 0.0, 1.0, 1.0, 0.0])
    video4 = np.array(["v"] * 4)  # with three siblings the median ignores the one wrong
    e4 = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(_sibling_agreement(video4, e4), [1.0, 1.0, 1.0, 0.0])


def test_rows_signal_is_the_correlation_with_the_siblings_mean_row(audited):
    """``rows`` from SQL sums equals the correlation of each caption's standardised score row
    with the mean standardised row of its siblings, and it singles out the wrong captions."""
    from teachkit.audit.signals import evidence

    store, caps, wrong = audited
    with stores.connect(store.root) as con:
        teachers = [TeacherRun("f0", "x", "r", parse_holdout("fold:0/2"))]
        got = evidence(con, "train", teachers, "rows")["f0"]["rows"]
        s = con.execute("SELECT caption_id, video_id, score::DOUBLE FROM scores WHERE teacher = 'f0' "
                        "ORDER BY caption_id, video_id").fetchall()
    ids = sorted({c for c, _, _ in s})
    rows = np.array([x for _, _, x in s]).reshape(len(ids), -1)
    z = (rows - rows.mean(1, keepdims=True)) / rows.std(1, keepdims=True)
    video = {c: v for c, v in caps}
    for i, c in enumerate(ids):
        sib = [k for k, d in enumerate(ids) if video[d] == video[c] and d != c]
        expected = -np.corrcoef(z[i], z[sib].mean(0))[0, 1]
        assert got[c] == pytest.approx(expected, abs=1e-9)
    x = np.array([got[c] for c in ids])
    assert auc(x, np.array([c in wrong for c in ids])) > 0.9  # 0.937: a wrong caption also lowers its siblings' agreement


def test_signal_may_join_several_and_refuses_unknown_parts():
    from teachkit.audit.signals import signal_parts

    assert signal_parts("rank+relative+siblings") == ("rank", "relative", "siblings")
    assert signal_parts("rank+relative+siblings+rows")[-1] == "rows"
    assert parse_audit({"signal": "rank+siblings"}).signal == "rank+siblings"
    for bad in ("rank+vibes", "rank+rank", ""):
        with pytest.raises(AuditError, match="audit.signal"):
            parse_audit({"signal": bad})


def test_mixture_finds_the_rate_of_a_two_population_sample():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 900), rng.normal(5, 1, 100)])
    mix = fit_mixture(x)
    assert mix.weights[1] == pytest.approx(0.1, abs=0.02)
    assert mix.means == pytest.approx((0.0, 5.0), abs=0.3)
    assert ((mix.posterior_wrong(x) > 0.5).mean()) == pytest.approx(0.1, abs=0.02)


def test_auc_and_detection_by_hand():
    assert auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True])) == 0.75
    assert auc(np.array([1.0, 1.0]), np.array([True, False])) == 0.5
    m = detection(["a", "b", "c", "d"], np.array([3.0, 2.0, 1.0, 0.0]), np.array([True, True, False, False]),
                  {"a": "colour", "c": "shape"})
    assert (m["precision"], m["recall"], m["f1"]) == (0.5, 0.5, 0.5)
    # per kind: its wrong captions against every correct one (b, d)
    assert m["per_kind"] == {"colour": {"wrong": 1, "found": 1, "recall": 1.0, "auc": 1.0},
                             "shape": {"wrong": 1, "found": 0, "recall": 0.0, "auc": 0.5}}
    # flagging the top 1 ("a"): P 1, R 0.5, F1 2/3; the top 3: P 2/3, R 1, F1 0.8
    assert (m["best_f1"], m["best_flagged"]) == (pytest.approx(0.8), 3)
    tied = detection(["a", "b", "c"], np.array([1.0, 1.0, 0.0]), np.array([False] * 3), {"a": "x"})
    assert (tied["best_f1"], tied["best_flagged"]) == (pytest.approx(2 / 3), 2)  # a tie is cut as one
    text = format_detection(m)
    assert "AUC per kind: colour 1.000, shape 0.500" in text
    assert "best F1 over every cut of the score: 0.800 (flagging 3)" in text


def test_audit_commits_once_flags_the_wrong_captions_and_feeds_exclusions(audited, monkeypatch):
    import teachkit.audit.run as audit_run

    store, caps, wrong = audited
    read = []
    evidence = audit_run.evidence
    monkeypatch.setattr(audit_run, "evidence", lambda con, split, teachers, *a: (
        read.append(sorted(t.name for t in teachers)), evidence(con, split, teachers, *a))[1])
    first = run_audit(store.root, parse_audit({}), log=lambda m: None)
    assert read == [["f0", "f1"]]  # "full" judges no caption: its scores are not even read
    assert first.status == "computed" and first.captions == len(caps)
    with stores.connect(store.root) as con:
        rows = con.execute("SELECT caption_id, video_id, split, score, flagged, run FROM caption_audit").fetchall()
        excluded = {r[0] for r in con.execute("SELECT caption_id FROM exclusions").fetchall()}
        m = measure_audit(con, {c: "other_video" for c in wrong})
        run = con.execute("SELECT kind, rows, metrics FROM current_runs WHERE teacher = 'audit'").fetchone()
    assert len(rows) == len(caps) and {r[5] for r in rows} == {first.run} and {r[2] for r in rows} == {"train"}
    assert excluded == {r[0] for r in rows if r[4]}
    # the fold teachers judge held-out captions only, so the in-sample teacher's bias is gone
    assert excluded == wrong and m["f1"] == 1.0 and m["auc"] == 1.0
    assert run[0] == "audit" and run[1] == len(caps)
    stored = json.loads(run[2])
    assert stored["rate"] == pytest.approx(len(wrong) / len(caps)) and stored["judged"] == {
        "f0": len(caps) // 2, "f1": len(caps) // 2, "full": 0}
    again = run_audit(store.root, parse_audit({}), log=lambda m: None)
    assert (again.status, again.run, again.flagged) == ("cached", first.run, first.flagged)
    fixed = run_audit(store.root, parse_audit({"threshold": "fraction", "fraction": 0.25}), log=lambda m: None)
    assert fixed.status == "computed" and fixed.flagged == len(caps) // 4
    with stores.connect(store.root) as con:  # the latest audit is the current one
        assert con.execute("SELECT count(*) FROM exclusions").fetchone()[0] == len(caps) // 4
    # asked for again, the first audit is cached and current again (its exclusions, not the last's)
    back = run_audit(store.root, parse_audit({}), log=lambda m: None)
    assert (back.status, back.run) == ("cached", first.run)
    with stores.connect(store.root) as con:
        assert {r[0] for r in con.execute("SELECT caption_id FROM exclusions").fetchall()} == wrong
        assert con.execute("SELECT DISTINCT run FROM caption_audit").fetchall() == [(first.run,)]
    # an audit under another name becomes current when it commits, and gives way when asked
    other = run_audit(store.root, parse_audit({"name": "audit_b", "threshold": "fraction", "fraction": 0.5}),
                      log=lambda m: None)
    with stores.connect(store.root) as con:
        assert con.execute("SELECT DISTINCT run FROM caption_audit").fetchall() == [(other.run,)]
    run_audit(store.root, parse_audit({}), log=lambda m: None)
    with stores.connect(store.root) as con:
        assert con.execute("SELECT DISTINCT run FROM caption_audit").fetchall() == [(first.run,)]


def test_in_sample_teacher_alone_is_worse_and_says_so(audited):
    store, caps, wrong = audited
    notes = []
    run_audit(store.root, parse_audit({"teachers": ["full"], "threshold": "fraction",
                                       "fraction": len(wrong) / len(caps)}), log=notes.append)
    assert any("no teacher declares a holdout" in n for n in notes)
    with stores.connect(store.root) as con:
        m = measure_audit(con, {c: "other_video" for c in wrong})
    assert m["auc"] < 0.99


def test_sibling_evidence_from_stored_embeddings_alone_finds_the_wrong_captions(tmp_path):
    store, vids, caps, _ = _dataset(tmp_path)
    # one wrong caption in every fourth video: siblings outvote it (a video whose captions are
    # mostly wrong defeats this signal, and only this one)
    wrong = {f"{v}#{i % PER_VIDEO}" for i, v in enumerate(vids) if i % 4 == 0}
    # scores that say nothing (own_boost cancels the +6 elsewhere): only the embeddings know
    _teacher(store, "emb", vids, caps, wrong, "all", 4, own_boost=0.0, embed_dim=16)
    _teacher(store, "plain", vids, caps, wrong, "all", 5, own_boost=0.0)
    notes = []
    out = run_audit(store.root, parse_audit({"signal": "siblings", "teachers": ["emb", "plain"]}), log=notes.append)
    assert any("plain stored no train caption embeddings" in n for n in notes)
    with stores.connect(store.root) as con:
        excluded = {r[0] for r in con.execute("SELECT caption_id FROM exclusions").fetchall()}
        m = measure_audit(con, {c: "other_video" for c in wrong})
    # every wrong caption is ranked above every right one; the mixture's cut also takes the
    # three siblings of one wrong caption whose agreement it lowered most
    assert m["auc"] == 1.0 and wrong <= excluded and len(excluded) == out.flagged == len(wrong) + 3
    # relative: the own score against the siblings' (the wrong ones' own video lacks the +6)
    run_audit(store.root, parse_audit({"signal": "relative", "teachers": ["plain"]}), log=lambda m: None)
    with stores.connect(store.root) as con:
        assert measure_audit(con, {c: "other_video" for c in wrong})["auc"] > 0.99


def test_bad_audit_configs_name_the_field(audited):
    store, _, _ = audited
    with pytest.raises(AuditError, match="audit.signal"):
        parse_audit({"signal": "vibes"})
    with pytest.raises(AuditError, match="audit.fraction"):
        parse_audit({"threshold": "fraction"})
    with pytest.raises(AuditError, match="unknown field"):
        parse_audit({"treshold": "mixture"})
    with pytest.raises(AuditError, match="audit.teachers"):
        run_audit(store.root, parse_audit({"teachers": ["nobody"]}), log=lambda m: None)
    with pytest.raises(AuditError, match="holdout of teacher full"):
        run_audit(store.root, parse_audit({"holdout": {"full": "fold:3/2"}}), log=lambda m: None)


def test_store_without_audit_has_empty_views(tmp_path):
    store, *_ = _dataset(tmp_path)
    with stores.connect(store.root) as con:
        assert con.execute("SELECT count(*) FROM caption_audit").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM exclusions").fetchone()[0] == 0


def test_audit_config_goes_through_the_shared_loader(tmp_path):
    from teachkit.audit import load_audit_config

    path = tmp_path / "audit.toml"
    path.write_text('[store]\nroot = "s"\n\n[audit]\nteachers = ["a", "b"]\nthreshold = "fraction"\nfraction = 0.2\n')
    root, cfg = load_audit_config(path, base=tmp_path)
    assert root == tmp_path / "s" and cfg.teachers == ("a", "b") and cfg.fraction == 0.2
    root, cfg = load_audit_config(path, base=tmp_path, overrides=["audit.signal=margin", "store.root=/elsewhere"])
    assert (root, cfg.signal) == (Path("/elsewhere"), "margin")
    with pytest.raises(AuditError, match=r"--set audit\.sginal: unknown field"):
        load_audit_config(path, overrides=["audit.sginal=margin"])
    with pytest.raises(AuditError, match=r"audit\.fraction must be a number"):
        parse_audit({"threshold": "fraction", "fraction": "a lot"})
    path.write_text("[audit]\nthreshold = 'fraction'\n")
    with pytest.raises(AuditError, match="audit.fraction: threshold = 'fraction' needs"):
        load_audit_config(path)


def test_measure_prints_the_figures_and_writes_them_as_json(audited, tmp_path):
    from typer.testing import CliRunner

    from teachkit.cli import app

    store, caps, wrong = audited
    run_audit(store.root, parse_audit({}), log=lambda m: None)
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps({"captions": {c: {"wrong": True, "noise": "other_video"} for c in wrong}}))
    out = tmp_path / "figures" / "measure.json"
    result = CliRunner().invoke(app, ["captions", "measure", "--truth", str(truth), "--store", str(store.root),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert written["f1"] == 1.0 and written["auc"] == 1.0 and written["wrong"] == len(wrong)
    assert result.stdout.splitlines()[1].startswith("precision 1.000  recall 1.000  F1 1.000  AUC 1.000")
