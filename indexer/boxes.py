"""Face and region boxes: ``(x1, y1, x2, y2)`` in pixels (or fractions, the same for both
boxes compared), and the one intersection-over-union every caller uses."""

from __future__ import annotations

from collections.abc import Sequence

Box = tuple[float, float, float, float]


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes; 0.0 when they do not meet or are empty."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
