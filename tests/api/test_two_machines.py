"""Two "machines" that share only PostgreSQL and an S3 bucket: different data folders, no
shared filesystem. Machine A is this process's API (no worker); machine B is a separate
process (`twinwatch serve`, its embedded worker on). Jobs submitted to A are run by B, the
evidence B kept is downloaded from A, a talent enrolled through A is found by a scan on B,
erasing her through A removes her objects and B stops matching her, and enrolling her again
through A's API while B runs makes B match her again (its index catches up)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from indexer.engine import FaceEngine
from indexer.settings import PROJECT_ROOT
from service.api.app import create_app
from service.startup import start
from tests.conftest import MODEL_CACHE, TEST_DATABASE_URL
from tests.support.crawl import WarcBuilder
from tests.support.seaweed import S3Install
from tests.support.service import (
    ServiceWorld,
    face_crop_jpeg,
    make_keys,
    register_demo_talents,
    service_settings,
)
from tests.support.takedowns import PROFILE, free_port, pdf_available, pdf_text

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        TEST_DATABASE_URL is None,
        reason="two machines share a PostgreSQL server (run under scripts/with-postgres.sh)",
    ),
]

TALENT = "Demo Talent A"
PAGE = "https://shop.example.com/look/12"
IMAGE_URL = "https://cdn.shop.example.com/img/a.jpg"
START_TIMEOUT_S = 180.0


def blue_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), "blue").save(out, "JPEG")
    return out.getvalue()


def archive(tmp_path: Path, face: bytes) -> bytes:
    warc = WarcBuilder()
    warc.html(
        PAGE, f'<html><body><img src="{IMAGE_URL}"></body></html>', date="2026-11-01T10:00:00Z"
    )
    warc.image(IMAGE_URL, face, date="2026-11-01T10:00:02Z")
    warc.image("https://img.example.net/b.jpg", blue_jpeg(), date="2026-11-02T08:30:00Z")
    return warc.write(tmp_path / "crawl.warc.gz").read_bytes()


def machine_settings(install: S3Install) -> dict[str, Any]:
    return {
        "blob_store_url": install.url,
        "blob_store_endpoint_url": install.server.endpoint_url,
    }


@contextmanager
def machine_b(tmp_path: Path, install: S3Install) -> Iterator[httpx.Client]:
    """`twinwatch serve` in its own process with its own data folder and an embedded
    worker; the bucket and the database are all it shares with A."""
    data_dir = tmp_path / "machine-b"
    data_dir.mkdir()
    port = free_port()
    env = {
        **os.environ,
        **install.server.environment(),
        "TWINWATCH_DATA_DIR": str(data_dir),
        "TWINWATCH_DATABASE_URL": str(TEST_DATABASE_URL),
        "TWINWATCH_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "TWINWATCH_BLOB_STORE_URL": install.url,
        "TWINWATCH_BLOB_STORE_ENDPOINT_URL": install.server.endpoint_url,
        "TWINWATCH_RUN_WORKER_IN_PROCESS": "true",
        "TWINWATCH_WORKER_POLL_S": "0.1",
        "TWINWATCH_INFERENCE_WORKERS": "2",
    }
    log_path = tmp_path / "machine-b.log"
    with log_path.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    try:
        _wait_ready(client, process, log_path)
        yield client
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(client: httpx.Client, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"machine B exited: {log_path.read_text()[-3000:]}")
        try:
            if client.get("/ready").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"machine B not ready: {log_path.read_text()[-3000:]}")


@pytest.fixture
def machine_a(
    tmp_path: Path, real_engine: FaceEngine, s3_install: S3Install
) -> Iterator[ServiceWorld]:
    """This process's API on its own data folder, with no worker."""
    from indexer.demo_fixtures import load_demo_fixture

    settings = service_settings(tmp_path / "machine-a", **machine_settings(s3_install))
    ctx = start(settings, analyser=real_engine)
    fixture = load_demo_fixture()
    talents = register_demo_talents(ctx, fixture)
    keys = make_keys(ctx)
    with TestClient(create_app(context=ctx)) as client:
        yield ServiceWorld(
            client,
            ctx,
            keys,
            talents,
            fixture,
            fixture.reference_source.read_bytes(),
            fixture.scan[1].read_bytes(),
        )
    ctx.close()


def wait_done(a: ServiceWorld, job_id: int, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = a.client.get(f"/v1/jobs/{job_id}", headers=a.auth("monitor")).json()
        if job["status"] == "done":
            return dict(job)
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} not done: {job}")


