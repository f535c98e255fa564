"""Service latency and throughput over real HTTP: `python -m bench.service_load`.

Starts `twinwatch serve` on 127.0.0.1 with a temporary data directory (the demo talents
registered), then measures in one run:
  1. the model work alone (decode + provenance + fingerprint + faces + search) in-process,
  2. single-scan latency over HTTP, one request at a time (p50/p95),
  3. 8 concurrent clients: scans/second and latency under load, plus any 429/503.
Figures are reported as ratios against (1) measured in the same run. Steps 2 and 3 run,
interleaved, against the product's server and one with the previous release's
configuration (2 inference threads, onnxruntime 2 intra-op threads with spinning on), so
``previous`` figures and the product/previous ratio come from the same minutes.

``--baseline-rev REV`` adds a third server, interleaved with the other two: the code of
git revision REV (checked out into a temporary worktree, its own data folder prepared by
its own code), e.g. ``--baseline-rev 308cdcd^``, the landed code when issue 11 was filed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import facts_line, machine_facts, md_table, run_main, write_results
from indexer.demo_fixtures import enrol_demo_talents, load_demo_fixture, reference_from_crop
from indexer.imaging import decode_image
from indexer.settings import PROJECT_ROOT
from service.access.keys import TenantKind, create_key, create_tenant
from service.core.principal import Role
from service.core.settings import ServiceSettings
from service.scanning.scan import analyse_image
from service.startup import start


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def workload() -> list[tuple[str, bytes]]:
    """Single-talent crops, the six-person group photo and an unregistered person."""
    fixture = load_demo_fixture()
    group = fixture.reference_source.read_bytes()
    source = decode_image(group, max_pixels=10**8).bgr
    crops = [
        (
            f"crop-{t.name[-1]}",
            reference_from_crop(
                source, t.box, scale=1.0, rotate_deg=0, jpeg_quality=90, margin=1.5
            ),
        )
        for t in fixture.talents
    ]
    return [*crops, ("group-6-faces", group), ("stranger", fixture.scan[1].read_bytes())]


def prepare(data_dir: Path, model_cache: Path) -> tuple[ServiceSettings, str]:
    settings = ServiceSettings(data_dir=data_dir, model_cache_dir=model_cache)
    ctx = start(settings)
    try:
        enrol_demo_talents(ctx.registry, load_demo_fixture(), max_pixels=10**8)
        with ctx.db.session() as session:
            create_tenant(session, kind=TenantKind.MONITOR, name="load test")
            key = create_key(session, role=Role.MONITOR, monitor="load test").key
    finally:
        ctx.close()
    return settings, key


def model_only_seconds(
    settings: ServiceSettings, images: list[tuple[str, bytes]], rounds: int
) -> list[float]:
    ctx = start(settings)
    try:
        times = []
        for _ in range(rounds):
            for _, data in images:
                started = time.perf_counter()
                analyse_image(data=data, analyser=ctx.analyser, index=ctx.index, settings=settings)
                times.append(time.perf_counter() - started)
        return times
    finally:
        ctx.close()


PREVIOUS_RELEASE = {
    "TWINWATCH_INFERENCE_WORKERS": "2",
    "TWINWATCH_ORT_INTRA_OP_THREADS": "2",
    "TWINWATCH_ORT_ALLOW_SPINNING": "true",
}


@contextmanager
def checkout(revision: str) -> Iterator[Path]:
    """A temporary git worktree of ``revision`` (removed afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix="twinwatch-baseline-"))
    subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "worktree", "add", "--detach", str(folder), revision],
        check=True,
        capture_output=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "worktree", "remove", "--force", str(folder)],
            check=False,
            capture_output=True,
        )


def prepare_in(tree: Path, data_dir: Path, model_cache: Path) -> tuple[ServiceSettings, str]:
    """``prepare`` as the code in ``tree`` does it (its schema, its enrolment)."""
    code = (
        "import sys; from pathlib import Path; from bench.service_load import prepare; "
        "print(prepare(Path(sys.argv[1]), Path(sys.argv[2]))[1])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(data_dir), str(model_cache)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=True,
    )
    key = result.stdout.strip().splitlines()[-1]
    return ServiceSettings(data_dir=data_dir, model_cache_dir=model_cache), key


