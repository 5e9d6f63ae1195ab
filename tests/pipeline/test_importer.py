"""``teachkit scores import``: a matrix from elsewhere becomes a committed run, or a clear refusal."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import stores
from pipeline.importer import ImportRefused, ImportSpec, import_scores
from teachkit.cli import app

# small_store's test split: videos v0..v3, captions v<k>#0 and v<k>#1
CAPTIONS = [f"v{k}#{j}" for k in range(4) for j in range(2)]
VIDEOS = ["v0", "v1", "v2", "v3"]


def _matrix():
    """Own video scores 1.0 except v2#1, whose own video comes second (behind v3)."""
    sim = np.full((8, 4), 0.25, dtype=np.float32)
    for i, c in enumerate(CAPTIONS):
        sim[i, VIDEOS.index(c.split("#")[0])] = 1.0
    sim[CAPTIONS.index("v2#1"), 3] = 1.5
    sim[0, 1] = 0.125
    return sim


def _files(tmp_path, sim=None, captions=CAPTIONS, videos=VIDEOS, frames=None, folder="in"):
    d = tmp_path / folder
    d.mkdir(exist_ok=True)
    np.save(d / "sim.npy", _matrix() if sim is None else sim)
    (d / "captions.txt").write_text("\n".join(captions) + "\n")
    (d / "videos.json").write_text(json.dumps(videos))
    spec = dict(teacher="xclip", matrix=d / "sim.npy", captions=d / "captions.txt", videos=d / "videos.json", split="test")
    if frames is not None:
        np.save(d / "frames.npy", frames)
        spec["frames"] = d / "frames.npy"
    return spec


def _rows(store, sql):
    with stores.connect(store.root) as con:
        return con.execute(sql).fetchall()


def test_import_writes_a_committed_run_with_scores_frames_and_metrics(small_store, tmp_path):
    frames = np.full((8, 5), np.nan, dtype=np.float32)
    frames[:, :3] = np.arange(3) / 4  # 3 real frames per caption
    frames[1, 3] = 0.875  # v0#1 has a fourth
    r = import_scores(small_store.root, ImportSpec(**_files(tmp_path, frames=frames), shard_captions=3))
    assert (r.cached, r.current, r.score_rows, r.frame_rows) == (False, True, 32, 25)
    assert len(list(small_store.root.glob("scores/teacher=xclip/*/split=test/part-*.parquet"))) == 3

    got = _rows(small_store, "SELECT caption_id, video_id, score FROM scores ORDER BY caption_id, video_id")
    sim = _matrix()
    expected = sorted((c, v, float(np.float16(sim[i, j]))) for i, c in enumerate(CAPTIONS) for j, v in enumerate(VIDEOS))
    assert got == expected
    assert _rows(small_store, "SELECT video_id, frame, score FROM frames WHERE caption_id = 'v0#1' ORDER BY frame") == [
        ("v0", 0, 0.0), ("v0", 1, 0.25), ("v0", 2, 0.5), ("v0", 3, 0.875)
    ]
    assert _rows(small_store, "SELECT count(*) FROM frames WHERE caption_id <> 'v0#1'") == [(21,)]
    assert _rows(small_store, "SELECT count(*) FROM frames f JOIN captions c USING (caption_id) WHERE f.video_id <> c.video_id") == [(0,)]

    (kind, metrics), = _rows(small_store, "SELECT kind, metrics FROM current_runs WHERE teacher = 'xclip'")
    metrics = json.loads(metrics)
    assert kind == "imported"
    assert metrics["t2v"]["R@1"] == pytest.approx(100 * 7 / 8) and metrics["t2v"]["MnR"] == pytest.approx(9 / 8)
    # v2t: a video's two captions tie at 1.0 without hurting it; only v3 loses (v2#1 scores 1.5 there)
    assert metrics["v2t"]["R@1"] == 75.0 and metrics["v2t"]["MnR"] == pytest.approx(5 / 4)


