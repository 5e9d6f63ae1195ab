"""Shared fixtures: tiny MP4s written with PyAV and a store with a small manifest."""

from __future__ import annotations

import os
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


def make_small_store(root):
    """The store of :func:`small_store` at ``root`` (a folder or an ``s3://`` URL)."""
    from stores import Store

    store = Store(root, create=True)
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


@pytest.fixture
def small_store(tmp_path):
    """A store whose manifest has test videos v0..v3 (2 captions each, ``v<k>#<j>``) and
    train videos t0..t1 (1 caption each); no video files (the writer never reads them)."""
    return make_small_store(tmp_path / "store")


# -- a real S3 API on loopback ----------------------------------------------------------


class S3Server:
    """moto's S3 server on 127.0.0.1 (port chosen by the OS); ``bucket()`` makes a fresh one."""

    def __init__(self):
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self._n = 0

    def bucket(self) -> str:
        import boto3

        self._n += 1
        name = f"tk-{os.getpid()}-{self._n}"
        boto3.client("s3", endpoint_url=self.endpoint).create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        self.server.stop()


# what s3fs (botocore) reads; a subprocess (the killed writers) inherits it
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="session")
def s3_server():
    """moto on loopback with dummy credentials and ``AWS_ENDPOINT_URL`` pointing at it."""
    pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install -e '.[dev]')")
    pytest.importorskip("s3fs", reason="s3fs is not installed (pip install -e '.[s3]')")
    saved = {k: os.environ.get(k) for k in [*S3_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(S3_ENV)
    server = S3Server()
    os.environ["AWS_ENDPOINT_URL"] = server.endpoint
    try:
        yield server
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def s3_root(s3_server) -> str:
    """``s3://<fresh bucket>/store`` on the loopback S3 server."""
    return f"s3://{s3_server.bucket()}/store"


@pytest.fixture(params=["local", "s3"])
def store_root(request, tmp_path):
    """A store root that does not exist yet, once a local folder and once an S3 prefix."""
    if request.param == "local":
        return tmp_path / "store"
    return request.getfixturevalue("s3_root")


@pytest.fixture
def any_store(store_root):
    """:func:`small_store`, once in a local folder and once on S3."""
    return make_small_store(store_root)


@pytest.fixture
def s3_store(s3_root):
    """:func:`small_store` on S3."""
    return make_small_store(s3_root)
