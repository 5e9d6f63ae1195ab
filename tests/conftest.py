"""Shared fixtures: tiny MP4s written with PyAV and a store with a small manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest


def _write_mp4(path: Path, n_frames: int = 8, size: int = 32, fps: int = 8) -> Path:
    """An H.264 clip whose frame ``i`` is a flat gray of level ``20 * i`` (so decodes are checkable)."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(n_frames):
            img = np.full((size, size, 3), min(20 * i, 255), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture
def write_mp4():
    """``write_mp4(path, n_frames=8, size=32, fps=8)``: frame ``i`` is gray level ``20 * i``."""
    return _write_mp4


@pytest.fixture
def small_store(tmp_path):
    """A store whose manifest has test videos v0..v3 (2 captions each, ``v<k>#<j>``) and
    train videos t0..t1 (1 caption each); no video files (the writer never reads them)."""
    from stores import Store

    store = Store(tmp_path / "store", create=True)
    vids = [("v0", "test"), ("v1", "test"), ("v2", "test"), ("v3", "test"), ("t0", "train"), ("t1", "train")]
    videos = pa.table(
        {
            "video_id": [v for v, _ in vids],
            "split": [s for _, s in vids],
            "path": [f"/nowhere/{v}.mp4" for v, _ in vids],
            "duration": pa.array([1.0] * len(vids), pa.float32()),
            "fps": pa.array([8.0] * len(vids), pa.float32()),
            "frames": pa.array([8] * len(vids), pa.int32()),
        }
    )
    caps = [(f"{v}#{j}", v, s) for v, s in vids for j in range(2 if s == "test" else 1)]
    captions = pa.table(
        {
            "caption_id": [c for c, _, _ in caps],
            "video_id": [v for _, v, _ in caps],
            "split": [s for _, _, s in caps],
            "text": [f"caption {c}" for c, _, _ in caps],
        }
    )
    store.write_manifest("tiny", videos, captions, [])
    return store
