"""How long a process takes to build its portfolio copy index (issue 22): from the stored
originals (decode and ORB-extract each: what every process start paid before the features
were kept), the first start after upgrading (the same, and the features written beside
each original), and from the kept features (every start after that).

The portfolio is ``bench.copies``'s (scene originals, LFW singles and 2x2 mosaics), on the
folder blob store, registered as a portfolio from before this change (no kept features).

    nice -n 10 .venv/bin/python -u -m bench.copy_index_build [--sizes 1000 3000]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss

from bench.common import machine_facts, md_table, require_shared_faces, run_main, write_results
from bench.copies import build_set
from indexer.blobs import open_blob_store
from indexer.copies import detector as detector_module
from indexer.copies.detector import CopyDetector
from indexer.copies.features import Features
from indexer.copies.index import IndexedImage
from indexer.copies.store import PortfolioStore, portfolio_store
from indexer.copies.tables import PORTFOLIO_REVISION, PortfolioImage
from indexer.db import Agency, Database, Talent, bump_revisions
from indexer.imaging import open_photo
from indexer.settings import IndexerSettings
from tests.support.fakes import FakeAnalyser

log = logging.getLogger(__name__)


class NotKept(PortfolioStore):
    """A store that never writes features (the build as it was before they were kept)."""

    def refresh_features(self, stored_path: str, features: tuple[Features, Features]) -> None:
        return None


def register_without_features(db: Database, store: PortfolioStore, data: dict[str, Any]) -> int:
    """The originals and rows only, as a portfolio registered before features were kept."""
    raws = [p.read_bytes() for p in data["originals"]] + list(data["padding"])
    with db.session() as session:
        agency = Agency(name="Bench")
        session.add(agency)
        session.flush()
        talent = Talent(agency_id=agency.id, name="Portfolio")
        session.add(talent)
        session.flush()
        for raw in raws:
            photo = open_photo(raw)
            name = f"{photo.sha256}.{photo.source_format.lower()}"
            stored = store.save(talent_id=talent.id, name=name, data=raw)
            session.add(
                PortfolioImage(
                    talent_id=talent.id,
                    sha256=photo.sha256,
                    name=name,
                    width=photo.width,
                    height=photo.height,
                    stored_path=stored,
                )
            )
        bump_revisions(session, {PORTFOLIO_REVISION})
    return len(raws)


def timed_build(db: Database, store: PortfolioStore) -> dict[str, Any]:
    detector = CopyDetector(db=db, store=store, analyser=FakeAnalyser())
    adding = 0.0
    add_many = detector.index.add_many

    def timed_add(items: list[tuple[IndexedImage, Features]]) -> None:
        nonlocal adding
        started = time.perf_counter()
        add_many(items)
        adding += time.perf_counter() - started

    detector.index.add_many = timed_add  # type: ignore[method-assign]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    detector.ensure_current()
    return {
        "seconds": time.perf_counter() - started,
        "faiss_add_seconds": adding,
        "images": detector.index.images,
        "descriptors": detector.index.descriptors,
        "load_average_1m_at_start": round(load, 2),
    }


def folder_bytes(root: Path, keep: Callable[[Path], bool]) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and keep(p))


def measure(faces: Path, size: int, *, with_originals: bool = True) -> dict[str, Any]:
    data = build_set(faces, size, 0)
    with tempfile.TemporaryDirectory() as tmp:
        settings = IndexerSettings(data_dir=Path(tmp))
        db = Database(settings.resolved_database_url())
        db.create_all()
        store = portfolio_store(settings, open_blob_store(settings))
        images = register_without_features(db, store, data)
        print(f"{images} images registered", flush=True)
        files = None
        if with_originals:
            before = detector_module.EXTRACT_THREADS
            detector_module.EXTRACT_THREADS = 1  # one at a time, as the build was
            try:
                files = timed_build(db, NotKept(store.blobs, store.area))
            finally:
                detector_module.EXTRACT_THREADS = before
            print(f"from the originals: {files['seconds']:.1f} s", flush=True)
        upgrade = timed_build(db, store)
        print(f"first start after the upgrade: {upgrade['seconds']:.1f} s", flush=True)
        kept = timed_build(db, store)
        print(f"from the kept features: {kept['seconds']:.1f} s", flush=True)
        root = Path(tmp) / "portfolio"
        db.dispose()
        return {
            "images": images,
            "from_originals": files,
            "first_start_after_upgrade": upgrade,
            "from_kept_features": kept,
            "originals_bytes": folder_bytes(root, lambda p: p.suffix != ".orb"),
            "features_bytes": folder_bytes(root, lambda p: p.suffix == ".orb"),
        }


def _reading(build: dict[str, Any]) -> float:
    """The build's time outside the FAISS add: reading or extracting the features."""
    return max(1e-3, float(build["seconds"] - build["faiss_add_seconds"]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000])
    parser.add_argument(
        "--skip-originals",
        action="store_true",
        help="Skip the build from the originals one at a time (the slowest, as it was).",
    )
    args = parser.parse_args()
    faces = require_shared_faces()
    faiss.omp_set_num_threads(IndexerSettings().faiss_threads)  # as the service runs it
    facts = machine_facts()
    results = {
        size: measure(faces, size, with_originals=not args.skip_originals) for size in args.sizes
    }
    keys = ("from_originals", "first_start_after_upgrade", "from_kept_features")

    def cell(build: dict[str, Any] | None) -> str:
        if build is None:
            return "-"
        return f"{build['seconds']:.1f} s ({build['faiss_add_seconds']:.1f} s)"

    rows = [
        [
            size,
            *(cell(r[k]) for k in keys),
            f"{(r[keys[0]] or r[keys[1]])['seconds'] / r[keys[2]]['seconds']:.1f}x",
            f"{_reading(r[keys[0]] or r[keys[1]]) / _reading(r[keys[2]]):.0f}x",
            f"{r['features_bytes'] / r['images'] / 1024:.0f} KiB",
            " / ".join(str(r[k]["load_average_1m_at_start"]) for k in keys if r[k]),
        ]
        for size, r in results.items()
    ]
    table = md_table(
        [
            "portfolio images",
            "from the originals (of which FAISS add)",
            "first start after upgrade, features written (FAISS add)",
            "from the kept features (FAISS add)",
            "speed-up",
            "speed-up of the features' part (without the FAISS add)",
            "features per image",
            "load average at each start",
        ],
        rows,
    )
    write_results("copy_index_build", {"facts": facts, "results": results}, table)


if __name__ == "__main__":
    run_main(main)
