"""Scenes (issue #4 §4): register each identity from one photo, scan the others.

    python -m bench.scenes

Through the product end to end: a temporary registry (SQLite) with the real quality gate
(``Registry.enrol_photos``), then ``scan_bytes`` on every other photo (decode, detect,
embed, search, one-to-one assignment, bands). Scored per face:

* the photo's subject (the labelled person; ``bench/data/scenes_subjects.json`` says which
  face it is where bystanders are visible) should be assigned its own talent;
* every other face (a bystander) should be assigned no talent.

Precision = correct assignments / all assignments; recall = subjects assigned their own
talent / subjects. Both are given counting ``match`` only and ``match`` + ``possible``.
The same photos are also scanned as variants: the face filling the frame (tight crops of
the subject's box, with 10% margin and with none) and small faces (the photo shrunk so the
subject's face is 48, 32, 24 and 16 px wide), re-encoded as JPEG (quality 95).
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import (
    PROJECT_ROOT,
    bench_settings,
    facts_line,
    load_bench_engine,
    machine_facts,
    md_table,
    pct,
    require_shared_faces,
    run_main,
    write_results,
)
from bench.plots import bar_plot
from indexer.db import Database
from indexer.engine import FaceEngine
from indexer.imaging import decode_image
from indexer.index_manager import IndexManager
from indexer.photos import reference_photos
from indexer.registry import PhotoInput, Registry
from indexer.scanning import ImageScan, scan_bytes
from indexer.settings import IndexerSettings

SUBJECTS_FILE = PROJECT_ROOT / "bench" / "data" / "scenes_subjects.json"
Box = tuple[float, float, float, float]


def scene_photos(root: Path | None = None) -> dict[str, list[Path]]:
    """identity -> photos, in the order of their number (the first registers the talent)."""
    root = root or require_shared_faces("scenes")
    return {
        folder.name: sorted(folder.glob("*.jpg"), key=lambda p: int(p.stem[3:]))
        for folder in sorted(root.iterdir())
        if folder.is_dir()
    }


def subject_annotations() -> dict[str, Box]:
    raw = json.loads(SUBJECTS_FILE.read_text(encoding="utf-8"))["subjects"]
    return {key: (float(b[0]), float(b[1]), float(b[2]), float(b[3])) for key, b in raw.items()}


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class TempRegistry:
    registry: Registry
    settings: IndexerSettings
    db: Database

    def close(self) -> None:
        self.db.dispose()


def temp_registry(engine: FaceEngine, directory: Path) -> TempRegistry:
    """The product's registry on a fresh SQLite database in ``directory``."""
    settings = bench_settings(data_dir=directory, keep_reference_photos=False).model_copy(
        update={"model_cache_dir": bench_settings().resolved_model_cache_dir()}
    )
    directory.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url())
    db.create_all()
    registry = Registry(
        db=db,
        analyser=engine,
        index=IndexManager(db=db, pack=engine.pack, settings=settings),
        photos=reference_photos(settings),
        settings=settings,
    )
    registry.recover()
    return TempRegistry(registry, settings, db)


def register_scenes(
    registry: Registry, photos: dict[str, list[Path]]
) -> tuple[dict[str, int], dict[str, Path], list[str]]:
    """Each identity from its first photo the quality gate accepts."""
    agency = registry.ensure_agency(name="scenes")
    talents: dict[str, int] = {}
    references: dict[str, Path] = {}
    notes: list[str] = []
    for identity, files in photos.items():
        talent, _ = registry.ensure_talent(agency_id=agency.id, name=identity)
        for path in files:
            [outcome] = registry.enrol_photos(
                talent_id=talent.id, photos=[PhotoInput(path.name, path.read_bytes())]
            )
            if outcome.accepted:
                talents[identity], references[identity] = talent.id, path
                break
            notes.append(
                f"{identity}/{path.name} rejected as reference: {'; '.join(outcome.reasons)}"
            )
    return talents, references, notes


