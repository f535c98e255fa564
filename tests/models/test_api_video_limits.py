"""A video's bounds through the API: an uploaded video is bounded by `video_max_bytes` (an
image still by `max_upload_bytes`), and a stream that declares no length is cut at
`video_max_duration_s` with an answer that says so."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import av.video.stream
import pytest

from bench.clips import render
from indexer.engine import FaceEngine
from tests.api.test_batch_jobs import drain, submit
from tests.models.test_api_scans import NOW, TALENT
from tests.models.test_api_video_provenance import SIZE, talent_clip, talent_shot
from tests.support.console import add_users, sign_in
from tests.support.service import ServiceWorld, local_server, service_world

pytestmark = [pytest.mark.postgres, pytest.mark.model]


@pytest.fixture
def world(tmp_path: Path, real_engine: FaceEngine) -> Iterator[ServiceWorld]:
    with service_world(tmp_path, real_engine) as built:
        yield built


def post(world: ServiceWorld, data: bytes, name: str) -> tuple[int, dict[str, Any]]:
    response = world.client.post(
        "/v1/scans",
        files={"file": (name, data)},
        data={"publisher": "shop.example.net", "observed_at": NOW.isoformat()},
        headers=world.auth("monitor"),
    )
    return response.status_code, dict(response.json())


def live_clip(world: ServiceWorld, seconds: float, fps: int = 10) -> bytes:
    """The talent for ``seconds`` in Matroska written as a live stream: no duration, no
    frame count, no cues (what a recorder or a stream dump gives)."""
    shot = talent_shot(world, seconds)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska", options={"live": "1"}) as container:
        stream = container.add_stream("libx264", rate=fps)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        count = round(seconds * fps)
        for number in range(count):
            image = render(shot, number / (count - 1), SIZE)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


# --- uploads: the video bound for videos, the image bound for the rest ------------------------
def test_an_uploaded_video_is_bounded_by_video_max_bytes_and_an_image_by_max_upload_bytes(
    world: ServiceWorld, tmp_path: Path
) -> None:
    clip = talent_clip(world, tmp_path / "clip.mp4")
    settings = world.ctx.settings
    settings.max_upload_bytes = len(clip) // 2
    settings.video_max_bytes = len(clip) + 1000

    status, body = post(world, clip, "clip.mp4")  # over the image bound, within the video one
    assert status == 201, body
    assert body["image"]["kind"] == "video" and body["image"]["truncated"] is None

    image = b"\xff\xd8\xff\xe0" + bytes(settings.max_upload_bytes)  # within the video bound
    status, body = post(world, image, "big.jpg")
    assert status == 413, body
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["details"]["max_bytes"] == settings.max_upload_bytes

    settings.video_max_bytes = len(clip) - 1
    status, body = post(world, clip, "clip.mp4")
    assert status == 413, body
    assert body["error"]["code"] == "video_too_large"
    assert body["error"]["details"]["max_bytes"] == len(clip) - 1


def test_a_batch_video_upload_is_bounded_by_video_max_bytes(
    world: ServiceWorld, tmp_path: Path
) -> None:
    clip = talent_clip(world, tmp_path / "clip.mp4")
    world.ctx.settings.max_upload_bytes = len(clip) // 2
    world.ctx.settings.video_max_bytes = len(clip) + 1000
    accepted = submit(world, [("clip.mp4", clip)])
    assert accepted.status_code == 202, accepted.text

    world.ctx.settings.video_max_bytes = len(clip) - 1
    refused = submit(world, [("clip.mp4", clip)])
    assert refused.status_code == 413, refused.text
    assert refused.json()["error"]["code"] == "video_too_large"


def test_a_video_url_is_bounded_by_video_max_bytes_too(
    tmp_path: Path, real_engine: FaceEngine
) -> None:
    with service_world(tmp_path, real_engine, fetch_allow_private_networks=True) as world:
        clip = talent_clip(world, tmp_path / "clip.mp4")
        world.ctx.settings.max_upload_bytes = len(clip) // 2
        world.ctx.settings.video_max_bytes = len(clip) + 1000
        with local_server() as server:
            server.responses["/clip.mp4"] = (200, "video/mp4", clip)
            server.responses["/big.jpg"] = (200, "image/jpeg", b"\xff\xd8" + bytes(len(clip)))
            answers = [
                world.client.post(
                    "/v1/scans",
                    data={"url": server.url(path), "publisher": "shop.example.net"},
                    headers=world.auth("monitor"),
                )
                for path in ("/clip.mp4", "/big.jpg")
            ]
    assert answers[0].status_code == 201, answers[0].text
    assert answers[0].json()["image"]["kind"] == "video"
    assert answers[1].status_code == 413, answers[1].text
    assert answers[1].json()["error"]["code"] == "url_response_too_large"
    assert answers[1].json()["error"]["details"]["max_bytes"] == len(clip) // 2


# --- streams with no declared length ------------------------------------------------------
def test_a_stream_without_a_declared_length_is_cut_and_the_answer_says_so(
    world: ServiceWorld,
) -> None:
    world.ctx.settings.video_max_duration_s = 1.5
    started = time.monotonic()
    status, body = post(world, live_clip(world, seconds=3.0), "live.mkv")
    assert time.monotonic() - started < 60
    assert status == 201, body
    assert body["image"]["kind"] == "video"
    assert body["image"]["truncated"] == "max_duration_s"
    assert body["image"]["duration_s"] <= 1.5
    named = [t for t in body["tracks"] if t["talent"] and t["talent"]["name"] == TALENT]
    assert named and all(t["end_s"] <= 1.5 for t in named)
    stored = world.client.get(f"/v1/scans/{body['id']}", headers=world.auth("monitor")).json()
    assert stored["image"]["truncated"] == "max_duration_s"


def test_a_stream_within_the_bounds_is_read_whole(world: ServiceWorld) -> None:
    status, body = post(world, live_clip(world, seconds=1.0), "live.mkv")
    assert status == 201, body
    assert body["image"]["truncated"] is None
    assert body["image"]["duration_s"] == pytest.approx(0.9, abs=0.11)


def test_the_openapi_schema_documents_the_cut(world: ServiceWorld) -> None:
    schema = world.client.get("/openapi.json").json()
    image = schema["components"]["schemas"]["ImageOut"]["properties"]
    assert "truncated" in image and "max_duration_s" in image["truncated"]["description"]


def test_the_monitor_sees_in_the_console_how_much_of_each_video_was_checked(
    tmp_path: Path, real_engine: FaceEngine
) -> None:
    with service_world(tmp_path, real_engine, console_secure_cookies=False) as world:
        checked_in_the_console(world)


def checked_in_the_console(world: ServiceWorld) -> None:
    world.ctx.settings.video_max_duration_s = 1.5
    clips = [("live.mkv", live_clip(world, seconds=3.0)), ("short.mkv", live_clip(world, 1.0))]
    response = submit(world, clips)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    drain(world)
    add_users(world.ctx)
    assert sign_in(world.client, "volunteer@watch.example").status_code == 303

    job_page = world.client.get(f"/console/submissions/{job_id}")
    assert job_page.status_code == 200
    assert "video: only the first 0:01 was checked (longer than the length limit)" in job_page.text
    assert "video, 0:01" in job_page.text  # the short one, read to its end
    polled = world.client.get(f"/console/submissions/{job_id}/progress.json").json()
    notes = {item["name"]: item["video"] for item in polled["items"]}
    assert notes == {
        "live.mkv": "video: only the first 0:01 was checked (longer than the length limit)",
        "short.mkv": "video, 0:01",
    }
