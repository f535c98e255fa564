"""A video through `POST /v1/scans` with the real models: tracks with time ranges in the
answer, one alert per talent + video + publisher, usage billed once per video use, and
hostile videos answered 4xx in the error envelope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from bench.clips import Actor, Shot, encode
from indexer.engine import FaceEngine
from service.access.keys import create_key
from service.core.principal import Role
from service.core.tables.alerts import Alert
from service.core.tables.licensing import UsageEvent
from tests.api.test_batch_jobs import drain, submit
from tests.models.test_api_scans import NOW, TALENT, add_licence
from tests.support.console import add_users, sign_in
from tests.support.service import ServiceWorld, face_crop_jpeg, local_server, service_world
from tests.support.takedowns import PROFILE

pytestmark = [pytest.mark.postgres, pytest.mark.model]


@pytest.fixture
def world(tmp_path: Path, real_engine: FaceEngine) -> Iterator[ServiceWorld]:
    with service_world(tmp_path, real_engine, fetch_allow_private_networks=True) as built:
        yield built


def talent_clip(world: ServiceWorld, path: Path) -> bytes:
    """The talent for 2 s, an empty shot for 1 s, the talent again for 2 s (two tracks)."""
    jpeg = np.frombuffer(face_crop_jpeg(world.fixture, TALENT), np.uint8)
    still = np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), np.uint8)
    shots = [
        Shot(2.0, (40, 60, 90), [Actor("T", still, (0.4, 0.5, 0.8), (0.55, 0.5, 0.9))]),
        Shot(1.0, (160, 140, 40)),
        Shot(2.0, (20, 20, 20), [Actor("T", still, (0.5, 0.5, 0.8), (0.5, 0.5, 0.8))]),
    ]
    return encode(shots, path, size=(480, 270), fps=15).read_bytes()


def post(world: ServiceWorld, data: bytes, name: str = "clip.mp4") -> tuple[int, dict]:  # type: ignore[type-arg]
    fields = {
        "publisher": "shop.example.net",
        "channel": "ecommerce",
        "territory": "SE",
        "observed_at": NOW.isoformat(),
    }
    response = world.client.post(
        "/v1/scans",
        files={"file": (name, data)},
        data=fields,
        headers=world.auth("monitor"),
    )
    return response.status_code, dict(response.json())


def test_a_video_scan_answers_tracks_and_raises_one_alert_for_both(
    world: ServiceWorld, tmp_path: Path
) -> None:
    status, result = post(world, talent_clip(world, tmp_path / "clip.mp4"))
    assert status == 201, result
    assert result["image"]["kind"] == "video"
    assert result["image"]["duration_s"] == pytest.approx(5.0, abs=0.1)
    assert result["image"]["phash"] is None
    tracks = [t for t in result["tracks"] if t["talent"] and t["talent"]["name"] == TALENT]
    assert [(round(t["start_s"]), round(t["end_s"])) for t in tracks] == [(0, 2), (3, 5)]
    for track in tracks:
        assert track["start_s"] <= track["best_frame_s"] <= track["end_s"]
        assert len(track["box"]) == 4
        assert track["licence"]["verdict"] == "unlicensed"
    with world.ctx.db.session() as session:
        alerts = session.scalars(select(Alert)).all()
        assert [a.talent_id for a in alerts] == [world.talents[TALENT]]
        assert alerts[0].image_sha256 == result["image"]["sha256"]
        evidence_path = alerts[0].evidence_path
    assert evidence_path is not None
    kept = cv2.imdecode(np.frombuffer(world.ctx.evidence.read(evidence_path), np.uint8), 1)
    assert kept is not None and kept.shape[:2] == (270, 480)  # the best frame, not the video


def test_a_licensed_video_use_is_billed_once_not_per_track(
    world: ServiceWorld, tmp_path: Path
) -> None:
    add_licence(world, publishers=["shop.example.net"], ai_label_required=False)
    clip = talent_clip(world, tmp_path / "clip.mp4")
    for _ in range(2):  # the same video seen twice on the same publisher: still one use
        status, result = post(world, clip)
        assert status == 201, result
    verdicts = {t["licence"]["verdict"] for t in result["tracks"] if t["talent"]}
    assert verdicts == {"licensed"}
    with world.ctx.db.session() as session:
        uses = session.scalar(select(func.count()).select_from(UsageEvent))
    assert uses == 1


def test_an_image_scan_keeps_its_shape(world: ServiceWorld) -> None:
    status, result = post(world, world.group_photo, name="photo.jpg")
    assert status == 201, result
    assert result["image"]["kind"] == "image"
    assert result["image"]["duration_s"] is None
    assert result["tracks"] is None
    assert all(face["start_s"] is None for face in result["faces"])


@pytest.mark.parametrize(
    ("data", "status_code", "code"),
    [
        (b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 16, 422, "video_decode_failed"),
        (b"\x1a\x45\xdf\xa3" + b"\x00" * 4096, 422, "video_decode_failed"),
    ],
)
def test_a_hostile_video_is_a_4xx_in_the_error_envelope(
    world: ServiceWorld, data: bytes, status_code: int, code: str
) -> None:
    status, body = post(world, data)
    assert status == status_code, body
    assert body["error"]["code"] == code


def test_a_video_url_is_fetched_and_scanned(world: ServiceWorld, tmp_path: Path) -> None:
    clip = talent_clip(world, tmp_path / "clip.mp4")
    with local_server() as server:
        server.responses["/clip.mp4"] = (200, "video/mp4", clip)
        response = world.client.post(
            "/v1/scans",
            data={"url": server.url("/clip.mp4"), "publisher": "shop.example.net"},
            headers=world.auth("monitor"),
        )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["image"]["kind"] == "video"
    assert body["image"]["source_url"] == server.url("/clip.mp4")
    assert any(t["talent"] and t["talent"]["name"] == TALENT for t in body["tracks"])


def test_a_takedown_notice_lists_when_the_talent_is_on_screen(
    world: ServiceWorld, tmp_path: Path
) -> None:
    status, _ = post(world, talent_clip(world, tmp_path / "clip.mp4"))
    assert status == 201
    agency = world.auth("agency")
    profile = world.client.put("/v1/takedown-profile", json=PROFILE, headers=agency)
    assert profile.status_code == 200, profile.text
    alert_ids = [a["id"] for a in world.client.get("/v1/alerts", headers=agency).json()["items"]]
    notice = world.client.post(
        "/v1/takedowns", json={"kind": "dmca", "alert_ids": alert_ids}, headers=agency
    )
    assert notice.status_code == 201, notice.text
    html = world.client.get(f"/v1/takedowns/{notice.json()['id']}/notice.html", headers=agency)
    assert html.status_code == 200
    assert "(video: at 0:00–0:02, 0:03–0:05)" in html.text
    assert "In the video" in html.text


def test_the_console_inbox_shows_the_video_sighting_with_its_frame_and_time_range(
    tmp_path: Path, real_engine: FaceEngine
) -> None:
    with service_world(tmp_path, real_engine, console_secure_cookies=False) as world:
        status, _ = post(world, talent_clip(world, tmp_path / "clip.mp4"))
        assert status == 201
        add_users(world.ctx)
        assert sign_in(world.client, "booker@demo.example").status_code == 303
        inbox = world.client.get("/console/alerts")
        assert inbox.status_code == 200
        assert "In the video" in inbox.text and "at 0:03–0:05" in inbox.text
        [alert_id] = [
            a["id"]
            for a in world.client.get("/v1/alerts", headers=world.auth("agency")).json()["items"]
        ]
        face = world.client.get(f"/console/alerts/{alert_id}/face.jpg")
        assert face.status_code == 200 and face.content[:2] == b"\xff\xd8"


def test_a_batch_job_scans_a_video_and_a_hostile_one_fails_alone(
    world: ServiceWorld, tmp_path: Path
) -> None:
    clip = talent_clip(world, tmp_path / "clip.mp4")
    hostile = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 16
    response = submit(world, [("clip.mp4", clip), ("hostile.mp4", hostile)])
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    drain(world)
    done = world.client.get(f"/v1/jobs/{job_id}", headers=world.auth("monitor")).json()
    outcomes = {item["name"]: item for item in done["items"]}
    assert outcomes["clip.mp4"]["alert_outcome"] == "raised"
    assert outcomes["hostile.mp4"]["error"]["code"] == "video_decode_failed"
    [scan] = world.client.get(f"/v1/jobs/{job_id}/results", headers=world.auth("monitor")).json()[
        "items"
    ]
    assert scan["image"]["kind"] == "video"
    assert [t["talent"]["name"] for t in scan["tracks"] if t["talent"]] == [TALENT, TALENT]


def test_the_talent_sees_her_video_sighting_with_its_time_range(
    world: ServiceWorld, tmp_path: Path
) -> None:
    status, _ = post(world, talent_clip(world, tmp_path / "clip.mp4"))
    assert status == 201
    with world.ctx.db.session() as session:
        key = create_key(session, role=Role.TALENT, talent=world.talents[TALENT]).key
    answer = world.client.get("/v1/me/sightings", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    times = sorted((round(s["start_s"]), round(s["end_s"])) for s in answer.json()["items"])
    assert times == [(0, 2), (3, 5)]
