"""A tiny student experiment (seconds on CPU) over :func:`teachkit_fixtures.store.synthetic_store`."""

from __future__ import annotations


def tiny_experiment(store, tok, cache, runs, **overrides):
    """An ExperimentConfig; ``overrides`` by dotted key, e.g. ``**{"train.steps": 2}``."""
    from student.config import ExperimentConfig, from_dict

    data = {
        "model": {"tokenizer": str(tok), "head": "afa", "num_frames": 4, "max_words": 12,
                  "tiny": {"image_size": 32, "patch_size": 16, "hidden_size": 32, "intermediate_size": 64,
                           "layers": 1, "heads": 2, "projection_dim": 32}},
        "data": {"store": str(store), "cache": str(cache), "batch_size": 4, "teacher_window": 3,
                 "decode_workers": 1, "eval_batch_size": 8},
        "train": {"steps": 4, "lr": 2e-3, "warmup_steps": 1, "log_every": 1},
        "loss": {"coarse": {"kind": "kl", "teachers": ["fine_t", "sparse_t"], "teacher_temperature": 0.5},
                 "fine": {"weight": 1.0, "teachers": ["fine_t"]}},
        "output": {"runs": str(runs), "name": "tiny"},
    }
    for path, value in overrides.items():
        node = data
        keys = path.split(".")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return from_dict(ExperimentConfig, data).check()