# --- variants ---------------------------------------------------------------------------------
Variant = Callable[[bytes, Box], tuple[bytes, Box] | None]


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def fill_frame(margin: float) -> Variant:
    def make(data: bytes, subject: Box) -> tuple[bytes, Box] | None:
        image = Image.open(io.BytesIO(data))
        x1, y1, x2, y2 = subject
        w, h = x2 - x1, y2 - y1
        box = (
            max(0, x1 - margin * w),
            max(0, y1 - margin * h),
            min(image.width, x2 + margin * w),
            min(image.height, y2 + margin * h),
        )
        left, top, right, bottom = (round(v) for v in box)
        crop = image.crop((left, top, right, bottom))
        shifted = (x1 - round(box[0]), y1 - round(box[1]), x2 - round(box[0]), y2 - round(box[1]))
        return _jpeg(crop), shifted

    return make


def small_face(face_px: int) -> Variant:
    def make(data: bytes, subject: Box) -> tuple[bytes, Box] | None:
        image = Image.open(io.BytesIO(data))
        scale = face_px / (subject[2] - subject[0])
        if scale >= 1:
            return None  # the face is already this small
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        resized = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
        return _jpeg(resized), tuple(v * scale for v in subject)  # type: ignore[return-value]

    return make


VARIANTS: dict[str, Variant | None] = {
    "original photos": None,
    "face fills the frame (10% margin)": fill_frame(0.10),
    "face fills the frame (tight crop)": fill_frame(0.0),
    "small face (48 px)": small_face(48),
    "small face (32 px)": small_face(32),
    "small face (24 px)": small_face(24),
    "small face (16 px)": small_face(16),
}


# --- scoring ------------------------------------------------------------------------------------
@dataclass
class Tally:
    subjects: int = 0
    subjects_detected: int = 0
    bystanders: int = 0
    correct_match: int = 0
    correct_any: int = 0
    assigned_match: int = 0
    assigned_any: int = 0
    wrong_match: int = 0
    wrong_any: int = 0

    def figures(self) -> dict[str, Any]:
        def ratio(a: int, b: int) -> float | None:
            return a / b if b else None

        return {
            **self.__dict__,
            "precision_match": ratio(self.correct_match, self.assigned_match),
            "recall_match": ratio(self.correct_match, self.subjects),
            "precision_any": ratio(self.correct_any, self.assigned_any),
            "recall_any": ratio(self.correct_any, self.subjects),
            "detection_rate": ratio(self.subjects_detected, self.subjects),
        }


def subject_index(scan: ImageScan, subject: Box | None) -> int | None:
    if not scan.faces:
        return None
    if subject is None:
        return (
            0 if len(scan.faces) == 1 else int(np.argmax([f.detection_score for f in scan.faces]))
        )
    overlaps = [iou(face.box, subject) for face in scan.faces]
    best = int(np.argmax(overlaps))
    return best if overlaps[best] >= 0.3 else None


def score_scan(
    tally: Tally,
    scan: ImageScan,
    subject: Box | None,
    talent_id: int,
    log: list[dict[str, Any]],
    label: str,
) -> None:
    position = subject_index(scan, subject)
    tally.subjects += 1
    tally.subjects_detected += position is not None
    for index, face in enumerate(scan.faces):
        is_subject = index == position
        tally.bystanders += not is_subject
        if face.talent is None:
            continue
        right = is_subject and face.talent.talent_id == talent_id
        tally.assigned_any += 1
        tally.correct_any += right
        tally.wrong_any += not right
        if face.band == "match":
            tally.assigned_match += 1
            tally.correct_match += right
            tally.wrong_match += not right
        if not right:
            log.append(
                {
                    "photo": label,
                    "face": index,
                    "subject": is_subject,
                    "assigned": face.talent.talent_name,
                    "band": face.band.value,
                    "similarity": round(face.talent.similarity, 4),
                }
            )
    if position is not None and scan.faces[position].talent is None:
        best = scan.faces[position].candidates[:1]
        log.append(
            {
                "photo": label,
                "face": position,
                "subject": True,
                "assigned": None,
                "best_candidate": best[0].talent_name if best else None,
                "similarity": round(best[0].similarity, 4) if best else None,
            }
        )
    elif position is None:
        log.append(
            {
                "photo": label,
                "subject": True,
                "assigned": None,
                "note": "subject's face not detected",
            }
        )


