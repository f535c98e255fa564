"""Memory of the portfolio copy index (``DescriptorIndex``) measured at 100,000 portfolio
images, not extrapolated from 10,000.

What is real and what is synthetic:

1. Real features for a base set (``--base``, default 10,000): ``bench.copies``'s portfolio
   (scene originals, LFW singles and 2x2 mosaics), each decoded and ORB-extracted with the
   service's ``portfolio_features`` (original and mirrored), on two threads, kept in memory.
2. One index of ``--images`` (default 100,000) portfolio images: image k has base image
   k % base's features. Images past the base are *replicas*: every descriptor has
   ``--flip-bits`` (default 8 of 256) distinct random bits flipped (seeded), so FAISS holds
   distinct descriptors, never duplicates, but they sit 8 bits from their base descriptor
   (real portfolios are not near-copies of one another: the IVF lists' contents are
   synthetic, their count and average length are the service's). Every image gets its own
   copy of the keypoint positions (as each portfolio image has its own). The entries are
   built as ``CopyDetector._entries`` builds them (original and mirrored, no face box) and
   added through ``DescriptorIndex.add_many`` in the service's batches (``ADD_BATCH``), so
   the IVF is built and rebuilt exactly when the service's would be (a batch also ends at
   each checkpoint: the default checkpoints are multiples of ``ADD_BATCH``).
3. Measured: process RSS (``VmRSS``) before the index is created (the base features already
   held) and after; the index's growth is the difference. The peak is ``VmHWM`` reset just
   before the build (``/proc/self/clear_refs``), so it is the build's own peak (the IVF
   rebuilds copy everything the index holds); ``ru_maxrss`` is reported too (the process's
   peak, extraction included). Also ``memory_bytes()`` (the accounted figure), descriptors,
   build and ``add_many`` seconds, at each ``--checkpoints`` image count and the final one,
   and the RSS after ``malloc_trim`` (what glibc kept of the rebuilds' freed copies).
4. ``--queries N``: thread CPU of ``index.candidates(query, limit=5, min_votes=10)`` (one
   search of all the query's descriptors; the service searches every 2nd first) for N
   edits of the scene originals (cycling through originals and edit kinds), their features
   from the service's ``query_features``. The replicas share their base image's votes, so
   the "found" share is a sanity check, not a recall figure.

Memory: an IVF rebuild holds the old index, two copies of its contents and the new index
(the peak was ~4x the accounted bytes at 10M descriptors); at 100,000 images the last
rebuild comes near 100-120M descriptors, so expect a peak near 20 GiB.

    nice -n 15 .venv/bin/python -u -m bench.copy_index_memory [--base 10000] [--images 100000]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import resource
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import faiss
import numpy as np

from bench.common import machine_facts, md_table, require_shared_faces, run_main, write_results
from bench.copies import build_set, edit
from indexer.copies.detector import ADD_BATCH, portfolio_features, query_features
from indexer.copies.features import DESCRIPTOR_BYTES, Features, U8Array
from indexer.copies.index import BITS, DescriptorIndex, IndexedImage
from indexer.copies.kept_index import KeptCopyIndex
from indexer.imaging import open_photo
from indexer.settings import IndexerSettings
from tests.support import copies as edits

MIB = 2**20
MASKS = 65_536  # random flip masks drawn from per replica descriptor
QUERY_EDITS = ("crop50", "crop25", "jpeg40", "colour", "crop50+colour", "caption", "scale0.3")


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss_mib() -> float:
    return _status_kib("VmRSS") / 1024


def peak_mib() -> float:
    return _status_kib("VmHWM") / 1024


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def malloc_trim() -> None:
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def base_features(data: dict[str, Any]) -> list[tuple[Features, Features]]:
    raws = [p.read_bytes() for p in data["originals"]] + [raw for raw, _ in data["padding"]]
    found: list[tuple[Features, Features]] = []
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:  # OpenCV releases the GIL
        for features in pool.map(lambda raw: portfolio_features(open_photo(raw)), raws):
            found.append(features)
            if len(found) % 2_000 == 0:
                rate = len(found) / (time.perf_counter() - started)
                print(f"  features: {len(found)}/{len(raws)} ({rate:.0f}/s)", flush=True)
    return found


def flip_masks(rng: np.random.Generator, bits: int) -> U8Array:
    """MASKS masks of exactly ``bits`` distinct set bits each (packed, 32 bytes)."""
    masks = np.zeros((MASKS, BITS), dtype=bool)
    if bits:
        chosen = np.argpartition(rng.random((MASKS, BITS)), bits - 1, axis=1)[:, :bits]
        np.put_along_axis(masks, chosen, True, axis=1)
    return np.packbits(masks, axis=1).reshape(MASKS, DESCRIPTOR_BYTES)


def own_copy(features: Features, masks: U8Array | None, rng: np.random.Generator) -> Features:
    """The features with their own positions, descriptors flipped by random masks if given."""
    descriptors = features.descriptors
    if masks is not None:
        descriptors = descriptors ^ masks[rng.integers(0, len(masks), len(descriptors))]
    return Features(features.points.copy(), descriptors, features.width, features.height)


def batch_for(
    ks: range, base: list[tuple[Features, Features]], masks: U8Array, rng: np.random.Generator
) -> list[tuple[IndexedImage, Features]]:
    """Each image's two entries, as ``CopyDetector._entries`` builds them (no face box)."""
    items: list[tuple[IndexedImage, Features]] = []
    for k in ks:
        flip = masks if k >= len(base) else None
        original, flipped = (own_copy(f, flip, rng) for f in base[k % len(base)])
        w, h = original.width, original.height
        items.append((IndexedImage(k, 0, False, original.points, w, h, None), original))
        items.append((IndexedImage(k, 0, True, flipped.points, w, h, None), flipped))
    return items


