"""The face engine: detect at working resolution, align to 112x112, embed, L2-normalise."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt
from insightface.utils.face_align import norm_crop

from indexer.errors import TooManyFacesError
from indexer.modelpack.detectors import (
    DETECTOR_BACKENDS,
    FaceDetector,
    RawDetections,
    merge_detections,
)
from indexer.modelpack.manifest import ModelPackManifest, Thresholds, find_manifest
from indexer.modelpack.recognizers import ArcFaceRecognizer
from indexer.modelpack.sessions import SessionFactory
from indexer.modelpack.store import verified_paths
from indexer.settings import IndexerSettings

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
BgrImage = npt.NDArray[np.uint8]
ALIGNED_SIZE = 112
REFINE_CONTEXT = 2.0  # refinement crop side, in face widths


@dataclass(frozen=True)
class PackInfo:
    """What every answer says about the model pack that produced it."""

    name: str
    version: str
    embedding_size: int
    thresholds: Thresholds

    @classmethod
    def of(cls, manifest: ModelPackManifest) -> PackInfo:
        return cls(manifest.name, manifest.version, manifest.recognizer.embedding_size,
                   manifest.thresholds)


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in the upright source image
    score: float
    landmarks: FloatArray  # (5, 2)
    embedding: FloatArray  # (d,), unit length
    aligned: BgrImage | None = field(default=None, repr=False)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


@dataclass
class StageTimes:
    detect_s: float = 0.0
    embed_s: float = 0.0
    faces: int = 0


class FaceAnalyser(Protocol):
    """What the registry and scanner need from an engine (real or fake)."""

    pack: PackInfo

    def analyse(self, image: BgrImage, *, keep_aligned: bool = False,
                times: StageTimes | None = None) -> list[Face]: ...


class FaceEngine:
    """A loaded model pack. Thread-safe for concurrent ``analyse`` calls (onnxruntime is)."""

    def __init__(self, manifest: ModelPackManifest, detector: FaceDetector,
                 recognizer: ArcFaceRecognizer, *, max_faces: int) -> None:
        self.manifest = manifest
        self.pack = PackInfo.of(manifest)
        self.detector = detector
        self.recognizer = recognizer
        self.max_faces = max_faces

    def load(self) -> None:
        self.detector.load()
        self.recognizer.load()

    def analyse(self, image: BgrImage, *, keep_aligned: bool = False,
                times: StageTimes | None = None) -> list[Face]:
        started = time.perf_counter()
        detections = self.detect(image)
        detected = time.perf_counter()
        if len(detections.scores) > self.max_faces:
            raise TooManyFacesError(
                f"The image has {len(detections.scores)} faces; the limit is {self.max_faces}.",
                faces=len(detections.scores), max_faces=self.max_faces)
        crops = [norm_crop(image, lmk, image_size=ALIGNED_SIZE) for lmk in detections.landmarks]
        vectors = self.recognizer.predict(crops) if crops else np.zeros(
            (0, self.pack.embedding_size), np.float32)
        if times is not None:
            times.detect_s += detected - started
            times.embed_s += time.perf_counter() - detected
            times.faces += len(crops)
        return [
            Face(box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])), score=float(s),
                 landmarks=lmk, embedding=vec, aligned=crop if keep_aligned else None)
            for b, s, lmk, vec, crop in zip(detections.boxes, detections.scores,
                                             detections.landmarks, vectors, crops, strict=True)
        ]

    def detect(self, image: BgrImage) -> RawDetections:
        """Detect in every working size on a padded canvas, merge, map back to image coords."""
        spec = self.manifest.detector
        height, width = image.shape[:2]
        pad = round(spec.pad_fraction * max(height, width))
        padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        passes = [self._detect_at(padded, size, pad) for size in spec.working_sizes]
        merged = _clip_to_image(merge_detections(passes, spec.nms_threshold), width, height)
        if spec.refine_face_px is None or not len(merged.scores):
            return merged
        return self._refine(image, merged, spec.refine_face_px)

    def _refine(self, image: BgrImage, found: RawDetections, face_px: int) -> RawDetections:
        """Re-detect each face on a crop where it is ``face_px`` wide: precise landmarks.

        Landmarks from a face that is small in the detector's input are coarse, and a
        coarse alignment costs recognition accuracy; one extra small pass per face fixes it.
        """
        landmarks = found.landmarks.copy()
        for position, box in enumerate(found.boxes):
            refined = self._refine_one(image, box, face_px)
            if refined is not None:
                landmarks[position] = refined
        return RawDetections(found.boxes, found.scores, landmarks)

    def _refine_one(self, image: BgrImage, box: FloatArray, face_px: int) -> FloatArray | None:
        side = float(max(box[2] - box[0], box[3] - box[1]))
        centre = (box[:2] + box[2:]) / 2
        scale = face_px / side
        canvas_side = _ceil32(round(REFINE_CONTEXT * face_px))
        origin = centre - canvas_side / (2 * scale)
        to_canvas = np.array([[scale, 0, -origin[0] * scale], [0, scale, -origin[1] * scale]],
                             np.float32)
        canvas = cv2.warpAffine(image, to_canvas, (canvas_side, canvas_side),
                                flags=cv2.INTER_LINEAR, borderValue=0)
        raw = self.detector.predict(canvas)
        if not len(raw.scores):
            return None
        offsets = np.linalg.norm((raw.boxes[:, :2] + raw.boxes[:, 2:]) / 2 - canvas_side / 2,
                                 axis=1)
        nearest = int(np.argmin(offsets))
        if offsets[nearest] > face_px / 2:
            return None
        result: FloatArray = (raw.landmarks[nearest] / scale + origin).astype(np.float32)
        return result

    def _detect_at(self, padded: BgrImage, working_size: int, pad: int) -> RawDetections:
        height, width = padded.shape[:2]
        scale = working_size / max(height, width)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(padded, (new_w, new_h), interpolation=interpolation)
        canvas = np.zeros((_ceil32(new_h), _ceil32(new_w), 3), np.uint8)
        canvas[:new_h, :new_w] = resized
        raw = self.detector.predict(canvas)
        return RawDetections(raw.boxes / scale - pad, raw.scores, raw.landmarks / scale - pad)


def _ceil32(value: int) -> int:
    return ((value + 31) // 32) * 32


def _clip_to_image(detections: RawDetections, width: int, height: int) -> RawDetections:
    """Clip boxes to the image; drop faces whose centre lies in the padding."""
    boxes = detections.boxes.copy()
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    inside = ((centres[:, 0] >= 0) & (centres[:, 0] < width)
              & (centres[:, 1] >= 0) & (centres[:, 1] < height))
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return RawDetections(boxes[inside], detections.scores[inside], detections.landmarks[inside])


def load_engine(settings: IndexerSettings, pack_name: str | None = None) -> FaceEngine:
    """Find, verify and load a model pack (sessions created once, here)."""
    manifest = find_manifest(settings.pack_manifest_dirs(), pack_name or settings.model_pack)
    paths = verified_paths(manifest, settings)
    sessions = SessionFactory(intra_op_threads=settings.ort_intra_op_threads,
                              inter_op_threads=settings.ort_inter_op_threads)
    detector = DETECTOR_BACKENDS[manifest.detector.kind](
        manifest.detector, paths["detector"], sessions)
    recognizer = ArcFaceRecognizer(manifest.recognizer, paths["recognizer"], sessions)
    engine = FaceEngine(manifest, detector, recognizer, max_faces=settings.max_faces_per_image)
    engine.load()
    log.info("loaded model pack %s", manifest.ref)
    return engine
