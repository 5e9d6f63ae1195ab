"""The demo: plain and distilled students per seed, teachers' stored figures, metrics.json."""

import json

import numpy as np
import pytest

import stores
from teachkit.util.metrics import retrieval_metrics
from student.config import ComparisonConfig
from student.comparison import comparison_table, run_comparison, teacher_metrics


def test_teacher_metrics_come_from_the_stored_scores(synthetic_store):
    store, _, _ = synthetic_store
    got = teacher_metrics(str(store), "test")
    assert set(got) == {"fine_t", "sparse_t"}
    with stores.connect(store) as con:
        caps = con.execute("SELECT caption_id, video_id FROM captions WHERE split = 'test' ORDER BY caption_id").fetchall()
        rows = con.execute("SELECT caption_id, video_id, score FROM scores WHERE teacher = 'fine_t' AND split = 'test'").fetchall()
    vids = sorted({v for _, v in caps})
    ci = {c: i for i, (c, _) in enumerate(caps)}
    sim = np.full((len(caps), len(vids)), np.nan)
    for c, v, s in rows:
        sim[ci[c], vids.index(v)] = s
    expected = retrieval_metrics(sim, np.array([vids.index(v) for _, v in caps]))
    assert (got["fine_t"]["t2v"], got["fine_t"]["v2t"]) == (expected["t2v"], expected["v2t"])
    assert (got["fine_t"]["captions"], got["fine_t"]["videos"], got["fine_t"]["split"]) == (len(caps), len(vids), "test")


def test_demo_trains_both_students_per_seed_and_writes_metrics(synthetic_store, tiny_config, tmp_path, capsys):
    store, tok, _ = synthetic_store
    exp = tiny_config(store, tok, tmp_path / "cache", tmp_path / "unused", **{"train.steps": 1})
    metrics = run_comparison(ComparisonConfig(seeds=[0, 1], out=str(tmp_path / "demo"), experiment=exp).check(), log=lambda *a: None)
    on_disk = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert set(on_disk["teachers"]) == {"fine_t", "sparse_t"}
    for name in ("student_plain", "student_distilled"):
        m = on_disk[name]
        assert set(m) == {"t2v", "v2t"} and set(m["t2v"]) == {"R@1", "R@5", "R@10", "MdR", "MnR"}
        seeds = on_disk["seeds"][name]
        assert set(seeds) == {"0", "1"}
        assert m["t2v"]["R@1"] == pytest.approx(np.mean([seeds[s]["t2v"]["R@1"] for s in seeds]))
        assert on_disk["std"][name]["t2v"]["R@1"] == pytest.approx(np.std([seeds[s]["t2v"]["R@1"] for s in seeds]))
    assert (tmp_path / "demo" / "plain-seed1" / "videos.faiss").exists()
    plain_cfg = json.loads((tmp_path / "demo" / "plain-seed0" / "config.json").read_text())
    dist_cfg = json.loads((tmp_path / "demo" / "distilled-seed0" / "config.json").read_text())
    assert plain_cfg["loss"]["coarse"]["kind"] == "none" and plain_cfg["loss"]["fine"]["weight"] == 0
    assert plain_cfg["train"] == dist_cfg["train"] and plain_cfg["model"] == dist_cfg["model"]
    assert on_disk["teacher_runs"]["fine_t"]["fingerprint"] == "fine_t-fp-0"
    table = comparison_table(metrics)
    assert "teacher fine_t" in table and "student plain (mean of 2)" in table and "student distilled" in table