def test_reimport_is_cached_and_changes_make_a_new_run(small_store, tmp_path):
    spec = ImportSpec(**_files(tmp_path))
    first = import_scores(small_store.root, spec)
    files = sorted(p for p in small_store.root.rglob("*") if p.is_file())
    again = import_scores(small_store.root, spec)
    assert again.cached and again.run == first.run and again.score_rows == 32
    assert sorted(p for p in small_store.root.rglob("*") if p.is_file()) == files

    sim = _matrix()
    sim[0, 0] = 2.0
    changed = import_scores(small_store.root, ImportSpec(**_files(tmp_path, sim=sim, folder="changed")))
    assert not changed.cached and changed.run != first.run
    assert _rows(small_store, "SELECT run, max(score) FROM scores GROUP BY run") == [(changed.run, 2.0)]
    back = import_scores(small_store.root, spec)  # the first matrix again: cached, and current again
    assert back.cached and back.current and back.run == first.run
    assert _rows(small_store, "SELECT DISTINCT run FROM scores") == [(first.run,)]


def test_pt_matrix_and_json_caption_ids(small_store, tmp_path):
    import torch

    spec = _files(tmp_path)
    torch.save(torch.from_numpy(_matrix()).to(torch.bfloat16), tmp_path / "in" / "sim.pt")
    (tmp_path / "in" / "caps.json").write_text(json.dumps(CAPTIONS))
    spec.update(matrix=tmp_path / "in" / "sim.pt", captions=tmp_path / "in" / "caps.json")
    r = import_scores(small_store.root, ImportSpec(**spec, score_dtype="float32"))
    assert r.score_rows == 32
    assert _rows(small_store, "SELECT score FROM scores WHERE caption_id = 'v2#1' AND video_id = 'v3'") == [(1.5,)]


def _refusal(small_store, tmp_path, **changes):
    sim = changes.pop("sim", None)
    kw = {k: changes.pop(k) for k in ("captions", "videos", "frames") if k in changes}
    spec = ImportSpec(**{**_files(tmp_path, sim=sim, **kw), **changes})
    with pytest.raises(ImportRefused) as err:
        import_scores(small_store.root, spec)
    assert not (small_store.root / "scores").exists()  # nothing written, not even a running row
    assert not (small_store.root / "runs").exists()
    return str(err.value)


def test_refusals_name_the_problem(small_store, tmp_path):
    msg = _refusal(small_store, tmp_path, sim=_matrix()[:, :3])
    assert "shape (8, 3)" in msg and "(8 captions" in msg and "4 videos" in msg
    msg = _refusal(small_store, tmp_path, captions=CAPTIONS[:-1] + ["nope#0"], videos=VIDEOS)
    assert "ids unknown to the manifest" in msg and "'nope#0'" in msg
    msg = _refusal(small_store, tmp_path, videos=["v0", "v1", "v2", "ghost"])
    assert msg.startswith("videos: 1 ids unknown") and "'ghost'" in msg
    msg = _refusal(small_store, tmp_path, captions=CAPTIONS[:-1] + ["v0#0"])
    assert msg.startswith("captions: 1 duplicate ids") and "'v0#0'" in msg
    msg = _refusal(small_store, tmp_path, sim=_matrix()[:, :3], videos=["v0", "v1", "v2"])
    assert "own videos are not in the video list" in msg and "v3#0 -> v3" in msg
    sim = _matrix()
    sim[5, 2] = np.nan
    msg = _refusal(small_store, tmp_path, sim=sim)
    assert "non-finite" in msg and "'v2#1' x video 'v2'" in msg
    msg = _refusal(small_store, tmp_path, split="train")
    assert "not in split 'train'" in msg and "(test)" in msg
    msg = _refusal(small_store, tmp_path, sim=_matrix() * 1e5)
    assert "overflow float16" in msg and "--score-dtype float32" in msg
    frames = np.zeros((8, 4), np.float32)
    frames[2, 1] = np.inf
    msg = _refusal(small_store, tmp_path, frames=frames)
    assert "frames: 1 infinite" in msg and "'v1#0'" in msg
    msg = _refusal(small_store, tmp_path, frames=np.zeros((7, 4), np.float32))
    assert msg.startswith("frames: shape (7, 4)")
    msg = _refusal(small_store, tmp_path, teacher="bad/name")
    assert msg.startswith("teacher:")


