"""The image-format table has one owner (indexer/formats.py); everyone else calls it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexer.formats import ACCEPTED_FORMATS, IMAGE_SUFFIXES, MEDIA_TYPES, is_image_file, media_type
from indexer.imaging import sniff_format
from indexer.settings import PROJECT_ROOT


@pytest.mark.parametrize("fmt", ACCEPTED_FORMATS)
def test_every_accepted_format_is_sniffed_and_has_its_media_type(fmt: str) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(buffer, format=fmt)
    sniffed = sniff_format(buffer.getvalue())
    assert sniffed == fmt
    assert media_type(sniffed) == MEDIA_TYPES[fmt] == f"image/{fmt.lower()}"


def test_unknown_formats_have_no_media_type() -> None:
    assert media_type(None) is None
    assert media_type("PDF") is None


def test_image_suffixes_come_from_pillow_for_the_accepted_formats(tmp_path: Path) -> None:
    assert {".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp"} <= IMAGE_SUFFIXES
    assert ".pdf" not in IMAGE_SUFFIXES and ".txt" not in IMAGE_SUFFIXES
    (tmp_path / "a.JPG").write_bytes(b"x")
    (tmp_path / "notes.txt").write_bytes(b"x")
    (tmp_path / "folder.png").mkdir()
    assert sorted(p.name for p in tmp_path.iterdir() if is_image_file(p)) == ["a.JPG"]


def test_no_other_module_keeps_its_own_format_table() -> None:
    owners = []
    for path in [
        *(PROJECT_ROOT / "indexer").rglob("*.py"),
        *(PROJECT_ROOT / "service").rglob("*.py"),
    ]:
        text = path.read_text()
        if '"image/jpeg"' in text or '".jpeg"' in text:
            owners.append(str(path.relative_to(PROJECT_ROOT)))
    assert owners == ["indexer/formats.py"], owners
