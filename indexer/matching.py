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
    talents = sorted({t for row in similarities for t, s in row.items() if s >= floor})
    if not talents:
        return [None] * len(similarities)
    if _no_talent_shared(similarities, floor):  # each face simply keeps its closest
        return [_closest(row, floor) for row in similarities]
    from scipy.optimize import linear_sum_assignment  # 0.05 s to import: only when needed

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


def _above(row: dict[int, float], floor: float) -> list[int]:
    return [talent for talent, similarity in row.items() if similarity >= floor]


def _no_talent_shared(similarities: list[dict[int, float]], floor: float) -> bool:
    """No two faces compete for a talent: the optimum is then each face's closest talent."""
    candidates = [talent for row in similarities for talent in _above(row, floor)]
    return len(candidates) == len(set(candidates))


def _closest(row: dict[int, float], floor: float) -> int | None:
    eligible = _above(row, floor)
    # an exact tie (never seen with real similarities) goes to the lowest talent id
    return max(sorted(eligible), key=lambda talent: row[talent]) if eligible else None