def scan_on(client: httpx.Client, a: ServiceWorld, image: bytes) -> list[str]:
    response = client.post(
        "/v1/scans",
        files={"file": ("image.jpg", image)},
        data={"publisher": "elsewhere.example", "channel": "social", "territory": "SE"},
        headers=a.auth("monitor"),
    )
    assert response.status_code == 201, response.text
    return [f["talent"]["name"] for f in response.json()["faces"] if f.get("talent")]


def test_two_machines_share_only_the_database_and_the_bucket(
    machine_a: ServiceWorld, s3_install: S3Install, tmp_path: Path
) -> None:
    a = machine_a
    face = face_crop_jpeg(a.fixture, TALENT)
    talent_id = a.talents[TALENT]
    assert any(k.startswith(f"photos/{talent_id}/") for k in s3_install.objects())
    assert not (a.ctx.settings.data_dir / "photos").exists()  # nothing kept locally

    with machine_b(tmp_path, s3_install) as b:
        # A batch (files) and a crawl (WARC) submitted to A are run by B's worker.
        batch = a.client.post(
            "/v1/scan-jobs",
            files=[("files", ("a.jpg", face)), ("files", ("blue.jpg", blue_jpeg()))],
            data={"publisher": "shop.example.com", "channel": "ecommerce", "territory": "FR"},
            headers=a.auth("monitor"),
        )
        assert batch.status_code == 202, batch.text
        warc = a.client.post(
            "/v1/warc-jobs",
            files={"file": ("crawl.warc.gz", archive(tmp_path, face))},
            data={"channel": "ecommerce", "territory": "FR"},
            headers=a.auth("monitor"),
        )
        assert warc.status_code == 202, warc.text
        for created in (batch, warc):
            done = wait_done(a, created.json()["id"])
            assert (done["done"], done["failed"]) == (2, 0), done
            outcomes = [i["alert_outcome"] for i in done["items"]]
            assert "none" in outcomes and {"raised", "updated"} & set(outcomes), done
        assert not [k for k in s3_install.objects() if k.startswith("job-uploads/")]
        assert not (a.ctx.settings.data_dir / "job-uploads").exists()

        # The agency downloads from A the evidence B kept, and a notice PDF built from it.
        alerts = a.client.get("/v1/alerts", headers=a.auth("agency")).json()["items"]
        alert = next(x for x in alerts if x["talent"]["id"] == talent_id)
        image = a.client.get(f"/v1/alerts/{alert['id']}/evidence/image", headers=a.auth("agency"))
        assert image.status_code == 200 and image.content == face
        if pdf_available() is None:
            assert (
                a.client.put(
                    "/v1/takedown-profile", json=PROFILE, headers=a.auth("agency")
                ).status_code
                == 200
            )
            notice = a.client.post(
                "/v1/takedowns",
                json={"kind": "dmca", "alert_ids": [alert["id"]]},
                headers=a.auth("agency"),
            )
            assert notice.status_code == 201, notice.text
            pdf = a.client.get(
                f"/v1/takedowns/{notice.json()['id']}/notice.pdf", headers=a.auth("agency")
            )
            assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
            assert "17 U.S.C. §512(c)(3)" in pdf_text(pdf.content)

        # A talent enrolled through A is found by a scan on B.
        assert TALENT in scan_on(b, a, face)

        # Erasure through A removes every object of hers; B stops matching her.
        erased = a.client.delete(f"/v1/talents/{talent_id}", headers=a.auth("agency"))
        assert erased.status_code == 200, erased.text
        left = [k for k in s3_install.objects() if k.split("/")[1] == str(talent_id)]
        assert left == []
        assert TALENT not in scan_on(b, a, face)

        # Enrolled again through A's API while B runs: B's index catches up from the database.
        again = a.client.post("/v1/talents", json={"name": TALENT}, headers=a.auth("agency"))
        assert again.status_code == 201, again.text
        new_id = again.json()["id"]
        photos = a.client.post(
            f"/v1/talents/{new_id}/photos",
            files=[("files", ("ref.jpg", face))],
            headers=a.auth("agency"),
        )
        assert photos.status_code == 200 and photos.json()["photos"][0]["accepted"], photos.text
        assert any(k.startswith(f"photos/{new_id}/") for k in s3_install.objects())
        assert TALENT in scan_on(b, a, face)