def run_scenes(engine: FaceEngine) -> dict[str, Any]:
    photos = scene_photos()
    annotations = subject_annotations()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="twinwatch-scenes-") as tmp:
        temp = temp_registry(engine, Path(tmp))
        try:
            registry = temp.registry
            talents, references, notes = register_scenes(registry, photos)
            for name, variant in VARIANTS.items():
                tally, log = Tally(), list[dict[str, Any]]()
                for identity, files in photos.items():
                    if identity not in talents:
                        continue
                    for path in files:
                        if path == references[identity]:
                            continue
                        key = f"{identity}/{path.name}"
                        data = path.read_bytes()
                        subject = _subject_box(data, annotations.get(key))
                        if variant is not None:
                            if subject is None:  # locate the subject in the original
                                first = scan_bytes(
                                    data,
                                    analyser=engine,
                                    index=registry.index,
                                    max_pixels=temp.settings.max_image_pixels,
                                    candidates_per_face=3,
                                )
                                at = subject_index(first, None)
                                if at is None:
                                    continue
                                subject = first.faces[at].box
                            made = variant(data, subject)
                            if made is None:
                                continue
                            data, subject = made
                        scan = scan_bytes(
                            data,
                            analyser=engine,
                            index=registry.index,
                            max_pixels=temp.settings.max_image_pixels,
                            candidates_per_face=3,
                        )
                        if subject is None and len(scan.faces) > 1 and variant is None:
                            print(
                                f"  warning: {key}: {len(scan.faces)} faces and no subject "
                                "annotation; taking the highest detection score"
                            )
                        score_scan(tally, scan, subject, talents[identity], log, key)
                results[name] = {**tally.figures(), "errors": log}
                f = results[name]
                print(
                    f"  {name}: precision {pct(f['precision_match'])} recall "
                    f"{pct(f['recall_match'])} (match); {f['subjects']} photos",
                    flush=True,
                )
        finally:
            temp.close()
    return {
        "variants": results,
        "registered": len(talents),
        "identities": len(photos),
        "scanned_photos": sum(len(f) for f in photos.values()) - len(references),
        "reference_notes": notes,
        "references": {k: v.name for k, v in references.items()},
    }


def _subject_box(data: bytes, relative: Box | None) -> Box | None:
    if relative is None:
        return None
    image = decode_image(data, max_pixels=10**9)
    w, h = image.width, image.height
    return (relative[0] * w, relative[1] * h, relative[2] * w, relative[3] * h)


def main() -> None:
    facts = machine_facts()
    engine = load_bench_engine()
    result = run_scenes(engine)
    thresholds = engine.pack.thresholds
    rows = []
    for name, f in result["variants"].items():
        rows.append(
            [
                name,
                f["subjects"],
                f["bystanders"],
                pct(f["detection_rate"], 1),
                pct(f["precision_match"], 1),
                pct(f["recall_match"], 1),
                pct(f["precision_any"], 1),
                pct(f["recall_any"], 1),
                f"{f['wrong_match']} / {f['wrong_any']}",
            ]
        )
    md = "\n".join(
        [
            f"## Scenes — {engine.manifest.ref}",
            "",
            facts_line(facts),
            "",
            f"{result['registered']} of {result['identities']} identities registered from one "
            f"photo each through the product's quality gate; {result['scanned_photos']} other "
            f"photos scanned with `scan_bytes`. Thresholds: match ≥ {thresholds.match}, "
            f"possible ≥ {thresholds.possible}. Per face: the labelled person should get their "
            "talent, bystanders none.",
            "",
            md_table(
                [
                    "photos",
                    "subjects",
                    "bystander faces",
                    "subject detected",
                    "precision (match)",
                    "recall (match)",
                    "precision (match+possible)",
                    "recall (match+possible)",
                    "wrong assignments (match / any)",
                ],
                rows,
            ),
            "",
            *(f"- {note}" for note in result["reference_notes"]),
        ]
    )
    variants = result["variants"]
    plot = bar_plot(
        "scenes_recall",
        list(variants),
        [
            ("recall (match)", [v["recall_match"] for v in variants.values()]),
            ("recall (match+possible)", [v["recall_any"] for v in variants.values()]),
            ("precision (match)", [v["precision_match"] for v in variants.values()]),
        ],
        title=f"Scenes per face, {engine.manifest.name}",
        ylabel="rate",
    )
    write_results(
        "scenes",
        {
            "benchmark": "scenes",
            "facts": facts,
            "plot": str(plot) if plot else None,
            "pack": engine.manifest.ref,
            "thresholds": {"match": thresholds.match, "possible": thresholds.possible},
            **result,
        },
        md,
    )


if __name__ == "__main__":
    run_main(main)
