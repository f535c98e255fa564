"""Face recognizer backend: ArcFace-style networks (SFace, ArcFace R50, ...)."""

from __future__ import annotations

from concurrent.futures import Executor, Future
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from indexer.errors import ModelPackManifestError
from indexer.modelpack.manifest import RecognizerSpec
from indexer.modelpack.sessions import SessionFactory, nchw_blob

FloatArray = npt.NDArray[np.float32]
MIN_CHUNK = 2  # crops per run when an image's batch is shared out among idle helpers


class ArcFaceRecognizer:
    """112x112 aligned crop in, L2-normalised embedding out; input conventions from the manifest.

    ``model`` is the prepared network (dynamic batch axis): every crop of an image, and its
    mirror when the pack fuses flips, goes through in one run, or, given ``helpers``, in
    one run per helper plus the caller's, so that a lone scan of a crowded photo uses the
    cores the other workers leave idle. A chunk no helper has started when the caller is
    done with its own is taken back and run by the caller: never slower than one run when
    every core is busy.
    """

    def __init__(
        self,
        spec: RecognizerSpec,
        model: Path | bytes,
        sessions: SessionFactory,
        *,
        helpers: Executor | None = None,
        helper_count: int = 0,
    ) -> None:
        self.spec = spec
        self.model = model
        self.sessions = sessions
        self.session: ort.InferenceSession | None = None
        self.helpers = helpers
        self.helper_count = helper_count if helpers is not None else 0

    def load(self) -> None:
        if self.session is not None:
            return
        self.session = self.sessions.create(self.model)
        probe = self._run(np.zeros((1, 3, 112, 112), np.float32))
        if probe.shape[-1] != self.spec.embedding_size:
            name = self.model.name if isinstance(self.model, Path) else self.spec.file
            raise ModelPackManifestError(
                f"{name} produces {probe.shape[-1]}-d embeddings but the manifest "
                f"says {self.spec.embedding_size}."
            )

    def predict(self, aligned_bgr: list[npt.NDArray[np.uint8]]) -> FloatArray:
        """Embeddings (n, d) for aligned 112x112 BGR crops, flip-fused when the pack says so."""
        self.load()
        if not aligned_bgr:
            return np.zeros((0, self.spec.embedding_size), np.float32)
        crops = np.stack(aligned_bgr)
        if self.spec.flip_fusion:
            crops = np.concatenate([crops, crops[:, :, ::-1]])
        vectors = self._run_shared(self._blob(crops))
        if self.spec.flip_fusion:
            vectors = vectors[: len(aligned_bgr)] + vectors[len(aligned_bgr) :]
        norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        normalised: FloatArray = (vectors / norms).astype(np.float32)
        return normalised

    def raw_embeddings(self, aligned_bgr: list[npt.NDArray[np.uint8]]) -> FloatArray:
        """The network's outputs (n, d) for the crops as given: no flip, no normalisation."""
        self.load()
        return self._run(self._blob(np.stack(aligned_bgr)))

    def _blob(self, crops: npt.NDArray[np.uint8]) -> FloatArray:
        return nchw_blob(
            crops,
            rgb=self.spec.input_color == "RGB",
            mean=self.spec.input_mean,
            std=self.spec.input_std,
        )

    def _run_shared(self, blob: FloatArray) -> FloatArray:
        """``_run(blob)``, the batch split among the caller and idle helpers."""
        parts = min(1 + self.helper_count, len(blob) // MIN_CHUNK)
        if parts <= 1 or self.helpers is None:
            return self._run(blob)
        chunks = np.array_split(blob, parts)
        lent: list[Future[FloatArray]] = [
            self.helpers.submit(self._run, chunk) for chunk in chunks[1:]
        ]
        results = [self._run(chunks[0])]
        for future, chunk in zip(lent, chunks[1:], strict=True):
            results.append(self._run(chunk) if future.cancel() else future.result())
        return np.concatenate(results)

    def _run(self, blob: FloatArray) -> FloatArray:
        assert self.session is not None
        input_name = self.session.get_inputs()[0].name
        output: FloatArray = np.asarray(
            self.session.run(None, {input_name: blob})[0], np.float32
        ).reshape(blob.shape[0], -1)
        return output
