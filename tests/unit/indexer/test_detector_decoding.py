"""Detector output decoding on synthetic network outputs (no weights needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from indexer.modelpack.detectors import ScrfdDetector, YuNetDetector
from indexer.modelpack.manifest import find_manifest
from indexer.modelpack.sessions import SessionFactory
from indexer.settings import SHIPPED_PACKS_DIR

CANVAS = np.zeros((64, 64, 3), np.uint8)  # feature maps: 8x8 (stride 8), 4x4, 2x2


class FakeSession:
    def __init__(self, outputs: list[np.ndarray], names: list[str]) -> None:
        self.outputs = outputs
        self.names = names

    def get_inputs(self) -> list[Any]:
        return [type("Input", (), {"name": "input"})()]

    def get_outputs(self) -> list[Any]:
        return [type("Output", (), {"name": name})() for name in self.names]

    def run(self, _names: object, _feed: object) -> list[np.ndarray]:
        return self.outputs


def test_scrfd_decodes_distance_boxes_and_keypoints_per_anchor() -> None:
    spec = find_manifest([SHIPPED_PACKS_DIR], "insightface-buffalo_l").detector
    detector = ScrfdDetector(
        spec, Path("unused.onnx"), SessionFactory(intra_op_threads=1, inter_op_threads=1)
    )
    cells = {8: 8 * 8 * 2, 16: 4 * 4 * 2, 32: 2 * 2 * 2}
    scores = [np.zeros((n, 1), np.float32) for n in cells.values()]
    boxes = [np.zeros((n, 4), np.float32) for n in cells.values()]
    kps = [np.zeros((n, 10), np.float32) for n in cells.values()]
    row, col, anchor = 3, 2, 1
    index = (row * 8 + col) * 2 + anchor
    scores[0][index] = 0.9
    boxes[0][index] = [1.0, 1.0, 2.0, 2.0]  # distances in strides: left, top, right, bottom
    kps[0][index] = [-1, -1, 1, -1, 0, 0, -1, 1, 1, 1]
    detector.session = FakeSession([*scores, *boxes, *kps], [])
    found = detector.predict(CANVAS)
    assert len(found.scores) == 1 and abs(float(found.scores[0]) - 0.9) < 1e-6
    centre = np.array([col * 8, row * 8], np.float32)  # (16, 24)
    assert np.allclose(
        found.boxes[0], [centre[0] - 8, centre[1] - 8, centre[0] + 16, centre[1] + 16]
    )
    assert np.allclose(found.landmarks[0][0], centre + np.array([-8, -8]))
    assert np.allclose(found.landmarks[0][4], centre + np.array([8, 8]))


def test_yunet_decodes_centre_size_boxes_with_sqrt_of_cls_times_obj() -> None:
    spec = find_manifest([SHIPPED_PACKS_DIR], "opencv-yunet-sface").detector
    detector = YuNetDetector(
        spec, Path("unused.onnx"), SessionFactory(intra_op_threads=1, inter_op_threads=1)
    )
    sizes = {8: 64, 16: 16, 32: 4}
    outputs: dict[str, np.ndarray] = {}
    for stride, n in sizes.items():
        outputs[f"cls_{stride}"] = np.zeros((1, n, 1), np.float32)
        outputs[f"obj_{stride}"] = np.zeros((1, n, 1), np.float32)
        outputs[f"bbox_{stride}"] = np.zeros((1, n, 4), np.float32)
        outputs[f"kps_{stride}"] = np.zeros((1, n, 10), np.float32)
    row, col = 1, 2
    index = row * 4 + col  # stride 16: a 4x4 map
    outputs["cls_16"][0, index] = 0.81
    outputs["obj_16"][0, index] = 1.0
    outputs["bbox_16"][0, index] = [0.5, 0.5, np.log(2.0), np.log(3.0)]
    outputs["kps_16"][0, index] = [0.5] * 10
    detector.session = FakeSession(list(outputs.values()), list(outputs))
    found = detector.predict(CANVAS)
    assert len(found.scores) == 1 and abs(float(found.scores[0]) - 0.9) < 1e-6
    centre_x, centre_y = (col + 0.5) * 16, (row + 0.5) * 16
    assert np.allclose(found.boxes[0], [centre_x - 16, centre_y - 24, centre_x + 16, centre_y + 24])
    assert np.allclose(found.landmarks[0], [[centre_x, centre_y]] * 5)


def test_scores_below_the_pack_threshold_are_dropped() -> None:
    spec = find_manifest([SHIPPED_PACKS_DIR], "opencv-yunet-sface").detector
    detector = YuNetDetector(
        spec, Path("unused.onnx"), SessionFactory(intra_op_threads=1, inter_op_threads=1)
    )
    names, arrays = [], []
    for stride, n in {8: 64, 16: 16, 32: 4}.items():
        for kind, width in (("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)):
            names.append(f"{kind}_{stride}")
            arrays.append(
                np.full((1, n, width), 0.5 if kind in ("cls", "obj") else 0.0, np.float32)
            )  # score sqrt(0.25) = 0.5 < 0.6
    detector.session = FakeSession(arrays, names)
    assert len(detector.predict(CANVAS).scores) == 0
