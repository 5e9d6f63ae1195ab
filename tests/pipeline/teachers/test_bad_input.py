"""`teachkit teachers run` on bad input: one `error:` line, the right exit code, nothing committed.

Each case was found by trying it as a user would (issue 9, section 4); before, they ended in
46-70 line tracebacks or, worse, committed garbage with exit 0. Every case goes through the
real CLI and checks the store afterwards.
"""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipeline.teachers.testing import tiny_clip, tiny_text_encoder, word_tokenizer, write_dataset
from teachkit.cli import app
from teachkit_fixtures.vocab import WORDS

VIDEOS = {"v0": ("test", ["red ball"]), "v1": ("test", ["blue box"]), "v2": ("train", ["green cone"])}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Checkpoints shared by the cases (each case copies the one it breaks)."""
    root = tmp_path_factory.mktemp("models")
    return {"clip": tiny_clip(root / "clip", WORDS), "bert": tiny_text_encoder(root / "bert", WORDS)}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A dataset in ``tmp_path/data``; ``write(teacher_toml)`` writes the config, returns its path."""
    write_dataset(tmp_path / "data", VIDEOS, frames=3)
    monkeypatch.chdir(tmp_path)

    def write(teacher: str, videos: dict | None = None) -> str:
        if videos is not None:
            shutil.rmtree(tmp_path / "data")
            write_dataset(tmp_path / "data", videos, frames=3, corrupt=tuple(videos))
        (tmp_path / "teachers.toml").write_text(
            '[store]\nroot = "store"\n[dataset]\nsource = "data/annotations.jsonl"\n[frames]\nnum_frames = 2\n'
            + teacher
        )
        return str(tmp_path / "teachers.toml")

    return tmp_path, write


def _clip_teacher(model, name="clip", extra=""):
    return f'[[teachers]]\nname = "{name}"\nkind = "clip"\nmodel = "{model}"\n{extra}'


def _run(config):
    return CliRunner().invoke(app, ["teachers", "run", "--config", config, "--no-progress"])


def _one_line(result, code, *words):
    """The error is one stderr line, the last, with every word in it; the exit code is ``code``.
    (Progress lines of the steps that ran before may come first.)"""
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == code, (result.exit_code, result.stderr[-2000:])
    errors = [ln for ln in lines if "error" in ln.lower()]
    assert len(errors) == 1 and lines[-1] == errors[0] and errors[0].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    for w in words:
        assert w in errors[0], (w, errors[0])
    return errors[0]


def _run_rows(root):
    """(teacher, status) of every runs row on disk."""
    return sorted(
        (p.parent.name.removeprefix("teacher="), pq.read_table(p).column("status")[0].as_py())
        for p in (root / "store").glob("runs/teacher=*/run-*.parquet")
    )


def _copy(src, dst, drop=()):
    shutil.copytree(src, dst)
    for name in drop:
        (dst / name).unlink()
    return dst


# -- refused before the manifest is built (no store at all afterwards) --------------------


def test_folder_that_is_no_checkpoint(project):
    root, write = project
    (root / "notes").mkdir()
    (root / "notes" / "README.md").write_text("weights coming soon")
    line = _one_line(_run(write(_clip_teacher("./notes"))), 2, "teacher clip", str(root / "notes"), "no config.json")
    assert line.count(str(root / "notes")) == 1
    assert not (root / "store").exists()


def test_bert_folder_as_a_clip_teacher(project, models):
    root, write = project
    _one_line(_run(write(_clip_teacher(models["bert"]))), 2, "teacher clip", str(models["bert"]),
              "'bert' model without a text and a vision tower")
    assert not (root / "store").exists()


def test_clip_folder_as_a_text_teacher_leaves_no_running_row(project, models):
    root, write = project
    config = write(f'[[teachers]]\nname = "txt"\nkind = "text"\nmodel = "{models["clip"]}"\n')
    _one_line(_run(config), 2, "teacher txt", str(models["clip"]), "text-and-vision model", 'kind = "clip"')
    assert not (root / "store").exists()


def test_clip_folder_without_tokenizer_files(project, models):
    """transformers would build a 2-token tokenizer: every caption the same, garbage scores, exit 0."""
    root, write = project
    broken = _copy(models["clip"], root / "notok", drop=("tokenizer.json", "tokenizer_config.json"))
    _one_line(_run(write(_clip_teacher("./notok"))), 2, "teacher clip", str(broken), "no tokenizer files")
    assert not (root / "store").exists()


def test_clip_folder_without_preprocessor_config(project, models):
    root, write = project
    broken = _copy(models["clip"], root / "noproc", drop=("preprocessor_config.json",))
    _one_line(_run(write(_clip_teacher("./noproc"))), 2, str(broken), "no preprocessor_config.json")
    assert not (root / "store").exists()


