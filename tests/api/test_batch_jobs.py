"""Batch jobs: created over HTTP, claimed by workers from the database, resumed after a
restart; and the background loops running inside the app."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from indexer.engine import FaceEngine
from service.api.app import create_app
from service.jobs.queue import claim_next_item
from service.jobs.worker import JobWorker
from service.startup import start
from tests.support.service import (
    ServiceWorld,
    face_crop_jpeg,
    local_server,
    service_settings,
    service_world,
)

pytestmark = [pytest.mark.postgres, pytest.mark.model]


@pytest.fixture
def world(tmp_path: Path, real_engine: FaceEngine) -> Iterator[ServiceWorld]:
    with service_world(tmp_path, real_engine, fetch_allow_private_networks=True) as built:
        yield built


def submit(
    world: ServiceWorld,
    files: list[tuple[str, bytes]],
    urls: list[str] = [],  # noqa: B006
    who: str = "monitor",
) -> httpx.Response:
    response: httpx.Response = world.client.post(
        "/v1/scan-jobs",
        files=[("files", item) for item in files],
        data={"urls": urls, "publisher": "shop.example.net", "channel": "social"},
        headers=world.auth(who),
    )
    return response


def drain(world: ServiceWorld, worker: JobWorker | None = None) -> int:
    worker = worker or JobWorker(world.ctx, name="test-worker")

    async def run() -> int:
        processed = 0
        while await worker.run_once():
            processed += 1
        return processed

    return asyncio.run(run())


def test_batch_job_reports_progress_and_results(world: ServiceWorld) -> None:
    good = face_crop_jpeg(world.fixture, "Demo Talent A")
    with local_server() as server:
        server.responses["/b.jpg"] = (
            200,
            "image/jpeg",
            face_crop_jpeg(world.fixture, "Demo Talent E"),
        )
        response = submit(
            world,
            [("a.jpg", good), ("broken.jpg", b"not an image")],
            urls=[server.url("/b.jpg"), server.url("/missing.jpg")],
        )
        assert response.status_code == 202, response.text
        job = response.json()
        assert (job["status"], job["total"], job["queued"]) == ("queued", 4, 4)
        assert drain(world) == 4
    job = world.client.get(f"/v1/jobs/{job['id']}", headers=world.auth("monitor")).json()
    assert (job["status"], job["done"], job["failed"]) == ("done", 2, 2)
    errors = {item["source"]: item["error"]["code"] for item in job["items"] if item["error"]}
    assert errors == {
        "broken.jpg": "image_type_unsupported",
        server.url("/missing.jpg"): "url_fetch_failed",
    }
    results = world.client.get(
        f"/v1/jobs/{job['id']}/results", headers=world.auth("monitor")
    ).json()
    names = sorted(f["talent"]["name"] for scan in results["items"] for f in scan["faces"])
    assert names == ["Demo Talent A", "Demo Talent E"]
    assert list(world.ctx.blobs.list("job-uploads/")) == []


def test_metrics_show_queue_depth_wait_and_each_workers_throughput(world: ServiceWorld) -> None:
    image = face_crop_jpeg(world.fixture, "Demo Talent A")
    assert submit(world, [("a.jpg", image), ("b.jpg", b"not an image")]).status_code == 202
    before = world.client.get("/metrics").text
    assert 'twinwatch_job_items{status="queued"} 2.0' in before
    assert drain(world) == 2
    after = world.client.get("/metrics").text
    assert 'twinwatch_job_items{status="queued"} 0.0' in after
    assert 'twinwatch_job_items{status="running"} 0.0' in after
    assert "twinwatch_job_item_wait_seconds_count 2.0" in after
    assert 'twinwatch_job_items_processed_total{outcome="done",worker="test-worker"} 1.0' in after
    assert 'twinwatch_job_items_processed_total{outcome="failed",worker="test-worker"} 1.0' in after


def test_jobs_are_private_to_their_submitter(world: ServiceWorld) -> None:
    job_id = submit(world, [("a.jpg", face_crop_jpeg(world.fixture, "Demo Talent A"))]).json()["id"]
    assert (
        world.client.get(f"/v1/jobs/{job_id}", headers=world.auth("other_monitor")).status_code
        == 404
    )
    assert (
        world.client.get(f"/v1/jobs/{job_id}/results", headers=world.auth("brand")).status_code
        == 404
    )


def test_batch_size_is_limited(world: ServiceWorld) -> None:
    world.ctx.settings.max_batch_items = 2
    response = submit(world, [(f"{n}.jpg", b"x") for n in range(3)])
    assert response.status_code == 422
    assert "at most 2" in response.json()["error"]["message"]


def test_a_job_survives_a_restart_and_resumes(tmp_path: Path, real_engine: FaceEngine) -> None:
    with service_world(tmp_path, real_engine) as world:
        job_id = submit(
            world,
            [
                ("a.jpg", face_crop_jpeg(world.fixture, "Demo Talent A")),
                ("b.jpg", face_crop_jpeg(world.fixture, "Demo Talent B")),
            ],
        ).json()["id"]
        # A worker claims one item and dies without finishing it.
        claimed = claim_next_item(world.ctx.db, worker_id="crashed", lease_s=60)
        assert claimed is not None
        keys = world.keys
    # A new process on the same data directory, with a short lease and the worker enabled.
    # The lease must outlast one scan: the new process runs a job loop per core, and a loop
    # takes back any item whose lease has run out, including one its sibling is scanning.
    settings = service_settings(tmp_path, run_worker_in_process=True, job_lease_s=5.0)
    ctx = start(settings, analyser=real_engine)
    with TestClient(create_app(context=ctx)) as client:
        deadline = time.monotonic() + 60
        job = {}
        while time.monotonic() < deadline:
            job = client.get(
                f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {keys['monitor']}"}
            ).json()
            if job["status"] == "done":
                break
            time.sleep(0.2)
    ctx.close()
    assert job["status"] == "done" and job["done"] == 2, job


def test_two_workers_never_claim_the_same_item(world: ServiceWorld) -> None:
    submit(world, [(f"{n}.jpg", b"x") for n in range(5)])
    claims = [claim_next_item(world.ctx.db, worker_id=f"w{n % 2}", lease_s=60) for n in range(6)]
    taken = [c.item_id for c in claims if c is not None]
    assert len(taken) == 5 and len(set(taken)) == 5
    assert claims[-1] is None


def test_embedded_worker_delivers_webhooks_in_the_background(
    tmp_path: Path, real_engine: FaceEngine
) -> None:
    with (
        local_server() as receiver,
        service_world(tmp_path, real_engine, fetch_allow_private_networks=True) as world,
    ):
        world.client.post(
            "/v1/webhooks", json={"url": receiver.url("/hook")}, headers=world.auth("agency")
        )
    settings = service_settings(
        tmp_path, run_worker_in_process=True, fetch_allow_private_networks=True
    )
    ctx = start(settings, analyser=real_engine)
    with local_server() as receiver2, TestClient(create_app(context=ctx)) as client:
        headers = {"Authorization": f"Bearer {world.keys['agency']}"}
        hook = client.post("/v1/webhooks", json={"url": receiver2.url("/hook")}, headers=headers)
        assert hook.status_code == 201
        client.post(
            "/v1/scans",
            files={"file": ("a.jpg", face_crop_jpeg(world.fixture, "Demo Talent D"))},
            data={"publisher": "x.example"},
            headers={"Authorization": f"Bearer {world.keys['monitor']}"},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not receiver2.received:
            time.sleep(0.1)
        assert len(receiver2.received) == 1
    ctx.close()


def test_replayed_batch_reuses_the_job_and_leaves_no_staged_files(world: ServiceWorld) -> None:
    files = [("files", ("a.jpg", face_crop_jpeg(world.fixture, "Demo Talent A")))]
    headers = {**world.auth("monitor"), "Idempotency-Key": "batch-1"}
    first = world.client.post(
        "/v1/scan-jobs", files=files, data={"publisher": "x"}, headers=headers
    )
    second = world.client.post(
        "/v1/scan-jobs", files=files, data={"publisher": "x"}, headers=headers
    )
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    staged = [info.key for info in world.ctx.blobs.list("job-uploads/")]
    assert len(staged) == 1, staged


def test_orphaned_staged_uploads_are_removed_at_start(
    tmp_path: Path, real_engine: FaceEngine
) -> None:
    settings = service_settings(tmp_path)
    orphan = settings.data_dir / "job-uploads" / "0123abcd" / "0.bin"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"staged before a crash, never committed")
    hours_ago = time.time() - 2 * 3600  # older than the grace period
    os.utime(orphan, (hours_ago, hours_ago))
    start(settings, analyser=real_engine).close()
    assert not orphan.exists()


def test_batch_body_may_exceed_the_single_upload_limit(
    tmp_path: Path, real_engine: FaceEngine
) -> None:
    with service_world(
        tmp_path, real_engine, max_upload_bytes=300_000, max_batch_bytes=2_000_000
    ) as world:
        image = face_crop_jpeg(world.fixture, "Demo Talent A")
        assert len(image) * 4 > 300_000 or len(image) < 300_000
        response = submit(world, [(f"{n}.jpg", image) for n in range(4)])
        assert response.status_code == 202, response.text
        too_big = submit(world, [("big.jpg", b"\xff\xd8" + b"\x00" * 400_000)])
        assert too_big.status_code == 413


def test_a_crawl_sized_job_lists_its_first_items_and_pages_the_rest(world: ServiceWorld) -> None:
    """A job's answer (and its completion callback) stays bounded however many items it
    holds; every item is reachable a page at a time, filtered by status, by its submitter
    only."""
    world.ctx.settings.max_batch_items = 250
    urls = [f"http://127.0.0.1:9/item-{n}.jpg" for n in range(250)]
    created = submit(world, [], urls)
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    assert len(created.json()["items"]) == 100

    job = world.client.get(f"/v1/jobs/{job_id}", headers=world.auth("monitor")).json()
    assert job["total"] == 250
    assert [item["position"] for item in job["items"]] == list(range(100))

    last = world.client.get(
        f"/v1/jobs/{job_id}/items?offset=200&limit=100", headers=world.auth("monitor")
    ).json()
    assert (last["total"], last["offset"], last["limit"]) == (250, 200, 100)
    assert [item["name"] for item in last["items"]] == urls[200:]
    queued = world.client.get(
        f"/v1/jobs/{job_id}/items?status=queued&limit=1", headers=world.auth("monitor")
    ).json()
    failed = world.client.get(
        f"/v1/jobs/{job_id}/items?status=failed", headers=world.auth("monitor")
    ).json()
    assert (queued["total"], len(queued["items"]), failed["total"]) == (250, 1, 0)

    for bad in ("limit=0", "limit=201", "offset=-1", "status=lost"):
        response = world.client.get(f"/v1/jobs/{job_id}/items?{bad}", headers=world.auth("monitor"))
        assert response.status_code == 422, bad
        assert "error" in response.json()
    for stranger in ("other_monitor", "brand"):
        assert (
            world.client.get(f"/v1/jobs/{job_id}/items", headers=world.auth(stranger)).status_code
            == 404
        )
    assert (
        world.client.get(f"/v1/jobs/{job_id}/items", headers=world.auth("agency")).status_code
        == 403
    )
