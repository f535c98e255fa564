"""The face engine: detect at working resolution, align to 112x112, embed, L2-normalise."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from indexer.alignment import norm_crop
from indexer.errors import TooManyFacesError
from indexer.imaging import FacePhoto, ImageView
from indexer.modelpack.detectors import (
    DETECTOR_BACKENDS,
    FaceDetector,
    RawDetections,
    merge_detections,
)
from indexer.modelpack.manifest import ModelPackManifest, Thresholds, find_manifest
from indexer.modelpack.recognizers import ArcFaceRecognizer
from indexer.modelpack.sessions import SessionFactory
from indexer.modelpack.store import runnable_models
from indexer.settings import IndexerSettings

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
BgrImage = npt.NDArray[np.uint8]
ALIGNED_SIZE = 112
REFINE_CONTEXT = 2.0  # refinement crop side, in face widths
# Only faces the detector saw smaller than this fraction of ``refine_face_px`` are refined:
# above it the first pass's landmarks are as good, and re-detecting at a similar scale made
# them jump (by ~50 px on an 842-px face, seen at 166 px, when the photo moved by one pixel).
REFINE_BELOW = 0.5
# Alignment samples the photo with bilinear interpolation; a face much larger than the
# 112-px crop aliases, so a one-pixel shift of the photo changed embeddings by up to 0.07
# cosine. Faces whose landmark spread is over this many pixels are first shrunk with
# area averaging (antialiased) until it is this size (about a 200-px face).
ALIGN_LANDMARK_SPREAD_PX = 100.0
ALIGN_REGION = 2.0  # region shrunk around the landmarks, in landmark spreads each way
# Alignment and refinement read the coarsest JPEG reduction in which every face keeps this
# landmark spread (a second decode when the detection view is coarser). The aligned crop's
# own spread is ~41 px, so 50 px loses nothing the 112-px crop could hold: against a
# full-size decode the scene faces keep the same cosine as at 100 px (pack .4), and only 4
# of the 61 scene photos need a second decode instead of 32 (docs/benchmarks.md, pack .5).
ALIGN_VIEW_SPREAD_PX = 50.0


@dataclass(frozen=True)
class PackInfo:
    """What every answer says about the model pack that produced it."""

    name: str
    version: str
    embedding_size: int
    thresholds: Thresholds

    @classmethod
    def of(cls, manifest: ModelPackManifest) -> PackInfo:
        return cls(
            manifest.name, manifest.version, manifest.recognizer.embedding_size, manifest.thresholds
        )


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
    decode_s: float = 0.0  # decoding the photo (at the reductions the work needed)
    detect_s: float = 0.0
    embed_s: float = 0.0
    faces: int = 0


class FaceAnalyser(Protocol):
    """What the registry and scanner need from an engine (real or fake)."""

    pack: PackInfo

    def analyse(
        self,
        image: BgrImage | FacePhoto,
        *,
        keep_aligned: bool = False,
        times: StageTimes | None = None,
    ) -> list[Face]: ...


class FaceEngine:
    """A loaded model pack. Thread-safe for concurrent ``analyse`` calls (onnxruntime is)."""

    def __init__(
        self,
        manifest: ModelPackManifest,
        detector: FaceDetector,
        recognizer: ArcFaceRecognizer,
        *,
        max_faces: int,
    ) -> None:
        self.manifest = manifest
        self.pack = PackInfo.of(manifest)
        self.detector = detector
        self.recognizer = recognizer
        self.max_faces = max_faces

    def load(self) -> None:
        self.detector.load()
        self.recognizer.load()

    def analyse(
        self,
        image: BgrImage | FacePhoto,
        *,
        keep_aligned: bool = False,
        times: StageTimes | None = None,
    ) -> list[Face]:
        """Faces in ``image`` (boxes and landmarks in its full-size coordinates).

        A :class:`FacePhoto` is decoded as little as the work needs: detection reads the
        smallest JPEG reduction that covers the detector's input; refinement and alignment
        read the smallest one in which every face keeps a landmark spread of
        ``ALIGN_VIEW_SPREAD_PX`` (the size alignment shrinks a large face to anyway),
        decoded a second time only when that is finer than the detection view.
        """
        photo = image if isinstance(image, FacePhoto) else FacePhoto.of_array(image)
        started, decoding = time.perf_counter(), photo.decode_s
        detections = self._detect_first_pass(photo)
        if len(detections.scores) > self.max_faces:
            raise TooManyFacesError(
                f"The image has {len(detections.scores)} faces; the limit is {self.max_faces}.",
                faces=len(detections.scores),
                max_faces=self.max_faces,
            )
        view = self._alignment_view(photo, detections)
        detections = self._refined(view, photo, detections)
        detected = time.perf_counter()
        crops = [align_face(view.bgr, lmk) for lmk in view.from_full(detections.landmarks)]
        vectors = self.recognizer.predict(crops)
        if times is not None:
            decode_s = photo.decode_s - decoding
            times.decode_s += decode_s
            times.detect_s += detected - started - decode_s
            times.embed_s += time.perf_counter() - detected
            times.faces += len(crops)
        return [
            Face(
                box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])),
                score=float(s),
                landmarks=lmk,
                embedding=vec,
                aligned=crop if keep_aligned else None,
            )
            for b, s, lmk, vec, crop in zip(
                detections.boxes,
                detections.scores,
                detections.landmarks,
                vectors,
                crops,
                strict=True,
            )
        ]

    def detect_coarse(self, image: BgrImage) -> RawDetections:
        """The first detection pass only (no refinement of small faces): what video
        tracking needs for every sample; :meth:`embed_detected` refines the faces it embeds."""
        return self._detect_first_pass(FacePhoto.of_array(image))

    def embed_detected(self, image: BgrImage, found: RawDetections) -> FloatArray:
        """Embeddings (n, d) of faces found by :meth:`detect_coarse` in ``image``, their
        landmarks refined first as :meth:`analyse` does: video tracks embed only the faces
        they need (``indexer.video_scan``)."""
        photo = FacePhoto.of_array(image)
        refined = self._refined(photo.view(1), photo, found)
        return self.recognizer.predict([align_face(image, lmk) for lmk in refined.landmarks])

    def detect(self, image: BgrImage | FacePhoto) -> RawDetections:
        """Detect in every working size on a padded canvas, merge, refine small faces;
        boxes and landmarks in the image's full-size coordinates."""
        photo = image if isinstance(image, FacePhoto) else FacePhoto.of_array(image)
        found = self._detect_first_pass(photo)
        return self._refined(self._alignment_view(photo, found), photo, found)

    def _detect_first_pass(self, photo: FacePhoto) -> RawDetections:
        spec = self.manifest.detector
        inner = max(spec.working_sizes) / (1 + 2 * spec.pad_fraction)
        view = photo.view(photo.reduction_for(max(photo.width, photo.height), inner))
        passes = [self._detect_at(view.bgr, size) for size in spec.working_sizes]
        merged = merge_detections(passes, spec.nms_threshold)
        full = RawDetections(
            view.to_full(merged.boxes.reshape(-1, 2, 2)).reshape(-1, 4),
            merged.scores,
            view.to_full(merged.landmarks),
        )
        return _clip_to_image(full, photo.width, photo.height)

    @staticmethod
    def _alignment_view(photo: FacePhoto, found: RawDetections) -> ImageView:
        """The coarsest view where every face's landmark spread is still at least
        ``ALIGN_VIEW_SPREAD_PX``, or the detection view when that is finer."""
        decoded = photo.coarsest_decoded()
        if not len(found.scores):
            return decoded
        spreads = (found.landmarks.max(axis=1) - found.landmarks.min(axis=1)).max(axis=1)
        needed = photo.reduction_for(float(spreads.min()), ALIGN_VIEW_SPREAD_PX)
        return decoded if decoded.reduction <= needed else photo.view(needed)

    def _refined(self, view: ImageView, photo: FacePhoto, found: RawDetections) -> RawDetections:
        spec = self.manifest.detector
        if spec.refine_face_px is None or not len(found.scores):
            return found
        seen_at = self._detector_scale(max(photo.height, photo.width))
        return self._refine(view, found, spec.refine_face_px, seen_at)

    def _detector_scale(self, longer_side: int) -> float:
        """How much the largest detection pass scales the image (see ``_detect_at``)."""
        spec = self.manifest.detector
        return max(spec.working_sizes) / (1 + 2 * spec.pad_fraction) / longer_side

    def _refine(
        self, view: ImageView, found: RawDetections, face_px: int, seen_at: float
    ) -> RawDetections:
        """Re-detect each face the detector saw small (``REFINE_BELOW``) on a crop where it is
        ``face_px`` wide: precise landmarks for small faces.

        Landmarks from a face that is small in the detector's input are coarse, and a
        coarse alignment costs recognition accuracy; one extra small pass per such face
        fixes it. Faces the detector already saw large gain nothing from a second look at a
        similar scale, and it made their landmarks unstable: they keep the first pass's.
        Boxes and landmarks are full-size; the crop is taken from ``view``.
        """
        landmarks = found.landmarks.copy()
        boxes = view.from_full(found.boxes.reshape(-1, 2, 2)).reshape(-1, 4)
        for position, box in enumerate(found.boxes):
            if max(box[2] - box[0], box[3] - box[1]) * seen_at >= REFINE_BELOW * face_px:
                continue
            refined = self._refine_one(view.bgr, boxes[position], face_px)
            if refined is not None:
                landmarks[position] = view.to_full(refined)
        return RawDetections(found.boxes, found.scores, landmarks)

    def _refine_one(self, image: BgrImage, box: FloatArray, face_px: int) -> FloatArray | None:
        side = float(max(box[2] - box[0], box[3] - box[1]))
        centre = (box[:2] + box[2:]) / 2
        scale = face_px / side
        canvas_side = _ceil32(round(REFINE_CONTEXT * face_px))
        origin = centre - canvas_side / (2 * scale)
        to_canvas = np.array(
            [[scale, 0, -origin[0] * scale], [0, scale, -origin[1] * scale]], np.float32
        )
        canvas = cv2.warpAffine(
            image, to_canvas, (canvas_side, canvas_side), flags=cv2.INTER_LINEAR, borderValue=0
        )
        raw = self.detector.predict(canvas)
        if not len(raw.scores):
            return None
        offsets = np.linalg.norm(
            (raw.boxes[:, :2] + raw.boxes[:, 2:]) / 2 - canvas_side / 2, axis=1
        )
        nearest = int(np.argmin(offsets))
        if offsets[nearest] > face_px / 2:
            return None
        result: FloatArray = (raw.landmarks[nearest] / scale + origin).astype(np.float32)
        return result

    def _detect_at(self, image: BgrImage, working_size: int) -> RawDetections:
        """One pass: shrink the image, *then* pad it (a border of ``pad_fraction`` of the
        longer side, so faces filling the frame are found), so the canvas is at most
        ``working_size`` square whatever the photo's size or shape."""
        pad_fraction = self.manifest.detector.pad_fraction
        height, width = image.shape[:2]
        inner = working_size / (1 + 2 * pad_fraction)
        scale = inner / max(height, width)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        pad = round(pad_fraction * inner)
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
        canvas = np.zeros((_ceil32(new_h + 2 * pad), _ceil32(new_w + 2 * pad), 3), np.uint8)
        canvas[pad : pad + new_h, pad : pad + new_w] = resized
        raw = self.detector.predict(canvas)
        # Per-axis scale: the rounded size, not the nominal one.
        scale_xy = np.array([new_w / width, new_h / height], np.float32)
        boxes = ((raw.boxes.reshape(-1, 2, 2) - pad) / scale_xy).reshape(-1, 4)
        landmarks = (raw.landmarks - pad) / scale_xy
        return RawDetections(boxes.astype(np.float32), raw.scores, landmarks.astype(np.float32))