def test_demo_command_overrides_seeds_and_output(synthetic_store, tiny_config, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import student.config
    from teachkit.cli import app

    store, tok, _ = synthetic_store
    exp = tiny_config(store, tok, tmp_path / "cache", tmp_path / "unused", **{"train.steps": 1})
    monkeypatch.setattr(student.config, "load_comparison", lambda path, overrides=(): ComparisonConfig(seeds=[0, 1], out="ignored", experiment=exp))
    result = CliRunner().invoke(app, ["student", "demo", "--seeds", "5", "--out", str(tmp_path / "extra")])
    assert result.exit_code == 0, result.output
    on_disk = json.loads((tmp_path / "extra" / "metrics.json").read_text())
    assert set(on_disk["seeds"]["student_distilled"]) == {"5"}
    assert not (tmp_path / "ignored").exists()
    bad = CliRunner().invoke(app, ["student", "demo", "--seeds", "1,1"])
    assert bad.exit_code == 2 and "distinct seeds" in bad.output


def test_relational_ablation_trains_four_students_and_merges_disjoint_seeds(synthetic_store, tiny_config, tmp_path):
    from student.comparison import merge_comparisons

    store, tok, _ = synthetic_store
    exp = tiny_config(store, tok, tmp_path / "cache", tmp_path / "unused", **{
        "train.steps": 2, "loss.relational.kind": "relational", "loss.relational.teachers": ["fine_t"],
        "loss.relational.discrimination": 0.5})
    for seed in (0, 1):
        run_comparison(ComparisonConfig(seeds=[seed], out=str(tmp_path / f"s{seed}"), experiment=exp, ablate_relational=True).check(),
                 log=lambda *a: None, only=["plain", "distilled"] if seed == 1 else None)
    run_comparison(ComparisonConfig(seeds=[1], out=str(tmp_path / "s1r"), experiment=exp, ablate_relational=True).check(),
             log=lambda *a: None, only=["relational", "distilled_relational"])
    with pytest.raises(ValueError, match="different seeds"):
        merge_comparisons([tmp_path / "s0", tmp_path / "s1"], tmp_path / "half")
    merged = merge_comparisons([tmp_path / "s0", tmp_path / "s1", tmp_path / "s1r"], tmp_path / "all")
    names = ["student_plain", "student_distilled", "student_relational", "student_distilled_relational"]
    assert list(merged["seeds"]) == names
    for name in names:
        assert set(merged["seeds"][name]) == {"0", "1"}
        r1 = [merged["seeds"][name][s]["t2v"]["R@1"] for s in ("0", "1")]
        assert merged["mean"][name]["t2v"]["R@1"] == pytest.approx(np.mean(r1))
    cfg = {n: json.loads((tmp_path / "s0" / f"{n.removeprefix('student_')}-seed0" / "config.json").read_text())["loss"]
           for n in names}
    assert cfg["student_distilled"]["relational"]["kind"] == "none" and cfg["student_distilled"]["coarse"]["kind"] == "kl"
    assert cfg["student_relational"]["coarse"]["kind"] == "none" and cfg["student_relational"]["fine"]["weight"] == 0
    assert cfg["student_relational"]["relational"] == cfg["student_distilled_relational"]["relational"]
    log = (tmp_path / "s0" / "relational-seed0" / "train_log.jsonl").read_text().splitlines()
    parts = json.loads(log[0])
    assert parts["relational_distill_loss"] > 0 and "discrimination_distill_loss" in parts
    assert "kl_distill_loss" not in parts
    table = comparison_table(merged)
    assert "student distilled + relational (mean of 2)" in table
    with pytest.raises(ValueError, match="seed"):
        merge_comparisons([tmp_path / "s0", tmp_path / "s0"], tmp_path / "bad")


def test_frames_ablation_trains_plain_with_all_and_a_third_and_distilled_with_a_third(synthetic_store, tiny_config, tmp_path):
    from student.ablation import ablation_table, run_ablation

    store, tok, _ = synthetic_store
    exp = tiny_config(store, tok, tmp_path / "cache", tmp_path / "unused",
                      **{"train.steps": 1, "model.num_frames": 6, "train.train_frames": 4})
    demo = ComparisonConfig(seeds=[0], out=str(tmp_path / "frames"), experiment=exp).check()
    m = run_ablation(demo, "frames", log=lambda *a: None)
    assert m["num_frames"] == {"plain_all": 6, "plain_third": 2, "distilled_third": 2}
    on_disk = json.loads((tmp_path / "frames" / "frames_ablation.json").read_text())
    assert on_disk["seeds"] == m["seeds"] and set(on_disk["seeds"]) == {"plain_all", "plain_third", "distilled_third"}
    cfg = {v: json.loads((tmp_path / "frames" / f"frames-{v}-seed0" / "config.json").read_text()) for v in m["seeds"]}
    assert cfg["plain_all"]["model"]["num_frames"] == 6 and cfg["plain_all"]["train"]["train_frames"] == 4
    assert cfg["plain_third"]["train"]["train_frames"] == 0  # 4 of 2 frames: all of them
    assert cfg["plain_third"]["loss"]["coarse"]["kind"] == "none"
    assert cfg["distilled_third"]["loss"]["coarse"]["kind"] == "kl" and cfg["distilled_third"]["model"]["num_frames"] == 2
    assert "distilled_third, t2v R@1" in ablation_table(m)
    # beside `[demo] audit`, the frame students see every caption, as make student's plain one does
    from student.ablation import frame_variants

    assert {v.data.drop_excluded for v in frame_variants(demo).values()} == {True}  # the config's default
    audited = ComparisonConfig(seeds=[0], out=str(tmp_path / "f2"), experiment=exp, audit=True).check()
    assert {v.data.drop_excluded for v in frame_variants(audited).values()} == {False}


def test_audit_ablation_refuses_a_store_without_an_audit(synthetic_store, tiny_config, tmp_path):
    from student.ablation import run_ablation
    from student.config import ConfigError

    store, tok, _ = synthetic_store
    exp = tiny_config(store, tok, tmp_path / "cache", tmp_path / "unused", **{"train.steps": 1})
    truth = tmp_path / "truth.txt"
    truth.write_text("c0\n")
    with pytest.raises(ConfigError, match="no caption audit"):
        run_ablation(ComparisonConfig(seeds=[0], out=str(tmp_path / "a"), experiment=exp).check(), "audit", truth)
