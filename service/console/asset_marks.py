"""Where a pre-check's faces are drawn on its asset: one numbered box per face, in the
image's own pixels (an SVG viewBox of the image's size), numbered as the list of faces."""

from __future__ import annotations

from dataclasses import dataclass

from service.scanning.schemas import ScanOut

TAG_SHARE = 0.06  # the number's tag: this share of the image's longer side


@dataclass(frozen=True)
class FaceMark:
    number: int
    x: float
    y: float
    width: float
    height: float
    tag_x: float
    tag_y: float
    tag_size: float


def face_marks(scan: ScanOut) -> list[FaceMark]:
    """Each face's box clamped to the image, with its number's tag above it (inside the
    image: below the top edge when the face touches it)."""
    width, height = float(scan.image.width), float(scan.image.height)
    tag = max(width, height) * TAG_SHARE
    marks = []
    for face in scan.faces:
        x1, y1, x2, y2 = (float(v) for v in face.box[:4])
        x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
        y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
        marks.append(
            FaceMark(
                number=face.index + 1,
                x=round(x1, 1),
                y=round(y1, 1),
                width=round(x2 - x1, 1),
                height=round(y2 - y1, 1),
                tag_x=round(min(x1, width - tag), 1),
                tag_y=round(y1 - tag if y1 >= tag else y1, 1),
                tag_size=round(tag, 1),
            )
        )
    return marks