def align_face(image: BgrImage, landmarks: FloatArray) -> BgrImage:
    """The 112x112 ArcFace-aligned crop for five landmarks, antialiased for large faces."""
    low, high = landmarks.min(axis=0), landmarks.max(axis=0)
    spread = float(max(high - low))
    shrink = ALIGN_LANDMARK_SPREAD_PX / spread if spread > 0 else 1.0
    if shrink >= 1.0:
        crop: BgrImage = norm_crop(image, landmarks, image_size=ALIGNED_SIZE)
        return crop
    centre, half = (low + high) / 2, ALIGN_REGION * spread
    height, width = image.shape[:2]
    x0, y0 = max(0, int(centre[0] - half)), max(0, int(centre[1] - half))
    x1 = min(width, int(np.ceil(centre[0] + half)))
    y1 = min(height, int(np.ceil(centre[1] + half)))
    new_w, new_h = max(1, round((x1 - x0) * shrink)), max(1, round((y1 - y0) * shrink))
    small = cv2.resize(image[y0:y1, x0:x1], (new_w, new_h), interpolation=cv2.INTER_AREA)
    factor = np.array([new_w / (x1 - x0), new_h / (y1 - y0)], np.float32)
    # Area resizing maps pixel centres: x' + 0.5 = (x + 0.5) * factor.
    moved = (landmarks - np.array([x0, y0], np.float32) + 0.5) * factor - 0.5
    crop = norm_crop(small, moved.astype(np.float32), image_size=ALIGNED_SIZE)
    return crop


