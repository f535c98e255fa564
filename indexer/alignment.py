"""ArcFace alignment: the similarity transform onto the 112-px template, and the warp.

The arithmetic is Umeyama's least-squares similarity (as scikit-image's
``SimilarityTransform.estimate`` computes it, which insightface's ``norm_crop`` calls),
written here with numpy so that a scan does not import insightface and scikit-image
(about 0.45 s of every process start, for one 2x3 matrix). It runs on the same dtypes in
the same order: ``tests/unit/indexer/test_alignment.py`` holds the matrix and the crop equal to
insightface's.
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

ARCFACE_TEMPLATE: Final = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
TEMPLATE_SIZE: Final = 112


def similarity_matrix(
    source: npt.NDArray[np.floating], target: npt.NDArray[np.floating]
) -> npt.NDArray[np.float64]:
    """The 2x3 similarity (rotation, uniform scale, translation) taking ``source`` points
    closest to ``target`` in least squares (Umeyama 1991, eqs. 38-43)."""
    count = source.shape[0]
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    source_centred, target_centred = source - source_mean, target - target_mean
    covariance = target_centred.T @ source_centred / count
    signs = np.ones((2,), dtype=np.float64)
    if np.linalg.det(covariance) < 0:
        signs[1] = -1
    matrix = np.eye(3, dtype=np.float64)
    left, singular, right = np.linalg.svd(covariance)
    tolerance = singular.max() * max(covariance.shape) * np.finfo(float).eps
    rank = np.count_nonzero(singular > tolerance)
    if rank == 0:
        return np.full((2, 3), np.nan)
    if rank == 1 and np.linalg.det(left) * np.linalg.det(right) > 0:
        matrix[:2, :2] = left @ right
    elif rank == 1:
        matrix[:2, :2] = left @ np.diag(np.array([1.0, -1.0])) @ right
    else:
        matrix[:2, :2] = left @ np.diag(signs) @ right
    scale = 1.0 / source_centred.var(axis=0).sum() * (singular @ signs)
    matrix[:2, 2] = target_mean - scale * (matrix[:2, :2] @ source_mean.T)
    matrix[:2, :2] *= scale
    return matrix[:2, :]


def norm_crop(
    image: npt.NDArray[np.uint8],
    landmarks: npt.NDArray[np.float32],
    image_size: int = TEMPLATE_SIZE,
) -> npt.NDArray[np.uint8]:
    """The ``image_size``-px ArcFace crop for five landmarks (black outside the photo)."""
    if image_size % TEMPLATE_SIZE:
        raise ValueError(f"image_size must be a multiple of {TEMPLATE_SIZE}")
    target = ARCFACE_TEMPLATE * (float(image_size) / TEMPLATE_SIZE)
    matrix = similarity_matrix(landmarks, target)
    crop: npt.NDArray[np.uint8] = cv2.warpAffine(
        image, matrix, (image_size, image_size), borderValue=0.0
    )
    return crop
