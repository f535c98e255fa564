"""Safe video decoding and sampling (PyAV).

Every video that enters twinwatch passes through :class:`VideoReader`: the byte count, the
container and codec (the one table in ``indexer.formats``), the frame size, the declared
duration and the declared frame count are checked from the headers *before* a frame is
decoded; the decoder is told the largest frame it may allocate (FFmpeg's ``max_pixels``);
every decoded frame is checked again (a stream may change size mid-way), and decoding
stops at the duration and frame bounds (a stream with no declared length is cut there and
the answer says so) or is refused when the wall-clock budget runs out. A broken stream
after some frames is cut where it broke; one that yields no frame is refused.

Sampling costs little: frames are decoded (threaded, FFmpeg's ``thread_type`` AUTO) but
only a few per second are converted, straight to the detector's resolution
(``frame.reformat``): ``sample_fps`` evenly spaced frames, every keyframe at least half a
sampling interval after the previous sample, and the first frame after each scene change
(a cut: a large change of a 32x18 grey thumbnail between consecutive frames), which gives
tracks their exact start and end at cuts.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

import av
import av.container
import av.error
import av.video.frame
import av.video.stream
import cv2
import numpy as np
import numpy.typing as npt

from indexer.errors import UnsupportedVideoTypeError, VideoDecodeError, VideoTooLargeError
from indexer.formats import VIDEO_CODECS, VIDEO_CONTAINERS
from indexer.settings import IndexerSettings

log = logging.getLogger(__name__)

BgrImage = npt.NDArray[np.uint8]
CUT_GRID = (18, 32)  # rows, columns of the area-averaged luma compared between consecutive frames
# Mean absolute difference (0-255) of the area-averaged luma grid that counts as a cut: a
# pan or zoom within one shot moves it by a level or two between frames; two shots of
# different people on different backgrounds by ten and more (bench/clips.py's cuts: 11+).
CUT_MEAN_ABS_DIFF = 8.0
# 8-bit planar formats whose first plane is the luma, read in place for the cut check.
_LUMA_FORMATS = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "nv12", "gray"})
MAX_TAGS = 64  # container and stream tags kept for provenance
MAX_TAG_CHARS = 4096
_PROBE_BYTES = 5_000_000  # FFmpeg's probesize/analyzeduration cap while opening


@dataclass(frozen=True)
class VideoLimits:
    max_bytes: int
    max_duration_s: float
    max_frame_pixels: int
    max_frames: int
    max_decode_s: float
    sample_fps: float
    max_samples: int
    frame_side: int

    @classmethod
    def of(cls, settings: IndexerSettings) -> VideoLimits:
        return cls(
            max_bytes=settings.video_max_bytes,
            max_duration_s=settings.video_max_duration_s,
            max_frame_pixels=settings.video_max_frame_pixels,
            max_frames=settings.video_max_frames,
            max_decode_s=settings.video_max_decode_s,
            sample_fps=settings.video_sample_fps,
            max_samples=settings.video_max_samples,
            frame_side=settings.video_frame_side,
        )


@dataclass(frozen=True)
class VideoInfo:
    """What the headers say (checked against the limits before decoding)."""

    media_type: str
    codec: str
    width: int
    height: int
    fps: float | None
    declared_duration_s: float | None
    declared_frames: int | None
    # The container's and the video stream's tags (``encoder``, ``comment``, ...), bounded:
    # provenance reads AI-generator names from them (service.scanning.generation).
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Sample:
    """One analysed frame, scaled so its longer side is at most ``frame_side``."""

    time_s: float
    bgr: BgrImage
    scale: float  # sample pixels per source pixel (<= 1)
    keyframe: bool
    shot_start: bool  # the first frame after a cut (or the first frame of the video)


class Truncation(StrEnum):
    """Why a video was read only in part (the scan answer's ``truncated``)."""

    MAX_DURATION = "max_duration_s"  # longer than the duration bound (or no declared end)
    MAX_FRAMES = "max_frames"  # more frames than the frame bound
    MAX_SAMPLES = "max_samples"  # the analysis budget of sampled frames was spent
    BROKEN_STREAM = "broken_stream"  # the stream broke; read up to where it did


@dataclass
class ReadStats:
    frames_decoded: int = 0
    samples: int = 0
    last_time_s: float = 0.0
    truncated: Truncation | None = None  # why decoding stopped early, when it did
    decode_s: float = 0.0  # demuxing, decoding and converting


class VideoReader:
    """Open a video held in memory, check its headers, and yield its samples once."""

    def __init__(self, data: bytes, limits: VideoLimits) -> None:
        if len(data) > limits.max_bytes:
            raise VideoTooLargeError(
                f"The video is {len(data)} bytes; the limit is {limits.max_bytes}.",
                bytes=len(data),
                max_bytes=limits.max_bytes,
            )
        self.limits = limits
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.stats = ReadStats()
        self._started = time.perf_counter()
        self._container = _open(data, limits)
        try:
            self._stream = _video_stream(self._container)
            self.info = _checked_info(self._container, self._stream, limits)
        except BaseException:
            self._container.close()
            raise

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def duration_s(self) -> float:
        """The declared duration, or how far decoding went when none was declared (or it
        was cut early)."""
        declared = self.info.declared_duration_s
        if declared is not None and self.stats.truncated is None:
            return declared
        return self.stats.last_time_s

    def samples(self) -> Iterator[Sample]:
        """The frames to analyse, in order (see the module's docstring)."""
        interval = 1.0 / self.limits.sample_fps
        next_due, last_sample = 0.0, -interval
        previous_thumb: npt.NDArray[np.float32] | None = None
        for frame, time_s in self._frames():
            thumb = _thumbnail(frame)
            cut = previous_thumb is None or _is_cut(previous_thumb, thumb)
            previous_thumb = thumb
            keyframe = bool(frame.key_frame) and time_s - last_sample >= interval / 2
            if not (cut or keyframe or time_s >= next_due - 1e-6):
                continue
            if self.stats.samples >= self.limits.max_samples:
                self.stats.truncated = Truncation.MAX_SAMPLES
                return
            converting = time.perf_counter()
            sample = self._sample(frame, time_s, keyframe=keyframe, cut=cut)
            self.stats.decode_s += time.perf_counter() - converting
            self.stats.samples += 1
            last_sample, next_due = time_s, time_s + interval
            yield sample

    def _sample(
        self, frame: av.video.frame.VideoFrame, time_s: float, *, keyframe: bool, cut: bool
    ) -> Sample:
        scale = min(1.0, self.limits.frame_side / max(frame.width, frame.height))
        width = max(2, round(frame.width * scale))
        height = max(2, round(frame.height * scale))
        bgr = np.asarray(frame.to_ndarray(width=width, height=height, format="bgr24"), np.uint8)
        return Sample(time_s, bgr, width / frame.width, keyframe, cut)

    def _frames(self) -> Iterator[tuple[av.video.frame.VideoFrame, float]]:
        """Decoded frames with their times, within the bounds (cut or refused)."""
        frames = self._decoded()
        while True:
            started = time.perf_counter()
            try:
                frame = next(frames)
            except StopIteration:
                return
            except av.error.FFmpegError as exc:
                self._broken(exc)
                return
            finally:
                self.stats.decode_s += time.perf_counter() - started
            self._check_budget()
            _check_frame_size(frame, self.limits)
            time_s = self._time_of(frame)
            if time_s > self.limits.max_duration_s:
                self.stats.truncated = Truncation.MAX_DURATION
                return
            self.stats.frames_decoded += 1
            if self.stats.frames_decoded > self.limits.max_frames:
                self.stats.truncated = Truncation.MAX_FRAMES
                return
            self.stats.last_time_s = max(self.stats.last_time_s, time_s)
            yield frame, time_s

    def _decoded(self) -> Iterator[av.video.frame.VideoFrame]:
        for packet in self._container.demux(self._stream):
            self._check_budget()
            for frame in packet.decode():
                if isinstance(frame, av.video.frame.VideoFrame):
                    yield frame

    def _time_of(self, frame: av.video.frame.VideoFrame) -> float:
        if frame.time is not None:
            return max(0.0, float(frame.time))
        fps = self.info.fps or 25.0
        return self.stats.frames_decoded / fps

    def _check_budget(self) -> None:
        spent = time.perf_counter() - self._started
        if spent > self.limits.max_decode_s:
            raise VideoTooLargeError(
                f"The video took over {self.limits.max_decode_s:g} s to decode; refused.",
                max_decode_s=self.limits.max_decode_s,
            )

    def _broken(self, exc: av.error.FFmpegError) -> None:
        if self.stats.frames_decoded == 0:
            raise VideoDecodeError(f"The video stream could not be decoded: {exc}") from exc
        log.info("video stream broken after %d frames: cut there", self.stats.frames_decoded)
        self.stats.truncated = Truncation.BROKEN_STREAM


def _open(data: bytes, limits: VideoLimits) -> av.container.InputContainer:
    options = {"probesize": str(_PROBE_BYTES), "analyzeduration": str(_PROBE_BYTES)}
    # FFmpeg's decoders refuse frames over max_pixels instead of allocating them; the
    # option reaches the decoders opened while the container is probed, too.
    codec_options = {"max_pixels": str(limits.max_frame_pixels)}
    # PyAV's stub types ``stream_options`` as a list of strings; FFmpeg takes one options
    # dict per stream (more dicts than streams are ignored).
    opener = cast(Callable[..., av.container.InputContainer], av.open)
    try:
        return opener(
            io.BytesIO(data),
            mode="r",
            options=options,
            stream_options=[codec_options] * 4,
            timeout=limits.max_decode_s,
        )
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(f"The file is not a readable video: {exc}") from exc


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    media_type = VIDEO_CONTAINERS.get(container.format.name)
    if media_type is None:
        raise UnsupportedVideoTypeError(
            f"The container {container.format.name!r} is not accepted.",
            container=container.format.name,
        )
    if not container.streams.video:
        raise VideoDecodeError("The file has no video stream.")
    stream = container.streams.video[0]
    codec = stream.codec_context.name if stream.codec_context is not None else None
    if codec not in VIDEO_CODECS:
        raise UnsupportedVideoTypeError(f"The video codec {codec!r} is not accepted.", codec=codec)
    stream.thread_type = "AUTO"
    # Frames no other frame refers to (most B-frames) are never decoded: half the decoding
    # of a typical H.264 file, and the frames left are still a few hundredths of a second
    # apart, far closer than the samples. Decoders without the notion ignore it.
    stream.codec_context.skip_frame = "NONREF"
    return stream


def _checked_info(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    limits: VideoLimits,
) -> VideoInfo:
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height > limits.max_frame_pixels:
        raise VideoTooLargeError(
            f"The video's frames are {width}x{height}; the limit is "
            f"{limits.max_frame_pixels} pixels.",
            width=width,
            height=height,
            max_frame_pixels=limits.max_frame_pixels,
        )
    duration = _declared_duration(container, stream)
    if duration is not None and duration > limits.max_duration_s:
        raise VideoTooLargeError(
            f"The video declares {duration:.0f} s; the limit is {limits.max_duration_s:g} s.",
            duration_s=round(duration, 3),
            max_duration_s=limits.max_duration_s,
        )
    frames = stream.frames or None
    if frames is not None and frames > limits.max_frames:
        raise VideoTooLargeError(
            f"The video declares {frames} frames; the limit is {limits.max_frames}.",
            frames=frames,
            max_frames=limits.max_frames,
        )
    rate = stream.average_rate or stream.guessed_rate
    return VideoInfo(
        media_type=VIDEO_CONTAINERS[container.format.name],
        codec=stream.codec_context.name,
        width=width,
        height=height,
        fps=float(rate) if rate else None,
        declared_duration_s=duration,
        declared_frames=frames,
        metadata=_tags(container, stream),
    )


def _tags(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> tuple[tuple[str, str], ...]:
    """At most ``MAX_TAGS`` tags, keys and values clipped (the file is untrusted)."""
    tags = [*container.metadata.items(), *stream.metadata.items()]
    return tuple(
        (str(key)[:MAX_TAG_CHARS], str(value)[:MAX_TAG_CHARS]) for key, value in tags[:MAX_TAGS]
    )


def _declared_duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _check_frame_size(frame: av.video.frame.VideoFrame, limits: VideoLimits) -> None:
    if frame.width * frame.height > limits.max_frame_pixels:
        raise VideoTooLargeError(
            f"A frame is {frame.width}x{frame.height}; the limit is "
            f"{limits.max_frame_pixels} pixels.",
            width=frame.width,
            height=frame.height,
            max_frame_pixels=limits.max_frame_pixels,
        )


def _thumbnail(frame: av.video.frame.VideoFrame) -> npt.NDArray[np.float32]:
    """A grid of luma points: read in place from an 8-bit luma plane (no conversion of the
    frame), else scaled by FFmpeg."""
    rows, columns = CUT_GRID
    if frame.format.name in _LUMA_FORMATS:
        plane = frame.planes[0]
        luma = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
        small = cv2.resize(
            luma[: frame.height, : frame.width], (columns, rows), interpolation=cv2.INTER_AREA
        )
        return np.asarray(small, np.float32)
    grey = frame.to_ndarray(width=columns, height=rows, format="gray")
    return np.asarray(grey, np.float32)


def _is_cut(previous: npt.NDArray[np.float32], current: npt.NDArray[np.float32]) -> bool:
    return float(cv2.absdiff(previous, current).mean()) >= CUT_MEAN_ABS_DIFF
