"""Face detector backends: one small interface (load, predict), one class per family."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from indexer.modelpack.manifest import DetectorSpec
from indexer.modelpack.sessions import SessionFactory, nchw_blob

FloatArray = npt.NDArray[np.float32]
STRIDES = (8, 16, 32)
VOTE_IOU = 0.6  # candidates this close to a kept face vote on its box and landmarks


@dataclass(frozen=True)
class RawDetections:
    """Detections in the coordinates of the tensor the network saw."""

    boxes: FloatArray  # (n, 4) x1, y1, x2, y2
    scores: FloatArray  # (n,)
    landmarks: FloatArray  # (n, 5, 2): eye, eye, nose, mouth corner, mouth corner (image L->R)

    @classmethod
    def empty(cls) -> RawDetections:
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros((0,), np.float32),
            np.zeros((0, 5, 2), np.float32),
        )


class FaceDetector(ABC):
    """Load once, then predict on images already resized and padded to a multiple of 32.

    ``model`` is the prepared network (``modelpack.store.runnable_models``): a file or bytes.
    """

    # Exported at one fixed input size though fully convolutional: preparation frees it.
    fixed_size_export = False

    def __init__(self, spec: DetectorSpec, model: Path | bytes, sessions: SessionFactory) -> None:
        self.spec = spec
        self.model = model
        self.sessions = sessions
        self.session: ort.InferenceSession | None = None

    def load(self) -> None:
        if self.session is None:
            self.session = self.sessions.create(self.model)

    def predict(self, canvas_bgr: npt.NDArray[np.uint8]) -> RawDetections:
        self.load()
        assert self.session is not None
        blob = self._blob(canvas_bgr)
        input_name = self.session.get_inputs()[0].name
        outputs = self.session.run(None, {input_name: blob})
        height, width = canvas_bgr.shape[:2]
        boxes, scores, landmarks = self._decode(outputs, height, width)
        return _nms(boxes, scores, landmarks, self.spec.nms_threshold)

    def _blob(self, canvas_bgr: npt.NDArray[np.uint8]) -> FloatArray:
        return nchw_blob(
            canvas_bgr[None],
            rgb=self.spec.input_color == "RGB",
            mean=self.spec.input_mean,
            std=self.spec.input_std,
        )

    @abstractmethod
    def _decode(
        self, outputs: list[FloatArray], height: int, width: int
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Boxes (n,4), scores (n,), landmarks (n,5,2) above the score threshold."""


class YuNetDetector(FaceDetector):
    """OpenCV Zoo YuNet (2023mar): anchor-free, outputs cls/obj/bbox/kps per stride."""

    fixed_size_export = True

    def _decode(
        self, outputs: list[FloatArray], height: int, width: int
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        assert self.session is not None
        named = dict(zip((o.name for o in self.session.get_outputs()), outputs, strict=True))
        all_boxes, all_scores, all_kps = [], [], []
        for stride in STRIDES:
            cols = width // stride
            cls = np.clip(named[f"cls_{stride}"][0, :, 0], 0, 1)
            obj = np.clip(named[f"obj_{stride}"][0, :, 0], 0, 1)
            score = np.sqrt(cls * obj)
            keep = np.flatnonzero(score >= self.spec.score_threshold)
            if keep.size == 0:
                continue
            grid = np.stack([keep % cols, keep // cols], axis=1).astype(np.float32)
            bbox = named[f"bbox_{stride}"][0, keep]
            centre = (grid + bbox[:, :2]) * stride
            size = np.exp(bbox[:, 2:4]) * stride
            all_boxes.append(np.concatenate([centre - size / 2, centre + size / 2], axis=1))
            kps = named[f"kps_{stride}"][0, keep].reshape(-1, 5, 2)
            all_kps.append((kps + grid[:, None, :]) * stride)
            all_scores.append(score[keep])
        return _stack(all_boxes, all_scores, all_kps)


class ScrfdDetector(FaceDetector):
    """insightface SCRFD (e.g. det_10g): 2 anchors per location, distance-encoded boxes."""

    anchors_per_location = 2

    def _decode(
        self, outputs: list[FloatArray], height: int, width: int
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        squeezed = [o[0] if o.ndim == 3 else o for o in outputs]
        count = len(STRIDES)
        all_boxes, all_scores, all_kps = [], [], []
        for level, stride in enumerate(STRIDES):
            scores = squeezed[level].reshape(-1)
            keep = np.flatnonzero(scores >= self.spec.score_threshold)
            if keep.size == 0:
                continue
            centres = _anchor_centres(
                height // stride, width // stride, stride, self.anchors_per_location
            )[keep]
            distances = squeezed[level + count][keep] * stride
            all_boxes.append(
                np.concatenate([centres - distances[:, :2], centres + distances[:, 2:4]], axis=1)
            )
            kps = squeezed[level + 2 * count][keep].reshape(-1, 5, 2) * stride
            all_kps.append(kps + centres[:, None, :])
            all_scores.append(scores[keep])
        return _stack(all_boxes, all_scores, all_kps)


def _anchor_centres(rows: int, cols: int, stride: int, per_location: int) -> FloatArray:
    ys, xs = np.mgrid[:rows, :cols]
    centres = (np.stack([xs, ys], axis=-1).reshape(-1, 2) * stride).astype(np.float32)
    return np.repeat(centres, per_location, axis=0)


def _stack(
    boxes: list[FloatArray], scores: list[FloatArray], kps: list[FloatArray]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    if not boxes:
        empty = RawDetections.empty()
        return empty.boxes, empty.scores, empty.landmarks
    return (
        np.concatenate(boxes).astype(np.float32),
        np.concatenate(scores).astype(np.float32),
        np.concatenate(kps).astype(np.float32),
    )


def _nms(boxes: FloatArray, scores: FloatArray, landmarks: FloatArray, iou: float) -> RawDetections:
    """Non-maximum suppression with voting: each kept face's box and landmarks are the
    score-weighted mean of every candidate overlapping it by ``VOTE_IOU`` or more.

    The winner alone jumps between neighbouring anchors when the photo moves by a pixel
    (landmarks moved by up to ~10 px on large faces); the mean over the cluster does not.
    """
    if len(scores) == 0:
        return RawDetections.empty()
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    keep = np.asarray(
        cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, iou), dtype=np.int64
    ).reshape(-1)
    keep = keep[np.argsort(-scores[keep])]
    weights = (_pairwise_iou(boxes[keep], boxes) >= VOTE_IOU) * scores[None, :]
    weights /= weights.sum(axis=1, keepdims=True)
    voted_boxes = (weights @ boxes).astype(np.float32)
    voted_landmarks = np.einsum("kn,nij->kij", weights, landmarks).astype(np.float32)
    return RawDetections(voted_boxes, scores[keep], voted_landmarks)


def _pairwise_iou(a: FloatArray, b: FloatArray) -> FloatArray:
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
    result: FloatArray = (inter / union).astype(np.float32)
    return result


def merge_detections(parts: list[RawDetections], iou: float) -> RawDetections:
    """Merge detections from several passes (already in one coordinate frame) with NMS."""
    parts = [p for p in parts if len(p.scores)]
    if not parts:
        return RawDetections.empty()
    return _nms(
        np.concatenate([p.boxes for p in parts]),
        np.concatenate([p.scores for p in parts]),
        np.concatenate([p.landmarks for p in parts]),
        iou,
    )


DETECTOR_BACKENDS: dict[str, type[FaceDetector]] = {"yunet": YuNetDetector, "scrfd": ScrfdDetector}
