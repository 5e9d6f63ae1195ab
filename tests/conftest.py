"""Fixtures every test folder shares: tiny MP4s, a small store, and a real S3 API on loopback.

The data they are made of lives in ``tests/support/teachkit_fixtures`` (plain modules: the test
folders are not packages); this file puts ``tests/support`` on ``sys.path`` so any test can
``from teachkit_fixtures.<module> import ...``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

SUPPORT = Path(__file__).resolve().parent / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))

# precision = "auto" is bf16 on a CPU with native bf16 (teachkit.util.precision): the suite's
# exact values are fp32's on every machine, unless TEACHKIT_CPU_BF16 is set from outside
os.environ.setdefault("TEACHKIT_CPU_BF16", "0")

from teachkit_fixtures.media import write_mp4 as _write_mp4  # noqa: E402
from teachkit_fixtures.store import small_store as make_small_store  # noqa: E402


@pytest.fixture
def write_mp4():
    """``write_mp4(path, n_frames=8, size=32, fps=8)``: frame ``i`` is gray level ``20 * i``."""
    return _write_mp4


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
