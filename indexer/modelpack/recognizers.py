"""Face recognizer backend: ArcFace-style networks (SFace, ArcFace R50, ...)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from indexer.errors import ModelPackManifestError
from indexer.modelpack.manifest import RecognizerSpec
from indexer.modelpack.sessions import SessionFactory

FloatArray = npt.NDArray[np.float32]


class ArcFaceRecognizer:
    """112x112 aligned crop in, L2-normalised embedding out; input conventions from the manifest."""

    def __init__(self, spec: RecognizerSpec, path: Path, sessions: SessionFactory) -> None:
        self.spec = spec
        self.path = path
        self.sessions = sessions
        self.session: ort.InferenceSession | None = None

    def load(self) -> None:
        if self.session is not None:
            return
        self.session = self.sessions.create(self.path)
        probe = self._run(np.zeros((1, 3, 112, 112), np.float32))
        if probe.shape[-1] != self.spec.embedding_size:
            raise ModelPackManifestError(
                f"{self.path.name} produces {probe.shape[-1]}-d embeddings but the manifest "
                f"says {self.spec.embedding_size}.")

    def predict(self, aligned_bgr: list[npt.NDArray[np.uint8]]) -> FloatArray:
        """Embeddings (n, d) for aligned 112x112 BGR crops, flip-fused when the pack says so."""
        self.load()
        vectors = np.zeros((len(aligned_bgr), self.spec.embedding_size), np.float32)
        for row, crop in enumerate(aligned_bgr):
            vector = self._embed_one(crop)
            if self.spec.flip_fusion:
                vector = vector + self._embed_one(np.ascontiguousarray(crop[:, ::-1]))
            vectors[row] = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return vectors

    def _embed_one(self, crop: npt.NDArray[np.uint8]) -> FloatArray:
        image = crop[:, :, ::-1] if self.spec.input_color == "RGB" else crop
        blob = (image.astype(np.float32) - self.spec.input_mean) / self.spec.input_std
        embedded: FloatArray = self._run(np.ascontiguousarray(blob.transpose(2, 0, 1)[None]))[0]
        return embedded

    def _run(self, blob: FloatArray) -> FloatArray:
        assert self.session is not None
        input_name = self.session.get_inputs()[0].name
        output: FloatArray = np.asarray(self.session.run(None, {input_name: blob})[0],
                                        np.float32).reshape(blob.shape[0], -1)
        return output
