"""An S3-compatible object store for the tests: moto's server mode (``python -m moto.server``), a
process of its own answering the real S3 HTTP protocol on a local port, as MinIO or any other
S3-compatible store would. Sajja's S3 client (aiobotocore) talks to it over the network exactly as
it would to a real store: signed requests, XML answers, errors by status and code."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

from tests.support.helpers import free_port

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key-0123456789"
REGION = "us-east-1"


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """``python -m moto.server`` on a free port for the block; yields its endpoint URL."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        # Until it accepts connections (or has exited: then there is nothing to wait for).
        while process.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.05)
        if process.poll() is not None:
            raise RuntimeError(f"moto.server exited with {process.returncode}")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def make_bucket(endpoint: str, bucket: str) -> None:
    from aiobotocore.session import get_session

    async with get_session().create_client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                                           aws_secret_access_key=SECRET_KEY) as client:
        await client.create_bucket(Bucket=bucket)
