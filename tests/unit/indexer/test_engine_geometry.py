"""Engine geometry without weights: bounded detection canvases, NMS voting, antialiased
alignment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from indexer.alignment import norm_crop
from indexer.engine import FaceEngine, align_face
from indexer.modelpack.detectors import RawDetections, YuNetDetector, merge_detections
from indexer.modelpack.manifest import find_manifest
from indexer.modelpack.recognizers import ArcFaceRecognizer
from indexer.modelpack.sessions import SessionFactory
from indexer.settings import SHIPPED_PACKS_DIR

FloatArray = npt.NDArray[np.float32]


class CanvasRecorder(YuNetDetector):
    """Records the canvas each pass would feed the network; finds nothing."""

    def __init__(self) -> None:
        manifest = find_manifest([SHIPPED_PACKS_DIR], "opencv-yunet-sface")
        super().__init__(
            manifest.detector,
            Path("unused.onnx"),
            SessionFactory(intra_op_threads=1, inter_op_threads=1),
        )
        self.shapes: list[tuple[int, ...]] = []

    def predict(self, canvas_bgr: npt.NDArray[np.uint8]) -> RawDetections:
        self.shapes.append(canvas_bgr.shape)
        return RawDetections.empty()


def engine_with(detector: CanvasRecorder) -> FaceEngine:
    manifest = find_manifest([SHIPPED_PACKS_DIR], "opencv-yunet-sface")
    recognizer = ArcFaceRecognizer(
        manifest.recognizer,
        Path("unused.onnx"),
        SessionFactory(intra_op_threads=1, inter_op_threads=1),
    )
    return FaceEngine(manifest, detector, recognizer, max_faces=8)


@pytest.mark.parametrize("shape", [(1, 10_000), (10_000, 1), (400, 10_000), (7, 7), (3000, 20)])
def test_detection_canvas_is_bounded_by_the_working_size_whatever_the_shape(
    shape: tuple[int, int],
) -> None:
    detector = CanvasRecorder()
    engine = engine_with(detector)
    assert engine.detect(np.zeros((*shape, 3), np.uint8)).scores.size == 0
    [canvas] = detector.shapes
    working = max(engine.manifest.detector.working_sizes)
    assert max(canvas[:2]) <= working + 32
    assert canvas[0] % 32 == 0 and canvas[1] % 32 == 0


def test_nms_votes_box_and_landmarks_by_score_among_overlapping_candidates() -> None:
    boxes = np.array([[0, 0, 100, 100], [2, 0, 102, 100], [500, 500, 600, 600]], np.float32)
    scores = np.array([0.9, 0.6, 0.8], np.float32)
    landmarks = np.stack([np.full((5, 2), v, np.float32) for v in (10.0, 20.0, 550.0)])
    merged = merge_detections([RawDetections(boxes, scores, landmarks)], iou=0.4)
    assert merged.scores.tolist() == pytest.approx([0.9, 0.8])
    expected = (0.9 * 10 + 0.6 * 20) / 1.5
    assert np.allclose(merged.landmarks[0], expected)
    assert np.allclose(
        merged.boxes[0], [(0.9 * 0 + 0.6 * 2) / 1.5, 0, (0.9 * 100 + 0.6 * 102) / 1.5, 100]
    )
    assert np.allclose(merged.landmarks[1], 550.0)  # a separate face votes alone


def five_points(centre: FloatArray, spread: float) -> FloatArray:
    template = np.array(
        [[-0.35, -0.3], [0.35, -0.3], [0, 0.05], [-0.3, 0.4], [0.3, 0.4]], np.float32
    )
    result: FloatArray = (centre + template * spread).astype(np.float32)
    return result


def test_large_faces_are_aligned_without_aliasing() -> None:
    """On fine texture, a half-pixel move of a 600-px face barely changes the antialiased
    crop, while direct bilinear sampling (the old alignment) changes it a lot."""
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (1500, 1500, 3), np.uint8)
    here = five_points(np.array([750.0, 750.0], np.float32), 600.0)
    moved = here + np.float32(0.5)

    def change(align: object) -> float:
        first = align(image, here)  # type: ignore[operator]
        second = align(image, moved)  # type: ignore[operator]
        return float(np.abs(first.astype(np.int16) - second.astype(np.int16)).mean())

    antialiased = change(align_face)
    direct = change(lambda img, lmk: norm_crop(img, lmk, image_size=112))
    assert antialiased < 0.4 * direct
    small = five_points(np.array([100.0, 100.0], np.float32), 60.0)
    assert np.array_equal(align_face(image, small), norm_crop(image, small, image_size=112))
