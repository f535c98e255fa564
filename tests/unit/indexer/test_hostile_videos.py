"""Hostile videos, generated here: each is refused with a typed 4xx error or cut, within
bounded time and memory (peak RSS measured in a fresh subprocess), never a crash."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import av
import av.video.stream
import numpy as np
import pytest

from indexer.errors import (
    ErrorCategory,
    TwinwatchError,
    UnsupportedVideoTypeError,
    VideoDecodeError,
    VideoTooLargeError,
)
from indexer.formats import looks_like_video
from indexer.settings import PROJECT_ROOT, IndexerSettings
from indexer.video import VideoLimits, VideoReader

LIMITS = VideoLimits.of(IndexerSettings())
CLIENT_ERRORS = {ErrorCategory.INVALID, ErrorCategory.TOO_LARGE, ErrorCategory.UNSUPPORTED}
RSS_BUDGET_MB = 400  # the interpreter with numpy, cv2 and PyAV is ~120 MB


class Pipe:
    """A write-only sink: the muxer cannot seek back to write the duration (a live
    stream's shape)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes) -> int:
        self.data += chunk
        return len(chunk)

    def getvalue(self) -> bytes:
        return bytes(self.data)


def clip(
    *,
    seconds: float,
    size: tuple[int, int] = (96, 64),
    fps: int = 10,
    fmt: str = "mp4",
    live: bool = False,
) -> bytes:
    """A small H.264 clip whose colour changes every second (cuts)."""
    buffer: io.BytesIO | Pipe = Pipe() if live else io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        stream = container.add_stream("libx264", rate=fps)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for number in range(round(seconds * fps)):
            level = (number // fps) * 60 % 250
            image = np.full((size[1], size[0], 3), level, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def _ue(value: int) -> str:
    value += 1
    return "0" * (value.bit_length() - 1) + format(value, "b")


def _sps(width_mbs: int, height_mbs: int) -> bytes:
    """An H.264 sequence parameter set declaring a frame of this many macroblocks."""
    bits = format(66, "08b") + "11000000" + format(40, "08b")
    bits += _ue(0) + _ue(0) + _ue(2) + _ue(1) + "0" + _ue(width_mbs - 1) + _ue(height_mbs - 1)
    bits += "11001"
    bits += "0" * (-len(bits) % 8)
    out, zeros = bytearray(), 0
    for byte in (int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)):
        if zeros >= 2 and byte <= 3:  # emulation prevention
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return b"\x00\x00\x00\x01\x67" + bytes(out)


def huge_header_clip() -> bytes:
    """An H.264 stream declaring 100,000 x 100,000 pixels behind Matroska's signature (the
    sniffing routes it to the video path; the demuxer must not trust it)."""
    raw = io.BytesIO()
    with av.open(raw, "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=10)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for number in range(10):
            image = np.full((64, 64, 3), number * 20, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    units = raw.getvalue().split(b"\x00\x00\x00\x01")
    patched = b"".join(
        _sps(6250, 6250) if unit and unit[0] & 0x1F == 7 else b"\x00\x00\x00\x01" + unit
        for unit in units
        if unit
    )
    return b"\x1a\x45\xdf\xa3" + patched  # Matroska's magic, then a raw hostile stream


def refusal(data: bytes, limits: VideoLimits = LIMITS) -> TwinwatchError:
    with pytest.raises(TwinwatchError) as caught, VideoReader(data, limits) as reader:
        for _ in reader.samples():
            pass
    assert caught.value.category in CLIENT_ERRORS
    return caught.value


def test_a_stream_declaring_100000_by_100000_is_refused_without_allocating_it() -> None:
    started = time.perf_counter()
    data = huge_header_clip()
    assert looks_like_video(data)
    refusal(data)
    assert time.perf_counter() - started < 2


def test_frames_over_the_pixel_limit_are_refused_from_the_header() -> None:
    limits = VideoLimits.of(IndexerSettings(video_max_frame_pixels=96 * 64 - 1))
    error = refusal(clip(seconds=1), limits)
    assert isinstance(error, VideoTooLargeError)
    assert error.details["width"] == 96


def test_a_declared_duration_over_the_limit_is_refused_before_decoding() -> None:
    limits = VideoLimits.of(IndexerSettings(video_max_duration_s=1.5))
    error = refusal(clip(seconds=3), limits)
    assert isinstance(error, VideoTooLargeError)
    assert error.details["duration_s"] == pytest.approx(3.0, abs=0.2)


def test_declared_frames_over_the_limit_are_refused() -> None:
    limits = VideoLimits.of(IndexerSettings(video_max_frames=20))
    error = refusal(clip(seconds=3), limits)
    assert isinstance(error, VideoTooLargeError)
    assert error.details["frames"] == 30


def test_a_stream_without_a_declared_length_is_cut_at_the_duration_limit() -> None:
    # Matroska written to a pipe has no duration: an "endless" stream's shape.
    data = clip(seconds=4, fmt="matroska", live=True)
    limits = VideoLimits.of(IndexerSettings(video_max_duration_s=1.5))
    with VideoReader(data, limits) as reader:
        if reader.info.declared_duration_s is not None:
            pytest.skip("the muxer wrote a duration")
        times = [sample.time_s for sample in reader.samples()]
    assert reader.stats.truncated == "max_duration_s"
    assert max(times) <= 1.5
    assert reader.duration_s <= 1.5


def test_a_truncated_file_is_cut_where_it_broke_or_refused() -> None:
    data = clip(seconds=3)
    for keep in (len(data) // 2, 200, 40):
        try:
            with VideoReader(data[:keep], LIMITS) as reader:
                samples = list(reader.samples())
        except TwinwatchError as exc:
            assert exc.category in CLIENT_ERRORS
        else:
            assert samples or reader.stats.truncated


def test_garbage_after_a_video_signature_is_a_decode_error() -> None:
    data = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 64
    assert looks_like_video(data)
    error = refusal(data)
    assert isinstance(error, VideoDecodeError)


def test_a_corrupted_stream_never_crashes() -> None:
    data = bytearray(clip(seconds=3))
    rng = np.random.default_rng(7)
    for position in rng.integers(len(data) // 3, len(data), 200):
        data[int(position)] = int(rng.integers(0, 256))
    try:
        with VideoReader(bytes(data), LIMITS) as reader:
            list(reader.samples())
    except TwinwatchError as exc:
        assert exc.category in CLIENT_ERRORS


def test_a_video_over_the_byte_limit_is_refused_before_opening() -> None:
    limits = VideoLimits.of(IndexerSettings(video_max_bytes=1000))
    error = refusal(clip(seconds=1), limits)
    assert isinstance(error, VideoTooLargeError)
    assert error.details["max_bytes"] == 1000


def test_a_container_outside_the_format_table_is_unsupported() -> None:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=10)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        image = np.zeros((64, 64, 3), np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert isinstance(refusal(buffer.getvalue()), UnsupportedVideoTypeError)


def test_the_decode_budget_refuses_a_video_that_takes_too_long() -> None:
    limits = VideoLimits.of(IndexerSettings(video_max_decode_s=1e-6))
    error = refusal(clip(seconds=2), limits)
    assert isinstance(error, VideoTooLargeError)
    assert "max_decode_s" in error.details


def test_cuts_become_samples_and_sampling_is_a_few_frames_per_second() -> None:
    with VideoReader(clip(seconds=4), LIMITS) as reader:
        samples = list(reader.samples())
    cuts = [round(s.time_s, 2) for s in samples if s.shot_start]
    assert cuts == [0.0, 1.0, 2.0, 3.0]
    assert len(samples) <= 4 * LIMITS.sample_fps + len(cuts)
    assert reader.stats.frames_decoded <= 40


_PROBE = """
import json, sys
from indexer.errors import TwinwatchError
from indexer.settings import IndexerSettings
from indexer.video import VideoLimits, VideoReader
data = open(sys.argv[1], "rb").read()
outcome = "ok"
try:
    with VideoReader(data, VideoLimits.of(IndexerSettings())) as reader:
        for _ in reader.samples():
            pass
except TwinwatchError as exc:
    outcome = exc.code
# VmHWM: this process image's peak (ru_maxrss would keep the forking parent's peak)
status = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
print(json.dumps({"outcome": outcome, "rss_mb": int(status) / 1024}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's VmHWM")
def test_the_huge_header_stays_within_a_memory_budget(tmp_path: Path) -> None:
    path = tmp_path / "huge.mkv"
    path.write_bytes(huge_header_clip())
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["outcome"] in {
        "video_decode_failed",
        "video_too_large",
        "video_type_unsupported",
    }
    assert report["rss_mb"] < RSS_BUDGET_MB