def build(
    base: list[tuple[Features, Features]], images: int, checkpoints: list[int], flip_bits: int
) -> tuple[DescriptorIndex, dict[str, Any]]:
    rng = np.random.default_rng(100_000)
    masks = flip_masks(rng, flip_bits)
    before = rss_mib()
    peak_reset = reset_peak()
    index = DescriptorIndex()
    adding = 0.0
    points: list[dict[str, Any]] = []
    waiting = sorted({c for c in checkpoints if c < images} | {images})
    started = time.perf_counter()
    start = 0
    while start < images:
        end = min(images, start + ADD_BATCH, *(c for c in waiting if c > start))
        batch = batch_for(range(start, end), base, masks, rng)
        start = end
        began = time.perf_counter()
        index.add_many(batch)
        adding += time.perf_counter() - began
        del batch
        if end == waiting[0]:
            waiting.pop(0)
            points.append(
                {
                    "images": end,
                    "indexed_images": index.images,  # less if an image had no keypoint
                    "descriptors": index.descriptors,
                    "accounted_mib": index.memory_bytes() / MIB,
                    "rss_growth_mib": rss_mib() - before,
                    "peak_growth_mib": peak_mib() - before,
                    "seconds": time.perf_counter() - started,
                    "add_many_seconds": adding,
                }
            )
            p = points[-1]
            print(
                f"  {p['images']} images, {p['descriptors'] / 1e6:.1f}M descriptors: "
                f"accounted {p['accounted_mib']:.0f} MiB, RSS +{p['rss_growth_mib']:.0f} MiB "
                f"(peak +{p['peak_growth_mib']:.0f}), {p['seconds']:.0f} s",
                flush=True,
            )
    build_s = time.perf_counter() - started
    after = rss_mib()
    malloc_trim()
    return index, {
        "images": index.images,
        "descriptors": index.descriptors,
        "ivf_lists": int(getattr(index._index, "nlist", 0)),
        "build_seconds": build_s,
        "add_many_seconds": adding,
        "accounted_mib": index.memory_bytes() / MIB,
        "rss_before_index_mib": before,
        "rss_after_mib": after,
        "rss_growth_mib": after - before,
        "rss_growth_after_malloc_trim_mib": rss_mib() - before,
        "peak_rss_during_build_mib": peak_mib() if peak_reset else None,
        "peak_growth_during_build_mib": peak_mib() - before if peak_reset else None,
        "ru_maxrss_mib": maxrss_mib(),
        "checkpoints": points,
    }


