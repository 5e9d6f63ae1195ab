"""A student run on disk: everything needed to reproduce, compare and search it.

::

    runs/<group>/<run>/
      config.json          the full experiment config
      teachers.json        fingerprints of the teacher runs it read (store's current_runs)
      metrics.json         test-split t2v / v2t metrics
      timings.json         decode / train / eval seconds, step and batch-assembly times
      train_log.jsonl      loss parts every ``train.log_every`` steps, validation rows (student/logs.py)
      tensorboard/         the same scalars as TensorBoard events, with ``[train] log = [..., "tensorboard"]``
      student.safetensors  weights;  student.json  the spec to rebuild the model
      tokenizer/           the tokenizer the student was trained with
      captions.npy videos.npy  test-split vectors (float32, normalised)
      vectors.json         caption ids, video ids, caption -> video index
      videos.faiss         IndexFlatIP over the video vectors

A run is written into a temporary folder and renamed into place when complete
(:func:`teachkit.util.atomic.atomic_path`, by :func:`student.train.train`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from teachkit.util.extras import require_faiss

INDEX = "videos.faiss"


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))


def save_vectors(folder: Path, encoded) -> None:
    """Test-split vectors and the faiss index over the videos (always a CPU index on disk)."""
    faiss = require_faiss()

    np.save(folder / "captions.npy", encoded.text)
    np.save(folder / "videos.npy", encoded.video)
    write_json(
        folder / "vectors.json",
        {
            "caption_ids": encoded.caption_ids,
            "video_ids": encoded.video_ids,
            "caption_video": encoded.caption_video.tolist(),
        },
    )
    index = faiss.IndexFlatIP(encoded.video.shape[1])
    index.add(np.ascontiguousarray(encoded.video, dtype=np.float32))
    faiss.write_index(index, str(folder / INDEX))


def load_index(folder: str | Path):
    """The run's faiss index and the video id of each of its rows."""
    faiss = require_faiss()

    folder = Path(folder)
    index = faiss.read_index(str(folder / INDEX))
    video_ids = json.loads((folder / "vectors.json").read_text())["video_ids"]
    return index, video_ids
