"""The real default model pack on real photos that ship inside installed packages."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from indexer.demo_fixtures import DemoFixture, load_demo_fixture, reference_from_crop
from indexer.engine import Face, FaceEngine
from indexer.imaging import decode_image
from indexer.index_manager import IndexManager
from indexer.photos import reference_photos
from indexer.registry import PhotoInput, Registry
from indexer.scanning import scan_bytes
from indexer.settings import IndexerSettings

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def fixture() -> DemoFixture:
    return load_demo_fixture()


@pytest.fixture(scope="module")
def group_bgr(fixture: DemoFixture) -> np.ndarray:
    return decode_image(fixture.reference_source.read_bytes(), max_pixels=10**8).bgr


def centre_distance(face: Face, box: tuple[int, int, int, int]) -> float:
    return float(
        np.hypot(
            (face.box[0] + face.box[2] - box[0] - box[2]) / 2,
            (face.box[1] + face.box[3] - box[1] - box[3]) / 2,
        )
    )


def jpeg(bgr: np.ndarray, quality: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bytes(data.tobytes())


@pytest.fixture
def real_registry(  # type: ignore[no-untyped-def]
    real_engine: FaceEngine,
    db,
    settings: IndexerSettings,
) -> Registry:
    index = IndexManager(db=db, pack=real_engine.pack, settings=settings)
    registry = Registry(
        db=db,
        analyser=real_engine,
        index=index,
        photos=reference_photos(settings),
        settings=settings,
    )
    registry.recover()
    return registry


def register_group(
    registry: Registry, fixture: DemoFixture, group_bgr: np.ndarray
) -> dict[str, int]:
    agency = registry.ensure_agency(name=fixture.agency)
    talents = {}
    for item in fixture.talents:
        talent, _ = registry.ensure_talent(agency_id=agency.id, name=item.name)
        photo = reference_from_crop(
            group_bgr,
            item.box,
            scale=item.scale,
            rotate_deg=item.rotate_deg,
            jpeg_quality=item.jpeg_quality,
        )
        [outcome] = registry.enrol_photos(
            talent_id=talent.id, photos=[PhotoInput(item.name, photo)]
        )
        assert outcome.accepted, outcome.reasons
        talents[item.name] = talent.id
    return talents


def test_embeddings_are_unit_length_and_name_the_pack(
    real_engine: FaceEngine, group_bgr: np.ndarray
) -> None:
    faces = real_engine.analyse(group_bgr)
    assert len(faces) == 6
    norms = [float(np.linalg.norm(face.embedding)) for face in faces]
    assert np.allclose(norms, 1.0, atol=1e-5)
    assert faces[0].embedding.shape == (128,)
    assert real_engine.pack.name == "opencv-yunet-sface"


def test_scan_finds_all_six_people_with_the_right_identity(
    real_registry: Registry, fixture: DemoFixture, group_bgr: np.ndarray
) -> None:
    talents = register_group(real_registry, fixture, group_bgr)
    result = scan_bytes(
        fixture.reference_source.read_bytes(),
        analyser=real_registry.analyser,
        index=real_registry.index,
        max_pixels=10**8,
        candidates_per_face=6,
    )
    assert len(result.faces) == 6
    thresholds = real_registry.analyser.pack.thresholds
    for item in fixture.talents:
        face = min(
            result.faces,
            key=lambda f: np.hypot(
                (f.box[0] + f.box[2] - item.box[0] - item.box[2]) / 2,
                (f.box[1] + f.box[3] - item.box[1] - item.box[3]) / 2,
            ),
        )
        assert face.talent is not None and face.talent.talent_id == talents[item.name]
        assert face.band == "match", (item.name, face.talent.similarity)
        # No cross-match: every other talent stays below the review threshold.
        others = [c for c in face.candidates if c.talent_id != talents[item.name]]
        assert all(c.similarity < thresholds.possible for c in others), others


def test_unregistered_person_is_not_matched(
    real_registry: Registry, fixture: DemoFixture, group_bgr: np.ndarray
) -> None:
    register_group(real_registry, fixture, group_bgr)
    stranger = fixture.scan[1].read_bytes()
    result = scan_bytes(
        stranger,
        analyser=real_registry.analyser,
        index=real_registry.index,
        max_pixels=10**8,
        candidates_per_face=3,
    )
    assert len(result.faces) == 1
    assert result.faces[0].talent is None and result.faces[0].band == "none"


def test_face_filling_the_whole_frame_is_found(
    real_engine: FaceEngine, fixture: DemoFixture, group_bgr: np.ndarray
) -> None:
    x1, y1, x2, y2 = fixture.talents[3].box
    inset_x, inset_y = (x2 - x1) // 10, (y2 - y1) // 10
    close_up = group_bgr[y1 + inset_y : y2 - inset_y, x1 + inset_x : x2 - inset_x]
    close_up = cv2.resize(close_up, None, fx=6, fy=6, interpolation=cv2.INTER_CUBIC)
    faces = real_engine.analyse(close_up)
    assert len(faces) == 1
    reference = min(
        real_engine.analyse(group_bgr), key=lambda face: centre_distance(face, (x1, y1, x2, y2))
    )
    assert float(faces[0].embedding @ reference.embedding) >= real_engine.pack.thresholds.match


def test_small_faces_in_a_group_shot_are_found(
    real_engine: FaceEngine, group_bgr: np.ndarray
) -> None:
    small = cv2.resize(group_bgr, None, fx=0.35, fy=0.35, interpolation=cv2.INTER_AREA)
    faces = real_engine.analyse(small)
    assert len(faces) == 6
    assert max(min(f.width, f.height) for f in faces) < 50


def test_exif_rotated_photo_gives_the_same_faces(
    real_engine: FaceEngine, group_bgr: np.ndarray
) -> None:
    upright = real_engine.analyse(group_bgr)
    rotated = Image.fromarray(
        np.ascontiguousarray(cv2.rotate(group_bgr, cv2.ROTATE_90_CLOCKWISE)[:, :, ::-1])
    )
    exif = Image.Exif()
    exif[0x0112] = 8  # stored rotated; display rotates it back
    buffer = io.BytesIO()
    rotated.save(buffer, format="JPEG", quality=95, exif=exif)
    decoded = decode_image(buffer.getvalue(), max_pixels=10**8)
    assert decoded.bgr.shape == group_bgr.shape
    faces = real_engine.analyse(decoded.bgr)
    assert len(faces) == len(upright) == 6
    for face in faces:
        twin = min(
            upright,
            key=lambda other: centre_distance(other, tuple(int(v) for v in face.box)),  # type: ignore[arg-type]
        )
        assert float(face.embedding @ twin.embedding) > 0.85


def test_quality_gate_rejects_a_blurred_reference(
    real_registry: Registry, fixture: DemoFixture, group_bgr: np.ndarray
) -> None:
    item = fixture.talents[2]
    sharp = reference_from_crop(group_bgr, item.box, scale=1.5, rotate_deg=0, jpeg_quality=90)
    image = cv2.imdecode(np.frombuffer(sharp, np.uint8), cv2.IMREAD_COLOR)
    blurred = jpeg(cv2.GaussianBlur(image, (0, 0), 6))
    agency = real_registry.ensure_agency(name="A")
    talent, _ = real_registry.ensure_talent(agency_id=agency.id, name="T")
    outcomes = real_registry.enrol_photos(
        talent_id=talent.id,
        photos=[
            PhotoInput("blurred.jpg", blurred),
            PhotoInput("sharp.jpg", sharp),
            PhotoInput("group.jpg", jpeg(group_bgr)),
        ],
    )
    assert [o.accepted for o in outcomes] == [False, True, False]
    assert "blurred" in outcomes[0].reasons[0]
    assert "6 faces of similar size" in outcomes[2].reasons[0]
