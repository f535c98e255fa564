"""Calibration and metric math on synthetic scores (no models, no photos)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from indexer.calibration import (
    OpenSetScores,
    accept_rate,
    best_accuracy_threshold,
    calibrate_folder,
    derive_thresholds,
    expected_fpir,
    kfold_accuracy,
    pair_scores,
    roc_curve,
    tar_at_far,
    threshold_for_rate,
    write_thresholds,
)
from indexer.modelpack.manifest import Calibration, load_manifest
from indexer.settings import SHIPPED_PACKS_DIR
from tests.support.fakes import FakeAnalyser, face_photo


def test_threshold_for_rate_accepts_at_most_the_allowed_impostors() -> None:
    impostor = np.linspace(0.0, 0.99, 100)  # 100 scores
    result = threshold_for_rate(impostor, 0.05)
    assert result.achieved <= 0.05
    assert accept_rate(impostor, result.threshold) == pytest.approx(0.05)
    # the smallest such threshold: just above the 6th-highest score
    assert 0.94 < result.threshold <= 0.94 + 1e-9
    assert result.resolved


def test_threshold_for_rate_below_resolution_sits_above_every_impostor() -> None:
    impostor = np.array([0.1, 0.2, 0.3])
    result = threshold_for_rate(impostor, 1e-3)
    assert result.threshold > 0.3
    assert result.achieved == 0.0
    assert not result.resolved


def test_threshold_for_rate_with_tied_scores_never_exceeds_the_rate() -> None:
    impostor = np.array([0.5] * 10 + [0.1] * 90)
    result = threshold_for_rate(impostor, 0.05)  # 5 allowed, but 10 are tied at 0.5
    assert result.achieved == 0.0
    assert result.threshold > 0.5


def test_roc_is_monotone_and_perfect_separation_has_unit_auc() -> None:
    curve = roc_curve([0.9, 0.8, 0.7], [0.1, 0.2, 0.3])
    assert np.all(np.diff(curve.far) >= 0) and np.all(np.diff(curve.tar) >= 0)
    assert curve.auc() == pytest.approx(1.0)
    assert roc_curve([0.1, 0.2], [0.8, 0.9]).auc() == pytest.approx(0.0)


def test_tar_at_far_counts_genuine_scores_at_the_calibrated_threshold() -> None:
    rng = np.random.default_rng(0)
    impostor = rng.normal(0.0, 0.1, 10_000)
    genuine = np.array([0.2, 0.35, 0.5, 0.6])
    tar, calibrated = tar_at_far(genuine, impostor, 1e-3)
    assert 0.25 < calibrated.threshold < 0.45  # ~3.1 sigma
    assert tar == np.mean(genuine >= calibrated.threshold)


def test_best_accuracy_threshold_separates_separable_scores_midway() -> None:
    scores = [0.1, 0.2, 0.3, 0.7, 0.8]
    same = [False, False, False, True, True]
    assert best_accuracy_threshold(scores, same) == pytest.approx(0.5)


def test_best_accuracy_threshold_ignores_cuts_inside_tied_scores() -> None:
    scores = [0.4, 0.4, 0.4, 0.9]
    same = [False, True, False, True]
    threshold = best_accuracy_threshold(scores, same)
    assert threshold > 0.4  # accepting all the 0.4s would make two errors, rejecting one


def test_kfold_picks_each_threshold_without_looking_at_its_own_fold() -> None:
    # folds 0 and 1 separate at 0.7; fold 2 alone would separate at 0.25 (peeking = 100%)
    scores = np.array([0.9, 0.6, 0.8, 0.5, 0.3, 0.2])
    same = np.array([True, False, True, False, True, False])
    folds = np.array([0, 0, 1, 1, 2, 2])
    result = kfold_accuracy(scores, same, folds)
    assert result.thresholds[2] == pytest.approx(0.7)
    assert result.accuracies == [1.0, 1.0, 0.5]
    assert result.mean == pytest.approx(2.5 / 3)


def test_fnir_counts_misidentified_searches_as_misses() -> None:
    scores = OpenSetScores.of(
        mated_scores=[0.9, 0.8, 0.3], mated_correct=[True, False, True], nonmated_scores=[0.1, 0.2]
    )
    assert scores.fnir(0.5) == pytest.approx(2 / 3)  # wrong talent + below threshold
    assert scores.fnir(0.0) == pytest.approx(1 / 3)  # the misidentification stays a miss


def test_fnir_at_fpir_uses_the_stranger_scores_for_the_threshold() -> None:
    nonmated = np.arange(1000) / 1000  # 0.000 .. 0.999
    scores = OpenSetScores.of(
        mated_scores=[0.995, 0.99, 0.5], mated_correct=[True] * 3, nonmated_scores=nonmated
    )
    fnir, calibrated = scores.fnir_at_fpir(1e-2)  # 10 strangers allowed: t just above 0.989
    assert calibrated.achieved == pytest.approx(0.01)
    assert fnir == pytest.approx(1 / 3)


def test_expected_fpir_grows_with_gallery_size() -> None:
    assert expected_fpir(1e-4, 1) == pytest.approx(1e-4)
    assert expected_fpir(1e-4, 1000) == pytest.approx(1 - (1 - 1e-4) ** 1000)
    assert expected_fpir(1e-4, 10_000) > expected_fpir(1e-4, 1000)


def test_derived_match_threshold_takes_the_stricter_constraint_and_rounds_up() -> None:
    impostor = np.linspace(0.0, 0.5, 1001)  # FAR 1e-3 -> just above 0.4995
    strangers = OpenSetScores.of([0.9], [True], np.linspace(0.0, 0.6, 1001))
    derived = derive_thresholds(
        impostor=impostor,
        match_far=1e-3,
        possible_far=1e-2,
        open_set=strangers,
        match_fpir=1e-3,
        possible_fpir=1e-2,
    )
    assert derived.match_from == "match_fpir"
    assert derived.match == pytest.approx(0.6)  # 0.5994.. rounded up to 3 decimals
    assert strangers.fpir(derived.match) <= 1e-3
    assert derived.possible <= derived.match
    assert accept_rate(impostor, derived.possible) <= 1e-2


def test_derived_possible_never_exceeds_match() -> None:
    impostor = np.linspace(0.0, 0.5, 100)  # too few scores to resolve 1e-3: match above all
    derived = derive_thresholds(impostor=impostor, match_far=1e-3, possible_far=1e-3)
    assert derived.possible <= derived.match
    assert not derived.constraints["match_far"].resolved


def test_pair_scores_split_genuine_and_impostor_pairs() -> None:
    vectors = np.eye(3, dtype=np.float32)[[0, 0, 1, 2]]
    genuine, impostor = pair_scores(vectors, [0, 0, 1, 2])
    assert genuine.tolist() == [1.0]
    assert len(impostor) == 5 and set(impostor.tolist()) == {0.0}


def test_write_thresholds_replaces_only_the_thresholds_block(tmp_path: Path) -> None:
    path = tmp_path / "pack.json"
    shutil.copy(SHIPPED_PACKS_DIR / "opencv-yunet-sface.json", path)
    before = json.loads(path.read_text())
    write_thresholds(
        path,
        match=0.6,
        possible=0.5,
        calibration=Calibration(
            data="synthetic", date="2026-01-02", method="test", target_false_match_rate=1e-3
        ),
    )
    after = json.loads(path.read_text())
    assert {k: v for k, v in after.items() if k != "thresholds"} == {
        k: v for k, v in before.items() if k != "thresholds"
    }
    manifest = load_manifest(path)
    assert (manifest.thresholds.match, manifest.thresholds.possible) == (0.6, 0.5)
    assert manifest.thresholds.calibration.target_false_match_rate == 1e-3


def test_write_thresholds_refuses_unordered_values_and_keeps_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pack.json"
    shutil.copy(SHIPPED_PACKS_DIR / "opencv-yunet-sface.json", path)
    before = path.read_text()
    with pytest.raises(ValueError):
        write_thresholds(
            path,
            match=0.3,
            possible=0.5,
            calibration=Calibration(data="x", date="2026-01-02", method="x"),
        )
    assert path.read_text() == before
    assert not list(tmp_path.glob(".*.tmp"))


def _labelled_folder(root: Path, people: dict[str, list[int]]) -> Path:
    for name, identities in people.items():
        (root / name).mkdir(parents=True)
        for number, identity in enumerate(identities):
            (root / name / f"{number}.png").write_bytes(face_photo([(identity, 100)], seed=number))
    return root


def test_calibrate_folder_separates_people_and_reports_unusable_photos(tmp_path: Path) -> None:
    folder = _labelled_folder(
        tmp_path / "photos", {"ada": [7, 7, 7], "bea": [8, 8], "cy": [9, 9], "dee": [10]}
    )
    (folder / "dee" / "blank.png").write_bytes(face_photo([]))
    result = calibrate_folder(
        folder, FakeAnalyser(noise=0.05), max_pixels=10**7, match_far=1e-3, possible_far=1e-2
    )
    assert (result.people, result.photos) == (4, 8)
    assert result.genuine_pairs == 3 + 1 + 1
    assert result.impostor_pairs == 28 - 5
    assert [p.reason for p in result.problems] == ["no face found"]
    assert result.tar_at_match == 1.0  # the fake's photos of one person are near-identical
    assert result.thresholds.possible <= result.thresholds.match


def test_calibrate_folder_needs_two_people_and_a_genuine_pair(tmp_path: Path) -> None:
    folder = _labelled_folder(tmp_path / "photos", {"ada": [7], "bea": [8]})
    with pytest.raises(ValueError, match="at least two people"):
        calibrate_folder(
            folder, FakeAnalyser(), max_pixels=10**7, match_far=1e-3, possible_far=1e-2
        )


@pytest.mark.model
def test_models_calibrate_writes_an_operator_pack_and_leaves_the_shipped_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from indexer.demo_fixtures import load_demo_fixture, reference_from_crop
    from indexer.imaging import decode_image
    from service import cli as service_cli
    from tests.conftest import MODEL_CACHE

    fixture = load_demo_fixture()
    source = decode_image(fixture.reference_source.read_bytes(), max_pixels=10**8).bgr
    folder = tmp_path / "labelled"
    for talent in fixture.talents:
        (folder / talent.name).mkdir(parents=True)
        for number, (scale, rotate) in enumerate([(1.0, 0.0), (1.6, 6.0)]):
            (folder / talent.name / f"{number}.jpg").write_bytes(
                reference_from_crop(
                    source, talent.box, scale=scale, rotate_deg=rotate, jpeg_quality=85
                )
            )
    packs = tmp_path / "packs"
    packs.mkdir()
    raw = json.loads((SHIPPED_PACKS_DIR / "opencv-yunet-sface.json").read_text())
    raw.update(
        name="operator-sface",
        version="op.1",
        source={"kind": "local", "directory": str(MODEL_CACHE / "opencv-yunet-sface")},
    )
    (packs / "operator-sface.json").write_text(json.dumps(raw))
    shipped_before = (SHIPPED_PACKS_DIR / "opencv-yunet-sface.json").read_text()
    monkeypatch.setenv("TWINWATCH_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TWINWATCH_MODEL_CACHE_DIR", str(MODEL_CACHE))
    monkeypatch.setenv("TWINWATCH_EXTRA_PACKS_DIR", str(packs))

    result = CliRunner().invoke(
        service_cli.app, ["models", "calibrate", str(folder), "--pack", "operator-sface", "--write"]
    )

    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # rich wraps long lines
    assert "6 people, 12 photos" in output
    assert "cannot measure a rate of 0.001" in output  # 60 impostor pairs only
    written = load_manifest(packs / "operator-sface.json").thresholds
    assert written.calibration.data.startswith("operator photos in labelled/")
    assert written.calibration.target_false_match_rate == 1e-3
    assert written.possible <= written.match
    assert (SHIPPED_PACKS_DIR / "opencv-yunet-sface.json").read_text() == shipped_before
