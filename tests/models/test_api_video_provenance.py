"""A video's AI labels through `POST /v1/scans`, judged like a still's: a clip signed here
with c2pa-python (a C2PA manifest in the MP4, BMFF) declaring trained-algorithmic media,
the same clip unsigned, and a clip whose container tags name a generator."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import av.video.stream
import cv2
import numpy as np
import pytest

from bench.clips import Actor, Shot, encode, render
from indexer.engine import FaceEngine
from tests.models.test_api_scans import NOW, TALENT, add_licence
from tests.support.service import ServiceWorld, face_crop_jpeg, service_world
from tests.unit.scanning.test_provenance import (
    TRAINED,
    ThrowawaySigner,
    sign,
    signer,  # noqa: F401  (the module-scoped fixture)
)

pytestmark = [pytest.mark.postgres, pytest.mark.model]

SIZE = (480, 270)
FPS = 10
LABEL_FIELDS = (
    "c2pa_present",
    "c2pa_valid",
    "c2pa_trusted",
    "c2pa_claims_ai",
    "c2pa_digital_source_type",
    "declares_ai",
    "ai_label",
)


@pytest.fixture
def world(tmp_path: Path, real_engine: FaceEngine) -> Iterator[ServiceWorld]:
    with service_world(tmp_path, real_engine) as built:
        yield built


def talent_still(world: ServiceWorld) -> np.ndarray[Any, np.dtype[np.uint8]]:
    jpeg = np.frombuffer(face_crop_jpeg(world.fixture, TALENT), np.uint8)
    return np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), np.uint8)


def talent_shot(world: ServiceWorld, seconds: float = 2.0) -> Shot:
    actor = Actor("T", talent_still(world), (0.5, 0.5, 0.8), (0.5, 0.5, 0.8))
    return Shot(seconds, (40, 60, 90), [actor])


def talent_clip(world: ServiceWorld, path: Path) -> bytes:
    """Two seconds of the talent (H.264 in MP4)."""
    return encode([talent_shot(world)], path, size=SIZE, fps=FPS).read_bytes()


def tagged_clip(world: ServiceWorld, tags: dict[str, str]) -> bytes:
    """Two seconds of the talent in Matroska, the container carrying ``tags``."""
    shot = talent_shot(world)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as container:
        container.metadata.update(tags)
        stream = container.add_stream("libx264", rate=FPS)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        count = round(shot.duration_s * FPS)
        for number in range(count):
            image = render(shot, number / (count - 1), SIZE)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def scan(world: ServiceWorld, data: bytes, name: str) -> dict[str, Any]:
    """Scanned by the admin (who sees the licence checks) as seen on hm.com."""
    response = world.client.post(
        "/v1/scans",
        files={"file": (name, data)},
        data={
            "publisher": "hm.com",
            "channel": "ecommerce",
            "territory": "SE",
            "observed_at": NOW.isoformat(),
        },
        headers=world.auth("admin"),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def talent_verdicts(result: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(verdict, failure codes) of each face or track showing the talent."""
    found = result["tracks"] if result["tracks"] is not None else result["faces"]
    return [
        (
            f["licence"]["verdict"],
            [x["code"] for c in f["licence"]["checks"] for x in c["failures"]],
        )
        for f in found
        if f["talent"] and f["talent"]["name"] == TALENT
    ]


def test_a_c2pa_signed_ai_clip_is_labelled_and_judged_like_a_signed_still(
    world: ServiceWorld,
    tmp_path: Path,
    signer: ThrowawaySigner,  # noqa: F811
) -> None:
    add_licence(world)  # photos only: an AI replica is outside it
    clip = talent_clip(world, tmp_path / "clip.mp4")
    # the same throw-away chain and manifest the image tests sign with (c2pa-python's Builder)
    signed_clip = sign(clip, mime="video/mp4", source_type=TRAINED, signer=signer)
    still = face_crop_jpeg(world.fixture, TALENT)
    signed_still = sign(still, mime="image/jpeg", source_type=TRAINED, signer=signer)

    video = scan(world, signed_clip, "replica.mp4")
    image = scan(world, signed_still, "replica.jpg")
    assert video["image"]["kind"] == "video" and image["image"]["kind"] == "image"
    assert video["provenance"]["c2pa_present"] and video["provenance"]["c2pa_claims_ai"]
    assert video["provenance"]["c2pa_valid"] is True and video["provenance"]["ai_label"] == "c2pa"
    labels = {field: video["provenance"][field] for field in LABEL_FIELDS}
    assert labels == {field: image["provenance"][field] for field in LABEL_FIELDS}
    assert talent_verdicts(video) == [("unlicensed", ["medium_not_allowed"])]
    assert talent_verdicts(image) == [("unlicensed", ["medium_not_allowed"])]

    unsigned = scan(world, clip, "clip.mp4")
    assert not unsigned["provenance"]["c2pa_present"]
    assert not unsigned["provenance"]["declares_ai"] and unsigned["provenance"]["ai_label"] is None
    assert unsigned["provenance"]["ai_signals"] == []
    assert talent_verdicts(unsigned) == [("licensed", [])]  # a photo use, like a plain still


def test_a_generator_named_in_the_container_tags_is_an_ai_signal_in_the_answer(
    world: ServiceWorld,
) -> None:
    # FFmpeg's muxers write their own ``encoder`` tag, so the tool tag here is ``software``
    tags = {"software": "Runway Gen-3 Alpha", "comment": "made with OpenAI Sora 2"}
    tagged = scan(world, tagged_clip(world, tags), "gen.mkv")
    assert tagged["image"]["kind"] == "video"
    signals = [
        (s["source"], s["generator"], s["strength"]) for s in tagged["provenance"]["ai_signals"]
    ]
    assert signals == [
        ("video:software", "Runway", "strong"),
        ("video:comment", "OpenAI Sora", "weak"),
    ]
    assert not tagged["provenance"]["declares_ai"]  # a signal is not a label

    plain = scan(world, tagged_clip(world, {"title": "Summer campaign"}), "plain.mkv")
    assert plain["provenance"]["ai_signals"] == []