def test_cli_imports_then_prints_cached_and_refuses_in_one_line(small_store, tmp_path):
    spec = _files(tmp_path)
    args = ["scores", "import", "--teacher", "xclip", "--matrix", str(spec["matrix"]), "--captions",
            str(spec["captions"]), "--videos", str(spec["videos"]), "--split", "test", "--store", str(small_store.root)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("imported: teacher xclip") and "8 captions x 4 videos" in r.stdout and "87.5" in r.stdout
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0 and r.stdout.startswith("cached: teacher xclip")
    r = CliRunner().invoke(app, args[:-4] + ["--split", "train", "--store", str(small_store.root)])
    assert r.exit_code == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "not in split 'train'" in r.stderr


def test_a_garbage_npy_is_named_in_one_line_and_nothing_is_committed(small_store, tmp_path):
    spec = _files(tmp_path)
    garbage = tmp_path / "sim.npy"
    garbage.write_bytes(b"\x93NUMPY garbage, not an array" * 3)
    args = ["scores", "import", "--teacher", "xclip", "--matrix", str(garbage), "--captions",
            str(spec["captions"]), "--videos", str(spec["videos"]), "--split", "test", "--store", str(small_store.root)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2 and r.stdout == ""
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"error: matrix: cannot load {garbage} as a .npy array")
    assert small_store.current_runs() == {}


def test_embeddings_beside_a_matrix_are_imported_once_and_refused_when_misshapen(small_store, tmp_path):
    spec = _files(tmp_path)
    rng = np.random.default_rng(0)
    ev, ec = rng.normal(size=(4, 6)).astype(np.float32), rng.normal(size=(8, 6)).astype(np.float32)
    np.save(tmp_path / "in" / "ev.npy", ev)
    np.save(tmp_path / "in" / "ec.npy", ec)
    with_emb = ImportSpec(**spec, shard_captions=3, video_embeddings=tmp_path / "in" / "ev.npy",
                          caption_embeddings=tmp_path / "in" / "ec.npy")
    plain = import_scores(small_store.root, ImportSpec(**spec, shard_captions=3))
    r = import_scores(small_store.root, with_emb)
    assert r.fingerprint != plain.fingerprint  # the embeddings are part of the run's identity
    rows = _rows(small_store, "SELECT kind, id, vector FROM embeddings WHERE teacher = 'xclip' ORDER BY kind, id")
    assert [(k, i) for k, i, _ in rows] == [("caption", c) for c in sorted(CAPTIONS)] + [("video", v) for v in VIDEOS]
    got = {(k, i): v for k, i, v in rows}
    np.testing.assert_array_equal(got[("video", "v2")], ev[2].astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(got[("caption", "v1#1")], ec[CAPTIONS.index("v1#1")].astype(np.float16).astype(np.float32))
    files = sorted(p.name for p in small_store.root.glob(f"embeddings/teacher=xclip/run={r.run}/split=test/*.parquet"))
    assert files == ["part-caption-00000.parquet", "part-caption-00001.parquet", "part-caption-00002.parquet",
                     "part-video-00000.parquet"]
    assert import_scores(small_store.root, with_emb).cached
    assert _rows(small_store, "SELECT count(*) FROM embeddings WHERE teacher = 'xclip'") == [(12,)]

    np.save(tmp_path / "in" / "ev.npy", ev[:3])
    with pytest.raises(ImportRefused, match=r"video_embeddings: shape \(3, 6\) .* does not match \(4 ids, D\)"):
        import_scores(small_store.root, with_emb)
    bad = ec.copy()
    bad[1, 0] = np.inf
    np.save(tmp_path / "in" / "ec.npy", bad)
    np.save(tmp_path / "in" / "ev.npy", ev)
    with pytest.raises(ImportRefused, match="caption_embeddings: 1 non-finite values, e.g. id 'v0#1'"):
        import_scores(small_store.root, with_emb)
