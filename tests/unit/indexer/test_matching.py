from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.engine import Face
from indexer.matching import Band, assign_one_to_one, band_for
from indexer.quality import assess_reference
from tests.support.fakes import FAKE_THRESHOLDS


def test_band_follows_the_pack_thresholds() -> None:
    assert band_for(0.95, FAKE_THRESHOLDS) is Band.MATCH
    assert band_for(0.8, FAKE_THRESHOLDS) is Band.MATCH
    assert band_for(0.7, FAKE_THRESHOLDS) is Band.POSSIBLE
    assert band_for(0.1, FAKE_THRESHOLDS) is Band.NONE


def test_closer_face_keeps_the_contested_talent() -> None:
    # Both faces look most like talent 1; face 1 is closer, so face 0 falls back to talent 2.
    assigned = assign_one_to_one([{1: 0.85, 2: 0.75}, {1: 0.9}], floor=0.6)
    assert assigned == [2, 1]


def test_no_assignment_below_the_floor() -> None:
    assert assign_one_to_one([{1: 0.5}, {}], floor=0.6) == [None, None]


def test_each_talent_at_most_once() -> None:
    assigned = assign_one_to_one([{1: 0.9}, {1: 0.88}, {1: 0.87}], floor=0.6)
    assert sorted(a for a in assigned if a is not None) == [1]
    assert assigned[0] == 1


def _best_total(similarities: list[dict[int, float]], floor: float) -> float:
    """The largest total gain of any assignment, by trying them all (the oracle): each face
    takes one talent at or above the floor that no earlier face took, or none."""

    def best(face: int, taken: frozenset[int]) -> float:
        if face == len(similarities):
            return 0.0
        options = [best(face + 1, taken)]
        options += [
            similarity - floor + 1e-6 + best(face + 1, taken | {talent})
            for talent, similarity in similarities[face].items()
            if similarity >= floor and talent not in taken
        ]
        return max(options)

    return best(0, frozenset())


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.dictionaries(st.integers(1, 6), st.floats(0.0, 1.0), max_size=4), max_size=6),
    st.floats(0.3, 0.7),
)
def test_assignment_with_or_without_competition_is_the_hungarian_optimum(
    similarities: list[dict[int, float]], floor: float
) -> None:
    """With or without competing faces (the solver runs only when two faces want one
    talent), the assignment is valid and as good as the best of all assignments."""
    assigned = assign_one_to_one(similarities, floor=floor)
    chosen = [talent for talent in assigned if talent is not None]
    assert len(chosen) == len(set(chosen))
    assert all(
        row[talent] >= floor
        for row, talent in zip(similarities, assigned, strict=True)
        if talent is not None
    )
    total = sum(
        row[talent] - floor + 1e-6
        for row, talent in zip(similarities, assigned, strict=True)
        if talent is not None
    )
    assert total == pytest.approx(_best_total(similarities, floor), abs=1e-9)


def face(side: float, score: float = 0.95, sharp: bool = True) -> Face:
    aligned = (
        (np.indices((112, 112)).sum(axis=0) % 2 * 255).astype(np.uint8)
        if sharp
        else np.full((112, 112), 128, np.uint8)
    )
    return Face(
        (0.0, 0.0, side, side),
        score,
        np.zeros((5, 2), np.float32),
        np.zeros(4, np.float32),
        np.repeat(aligned[:, :, None], 3, axis=2),
    )


def gate(faces: list[Face]):  # type: ignore[no-untyped-def]
    return assess_reference(
        faces, min_face_px=64, min_detection_score=0.8, min_blur=40, dominance_ratio=0.5
    )


def test_quality_gate_accepts_one_large_sharp_face() -> None:
    verdict = gate([face(120), face(30)])
    assert verdict.accepted and verdict.figures is not None
    assert verdict.figures.faces_found == 2


def test_quality_gate_gives_every_reason() -> None:
    verdict = gate([face(50, score=0.6, sharp=False), face(40)])
    assert not verdict.accepted
    assert len(verdict.reasons) == 4
    assert "2 faces of similar size" in verdict.reasons[0]
    assert "50px" in verdict.reasons[1]
    assert "0.60" in verdict.reasons[2]
    assert "blurred" in verdict.reasons[3]


def test_quality_gate_says_when_no_face_is_found() -> None:
    assert gate([]).reasons == ["no face was found in the photo"]


def test_every_refusal_has_a_code_and_plain_advice_in_the_same_order() -> None:
    from service.talents.advice import ADVICE, advice

    verdict = gate([face(50, score=0.6, sharp=False), face(40)])
    refused = [*verdict.refusals, *gate([]).refusals]
    assert {r.code for r in refused} == set(ADVICE)  # every reason the gate gives, advised
    assert len(verdict.refusals) == len(verdict.reasons)
    words = advice(verdict.refusals, verdict.reasons)
    assert [w.split(":")[0] for w in words] == [
        "The photo shows 2 faces of similar size",
        "The face is small (50 px wide)",
        "The face is hard to make out (partly hidden, turned away or not a real face)",
        "The face is blurred",
    ]
    assert "at least 64 px wide" in words[1]
    assert advice([], ["The file is not an image."]) == ["The file is not an image."]
