"""Small fakes: an analyser whose 'faces' are coloured squares, so registry and index
tests run without the models."""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image

from indexer.engine import BgrImage, Face, PackInfo, StageTimes
from indexer.imaging import FacePhoto
from indexer.modelpack.manifest import Calibration, Thresholds

FAKE_DIM = 16
FAKE_THRESHOLDS = Thresholds(
    match=0.8, possible=0.6, calibration=Calibration(data="fake", date="2026-01-01", method="fake")
)


def identity_vector(identity: int, *, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """A unit vector per identity; ``noise`` perturbs it (another 'photo' of the same person)."""
    base = np.random.default_rng(identity).normal(size=FAKE_DIM)
    if noise:
        base = base + np.random.default_rng(10_000 + seed).normal(size=FAKE_DIM) * noise * (
            np.linalg.norm(base) / np.sqrt(FAKE_DIM)
        )
    return (base / np.linalg.norm(base)).astype(np.float32)


def face_photo(
    identities: list[tuple[int, int]],
    *,
    size: int = 200,
    seed: int = 0,
    fmt: str = "PNG",
    textured: bool = False,
) -> bytes:
    """An image whose faces are squares: red channel = identity, side = given size.

    ``identities`` is a list of (identity 1..250, face side in px); faces are laid out
    left to right. ``seed`` changes the background so two photos of one person differ.
    ``textured``: a background of grey 10 px tiles (a portfolio image needs detail for
    copy detection to find it; the tiles never look like a face to :class:`FakeAnalyser`).
    """
    width = max(size, sum(side + 10 for _, side in identities) + 10)
    canvas = np.full((size, width, 3), 30 + seed % 50, np.uint8)
    if textured:
        tiles = np.random.default_rng(seed).integers(0, 150, (size // 10 + 1, width // 10 + 1))
        grey = np.kron(tiles, np.ones((10, 10)))[:size, :width].astype(np.uint8)
        canvas[:] = grey[:, :, None]
    x = 10
    for identity, side in identities:
        canvas[10 : 10 + side, x : x + side] = (identity, 200, 60)
        x += side + 10
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format=fmt)
    return buffer.getvalue()


class FakeAnalyser:
    """Finds squares whose green channel is 200; the red channel names the identity."""

    def __init__(
        self,
        *,
        name: str = "fake-pack",
        version: str = "1",
        noise: float = 0.05,
        score: float = 0.95,
    ) -> None:
        self.pack = PackInfo(name, version, FAKE_DIM, FAKE_THRESHOLDS)
        self.noise = noise
        self.score = score
        self.calls = 0

    def analyse(
        self,
        image: BgrImage | FacePhoto,
        *,
        keep_aligned: bool = False,
        times: StageTimes | None = None,
    ) -> list[Face]:
        self.calls += 1
        if isinstance(image, FacePhoto):
            image = image.view(1).bgr
        rgb = image[:, :, ::-1]
        mask = (rgb[:, :, 1] == 200) & (rgb[:, :, 2] == 60)
        faces = []
        columns = np.flatnonzero(mask.any(axis=0))
        for run in (
            np.split(columns, np.flatnonzero(np.diff(columns) > 1) + 1) if len(columns) else []
        ):
            rows = np.flatnonzero(mask[:, run[0]])
            x1, x2, y1, y2 = int(run[0]), int(run[-1]) + 1, int(rows[0]), int(rows[-1]) + 1
            identity = int(rgb[y1, x1, 0])
            seed = int(hashlib.sha256(image.tobytes()).hexdigest()[:6], 16)
            vector = identity_vector(identity, noise=self.noise, seed=seed)
            aligned = _sharp_crop() if keep_aligned else None
            faces.append(
                Face((x1, y1, x2, y2), self.score, np.zeros((5, 2), np.float32), vector, aligned)
            )
        if times is not None:
            times.faces += len(faces)
        return faces


def _sharp_crop() -> np.ndarray:
    checker = (np.indices((112, 112)).sum(axis=0) % 2 * 255).astype(np.uint8)
    return np.repeat(checker[:, :, None], 3, axis=2)
