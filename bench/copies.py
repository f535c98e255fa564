"""Copy detection (issue 22): edits of known kind found, face replacements called, no false
"derived" on unrelated images, CPU per scanned image at 10,000 portfolio images, portfolio
index memory, and still-image scan throughput with and without the portfolio.

The set is built here from ../shared/faces: the scenes split in two (even-numbered ones are
the portfolio originals, odd-numbered ones, other photos of the same people, negatives);
LFW split by identity (one half pads the portfolio as single images and 2x2 mosaics to
10,000 images, the other half, singles and mosaics, are negatives); every original edited
11 ways plus its face replaced by an LFW face (OpenCV seamless cloning).

    nice -n 10 .venv/bin/python -m bench.copies [--portfolio 10000] [--negatives 5000]
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import faiss
import numpy as np

from bench.common import (
    load_bench_engine,
    machine_facts,
    require_shared_faces,
    run_main,
    write_results,
)
from indexer.blobs import open_blob_store
from indexer.copies.detector import CopyDetector
from indexer.copies.store import PortfolioStore, portfolio_store
from indexer.copies.tables import PORTFOLIO_REVISION, PortfolioImage
from indexer.db import Agency, Database, Talent, bump_revisions
from indexer.engine import FaceEngine
from indexer.imaging import open_photo
from indexer.index_manager import IndexManager
from indexer.scanning import scan_photo
from indexer.settings import IndexerSettings
from tests.support import copies as edits

EDITS = (
    "crop50",
    "crop25",
    "scale0.3",
    "scale2",
    "jpeg40",
    "colour",
    "mirror",
    "caption",
    "logo",
    "letterbox",
    "crop50+colour",
)


def edit(kind: str, bgr: np.ndarray, centre: tuple[float, float]) -> bytes:
    if kind == "crop50":
        return edits.jpeg(edits.crop_area(bgr, 0.5, centre))
    if kind == "crop25":
        return edits.jpeg(edits.crop_area(bgr, 0.25, centre))
    if kind == "scale0.3":
        return edits.jpeg(edits.rescale(bgr, 0.3))
    if kind == "scale2":
        return edits.jpeg(edits.rescale(bgr, 2.0))
    if kind == "jpeg40":
        return edits.jpeg(bgr, 40)
    if kind == "colour":
        return edits.jpeg(edits.recolour(bgr))
    if kind == "mirror":
        return edits.jpeg(edits.mirror(bgr))
    if kind == "caption":
        return edits.jpeg(edits.caption(bgr))
    if kind == "logo":
        return edits.jpeg(edits.logo(bgr))
    if kind == "letterbox":
        return edits.jpeg(edits.letterbox(bgr))
    return edits.jpeg(edits.recolour(edits.crop_area(bgr, 0.5, centre)))


def mosaic(paths: list[Path], rng: random.Random) -> bytes:
    tiles = [np.asarray(cv2.imread(str(p))) for p in paths]
    canvas = np.full((300, 300, 3), rng.randrange(40, 200), np.uint8)
    for n, tile in enumerate(tiles):
        y, x = divmod(n, 2)
        canvas[y * 150 : y * 150 + 150, x * 150 : x * 150 + 150] = tile[:150, :150]
    return edits.jpeg(canvas)


def build_set(faces: Path, portfolio_size: int, negatives: int) -> dict[str, Any]:
    rng = random.Random(22)
    scenes = sorted((faces / "scenes").glob("*/*.jpg"))
    originals, same_people = scenes[0::2], scenes[1::2]
    identities = sorted(p for p in (faces / "lfw").iterdir() if p.is_dir())
    half_a = [f for d in identities[0::2] for f in sorted(d.glob("*.jpg"))]
    half_b = [f for d in identities[1::2] for f in sorted(d.glob("*.jpg"))]
    padding: list[bytes] = [p.read_bytes() for p in half_a]
    while len(originals) + len(padding) < portfolio_size:
        padding.append(mosaic(rng.sample(half_a, 4), rng))
    padding = padding[: portfolio_size - len(originals)]
    unrelated: list[tuple[str, bytes]] = [
        (f"scene:{p.parent.name}/{p.name}", p.read_bytes()) for p in same_people
    ]
    unrelated += [(f"lfw:{p.name}", p.read_bytes()) for p in half_b]
    while len(unrelated) < negatives:
        unrelated.append(("mosaic", mosaic(rng.sample(half_b, 4), rng)))
    donors = [p for p in half_b[:200]]
    return {"originals": originals, "padding": padding, "unrelated": unrelated, "donors": donors}


def register(
    db: Database, store: PortfolioStore, engine: FaceEngine, data: dict[str, Any]
) -> dict[Path, int]:
    ids: dict[Path, int] = {}
    with db.session() as session:
        agency = Agency(name="Bench")
        session.add(agency)
        session.flush()
        talent = Talent(agency_id=agency.id, name="Original")
        pad = Talent(agency_id=agency.id, name="Padding")
        session.add_all([talent, pad])
        session.flush()
        for path in data["originals"]:
            raw = path.read_bytes()
            photo = open_photo(raw)
            faces = engine.analyse(photo)
            box = max(faces, key=lambda f: f.width * f.height).box if faces else None
            row = _row(store, talent.id, f"{path.parent.name}-{path.name}", raw, photo, box)
            session.add(row)
            session.flush()
            ids[path] = row.id
        for n, raw in enumerate(data["padding"]):
            session.add(_row(store, pad.id, f"pad-{n}.jpg", raw, open_photo(raw), None))
        bump_revisions(session, {PORTFOLIO_REVISION})
    return ids


def _row(
    store: PortfolioStore, talent_id: int, name: str, raw: bytes, photo: Any, box: Any
) -> PortfolioImage:
    stored = store.save(talent_id=talent_id, name=name, data=raw)
    x1, y1, x2, y2 = box or (None, None, None, None)
    return PortfolioImage(
        talent_id=talent_id,
        sha256=photo.sha256,
        name=name,
        width=photo.width,
        height=photo.height,
        face_x1=x1,
        face_y1=y1,
        face_x2=x2,
        face_y2=y2,
        stored_path=stored,
    )


def measure_edits(
    detector: CopyDetector, engine: FaceEngine, data: dict[str, Any], ids: dict[Path, int]
) -> dict[str, Any]:
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    replaced = [0, 0, 0]  # called, found at all, total
    false_replaced = 0
    rng = random.Random(7)
    for path in data["originals"]:
        bgr = np.asarray(cv2.imread(str(path)))
        photo0 = open_photo(path.read_bytes())
        faces0 = engine.analyse(photo0)
        box = max(faces0, key=lambda f: f.width * f.height).box if faces0 else None
        centre = edits.face_centre(box, bgr)
        for kind in EDITS:
            photo = open_photo(edit(kind, bgr, centre))
            hits = detector.find(photo, engine.analyse(photo))
            hit = next((h for h in hits if h.portfolio_image_id == ids[path]), None)
            found[kind][1] += 1
            found[kind][0] += hit is not None
            false_replaced += bool(hit and hit.face_replaced)
        if box is None:
            continue
        donor_path = rng.choice(data["donors"])
        donor = np.asarray(cv2.imread(str(donor_path)))
        donor_box = edits.largest_face(engine, donor)
        if donor_box is None:
            continue
        photo = open_photo(edits.jpeg(edits.paste_face(bgr, box, donor, donor_box)))
        hits = detector.find(photo, engine.analyse(photo))
        hit = next((h for h in hits if h.portfolio_image_id == ids[path]), None)
        replaced[2] += 1
        replaced[1] += hit is not None
        replaced[0] += bool(hit and hit.face_replaced)
    total = sum(v[1] for v in found.values())
    copies_found = sum(v[0] for v in found.values())
    return {
        "edits": total,
        "found": copies_found,
        "found_share": copies_found / total,
        "per_kind": {k: f"{v[0]}/{v[1]}" for k, v in found.items()},
        "untouched_faces_called_replaced": false_replaced,
        "face_replacements": replaced[2],
        "face_replacements_found": replaced[1],
        "face_replacements_called": replaced[0],
        "face_replaced_share": replaced[0] / max(1, replaced[2]),
    }


def measure_negatives(detector: CopyDetector, data: dict[str, Any]) -> dict[str, Any]:
    false: list[str] = []
    cpu: list[float] = []
    decode: list[float] = []
    for label, raw in data["unrelated"]:
        start = time.process_time()
        photo = open_photo(raw)
        photo.view(photo.reduction_for(max(photo.width, photo.height), 640))
        decode.append(time.process_time() - start)
        start = time.process_time()
        hits = detector.find(photo, [])
        cpu.append(time.process_time() - start)
        if hits:
            false.append(f"{label} -> {[h.portfolio_name for h in hits]}")
    return {
        "unrelated": len(data["unrelated"]),
        "false_derived": len(false),
        "false_examples": false[:10],
        "cpu_ms_mean": 1000 * float(np.mean(cpu)),
        "cpu_ms_p95": 1000 * float(np.percentile(cpu, 95)),
        "decode_ms_mean": 1000 * float(np.mean(decode)),
    }


def measure_throughput(
    engine: FaceEngine, index: IndexManager, detector: CopyDetector, scenes: list[Path]
) -> dict[str, float]:
    datas = [p.read_bytes() for p in scenes]
    out = {}
    for name, copies in (("without", None), ("with", detector)):
        start = time.perf_counter()
        for raw in datas:
            scan_photo(
                open_photo(raw), analyser=engine, index=index, candidates_per_face=3, copies=copies
            )
        out[f"{name}_ms_per_image"] = 1000 * (time.perf_counter() - start) / len(datas)
    out["slowdown"] = out["with_ms_per_image"] / out["without_ms_per_image"] - 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--portfolio", type=int, default=10_000)
    parser.add_argument("--negatives", type=int, default=5_000)
    args = parser.parse_args()
    faces = require_shared_faces()
    faiss.omp_set_num_threads(IndexerSettings().faiss_threads)  # as the service runs it
    engine = load_bench_engine()
    data = build_set(faces, args.portfolio, args.negatives)
    with tempfile.TemporaryDirectory() as tmp:
        settings = IndexerSettings(data_dir=Path(tmp))
        db = Database(settings.resolved_database_url())
        db.create_all()
        store = portfolio_store(settings, open_blob_store(settings))
        print(
            f"set built: {len(data['padding'])} padding, {len(data['unrelated'])} unrelated",
            flush=True,
        )
        ids = register(db, store, engine, data)
        print("registered", flush=True)
        detector = CopyDetector(db=db, store=store, analyser=engine)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        detector.ensure_current()
        build_s = time.perf_counter() - start
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        index = detector.index
        per_image = detector.memory_bytes() / index.images
        results: dict[str, Any] = {
            "machine": machine_facts(),
            "portfolio_images": index.images,
            "descriptors": index.descriptors,
            "index_build_s": build_s,
            "index_memory_mb_10k": detector.memory_bytes() / 2**20,
            "index_memory_mb_100k_extrapolated": per_image * 100_000 / 2**20,
            "max_rss_growth_mb_during_build": (rss1 - rss0) / 1024,
        }
        print(f"index built in {build_s:.0f} s", flush=True)
        results["edits"] = measure_edits(detector, engine, data, ids)
        print("edits measured", flush=True)
        results["negatives"] = measure_negatives(detector, data)
        print("negatives measured", flush=True)
        face_index = IndexManager(db=db, pack=engine.pack, settings=settings)
        face_index.open()
        results["throughput"] = measure_throughput(
            engine,
            face_index,
            detector,
            data["originals"] + [p for p in sorted((faces / "scenes").glob("*/*.jpg"))[1::2]],
        )
        db.dispose()
    e, n, t = results["edits"], results["negatives"], results["throughput"]
    markdown = "\n".join(
        [
            "# Copy detection (issue 22)",
            "",
            f"- portfolio: {results['portfolio_images']} images, {results['descriptors']:,} "
            f"descriptors (original + mirrored), built in {build_s:.0f} s",
            f"- index memory: {results['index_memory_mb_10k']:.0f} MiB at this size "
            f"(accounted); {results['index_memory_mb_100k_extrapolated']:.0f} MiB at 100k "
            "(extrapolated per image)",
            f"- edits found: {e['found']}/{e['edits']} ({e['found_share']:.1%}); "
            f"per kind: {e['per_kind']}",
            f"- untouched copies called 'face replaced': {e['untouched_faces_called_replaced']}",
            f"- face replacements called 'face replaced': {e['face_replacements_called']}/"
            f"{e['face_replacements']} ({e['face_replaced_share']:.1%}; found at all "
            f"{e['face_replacements_found']})",
            f"- unrelated images: {n['unrelated']}, false 'derived': {n['false_derived']} "
            f"{n['false_examples']}",
            f"- copy detection CPU per scanned image: mean {n['cpu_ms_mean']:.1f} ms, p95 "
            f"{n['cpu_ms_p95']:.1f} ms (decode at <= 640 px: {n['decode_ms_mean']:.1f} ms)",
            f"- still-image scan (61 scenes, 1 thread): {t['without_ms_per_image']:.0f} ms "
            f"without, {t['with_ms_per_image']:.0f} ms with the portfolio ({t['slowdown']:+.1%})",
        ]
    )
    write_results("copies", results, markdown)


if __name__ == "__main__":
    run_main(main)