def test_truncated_safetensors(project, models):
    root, write = project
    broken = _copy(models["clip"], root / "cut")
    weights = broken / "model.safetensors"
    size = weights.stat().st_size
    weights.write_bytes(weights.read_bytes()[: size // 2])
    _one_line(_run(write(_clip_teacher("./cut"))), 2, "teacher clip", "model.safetensors is truncated",
              f"of {size:,} bytes")
    assert not (root / "store").exists()


def test_missing_relative_model_path_is_a_missing_folder_not_an_hf_id(project, models):
    root, write = project
    shutil.copytree(models["clip"], root / "models" / "clip")
    _one_line(_run(write(_clip_teacher("models/clpi"))), 2, "teacher clip",
              f"model folder {root / 'models' / 'clpi'} does not exist")
    line = _one_line(_run(write(_clip_teacher("nomodels/clip"))), 2, "teacher clip", "neither a local folder",
                     str(root / "nomodels" / "clip"), "Hugging Face cache")
    assert "LocalEntryNotFoundError" in line and "\\n" not in line


# -- refused when the teacher is loaded: the manifest exists, no run does -----------------


def test_tokenizer_far_smaller_than_the_models_vocabulary(project, models):
    root, write = project
    broken = _copy(models["clip"], root / "smalltok", drop=("tokenizer.json", "tokenizer_config.json"))
    word_tokenizer(["red"]).save_pretrained(broken)  # 5 tokens for a model of every test word
    _one_line(_run(write(_clip_teacher("./smalltok"))), 2, "teacher clip", str(broken),
              f"tokenizer has 5 tokens but the model's vocabulary has {len(word_tokenizer(WORDS))}")
    assert (root / "store" / "manifest.json").exists() and _run_rows(root) == []


def test_cuda_without_cuda_leaves_no_run_of_any_teacher(project, models):
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA (this one has it)")
    root, write = project
    config = write(_clip_teacher(models["clip"], "fine") + _clip_teacher(models["clip"], "gpu", 'device = "cuda"\n'))
    _one_line(_run(config), 2, "teacher gpu", "device 'cuda' requested but CUDA is not available")
    assert _run_rows(root) == []  # not even the first teacher's `running` row


def test_captions_that_all_encode_the_same_are_refused(project, models):
    """A tokenizer of the right size that knows none of the words: every 2-word caption is
    [BOS] [UNK] [UNK] [EOS], so each video would get one score for every caption."""
    root, write = project
    broken = _copy(models["clip"], root / "othertok", drop=("tokenizer.json", "tokenizer_config.json"))
    word_tokenizer([w + "x" for w in WORDS]).save_pretrained(broken)
    result = _run(write(_clip_teacher("./othertok")))
    _one_line(result, 2, "teacher clip", "distinct captions of split", "all encode to the same embedding")
    assert _run_rows(root) == [("clip", "failed")]
    assert not list((root / "store").glob("scores/teacher=clip/run=*/split=*/*.parquet"))
    from stores import connect

    with connect(root / "store") as con:
        assert con.execute("SELECT count(*) FROM current_runs").fetchone() == (0,)


# -- refused after the work: nothing committed, not `cached` afterwards -------------------


def test_no_decodable_video_commits_nothing(project, models):
    root, write = project
    config = write(_clip_teacher(models["clip"]), videos=VIDEOS)  # every video is garbage bytes
    first = _one_line(_run(config), 1, "teacher clip", "no video could be decoded", "3 of 3 failed",
                      "nothing committed")
    assert first.count("v0.mp4") <= 1
    assert _run_rows(root) == [("clip", "failed")]
    again = _run(config)  # still refused, never `cached`
    _one_line(again, 1, "no video could be decoded")
    assert "cached" not in again.stdout


def test_usage_mistakes_are_one_line_with_exit_2(project):
    _, write = project
    config = write(_clip_teacher("./nowhere"))
    r = CliRunner().invoke(app, ["teachers", "run", "--config", config, "--bogus"])
    _one_line(r, 2, "No such option: --bogus", "teachkit teachers run --help")
    r = CliRunner().invoke(app, ["teachers", "nosuchcommand"])
    _one_line(r, 2, "No such command 'nosuchcommand'")


def test_runs_row_of_a_failed_run_names_the_error(project, models):
    root, write = project
    broken = _copy(models["clip"], root / "othertok", drop=("tokenizer.json", "tokenizer_config.json"))
    word_tokenizer([w + "x" for w in WORDS]).save_pretrained(broken)
    line = _one_line(_run(write(_clip_teacher("./othertok"))), 2)
    (path,) = (root / "store").glob("runs/teacher=clip/run-*.parquet")
    row = pq.read_table(path).to_pylist()[0]
    assert row["status"] == "failed" and json.loads(row["metrics"]) == {"error": line.removeprefix("error: ")}


# -- used with a warning: a video decoded past corrupt packets ------------------------------


def test_a_video_with_corrupt_packets_is_scored_with_a_warning(project, models):
    from pipeline.teachers.testing import corrupt_mid_file, textured_clip
    from stores import connect

    root, write = project
    video = root / "data" / "videos" / "v0.mp4"
    corrupt_mid_file(textured_clip(root / "clean.mp4"), 1 / 12, out=video)
    result = _run(write(_clip_teacher(models["clip"])))
    assert result.exit_code == 0, result.stderr[-2000:]
    assert "clip" in result.stdout and "computed" in result.stdout and "skipped" not in result.stdout
    with connect(root / "store") as con:
        assert con.execute("SELECT count(*) FROM scores WHERE video_id = 'v0'").fetchone() == (2,)
        rows = con.execute("SELECT item, error, source, level FROM failures").fetchall()
    assert len(rows) == 1
    item, error, source, level = rows[0]
    assert (item, source, level) == ("v0", "run", "warning")
    assert error.startswith(f"{video}: recovered ") and "of 250 frames" in error and error.count(str(video)) == 1


def test_a_bad_file_appears_once_per_source(project, models):
    """The manifest records an unreadable file and so does every visual teacher's run:
    `source` says which row is which."""
    from stores import connect

    root, write = project
    (root / "data" / "videos" / "v1.mp4").write_bytes(b"not a video" * 20)
    result = _run(write(_clip_teacher(models["clip"])))
    assert result.exit_code == 0, result.stderr[-2000:]
    with connect(root / "store") as con:
        rows = con.execute("SELECT item, source, level, error FROM failures ORDER BY source").fetchall()
    assert [r[:3] for r in rows] == [("v1", "manifest", "error"), ("v1", "run", "error")]
    assert all(r[3].count("v1.mp4") == 1 for r in rows)
