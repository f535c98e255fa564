"""A video's container tags go through the one generator table: a replica clip naming its
generator is flagged like a still, and an ordinary encoder tag is not."""

from __future__ import annotations

import io

import av
import av.video.stream
import numpy as np

from indexer.settings import IndexerSettings
from indexer.video import VideoLimits, VideoReader
from service.rules.generators import SignalStrength
from service.scanning.generation import video_tag_signals


def tagged_clip(tags: dict[str, str], fmt: str = "matroska") -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        container.metadata.update(tags)
        stream = container.add_stream("libx264", rate=10)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for number in range(5):
            image = np.full((64, 64, 3), number * 40, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def tags_of(data: bytes) -> tuple[tuple[str, str], ...]:
    with VideoReader(data, VideoLimits.of(IndexerSettings())) as reader:
        return reader.info.metadata


def test_a_generator_named_in_the_comment_tag_is_a_weak_signal() -> None:
    signals = video_tag_signals(tags_of(tagged_clip({"comment": "made with OpenAI Sora 2"})))
    assert [(s.generator, s.strength) for s in signals] == [("OpenAI Sora", SignalStrength.WEAK)]


def test_a_generator_in_a_tool_tag_is_a_strong_signal() -> None:
    signals = video_tag_signals([("software", "Runway Gen-3 Alpha"), ("title", "Kling AI test")])
    assert [(s.source, s.strength) for s in signals] == [
        ("video:software", SignalStrength.STRONG),
        ("video:title", SignalStrength.WEAK),
    ]


def test_an_ordinary_clip_carries_no_generator_signal() -> None:
    tags = tags_of(tagged_clip({"title": "Summer campaign", "comment": "cut 3"}, fmt="mp4"))
    assert video_tag_signals(tags) == ()
    assert any(key == "encoder" for key, _ in tags)  # FFmpeg's own tag is read, not flagged
