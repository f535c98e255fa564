from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from indexer.errors import ImageDecodeError, ImageTooLargeError, UnsupportedImageTypeError
from indexer.imaging import decode_image

LIMIT = 10_000_000


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def gradient(width: int = 64, height: int = 48) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, np.full_like(x, 128)], axis=2))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF"])
def test_decode_gives_upright_bgr_for_every_accepted_format(fmt: str) -> None:
    decoded = decode_image(encode(gradient(), fmt), max_pixels=LIMIT)
    assert decoded.bgr.shape == (48, 64, 3)
    assert decoded.bgr.dtype == np.uint8
    assert decoded.source_format == fmt
    # Blue channel (BGR index 0) carries the constant 128 of the RGB source's third channel.
    assert abs(int(decoded.bgr[:, :, 0].mean()) - 128) <= 12


def test_decode_reports_sha256_of_the_bytes() -> None:
    data = encode(gradient(), "PNG")
    import hashlib

    assert decode_image(data, max_pixels=LIMIT).sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "LA", "P", "I;16", "1"])
def test_decode_normalises_every_mode_to_three_8bit_channels(mode: str) -> None:
    fmt = "TIFF" if mode in ("CMYK", "I;16") else "PNG"
    img = gradient().convert("L").convert(mode) if mode == "I;16" else gradient().convert(mode)
    decoded = decode_image(encode(img, fmt), max_pixels=LIMIT)
    assert decoded.bgr.shape == (48, 64, 3)
    assert decoded.source_mode == mode


def test_sixteen_bit_values_are_scaled_not_clipped() -> None:
    img = Image.new("I;16", (10, 10), 40_000)
    decoded = decode_image(encode(img, "PNG"), max_pixels=LIMIT)
    assert 150 <= int(decoded.bgr[0, 0, 0]) <= 160  # 40000/65535*255 ~ 155


def test_transparent_pixels_become_white() -> None:
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    decoded = decode_image(encode(rgba, "PNG"), max_pixels=LIMIT)
    assert decoded.bgr[0, 0].tolist() == [255, 255, 255]


def test_exif_orientation_is_honoured() -> None:
    img = gradient(64, 48)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    decoded = decode_image(encode(img, "JPEG", exif=exif), max_pixels=LIMIT)
    assert decoded.bgr.shape == (64, 48, 3)
    assert (decoded.width, decoded.height) == (48, 64)


def test_animated_gif_uses_first_frame() -> None:
    frames = [Image.new("RGB", (20, 20), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    decoded = decode_image(buffer.getvalue(), max_pixels=LIMIT)
    b, _, r = decoded.bgr[10, 10].tolist()
    assert r > 200 and b < 50


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size in its header but carries almost no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_is_refused_from_the_header() -> None:
    # 100k x 100k would need 30 GB to decode; it must be refused before any decoding.
    with pytest.raises(ImageTooLargeError) as caught:
        decode_image(png_header_only(100_000, 100_000), max_pixels=LIMIT)
    assert "10,000,000,000" in caught.value.message
    assert caught.value.code == "image_too_large"


def test_real_high_ratio_bomb_is_refused() -> None:
    bomb = encode(Image.new("1", (5000, 5000)), "PNG")  # ~3 KB on disk, 25 MP raster
    assert len(bomb) < 10_000
    with pytest.raises(ImageTooLargeError):
        decode_image(bomb, max_pixels=LIMIT)


@pytest.mark.parametrize("data", [b"hello, not an image", b"%PDF-1.7\n...", b"<svg></svg>"])
def test_non_images_are_refused_with_a_typed_error(data: bytes) -> None:
    with pytest.raises(UnsupportedImageTypeError) as caught:
        decode_image(data, max_pixels=LIMIT)
    assert "not an image" in caught.value.message


def test_truncated_jpeg_is_a_decode_error() -> None:
    data = encode(gradient(400, 300), "JPEG")
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(data[: len(data) // 3], max_pixels=LIMIT)
    assert "corrupt or truncated" in caught.value.message


def test_empty_upload_is_a_decode_error() -> None:
    with pytest.raises(ImageDecodeError):
        decode_image(b"", max_pixels=LIMIT)
