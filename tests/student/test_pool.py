"""Students trained side by side (student.pool) and the demo's audited students."""

import dataclasses
import json
import shutil

import pytest

import stores
from teachkit.audit import parse_audit, run_audit
from student.config import ComparisonConfig, ConfigError
from student.comparison import comparison_table, run_comparison
from student.pool import train_students
from student.train import read_store, with_seed


def _own_store(synthetic_store, tmp_path):
    """A copy of the session's store, so an audit written here leaves the others alone."""
    store, tok, _ = synthetic_store
    shutil.copytree(store, tmp_path / "store")
    return tmp_path / "store", tok


def test_two_processes_give_the_figures_of_one(synthetic_store, tiny_config, tmp_path):
    store, tok, _ = synthetic_store
    exp = tiny_config(store, tok, tmp_path / "cache", tmp_path / "unused", **{"train.steps": 3, "train.threads": 1})
    one = run_comparison(ComparisonConfig(seeds=[0, 1], out=str(tmp_path / "one"), experiment=exp).check(), log=lambda *a: None)
    lines = []
    two = run_comparison(ComparisonConfig(seeds=[0, 1], out=str(tmp_path / "two"), experiment=exp, jobs=2).check(),
                   log=lines.append)
    assert two["seeds"] == one["seeds"] and two["jobs"] == 2 and one["jobs"] == 1
    assert list(two["seeds"]) == ["student_plain", "student_distilled"]  # the demo's order, not finishing order
    assert sorted(line.split(":")[0] for line in lines) == sorted(
        f"{v}-seed{s}" for v in ("plain", "distilled") for s in (0, 1))


def test_a_failing_student_ends_the_pool_with_its_error(synthetic_store, tiny_config, tmp_path):
    store, tok, _ = synthetic_store
    exp = tiny_config(store, tok, tmp_path / "cache", tmp_path / "unused", **{"train.steps": 2})
    broken = dataclasses.replace(exp, data=dataclasses.replace(exp.data, store=str(tmp_path / "no-store")))
    jobs = [("good", with_seed(exp, 0, "good", str(tmp_path / "runs"))),
            ("bad", with_seed(broken, 0, "bad", str(tmp_path / "runs")))]
    with pytest.raises(Exception, match="no-store"):
        train_students(jobs, workers=2)
    with pytest.raises(ValueError, match="distinct"):
        train_students([jobs[0], jobs[0]], workers=2)


def test_audited_demo_refuses_a_store_without_an_audit(synthetic_store, tiny_config, tmp_path):
    store, tok, _ = synthetic_store
    exp = tiny_config(store, tok, tmp_path / "cache", tmp_path / "unused", **{"train.steps": 1})
    demo = ComparisonConfig(seeds=[0], out=str(tmp_path / "d"), experiment=exp, audit=True).check()
    with pytest.raises(ConfigError, match="no caption audit"):
        run_comparison(demo, log=lambda *a: None)
    assert not (tmp_path / "d").exists()  # nothing trained
    with pytest.raises(ConfigError, match="comparison.truth"):
        ComparisonConfig(seeds=[0], experiment=exp, truth="x.json").check()


def test_audited_demo_trains_the_audited_and_oracle_students_on_their_captions(synthetic_store, tiny_config, tmp_path):
    store, tok = _own_store(synthetic_store, tmp_path)
    audit = run_audit(store, parse_audit({"teachers": ["fine_t"], "holdout": {"fine_t": "all"},
                                          "threshold": "fraction", "fraction": 0.25}), log=lambda m: None)
    with stores.connect(store) as con:
        train = [c for (c,) in con.execute("SELECT caption_id FROM captions WHERE split = 'train'").fetchall()]
        flagged = {c for (c,) in con.execute("SELECT caption_id FROM exclusions").fetchall()}
    wrong = sorted(train)[:3]
    truth = tmp_path / "truth.txt"
    truth.write_text("\n".join(wrong) + "\n")
    exp = tiny_config(store, tok, tmp_path / "cache", tmp_path / "unused", **{"train.steps": 1})
    demo = ComparisonConfig(seeds=[0], out=str(tmp_path / "d"), experiment=exp, audit=True, truth=str(truth)).check()
    m = run_comparison(demo, log=lambda *a: None)
    assert list(m["seeds"]) == ["student_plain", "student_distilled", "student_audited", "student_oracle"]
    assert m["audit"] == {"run": audit.run, "excluded": len(flagged), "truth": str(truth)} and len(flagged) == audit.flagged > 0
    trained_on = {}
    for name in ("plain", "distilled", "audited", "oracle"):
        cfg = json.loads((tmp_path / "d" / f"{name}-seed0" / "config.json").read_text())
        ran = dataclasses.replace(exp, data=dataclasses.replace(exp.data, drop_excluded=cfg["data"]["drop_excluded"],
                                                                exclude_captions=cfg["data"]["exclude_captions"]))
        trained_on[name] = {c for c, _, _ in read_store(ran, 32).train_pairs}
        assert cfg["loss"] == json.loads((tmp_path / "d" / "audited-seed0" / "config.json").read_text())["loss"] \
            or name == "plain"
    assert trained_on["plain"] == trained_on["distilled"] == set(train)  # all captions, though the store has an audit
    assert trained_on["audited"] == set(train) - flagged
    assert trained_on["oracle"] == set(train) - set(wrong)
    table = comparison_table(m)
    assert "distilled, audit-cleaned (mean of 1)" in table and "distilled, truth-cleaned (bound)" in table


def test_the_frames_are_decoded_once_before_the_students_start(synthetic_store, tiny_config, tmp_path):
    from student.train import prepare_frames, read_store

    store, tok, _ = synthetic_store
    exp = tiny_config(store, tok, tmp_path / "cache", tmp_path / "unused")
    assert not (tmp_path / "cache").exists()
    prepare_frames(exp)
    folders = sorted(p for p in (tmp_path / "cache").rglob("*") if p.is_dir() and any(p.glob("*.npy")))
    assert len(folders) == 2  # the train and the test split's caches
    stamp = {p: p.stat().st_mtime_ns for f in folders for p in f.iterdir()}
    inputs = read_store(exp, 32)  # a student's read finds them: nothing is decoded again
    assert {p: p.stat().st_mtime_ns for f in folders for p in f.iterdir()} == stamp
    assert {c.folder for c in inputs.caches.values()} == set(folders)
