"""The image formats twinwatch accepts: one table, and every user calls it.

Formats are Pillow's names (what ``Image.format`` reports). Pillow opens multi-picture
camera JPEGs through the JPEG opener and reports them as MPO, so MPO is a JPEG here.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

#: Formats we decode; anything else is refused before decoding.
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP")

#: The media type of each format Pillow may report for an accepted file.
MEDIA_TYPES: dict[str, str] = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
}

GENERIC_MEDIA_TYPE = "application/octet-stream"


def media_type(fmt: str | None) -> str | None:
    """``image/...`` for an accepted format, else None."""
    return MEDIA_TYPES.get(fmt or "")


def _suffixes() -> frozenset[str]:
    Image.init()
    return frozenset(
        suffix for suffix, fmt in Image.registered_extensions().items() if fmt in MEDIA_TYPES
    )


#: File name suffixes (lower case, with the dot) of the accepted formats, as Pillow
#: registers them: .jpg, .jpeg, .jpe, .jfif, .png, .apng, .webp, .gif, .tif, .tiff, .bmp, ...
IMAGE_SUFFIXES: frozenset[str] = _suffixes()


def is_image_file(path: Path) -> bool:
    """A regular file whose suffix names an accepted format (for folder walks)."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


# --- videos ---------------------------------------------------------------------------------
#: Video containers we demux, by FFmpeg's demuxer name (what ``container.format.name``
#: reports), with the media type a scan records for each.
VIDEO_CONTAINERS: dict[str, str] = {
    "mov,mp4,m4a,3gp,3g2,mj2": "video/mp4",
    "matroska,webm": "video/webm",
}

#: Video codecs we decode (FFmpeg decoder names); H.265 and AV1 only where the bundled
#: FFmpeg has a decoder (PyAV's wheels have hevc, libdav1d and av1).
VIDEO_CODECS: frozenset[str] = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "libdav1d"})

#: File name suffixes of the accepted video containers (for folder walks).
VIDEO_SUFFIXES: frozenset[str] = frozenset({".mp4", ".mov", ".m4v", ".webm", ".mkv"})

#: The media types a page or a server may give a video (fetching and page extraction).
VIDEO_MEDIA_TYPES: frozenset[str] = frozenset(
    {"video/mp4", "video/quicktime", "video/x-m4v", "video/webm", "video/x-matroska"}
)

_MATROSKA_MAGIC = b"\x1a\x45\xdf\xa3"
_BMFF_BOXES = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")


#: The first bytes :func:`looks_like_video` needs (the Matroska magic, or an ISO-BMFF box type
#: at bytes 4-8): a reader of a stream decides the file's kind once it holds this many.
VIDEO_SIGNATURE_BYTES = 8


def size_bound(*, image_bytes: int, video_bytes: int | None, video: bool | None) -> int:
    """The largest accepted file: a video's bound (``video_bytes``, when a caller has one)
    for a video, ``image_bytes`` for anything else, and while the kind is not known yet
    (``video`` None) the larger of the two."""
    if video_bytes is None or video is False:
        return image_bytes
    return video_bytes if video else max(image_bytes, video_bytes)


def looks_like_video(data: bytes) -> bool:
    """True when the first bytes are an ISO-BMFF (MP4/MOV/M4V) or Matroska/WebM file.

    Images never start this way, so this one check routes a file to the video path
    before any decoder sees it; the demuxer then confirms the container."""
    if data[:4] == _MATROSKA_MAGIC:
        return True
    return len(data) >= VIDEO_SIGNATURE_BYTES and data[4:VIDEO_SIGNATURE_BYTES] in _BMFF_BOXES


def video_media_type(data: bytes) -> str | None:
    """The media type a video's first bytes suggest (the demuxer has the last word)."""
    if data[:4] == _MATROSKA_MAGIC:
        return "video/webm"
    return "video/mp4" if looks_like_video(data) else None


def is_video_file(path: Path) -> bool:
    """A regular file whose suffix names an accepted video container (for folder walks)."""
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES
