"""Bands and one-to-one assignment of faces to talents (pure functions)."""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from scipy.optimize import linear_sum_assignment

from indexer.modelpack.manifest import Thresholds


class Band(StrEnum):
    MATCH = "match"
    POSSIBLE = "possible"
    NONE = "none"


def band_for(similarity: float, thresholds: Thresholds) -> Band:
    if similarity >= thresholds.match:
        return Band.MATCH
    if similarity >= thresholds.possible:
        return Band.POSSIBLE
    return Band.NONE


def assign_one_to_one(similarities: list[dict[int, float]], *, floor: float) -> list[int | None]:
    """Give each face at most one talent and each talent at most one face.

    ``similarities[f]`` maps talent id -> similarity for face ``f``. Pairs below ``floor``
    are never assigned. The assignment maximises the total similarity (Hungarian method),
    so when two faces both resemble one talent, the closer face keeps it and the other
    falls back to its next candidate (or to none).
    """
    talents = sorted({t for row in similarities for t, s in row.items() if s >= floor})
    if not talents:
        return [None] * len(similarities)
    column = {talent: position for position, talent in enumerate(talents)}
    gain = np.zeros((len(similarities), len(talents)))
    for face, row in enumerate(similarities):
        for talent, similarity in row.items():
            if similarity >= floor:
                gain[face, column[talent]] = similarity - floor + 1e-6
    faces, columns = linear_sum_assignment(gain, maximize=True)
    assigned: list[int | None] = [None] * len(similarities)
    for face, col in zip(faces, columns, strict=True):
        if gain[face, col] > 0:
            assigned[face] = talents[col]
    return assigned
