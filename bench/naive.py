"""The naive single-pass baseline for ``bench.speed``: what a first attempt would do.

    python -m bench.naive FOLDER [FOLDER ...]

OpenCV decode, YuNet once at 640 px (longer side, no padding, no refinement), SFace once
per face (no flip, batch of one), onnxruntime's default session options (threads = cores,
spinning on), on the published model files as shipped. No search. Prints one JSON line:
images and faces. It is a yardstick for speed, not a product: it finds fewer faces.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from bench.common import bench_settings
from indexer.alignment import norm_crop
from indexer.modelpack.detectors import YuNetDetector
from indexer.modelpack.manifest import find_manifest
from indexer.modelpack.sessions import prepare_model
from indexer.modelpack.store import verified_paths

WORKING_SIZE = 640


class _Defaults:
    """A SessionFactory stand-in that uses onnxruntime's defaults."""

    def create(self, model: Path | bytes) -> ort.InferenceSession:
        source = str(model) if isinstance(model, Path) else model
        return ort.InferenceSession(source, providers=["CPUExecutionProvider"])


def main() -> None:
    settings = bench_settings()
    manifest = find_manifest(settings.pack_manifest_dirs(), "opencv-yunet-sface")
    paths = verified_paths(manifest, settings)
    # YuNet's export is fixed at 640x640: free the size (nothing else changes).
    detector = YuNetDetector(
        manifest.detector,
        prepare_model(paths["detector"], dynamic_batch=False, dynamic_spatial=True),
        _Defaults(),  # type: ignore[arg-type]
    )
    detector.load()
    recognizer = _Defaults().create(paths["recognizer"])
    rec_input = recognizer.get_inputs()[0].name
    images = faces = 0
    files = [p for folder in sys.argv[1:] for p in sorted(Path(folder).rglob("*.jpg"))]
    for path in files:
        image = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"{path}: not a decodable image")
        height, width = image.shape[:2]
        scale = WORKING_SIZE / max(height, width)
        new_w, new_h = round(width * scale), round(height * scale)
        canvas = np.zeros(((new_h + 31) // 32 * 32, (new_w + 31) // 32 * 32, 3), np.uint8)
        canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h))
        found = detector.predict(canvas)
        for landmarks in found.landmarks:
            crop = norm_crop(image, landmarks / scale, image_size=112)
            blob = crop[:, :, ::-1].astype(np.float32).transpose(2, 0, 1)[None]
            recognizer.run(None, {rec_input: np.ascontiguousarray(blob)})
            faces += 1
        images += 1
    print(json.dumps({"images": images, "faces": faces}))


if __name__ == "__main__":
    main()
