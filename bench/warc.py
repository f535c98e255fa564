"""Crawl input (issue 10): the WARC reader, memory while streaming, scan-warc vs scan.

    python -m bench.warc [--rounds 3] [--gib 1.0] [--skip-rss]

* **Reader**: ``warcio`` and ``fastwarc`` each read every payload of one generated archive
  (the 61 scene photos x 16 as image responses with their requests, gzip per record), in
  turn, ``rounds`` times; MB/s of decompressed payload and records/s; and twinwatch's own
  reader (``iter_warc_images``: pages learnt, images sniffed) on the same archive.
* **Peak RSS**: a ~``gib`` GiB archive is generated in a temporary folder (scene photos
  under distinct URIs, plus a few 64 MiB image records over the record bound), streamed
  by ``iter_warc_images`` in a child process, whose peak RSS (``ru_maxrss``)
  is compared with a child that only imports the same modules. The archive is deleted.
* **scan-warc vs scan**: ``twinwatch scan --json`` on the scene folder (given 4 times: 244
  images) and ``twinwatch scan-warc --json`` on a WARC of the same 244 images (each with
  its request and an HTML page naming it), whole processes, interleaved round after round
  after one warm-up each (the machine is shared: only the ratio within one run means much).
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    BenchSkipError,
    bench_settings,
    facts_line,
    fmt,
    load_bench_engine,
    machine_facts,
    md_table,
    run_main,
    write_results,
)
from bench.scenes import scene_photos
from bench.speed import PASSES, _cli_registry

READER_COPIES = 16
BIG_RECORDS = 3
BIG_RECORD_BYTES = 64 * 1024 * 1024


def write_scene_warc(path: Path, photos: list[Path], *, copies: int, pages: bool) -> int:
    """A WARC of the photos (``copies`` times, distinct URIs); returns the image count."""
    from warcio.warcwriter import WARCWriter

    count = 0
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for copy in range(copies):
            for number, photo in enumerate(photos):
                uri = f"https://cdn.example{copy}.com/{number}/{photo.name}"
                page = f"https://shop.example{copy}.com/look/{number}"
                if pages:
                    _record(writer, page, f'<img src="{uri}">'.encode(), "text/html")
                _record(writer, uri, photo.read_bytes(), "image/jpeg", referer=page)
                count += 1
    return count


def _record(
    writer: Any, uri: str, body: bytes, content_type: str, referer: str | None = None
) -> None:
    from warcio.statusandheaders import StatusAndHeaders

    headers = StatusAndHeaders(
        "200 OK",
        [("Content-Type", content_type), ("Content-Length", str(len(body)))],
        protocol="HTTP/1.1",
    )
    record = writer.create_warc_record(
        uri, "response", payload=io.BytesIO(body), http_headers=headers
    )
    writer.write_record(record)
    if referer:
        request = writer.create_warc_record(
            uri,
            "request",
            http_headers=StatusAndHeaders(
                f"GET {uri} HTTP/1.1", [("Referer", referer)], is_http_request=True
            ),
            warc_headers_dict={
                "WARC-Concurrent-To": str(record.rec_headers.get_header("WARC-Record-ID"))
            },
        )
        writer.write_record(request)


# --- readers ---------------------------------------------------------------------------------
def read_warcio(path: Path) -> tuple[int, int]:
    from warcio.archiveiterator import ArchiveIterator

    records = payload = 0
    with path.open("rb") as handle:
        for record in ArchiveIterator(handle):
            records += 1
            stream = record.content_stream()
            while chunk := stream.read(1 << 20):
                payload += len(chunk)
    return records, payload


def read_fastwarc(path: Path) -> tuple[int, int]:
    from fastwarc import ArchiveIterator

    records = payload = 0
    for record in ArchiveIterator(str(path), parse_http=True):
        records += 1
        while chunk := record.reader.read(1 << 20):
            payload += len(chunk)
    return records, payload


def read_twinwatch(path: Path) -> tuple[int, int]:
    from service.crawl.warc import WarcImage, WarcLimits, iter_warc_images

    limits = WarcLimits(max_record_bytes=20 * 1024 * 1024, max_images=10**6)
    images = payload = 0
    for entry in iter_warc_images(path, limits=limits):
        if isinstance(entry, WarcImage):
            images += 1
            payload += len(entry.data)
    return images, payload


def readers(archive: Path, rounds: int) -> dict[str, Any]:
    try:
        import fastwarc  # noqa: F401
    except ImportError as exc:
        raise BenchSkipError("fastwarc is not installed (make bench-deps)") from exc
    runs: dict[str, list[float]] = {
        "warcio": [],
        "fastwarc": [],
        "twinwatch (iter_warc_images)": [],
    }
    counted: dict[str, tuple[int, int]] = {}
    functions = {
        "warcio": read_warcio,
        "fastwarc": read_fastwarc,
        "twinwatch (iter_warc_images)": read_twinwatch,
    }
    for _ in range(rounds):
        for name, function in functions.items():
            started = time.perf_counter()
            counted[name] = function(archive)
            runs[name].append(time.perf_counter() - started)
    size = archive.stat().st_size
    return {
        name: {
            "seconds": statistics.median(times),
            "records": counted[name][0],
            "payload_mb": counted[name][1] / 1e6,
            "payload_mb_per_s": counted[name][1] / 1e6 / statistics.median(times),
            "archive_mb_per_s": size / 1e6 / statistics.median(times),
        }
        for name, times in runs.items()
    }


# --- memory ----------------------------------------------------------------------------------
STREAM_CHILD = """
import sys, resource
from pathlib import Path
from service.crawl.warc import WarcImage, WarcLimits, iter_warc_images, SkippedRecord
if sys.argv[1] != "-":
    path = Path(sys.argv[1])
    limits = WarcLimits(max_record_bytes=20 * 1024 * 1024, max_images=10**7)
    images = skipped = size = 0
    for entry in iter_warc_images(path, limits=limits):
        if isinstance(entry, WarcImage):
            images += 1; size += len(entry.data)
        else:
            skipped += 1
    print(images, skipped, size)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _child_peak_kib(argument: str, env: dict[str, str]) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-c", STREAM_CHILD, argument],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.split("\n")
    return int(lines[-2]), lines[0] if len(lines) > 2 else ""


