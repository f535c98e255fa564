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
    """112x112 aligned crop in, L2-normalised embedding out; input conventions from the manifest.

    ``model`` is the prepared network (dynamic batch axis): every crop of an image, and its
    mirror when the pack fuses flips, goes through in one run.
    """

    def __init__(self, spec: RecognizerSpec, model: Path | bytes,
                 sessions: SessionFactory) -> None:
        self.spec = spec
        self.model = model
        self.sessions = sessions
        self.session: ort.InferenceSession | None = None

    def load(self) -> None:
        if self.session is not None:
            return
        self.session = self.sessions.create(self.model)
        probe = self._run(np.zeros((1, 3, 112, 112), np.float32))
        if probe.shape[-1] != self.spec.embedding_size:
            name = self.model.name if isinstance(self.model, Path) else self.spec.file
            raise ModelPackManifestError(
                f"{name} produces {probe.shape[-1]}-d embeddings but the manifest "
                f"says {self.spec.embedding_size}.")

    def predict(self, aligned_bgr: list[npt.NDArray[np.uint8]]) -> FloatArray:
        """Embeddings (n, d) for aligned 112x112 BGR crops, flip-fused when the pack says so."""
        self.load()
        if not aligned_bgr:
            return np.zeros((0, self.spec.embedding_size), np.float32)
        crops = np.stack(aligned_bgr)
        if self.spec.flip_fusion:
            crops = np.concatenate([crops, crops[:, :, ::-1]])
        vectors = self._run(self._blob(crops))
        if self.spec.flip_fusion:
            vectors = vectors[:len(aligned_bgr)] + vectors[len(aligned_bgr):]
        norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        normalised: FloatArray = (vectors / norms).astype(np.float32)
        return normalised

    def raw_embeddings(self, aligned_bgr: list[npt.NDArray[np.uint8]]) -> FloatArray:
        """The network's outputs (n, d) for the crops as given: no flip, no normalisation."""
        self.load()
        return self._run(self._blob(np.stack(aligned_bgr)))

    def _blob(self, crops: npt.NDArray[np.uint8]) -> FloatArray:
        images = crops[..., ::-1] if self.spec.input_color == "RGB" else crops
        blob = (images.astype(np.float32) - self.spec.input_mean) / self.spec.input_std
        return np.ascontiguousarray(blob.transpose(0, 3, 1, 2))

    def _run(self, blob: FloatArray) -> FloatArray:
        assert self.session is not None
        input_name = self.session.get_inputs()[0].name
        output: FloatArray = np.asarray(self.session.run(None, {input_name: blob})[0],
                                        np.float32).reshape(blob.shape[0], -1)
        return output
