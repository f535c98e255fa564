"""Bands and one-to-one assignment of faces to talents (pure functions)."""

from __future__ import annotations

from enum import StrEnum

import numpy as np

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
    eligible = [
        [talent for talent, similarity in row.items() if similarity >= floor]
        for row in similarities
    ]
    wanted = [talent for row in eligible for talent in row]
    if len(wanted) == len(set(wanted)):  # no two faces compete: each keeps its closest
        return [_closest(row, talents) for row, talents in zip(similarities, eligible, strict=True)]
    from scipy.optimize import linear_sum_assignment  # 0.05 s to import: only when needed

    talents = sorted(set(wanted))
    column = {talent: position for position, talent in enumerate(talents)}
    gain = np.zeros((len(similarities), len(talents)))
    for face, (row, candidates) in enumerate(zip(similarities, eligible, strict=True)):
        for talent in candidates:
            gain[face, column[talent]] = row[talent] - floor + 1e-6
    faces, columns = linear_sum_assignment(gain, maximize=True)
    assigned: list[int | None] = [None] * len(similarities)
    for face, col in zip(faces, columns, strict=True):
        if gain[face, col] > 0:
            assigned[face] = talents[col]
    return assigned


def _closest(row: dict[int, float], eligible: list[int]) -> int | None:
    # an exact tie (never seen with real similarities) goes to the lowest talent id
    return max(sorted(eligible), key=lambda talent: row[talent]) if eligible else None
