"""Test clips made here, so the truth is known: stills of faces panned and zoomed over a
coloured canvas, cut between shots, encoded with PyAV (H.264 in MP4 by default).

Used by ``bench/video.py`` and the video tests; the face photos come from the caller
(``../shared/faces``), never from the repository.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import av.video.stream
import cv2
import numpy as np
import numpy.typing as npt

BgrImage = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Actor:
    """One still on screen for a whole shot, moving from ``start`` to ``end``: centre as a
    fraction of the frame (x, y) and height as a fraction of the frame's height."""

    label: str
    still: BgrImage = field(repr=False)
    start: tuple[float, float, float]
    end: tuple[float, float, float]


@dataclass(frozen=True)
class Shot:
    duration_s: float
    background: tuple[int, int, int]  # BGR
    actors: Sequence[Actor] = ()


@dataclass(frozen=True)
class Appearance:
    label: str
    start_s: float
    end_s: float


def appearances(shots: Sequence[Shot]) -> list[Appearance]:
    """The truth: who is on screen from when to when (consecutive shots of one label
    merge)."""
    found: list[Appearance] = []
    clock = 0.0
    for shot in shots:
        for actor in shot.actors:
            previous = next((a for a in found if a.label == actor.label and a.end_s == clock), None)
            if previous is not None:
                found[found.index(previous)] = Appearance(
                    actor.label, previous.start_s, clock + shot.duration_s
                )
            else:
                found.append(Appearance(actor.label, clock, clock + shot.duration_s))
        clock += shot.duration_s
    return found


def render(shot: Shot, progress: float, size: tuple[int, int]) -> BgrImage:
    width, height = size
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = shot.background
    for actor in shot.actors:
        x, y, h = (a + (b - a) * progress for a, b in zip(actor.start, actor.end, strict=True))
        _paste(canvas, actor.still, (x * width, y * height), h * height)
    return canvas


def _paste(canvas: BgrImage, still: BgrImage, centre: tuple[float, float], height: float) -> None:
    scale = height / still.shape[0]
    new_w, new_h = max(1, round(still.shape[1] * scale)), max(1, round(height))
    resized = cv2.resize(
        still, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    x0, y0 = round(centre[0] - new_w / 2), round(centre[1] - new_h / 2)
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(canvas.shape[1], x0 + new_w), min(canvas.shape[0], y0 + new_h)
    if cx1 > cx0 and cy1 > cy0:
        canvas[cy0:cy1, cx0:cx1] = resized[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]


def encode(
    shots: Sequence[Shot],
    path: Path,
    *,
    size: tuple[int, int] = (1280, 720),
    fps: int = 30,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
) -> Path:
    """Write the shots to ``path`` (the container from its suffix)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = dict(options or {"preset": "veryfast", "crf": "23"})
        for shot in shots:
            count = max(1, round(shot.duration_s * fps))
            for number in range(count):
                image = render(shot, number / max(1, count - 1), size)
                frame = av.VideoFrame.from_ndarray(image, format="bgr24")
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def read_still(path: Path) -> BgrImage:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(path)
    return np.asarray(image, np.uint8)


def lfw_people(lfw: Path, count: int, *, photos: int = 2) -> list[Path]:
    """The first ``count`` LFW identities (sorted by name) with at least ``photos`` photos."""
    people = []
    for folder in sorted(p for p in lfw.iterdir() if p.is_dir()):
        if len(list(folder.glob("*.jpg"))) >= photos:
            people.append(folder)
            if len(people) == count:
                break
    return people


def reference_jpeg(path: Path, side: int = 300) -> bytes:
    """An LFW photo enlarged so its face passes the enrolment gate's minimum size (LFW's
    150-px photos hold ~60-px faces)."""
    image = cv2.resize(read_still(path), (side, side), interpolation=cv2.INTER_CUBIC)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return encoded.tobytes()


def photos_of(person: Path) -> list[Path]:
    return sorted(person.glob("*.jpg"))
