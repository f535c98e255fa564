"""A hostile-image corpus, generated here (no binary files committed): every image either
decodes normally or is refused with a typed error, never a crash, and decoding stays
within the memory budget (peak RSS measured in a fresh subprocess per image)."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from indexer.errors import ImageDecodeError, ImageTooLargeError, TwinwatchError
from indexer.imaging import DecodeLimits, decode_image
from indexer.settings import PROJECT_ROOT

BUDGET = 256 * 2**20  # a small decode budget, so the test stays light on a shared machine
LIMITS = DecodeLimits(
    max_pixels=60_000_000, max_side=20_000, max_aspect_ratio=25.0, max_decode_bytes=BUDGET
)
RSS_SLACK = 48 * 2**20  # allocator and interpreter noise around the decode


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def blank_png(width: int, height: int, *, bit_depth: int = 8, colour_type: int = 0) -> bytes:
    """A valid all-zero PNG of any declared size, built row by row (cheap to make)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = b"\0" * (1 + width * channels * bit_depth // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", body)
        + _chunk(b"IEND", b"")
    )


def _save(img: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def gray16(side: int) -> bytes:
    values = (np.arange(side * side, dtype=np.uint32) % 65535).astype(np.uint16)
    return _save(Image.fromarray(values.reshape(side, side)), "PNG")


def many_frames_gif() -> bytes:
    frames = [Image.new("P", (64, 64), i % 256) for i in range(400)]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:])


def many_pages_tiff() -> bytes:
    pages = [Image.new("RGB", (32, 32), (i % 256, 0, 0)) for i in range(300)]
    return _save(pages[0], "TIFF", save_all=True, append_images=pages[1:])


def huge_text_png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * 8_000_000)
    info.add_text("compressed", "y" * 30_000_000, zip=True)
    return _save(Image.new("RGB", (64, 64)), "PNG", pnginfo=info)


def huge_exif_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = "z" * 60_000  # ImageDescription, near the 64 KB APP1 limit
    exif[0x0112] = 6  # rotated: decoding must transpose
    return _save(Image.new("RGB", (300, 200), (10, 20, 30)), "JPEG", exif=exif.tobytes())


def float_tiff() -> bytes:
    values = np.linspace(-5, 1e6, 1500 * 1500, dtype=np.float32).reshape(1500, 1500)
    return _save(Image.fromarray(values, mode="F"), "TIFF")


# name -> (builder, the error code expected, or None for a normal decode)
CORPUS: dict[str, tuple[Callable[[], bytes], str | None]] = {
    "strip_1x60000_png": (lambda: blank_png(60_000, 1), ImageTooLargeError.code),
    "strip_600000x99_png": (lambda: blank_png(600_000, 99), ImageTooLargeError.code),
    "tall_99x30000_rgba_png": (
        lambda: blank_png(99, 30_000, colour_type=6),
        ImageTooLargeError.code,
    ),
    "bomb_30000x20000_png": (lambda: blank_png(30_000, 20_000), ImageTooLargeError.code),
    "gray16_7700_png": (lambda: gray16(7_700), ImageTooLargeError.code),  # over the budget
    "gray16_3000_png": (lambda: gray16(3_000), None),
    "rgba16_2000_png": (lambda: blank_png(2_000, 2_000, bit_depth=16, colour_type=6), None),
    "float_1500_tiff": (float_tiff, None),
    "many_frames_gif": (many_frames_gif, None),
    "many_pages_tiff": (many_pages_tiff, None),
    "huge_text_png": (huge_text_png, ImageDecodeError.code),  # Pillow's text-chunk guard
    "huge_exif_jpeg": (huge_exif_jpeg, None),
    "flat_25to1_png": (lambda: blank_png(10_000, 400, colour_type=2), None),
}


def decode_in_child(name: str) -> dict[str, object]:
    """Runs in the subprocess: build the image, then decode it and report peak RSS growth."""
    import resource

    data = CORPUS[name][0]()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        decoded = decode_image(data, limits=LIMITS)
        outcome: dict[str, object] = {"shape": list(decoded.bgr.shape)}
    except TwinwatchError as exc:
        outcome = {"code": exc.code}
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {**outcome, "rss_growth": after - before}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_image_is_decoded_or_refused_within_the_memory_budget(name: str) -> None:
    code = (
        "import json, tests.unit.indexer.test_hostile_images as t; "
        f"print(json.dumps(t.decode_in_child({name!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    expected = CORPUS[name][1]
    if expected is None:
        assert "shape" in report, report
        height, width, channels = report["shape"]
        assert channels == 3 and height > 0 and width > 0
    else:
        assert report.get("code") == expected, report
    assert report["rss_growth"] <= BUDGET + RSS_SLACK, report


def test_refusals_name_the_bound_that_was_crossed() -> None:
    with pytest.raises(ImageTooLargeError) as flat:
        decode_image(blank_png(10_000, 1), limits=LIMITS)
    assert flat.value.details["max_aspect_ratio"] == 25.0
    with pytest.raises(ImageTooLargeError) as long_side:
        decode_image(blank_png(21_000, 2_000), limits=LIMITS)
    assert long_side.value.details["max_side"] == 20_000
    with pytest.raises(ImageTooLargeError) as budget:
        decode_image(gray16(7_700), limits=LIMITS)
    assert budget.value.details["max_decode_bytes"] == BUDGET