def peak_rss(photos: list[Path], gib: float) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    with tempfile.TemporaryDirectory(prefix="twinwatch-warc-rss-") as tmp:
        path = Path(tmp) / "big.warc.gz"
        started = time.perf_counter()
        per_copy = sum(p.stat().st_size for p in photos)
        copies = max(1, int(gib * 1024**3 / per_copy))
        write_scene_warc(path, photos, copies=copies, pages=False)
        with path.open("ab") as handle:  # records over the bound: read past, never held
            from warcio.warcwriter import WARCWriter

            writer = WARCWriter(handle, gzip=True)
            for number in range(BIG_RECORDS):
                _record(
                    writer,
                    f"https://huge.example.com/{number}.jpg",
                    photos[0].read_bytes() + os.urandom(BIG_RECORD_BYTES),
                    "image/jpeg",
                )
        written_s = time.perf_counter() - started
        size = path.stat().st_size
        started = time.perf_counter()
        streaming_kib, counts = _child_peak_kib(str(path), env)
        stream_s = time.perf_counter() - started
        baseline_kib, _ = _child_peak_kib("-", env)
    images, skipped, payload = (int(v) for v in counts.split())
    size_gib = size / 1024**3
    return {
        "archive_bytes": size,
        "archive_gib": size_gib,
        "generated_s": written_s,
        "stream_s": stream_s,
        "images": images,
        "skipped": skipped,
        "payload_bytes": payload,
        "peak_rss_mib": streaming_kib / 1024,
        "import_only_rss_mib": baseline_kib / 1024,
    }


# --- scan-warc vs scan -----------------------------------------------------------------------
def _process(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{command[3:5]} failed: {result.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def scan_vs_scan_warc(photos_by_identity: dict[str, list[Path]], rounds: int) -> dict[str, Any]:
    engine = load_bench_engine()
    folder = next(iter(photos_by_identity.values()))[0].parent.parent
    photos = [p for files in photos_by_identity.values() for p in files]
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="twinwatch-scan-warc-") as tmp:
        _cli_registry(engine, Path(tmp))
        archive = Path(tmp) / "scenes.warc.gz"
        count = write_scene_warc(archive, photos, copies=PASSES, pages=True)
        settings = bench_settings()
        cache = settings.model_cache_dir or settings.data_dir / "models"
        env = {
            **os.environ,
            "TWINWATCH_DATA_DIR": tmp,
            "TWINWATCH_MODEL_CACHE_DIR": str(cache),
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        }
        base = [sys.executable, "-c", "from service.cli import main; main()"]
        commands = {
            "twinwatch scan": [*base, "scan", "--json", *[str(folder)] * PASSES],
            "twinwatch scan-warc": [*base, "scan-warc", "--json", str(archive)],
        }
        for command in commands.values():
            _process(command, env)  # warm-up
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for round_number in range(rounds):
            for name, command in commands.items():
                wall, cpu = _process(command, env)
                walls[name].append(wall)
                cpus[name].append(cpu)
                print(
                    f"  round {round_number + 1} {name}: {count / wall:.2f} images/s, "
                    f"{1e3 * cpu / count:.0f} CPU ms per image",
                    flush=True,
                )
            loads.append(os.getloadavg()[0])
    figures: dict[str, dict[str, Any]] = {
        name: {
            "images_per_s": count / statistics.median(w),
            "wall_s": w,
            "cpu_ms_per_image": 1e3 * statistics.median(cpus[name]) / count,
        }
        for name, w in walls.items()
    }
    scan, warc = figures["twinwatch scan"], figures["twinwatch scan-warc"]
    return {
        "images": count,
        "rounds": rounds,
        "configs": figures,
        "scan_warc_over_scan": warc["images_per_s"] / scan["images_per_s"],
        "cpu_scan_warc_over_scan": warc["cpu_ms_per_image"] / scan["cpu_ms_per_image"],
        "per_round_ratio": [
            s / w
            for s, w in zip(walls["twinwatch scan"], walls["twinwatch scan-warc"], strict=True)
        ],
        "load_average_1m": loads,
    }


def markdown(facts: dict[str, Any], results: dict[str, Any]) -> str:
    parts = ["## Crawl input: WARC (issue 10)", "", facts_line(facts), ""]
    if "readers" in results:
        parts += [
            "### WARC readers (payload of every record, same archive)",
            "",
            md_table(
                ["reader", "records", "payload MB", "seconds", "payload MB/s"],
                [
                    [
                        name,
                        v["records"],
                        fmt(v["payload_mb"], 1),
                        fmt(v["seconds"], 2),
                        fmt(v["payload_mb_per_s"], 1),
                    ]
                    for name, v in results["readers"].items()
                ],
            ),
            "",
        ]
    if "rss" in results:
        r = results["rss"]
        parts += [
            "### Peak RSS streaming a large archive",
            "",
            md_table(
                [
                    "archive",
                    "images",
                    "skipped (over the bound)",
                    "stream s",
                    "peak RSS MiB",
                    "import-only RSS MiB",
                ],
                [
                    [
                        f"{r['archive_gib']:.2f} GiB",
                        r["images"],
                        r["skipped"],
                        fmt(r["stream_s"], 1),
                        fmt(r["peak_rss_mib"], 0),
                        fmt(r["import_only_rss_mib"], 0),
                    ]
                ],
            ),
            "",
        ]
    if "scan" in results:
        s = results["scan"]
        parts += [
            "### scan-warc vs scan (whole processes, interleaved)",
            "",
            md_table(
                ["command", "images/s (median)", "CPU ms per image", "wall s per round"],
                [
                    [
                        name,
                        fmt(v["images_per_s"], 2),
                        fmt(v["cpu_ms_per_image"], 0),
                        ", ".join(fmt(w, 1) for w in v["wall_s"]),
                    ]
                    for name, v in s["configs"].items()
                ],
            ),
            "",
            f"scan-warc / scan: **{fmt(s['scan_warc_over_scan'], 3)}** in images/s "
            f"(per round: {', '.join(fmt(r, 2) for r in s['per_round_ratio'])}), "
            f"{fmt(s['cpu_scan_warc_over_scan'], 3)} in CPU per image ({s['images']} images; "
            f"1-minute load average {', '.join(fmt(v, 1) for v in s['load_average_1m'])})",
            "",
        ]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--only", choices=["readers", "rss", "scan"], default=None)
    args = parser.parse_args()
    facts = machine_facts()
    by_identity = scene_photos()
    photos = [p for files in by_identity.values() for p in files]
    results: dict[str, Any] = {"facts": facts}
    if args.only in (None, "readers"):
        with tempfile.TemporaryDirectory(prefix="twinwatch-warc-readers-") as tmp:
            archive = Path(tmp) / "readers.warc.gz"
            write_scene_warc(archive, photos, copies=READER_COPIES, pages=True)
            results["readers"] = readers(archive, args.rounds)
    if args.only in (None, "rss") and not args.skip_rss:
        results["rss"] = peak_rss(photos, args.gib)
    if args.only in (None, "scan"):
        results["scan"] = scan_vs_scan_warc(by_identity, args.rounds)
    results["load_average_end"] = os.getloadavg()
    write_results(
        "warc" if args.only is None else f"warc-{args.only}", results, markdown(facts, results)
    )


if __name__ == "__main__":
    run_main(main)
