"""Demo and test fixtures built from photos that ship inside installed packages.

No third-party photo is stored in this repository: ``data/demo/demo.json`` names a photo
inside an installed package and the face boxes to cut reference photos from.
"""

from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from indexer.errors import TwinwatchError
from indexer.imaging import decode_image
from indexer.registry import EnrolOutcome, PhotoInput, Registry
from indexer.settings import PROJECT_ROOT

DEMO_FIXTURE = PROJECT_ROOT / "data" / "demo" / "demo.json"


@dataclass(frozen=True)
class DemoTalent:
    name: str
    box: tuple[int, int, int, int]
    scale: float
    rotate_deg: float
    jpeg_quality: int


@dataclass(frozen=True)
class DemoFixture:
    agency: str
    reference_source: Path
    talents: list[DemoTalent]
    scan: list[Path]


def package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise TwinwatchError(f"Package {package!r} is not installed.")
    path = Path(spec.origin).parent / relative
    if not path.is_file():
        raise TwinwatchError(f"{package} has no file {relative}.")
    return path


def load_demo_fixture(path: Path = DEMO_FIXTURE) -> DemoFixture:
    raw = json.loads(path.read_text(encoding="utf-8"))
    source = raw["reference_source"]
    return DemoFixture(
        agency=raw["agency"],
        reference_source=package_file(source["package"], source["path"]),
        talents=[
            DemoTalent(t["name"], tuple(t["box"]), t["scale"], t["rotate_deg"], t["jpeg_quality"])
            for t in raw["talents"]
        ],
        scan=[package_file(item["package"], item["path"]) for item in raw["scan"]],
    )


def reference_from_crop(
    image_bgr: npt.NDArray[np.uint8],
    box: tuple[int, int, int, int],
    *,
    scale: float,
    rotate_deg: float,
    jpeg_quality: int,
    margin: float = 0.6,
) -> bytes:
    """A new 'photo' of one face: crop with margin, rescale, rotate, JPEG-recompress."""
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    height, width = image_bgr.shape[:2]
    left, top = max(0, math.floor(x1 - mx)), max(0, math.floor(y1 - my))
    right, bottom = min(width, math.ceil(x2 + mx)), min(height, math.ceil(y2 + my))
    crop = image_bgr[top:bottom, left:right]
    crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    centre = (crop.shape[1] / 2, crop.shape[0] / 2)
    rotation = cv2.getRotationMatrix2D(centre, rotate_deg, 1.0)
    crop = cv2.warpAffine(
        crop, rotation, (crop.shape[1], crop.shape[0]), borderMode=cv2.BORDER_REFLECT
    )
    ok, encoded = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:
        raise TwinwatchError("Could not encode the demo reference photo.")
    return bytes(encoded.tobytes())


def enrol_demo_talents(
    registry: Registry, fixture: DemoFixture, *, max_pixels: int
) -> list[tuple[str, int, EnrolOutcome]]:
    """Register the fixture's talents from their crops (idempotent): (name, id, outcome)."""
    source = decode_image(fixture.reference_source.read_bytes(), max_pixels=max_pixels).bgr
    agency = registry.ensure_agency(name=fixture.agency)
    enrolled = []
    for item in fixture.talents:
        talent, _ = registry.ensure_talent(agency_id=agency.id, name=item.name)
        photo = reference_from_crop(
            source,
            item.box,
            scale=item.scale,
            rotate_deg=item.rotate_deg,
            jpeg_quality=item.jpeg_quality,
        )
        [outcome] = registry.enrol_photos(
            talent_id=talent.id, photos=[PhotoInput(f"{item.name} (crop)", photo)]
        )
        enrolled.append((item.name, talent.id, outcome))
    return enrolled