def _ceil32(value: int) -> int:
    return ((value + 31) // 32) * 32


def _clip_to_image(detections: RawDetections, width: int, height: int) -> RawDetections:
    """Clip boxes to the image; drop faces whose centre lies in the padding."""
    boxes = detections.boxes.copy()
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    inside = (
        (centres[:, 0] >= 0)
        & (centres[:, 0] < width)
        & (centres[:, 1] >= 0)
        & (centres[:, 1] < height)
    )
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return RawDetections(boxes[inside], detections.scores[inside], detections.landmarks[inside])


def load_engine(settings: IndexerSettings, pack_name: str | None = None) -> FaceEngine:
    """Find, verify and load a model pack (sessions created once, here)."""
    manifest = find_manifest(settings.pack_manifest_dirs(), pack_name or settings.model_pack)
    models = runnable_models(manifest, settings)
    sessions = SessionFactory(
        intra_op_threads=settings.ort_intra_op_threads,
        inter_op_threads=settings.ort_inter_op_threads,
        allow_spinning=settings.ort_allow_spinning,
    )
    detector = DETECTOR_BACKENDS[manifest.detector.kind](
        manifest.detector, models["detector"], sessions
    )
    helper_count = settings.inference_workers - 1
    helpers = (
        ThreadPoolExecutor(max_workers=helper_count, thread_name_prefix="twinwatch-helper")
        if helper_count > 0
        else None
    )
    recognizer = ArcFaceRecognizer(
        manifest.recognizer,
        models["recognizer"],
        sessions,
        helpers=helpers,
        helper_count=helper_count,
    )
    engine = FaceEngine(manifest, detector, recognizer, max_faces=settings.max_faces_per_image)
    engine.load()
    log.info("loaded model pack %s", manifest.ref)
    return engine