def time_queries(
    index: DescriptorIndex, originals: list[Path], base_count: int, count: int
) -> dict[str, Any]:
    """Thread CPU of one candidates() search per edited scene original; "found": a top-5
    candidate is the original or one of its replicas (image id = its position mod base)."""
    cpu: list[float] = []
    found = 0
    for n in range(count):
        position = n % len(originals)
        kind = QUERY_EDITS[(n // len(originals)) % len(QUERY_EDITS)]
        bgr = np.asarray(cv2.imread(str(originals[position])))
        query = query_features(open_photo(edit(kind, bgr, edits.face_centre(None, bgr))))
        started = time.thread_time()
        candidates = index.candidates(query, limit=5, min_votes=10)
        cpu.append(time.thread_time() - started)
        found += any(c.image.image_id % base_count == position for c in candidates)
    return {
        "queries": count,
        "edit_kinds": list(QUERY_EDITS),
        "candidates_cpu_ms_mean": 1000 * float(np.mean(cpu)),
        "candidates_cpu_ms_p95": 1000 * float(np.percentile(cpu, 95)),
        "found_original_or_replica": found,
    }


def kept_restart(index: DescriptorIndex, originals: list[Path]) -> dict[str, Any]:
    """What a restart costs with the index kept on disk (``KeptCopyIndex``): the save at
    shutdown, the files' size, the load that replaces the build, and whether the loaded
    index answers edited scene originals' queries exactly as the built one does."""
    folder = Path(tempfile.mkdtemp(prefix="kept-copy-index-"))
    try:
        kept = KeptCopyIndex(folder)
        began = time.perf_counter()
        kept.save(index, {image_id: f"bench/{image_id}.jpg" for image_id in index.image_ids()})
        save_s = time.perf_counter() - began
        size = sum(path.stat().st_size for path in folder.iterdir())
        before = rss_mib()
        began = time.perf_counter()
        loaded = kept.load()
        load_s = time.perf_counter() - began
        assert loaded is not None, "the kept index did not load"
        grown = rss_mib() - before
        same = 0
        for n, path in enumerate(originals[:40]):
            bgr = np.asarray(cv2.imread(str(path)))
            kind = QUERY_EDITS[n % len(QUERY_EDITS)]
            query = query_features(open_photo(edit(kind, bgr, edits.face_centre(None, bgr))))
            built = index.neighbours(query.descriptors)
            again = loaded.index.neighbours(query.descriptors)
            same += bool(np.array_equal(built.labels, again.labels))
        return {
            "save_seconds": save_s,
            "file_mib": size / MIB,
            "load_seconds": load_s,
            "rss_growth_of_load_mib": grown,
            "images_loaded": loaded.index.images,
            "descriptors_loaded": loaded.index.descriptors,
            "queries_compared": min(40, len(originals)),
            "queries_answered_identically": same,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=int, default=10_000, help="images with real features")
    parser.add_argument("--images", type=int, default=100_000, help="portfolio images indexed")
    parser.add_argument("--checkpoints", default="10000,30000,100000")
    parser.add_argument("--flip-bits", type=int, default=8, help="of 256, per replica descriptor")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--kept", action="store_true", help="also save, load and compare the kept index"
    )
    args = parser.parse_args()
    checkpoints = [int(c) for c in args.checkpoints.split(",") if c]
    faces = require_shared_faces()
    faiss.omp_set_num_threads(IndexerSettings().faiss_threads)  # as the service runs it
    load_start = [round(x, 2) for x in os.getloadavg()]
    facts = machine_facts()
    started = time.perf_counter()
    data = build_set(faces, args.base, 0)
    base = base_features(data)
    base_descriptors = sum(o.count + m.count for o, m in base)
    extract_s = time.perf_counter() - started
    print(
        f"{len(base)} base images, {base_descriptors / 1e6:.1f}M descriptors in {extract_s:.0f} s;"
        f" RSS {rss_mib():.0f} MiB",
        flush=True,
    )
    index, memory = build(base, args.images, checkpoints, args.flip_bits)
    print(f"index built in {memory['build_seconds']:.0f} s", flush=True)
    queries = None
    if args.queries:
        queries = time_queries(index, data["originals"], len(base), args.queries)
    kept = kept_restart(index, data["originals"]) if args.kept else None
    results: dict[str, Any] = {
        "facts": facts,
        "base_images": len(base),
        "base_descriptors": base_descriptors,
        "base_extract_seconds": extract_s,
        "replicas": max(0, args.images - len(base)),
        "replica_descriptors": f"{args.flip_bits} distinct random bits of {BITS} flipped",
        "memory": memory,
        "queries": queries,
        "kept": kept,
        "load_average_at_start": load_start,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "total_seconds": time.perf_counter() - started,
    }
    write_results("copy_index_memory", results, markdown(results))


def markdown(r: dict[str, Any]) -> str:
    m = r["memory"]
    rows = [
        [
            f"{p['images']:,}",
            f"{p['descriptors'] / 1e6:.1f}M",
            f"{p['accounted_mib']:,.0f}",
            f"{p['rss_growth_mib']:,.0f}",
            f"{p['peak_growth_mib']:,.0f}",
            f"{p['seconds']:.0f} ({p['add_many_seconds']:.0f})",
        ]
        for p in m["checkpoints"]
    ]
    table = md_table(
        [
            "portfolio images",
            "descriptors",
            "accounted MiB",
            "RSS growth MiB",
            "peak RSS growth MiB (so far)",
            "build s (add_many s)",
        ],
        rows,
    )
    q = r["queries"]
    lines = [
        f"Copy index memory, measured: {m['images']:,} portfolio images ({r['base_images']:,}"
        f" with real ORB features, {r['replicas']:,} replicas with {r['replica_descriptors']}"
        " per descriptor: distinct descriptors, not duplicates).",
        "",
        table,
        "",
        f"- final: {m['descriptors']:,} descriptors, {m['ivf_lists']:,} IVF lists; accounted "
        f"{m['accounted_mib']:,.0f} MiB; RSS growth {m['rss_growth_mib']:,.0f} MiB "
        f"({m['rss_growth_after_malloc_trim_mib']:,.0f} after malloc_trim)",
        f"- RSS before the index (base features held) {m['rss_before_index_mib']:,.0f} MiB, "
        f"after {m['rss_after_mib']:,.0f} MiB; peak during the build "
        f"{m['peak_rss_during_build_mib'] or 0:,.0f} MiB; ru_maxrss {m['ru_maxrss_mib']:,.0f} MiB",
        f"- build {m['build_seconds']:.0f} s, of which add_many {m['add_many_seconds']:.0f} s; "
        f"base features extracted in {r['base_extract_seconds']:.0f} s",
    ]
    if q:
        lines.append(
            f"- candidates() at the final size: {q['candidates_cpu_ms_mean']:.1f} ms thread CPU "
            f"mean (p95 {q['candidates_cpu_ms_p95']:.1f}) over {q['queries']} edited scene "
            f"originals; original or a replica in the top 5: {q['found_original_or_replica']}"
        )
    k = r.get("kept")
    if k:
        lines.append(
            f"- kept on disk (`--kept`): saved in {k['save_seconds']:.1f} s, "
            f"{k['file_mib']:,.0f} MiB of files; loaded in {k['load_seconds']:.1f} s "
            f"(RSS +{k['rss_growth_of_load_mib']:,.0f} MiB) instead of the "
            f"{m['add_many_seconds']:.0f} s build; {k['queries_answered_identically']} of "
            f"{k['queries_compared']} edited originals' searches answered identically"
        )
    start, end = r["load_average_at_start"], r["load_average_at_end"]
    lines.append(f"- load average (1/5/15 min) at start {start}, at end {end}")
    return "\n".join(lines)


if __name__ == "__main__":
    run_main(main)