def start_server(
    settings: ServiceSettings,
    port: int,
    extra_env: dict[str, str] | None = None,
    tree: Path = PROJECT_ROOT,
) -> subprocess.Popen[bytes]:
    # The server runs the code in ``tree`` (the `twinwatch` script alone would import the
    # tree the virtual environment was installed from).
    env = {
        **os.environ,
        "TWINWATCH_DATA_DIR": str(settings.data_dir),
        "TWINWATCH_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")])),
        **(extra_env or {}),
    }
    twinwatch = Path(sys.executable).with_name("twinwatch")
    process = subprocess.Popen(
        [str(twinwatch), "serve", "--port", str(port)],
        env=env,
        cwd=tree,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError("the server did not become ready within 120 s")


async def one_scan(client: httpx.AsyncClient, image: tuple[str, bytes]) -> tuple[float, int]:
    started = time.perf_counter()
    response = await client.post(
        "/v1/scans",
        files={"file": (image[0] + ".jpg", image[1])},
        data={"publisher": "shop.example.net", "channel": "social"},
    )
    return time.perf_counter() - started, response.status_code


async def sequential(
    base: str, key: str, images: list[tuple[str, bytes]], rounds: int
) -> list[tuple[float, int]]:
    async with httpx.AsyncClient(
        base_url=base, timeout=120, headers={"Authorization": f"Bearer {key}"}
    ) as client:
        await one_scan(client, images[0])  # warm-up
        return [await one_scan(client, image) for _ in range(rounds) for image in images]


async def concurrent(
    base: str, key: str, images: list[tuple[str, bytes]], clients: int, per_client: int
) -> tuple[list[tuple[float, int]], float]:
    async def client_loop(offset: int) -> list[tuple[float, int]]:
        async with httpx.AsyncClient(
            base_url=base, timeout=120, headers={"Authorization": f"Bearer {key}"}
        ) as client:
            return [
                await one_scan(client, images[(offset + n) % len(images)])
                for n in range(per_client)
            ]

    started = time.perf_counter()
    results = await asyncio.gather(*(client_loop(c) for c in range(clients)))
    return [r for batch in results for r in batch], time.perf_counter() - started


def percentiles(values: list[float]) -> dict[str, float]:
    array = np.asarray(values) * 1000
    return {
        "p50_ms": float(np.percentile(array, 50)),
        "p95_ms": float(np.percentile(array, 95)),
        "mean_ms": float(array.mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="passes over the images (serial)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--per-client", type=int, default=12)
    parser.add_argument(
        "--baseline-rev",
        default=None,
        help="also measure the code of this git revision (e.g. 308cdcd^)",
    )
    args = parser.parse_args()
    from bench.common import bench_settings

    model_cache = bench_settings().resolved_model_cache_dir().resolve()
    images = workload()
    facts = machine_facts()
    with tempfile.TemporaryDirectory(prefix="twinwatch-load-") as tmp:
        settings, key = prepare(Path(tmp) / "var", model_cache)
        model_times = model_only_seconds(settings, images, args.rounds)
        servers = {
            "product": (settings, key, {}, PROJECT_ROOT),
            "previous": (settings, key, PREVIOUS_RELEASE, PROJECT_ROOT),
        }
        with _baseline(args.baseline_rev, Path(tmp), model_cache) as baseline:
            servers.update(baseline)
            serial, loaded, walls = measure(servers, images, args)
    report(facts, args, images, model_times, serial, loaded, walls)


Server = tuple[ServiceSettings, str, dict[str, str], Path]  # settings, key, env, code tree


@contextmanager
def _baseline(revision: str | None, tmp: Path, model_cache: Path) -> Iterator[dict[str, Server]]:
    if revision is None:
        yield {}
        return
    with checkout(revision) as tree:
        settings, key = prepare_in(tree, tmp / "baseline-var", model_cache)
        yield {f"baseline {revision}": (settings, key, {}, tree)}


def measure(
    servers: dict[str, Server], images: list[tuple[str, bytes]], args: argparse.Namespace
) -> tuple[
    dict[str, list[tuple[float, int]]], dict[str, list[tuple[float, int]]], dict[str, float]
]:
    """Every server started, then measured in turn twice (serial, then concurrent)."""
    ports = {name: free_port() for name in servers}
    running: dict[str, subprocess.Popen[bytes]] = {}
    serial: dict[str, list[tuple[float, int]]] = {name: [] for name in servers}
    loaded: dict[str, list[tuple[float, int]]] = {name: [] for name in servers}
    walls: dict[str, float] = {name: 0.0 for name in servers}
    try:  # a server that fails to start still leaves the others stopped
        for name, (settings, _, env, tree) in servers.items():
            running[name] = start_server(settings, ports[name], env, tree)
        for _ in range(2):  # interleaved: product, previous(, baseline), product, ...
            for name, (_, key, _, _) in servers.items():
                base = f"http://127.0.0.1:{ports[name]}"
                serial[name] += asyncio.run(sequential(base, key, images, args.rounds))
                batch, wall = asyncio.run(
                    concurrent(base, key, images, args.clients, args.per_client)
                )
                loaded[name] += batch
                walls[name] += wall
    finally:
        for server in running.values():
            server.terminate()
            server.wait(timeout=30)
    return serial, loaded, walls


def report(
    facts: dict[str, Any],
    args: argparse.Namespace,
    images: list[tuple[str, bytes]],
    model_times: list[float],
    serial: dict[str, list[tuple[float, int]]],
    loaded: dict[str, list[tuple[float, int]]],
    walls: dict[str, float],
) -> None:
    model = percentiles(model_times)
    figures: dict[str, Any] = {}
    rows = [
        [
            "model work only (in-process, product)",
            f"{model['p50_ms']:.0f}",
            f"{model['p95_ms']:.0f}",
            f"{1000 / model['mean_ms']:.2f}",
            "",
        ]
    ]
    for name in serial:
        single = percentiles([t for t, status in serial[name] if status == 201])
        ok = [t for t, status in loaded[name] if status == 201]
        refused = {
            str(s): sum(1 for _, x in loaded[name] if x == s)
            for s in {x for _, x in loaded[name]}
            if s != 201
        }
        under_load = percentiles(ok)
        throughput = len(ok) / walls[name]
        figures[name] = {
            "single_scan_http": single,
            "concurrent": {
                "clients": args.clients,
                "requests": len(loaded[name]),
                "ok": len(ok),
                "refused": refused,
                "wall_s": walls[name],
                "scans_per_s": throughput,
                **under_load,
            },
        }
        rows += [
            [
                f"{name}: one scan at a time over HTTP",
                f"{single['p50_ms']:.0f}",
                f"{single['p95_ms']:.0f}",
                f"{1000 / single['mean_ms']:.2f}",
                "",
            ],
            [
                f"{name}: {args.clients} concurrent clients",
                f"{under_load['p50_ms']:.0f}",
                f"{under_load['p95_ms']:.0f}",
                f"{throughput:.2f}",
                str(refused or "none"),
            ],
        ]
    product, previous = figures["product"], figures["previous"]
    ratios = {
        "http_p50_over_model_p50": product["single_scan_http"]["p50_ms"] / model["p50_ms"],
        "product_over_previous_throughput": (
            product["concurrent"]["scans_per_s"] / previous["concurrent"]["scans_per_s"]
        ),
        "previous_over_product_single_p50": (
            previous["single_scan_http"]["p50_ms"] / product["single_scan_http"]["p50_ms"]
        ),
    }
    baseline = next((name for name in figures if name.startswith("baseline")), None)
    if baseline is not None:
        ratios["product_over_baseline_throughput"] = (
            product["concurrent"]["scans_per_s"] / figures[baseline]["concurrent"]["scans_per_s"]
        )
        ratios["baseline_over_product_single_p50"] = (
            figures[baseline]["single_scan_http"]["p50_ms"] / product["single_scan_http"]["p50_ms"]
        )
    data = {
        "machine": facts,
        "images": [name for name, _ in images],
        "model_only": model,
        **figures,
        "load_average": os.getloadavg(),
        "ratios": ratios,
    }
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    markdown = "\n".join(
        [
            "# Service latency and throughput (real HTTP, `twinwatch serve`)",
            "",
            facts_line(facts),
            "",
            f"Workload: {len(images)} images cycled (six single-face crops, a six-face group "
            "photo, "
            "an unregistered person), each a full scan: decode, provenance, pHash, faces, search, "
            "licence check, database transaction. Servers measured in turn, twice each: "
            f"{', '.join(serial)} (previous: the previous release's configuration on this code); "
            f"load average at the end {load}.",
            "",
            md_table(["mode", "p50 ms", "p95 ms", "scans/s", "refused"], rows),
            "",
            f"- product HTTP p50 / model-only p50: {ratios['http_p50_over_model_p50']:.2f}x",
            f"- {args.clients}-client throughput, product / previous release: "
            f"{ratios['product_over_previous_throughput']:.2f}x",
            f"- single-scan p50, previous / product: "
            f"{ratios['previous_over_product_single_p50']:.2f}x",
            *(
                [
                    f"- {args.clients}-client throughput, product / {baseline}: "
                    f"{ratios['product_over_baseline_throughput']:.2f}x",
                    f"- single-scan p50, {baseline} / product: "
                    f"{ratios['baseline_over_product_single_p50']:.2f}x",
                ]
                if baseline
                else []
            ),
        ]
    )
    write_results("service_load", data, markdown)


if __name__ == "__main__":
    run_main(main)
