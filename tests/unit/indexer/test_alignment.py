"""The alignment is insightface's norm_crop, without importing insightface at start-up."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from indexer.alignment import ARCFACE_TEMPLATE, norm_crop, similarity_matrix


def _reference() -> tuple[object, object]:
    with warnings.catch_warnings():  # scikit-image's deprecation of the estimate API
        warnings.simplefilter("ignore")
        from insightface.utils.face_align import estimate_norm
        from insightface.utils.face_align import norm_crop as reference_crop
    return estimate_norm, reference_crop


def _landmark_sets(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    sets = []
    for number in range(count):
        points = (
            ARCFACE_TEMPLATE * rng.uniform(0.3, 5.0)
            + rng.uniform(-60, 400, 2)
            + rng.normal(0, 4, (5, 2))
        ).astype(np.float32)
        if number % 3 == 0:  # mirrored faces: the determinant's sign flips
            points = points[:, ::-1].copy()
        sets.append(points)
    return sets


def test_matrix_and_crop_equal_insightface_on_varied_faces() -> None:
    estimate_norm, reference_crop = _reference()
    image = np.random.default_rng(3).integers(0, 256, (500, 500, 3), np.uint8)
    for points in _landmark_sets(600):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected_matrix = estimate_norm(points)  # type: ignore[operator]
            expected_crop = reference_crop(image, points, image_size=112)  # type: ignore[operator]
        assert np.array_equal(similarity_matrix(points, ARCFACE_TEMPLATE), expected_matrix)
        assert np.array_equal(norm_crop(image, points), expected_crop)


def test_the_template_maps_onto_itself() -> None:
    matrix = similarity_matrix(ARCFACE_TEMPLATE, ARCFACE_TEMPLATE)
    assert np.allclose(matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-5)


def test_degenerate_landmarks_give_nan_not_a_crash() -> None:
    same_point = np.full((5, 2), 40.0, np.float32)
    assert np.isnan(similarity_matrix(same_point, ARCFACE_TEMPLATE)).all()


def test_crop_size_must_be_a_multiple_of_the_template() -> None:
    with pytest.raises(ValueError):
        norm_crop(np.zeros((50, 50, 3), np.uint8), ARCFACE_TEMPLATE, image_size=100)
