"""Threshold calibration: verification and open-set metrics, and writing them to a manifest.

Conventions: a similarity ``s`` is accepted at threshold ``t`` when ``s >= t`` (as
:func:`indexer.matching.band_for` does). For a target false-match rate ``r`` over ``n``
impostor scores, the calibrated threshold is the smallest ``t`` that accepts at most
``floor(r * n)`` of them; when ``r * n < 1`` the measurement cannot resolve ``r`` and the
threshold is set just above the highest impostor score (``resolved`` is then False).

Open-set identification (NIST FRVT 1:N terms): a *mated* search is a probe of someone who
is registered; it succeeds at ``t`` when the rank-1 talent is the right one and scores
``>= t``. FNIR is the fraction of mated searches that do not succeed (missed or
misidentified). A *non-mated* search is a probe of someone not registered; FPIR is the
fraction whose rank-1 score is ``>= t`` (a stranger flagged as some talent).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from indexer.engine import FaceAnalyser
from indexer.errors import TwinwatchError
from indexer.fileio import write_with
from indexer.formats import is_image_file
from indexer.imaging import open_photo
from indexer.modelpack.manifest import Calibration, Thresholds, load_manifest

Scores = npt.NDArray[np.float64]
Flags = npt.NDArray[np.bool_]
THRESHOLD_DECIMALS = 3


def _scores(values: Any) -> Scores:
    return np.asarray(values, dtype=np.float64).reshape(-1)


# --- verification ---------------------------------------------------------------------------
def accept_rate(scores: Any, threshold: float) -> float:
    """Fraction of ``scores`` at or above ``threshold`` (0 for no scores)."""
    values = _scores(scores)
    return float(np.mean(values >= threshold)) if values.size else 0.0


@dataclass(frozen=True)
class RateThreshold:
    """The strictest-needed threshold for a target false-accept rate, and what it achieves."""

    target: float
    threshold: float
    achieved: float  # measured false-accept rate at ``threshold``
    samples: int
    resolved: bool  # False when target * samples < 1: the data cannot measure the target


def threshold_for_rate(impostor: Any, rate: float) -> RateThreshold:
    """Smallest threshold whose false-accept rate over ``impostor`` is at most ``rate``."""
    if not 0 <= rate <= 1:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    values = np.sort(_scores(impostor))[::-1]
    if not values.size:
        raise ValueError("no impostor scores to calibrate on")
    allowed = math.floor(rate * values.size + 1e-9)
    if allowed >= values.size:
        threshold = float(values[-1])
    else:
        threshold = float(np.nextafter(values[allowed], np.inf))
    return RateThreshold(
        rate,
        threshold,
        accept_rate(values, threshold),
        int(values.size),
        resolved=rate * values.size >= 1,
    )


@dataclass(frozen=True)
class RocCurve:
    thresholds: Scores  # descending
    tar: Scores  # genuine accept rate at each threshold
    far: Scores  # impostor accept rate at each threshold

    def auc(self) -> float:
        far = np.concatenate([[0.0], self.far, [1.0]])
        tar = np.concatenate([[0.0], self.tar, [1.0]])
        return float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2))


def roc_curve(genuine: Any, impostor: Any) -> RocCurve:
    """TAR and FAR at every distinct score, thresholds descending."""
    gen, imp = _scores(genuine), _scores(impostor)
    thresholds = np.unique(np.concatenate([gen, imp]))[::-1]
    gen_sorted, imp_sorted = np.sort(gen), np.sort(imp)
    tar = (gen.size - np.searchsorted(gen_sorted, thresholds, side="left")) / max(gen.size, 1)
    far = (imp.size - np.searchsorted(imp_sorted, thresholds, side="left")) / max(imp.size, 1)
    return RocCurve(thresholds, tar.astype(np.float64), far.astype(np.float64))


def tar_at_far(genuine: Any, impostor: Any, far: float) -> tuple[float, RateThreshold]:
    """Genuine accept rate at the threshold calibrated for ``far`` on ``impostor``."""
    calibrated = threshold_for_rate(impostor, far)
    return accept_rate(genuine, calibrated.threshold), calibrated


def best_accuracy_threshold(scores: Any, same: Any) -> float:
    """The threshold that maximises accuracy on (scores, same); midway between scores.

    Among equally accurate thresholds the middle of the widest-scoring run is taken, so the
    choice does not hug one side of a gap.
    """
    values = _scores(scores)
    labels = np.asarray(same, dtype=bool).reshape(-1)
    if values.size != labels.size or not values.size:
        raise ValueError("scores and labels must be non-empty and the same length")
    order = np.argsort(values, kind="stable")
    sorted_values, sorted_labels = values[order], labels[order]
    # threshold between position i-1 and i: accept sorted[i:], reject sorted[:i]
    rejected_different = np.concatenate([[0], np.cumsum(~sorted_labels)])
    accepted_same = labels.sum() - np.concatenate([[0], np.cumsum(sorted_labels)])
    correct = rejected_different + accepted_same
    # only cut where neighbouring scores differ (a cut inside ties is not realisable)
    cuts = np.concatenate([[True], sorted_values[1:] > sorted_values[:-1], [True]])
    correct = np.where(cuts, correct, -1)
    best = np.flatnonzero(correct == correct.max())
    middle = int(best[len(best) // 2])
    low = sorted_values[middle - 1] if middle > 0 else sorted_values[0] - 1e-3
    high = sorted_values[middle] if middle < values.size else sorted_values[-1] + 1e-3
    return float((low + high) / 2)


@dataclass(frozen=True)
class FoldAccuracy:
    accuracies: list[float]
    thresholds: list[float]

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def std(self) -> float:
        return float(np.std(self.accuracies))


def kfold_accuracy(scores: Any, same: Any, folds: Any) -> FoldAccuracy:
    """LFW protocol: per fold, the threshold is chosen on the other folds, accuracy on it."""
    values = _scores(scores)
    labels = np.asarray(same, dtype=bool).reshape(-1)
    fold_of = np.asarray(folds).reshape(-1)
    accuracies, thresholds = [], []
    for fold in np.unique(fold_of):
        test = fold_of == fold
        threshold = best_accuracy_threshold(values[~test], labels[~test])
        predicted = values[test] >= threshold
        accuracies.append(float(np.mean(predicted == labels[test])))
        thresholds.append(threshold)
    return FoldAccuracy(accuracies, thresholds)


# --- open-set identification ----------------------------------------------------------------
@dataclass(frozen=True)
class OpenSetScores:
    mated_scores: Scores  # rank-1 similarity of each mated search
    mated_correct: Flags  # whether that rank-1 talent is the searched person
    nonmated_scores: Scores  # rank-1 similarity of each non-mated search

    @classmethod
    def of(cls, mated_scores: Any, mated_correct: Any, nonmated_scores: Any) -> OpenSetScores:
        return cls(
            _scores(mated_scores),
            np.asarray(mated_correct, bool).reshape(-1),
            _scores(nonmated_scores),
        )

    def fpir(self, threshold: float) -> float:
        return accept_rate(self.nonmated_scores, threshold)

    def fnir(self, threshold: float) -> float:
        if not self.mated_scores.size:
            return 0.0
        hit = self.mated_correct & (self.mated_scores >= threshold)
        return float(1.0 - np.mean(hit))

    def fnir_at_fpir(self, target: float) -> tuple[float, RateThreshold]:
        calibrated = threshold_for_rate(self.nonmated_scores, target)
        return self.fnir(calibrated.threshold), calibrated

    def det(self) -> tuple[Scores, Scores, Scores]:
        """(thresholds descending, FPIR, FNIR) at every distinct score."""
        thresholds = np.unique(np.concatenate([self.mated_scores, self.nonmated_scores]))[::-1]
        fpir = np.array([self.fpir(t) for t in thresholds])
        fnir = np.array([self.fnir(t) for t in thresholds])
        return thresholds, fpir, fnir


def expected_fpir(pairwise_far: float, gallery_size: int) -> float:
    """FPIR if a stranger's scores against N talents were independent: 1 - (1 - FAR)^N."""
    return float(1.0 - (1.0 - pairwise_far) ** gallery_size)


# --- deriving thresholds --------------------------------------------------------------------
@dataclass(frozen=True)
class DerivedThresholds:
    match: float
    possible: float
    constraints: dict[str, RateThreshold] = field(default_factory=dict)
    match_from: str = ""
    possible_from: str = ""


def _round_up(value: float) -> float:
    scale = float(10**THRESHOLD_DECIMALS)
    return math.ceil(value * scale - 1e-9) / scale


def derive_thresholds(
    *,
    impostor: Any,
    match_far: float,
    possible_far: float,
    open_set: OpenSetScores | None = None,
    match_fpir: float | None = None,
    possible_fpir: float | None = None,
) -> DerivedThresholds:
    """``match`` and ``possible`` as the strictest of the pairwise and open-set constraints.

    ``match`` = max(threshold for FAR <= match_far, threshold for FPIR <= match_fpir);
    ``possible`` likewise with the looser targets, never above ``match``. Both are rounded
    *up* to 3 decimals, so the rounded threshold still meets every target.
    """
    constraints = {
        "match_far": threshold_for_rate(impostor, match_far),
        "possible_far": threshold_for_rate(impostor, possible_far),
    }
    if open_set is not None and match_fpir is not None:
        constraints["match_fpir"] = threshold_for_rate(open_set.nonmated_scores, match_fpir)
    if open_set is not None and possible_fpir is not None:
        constraints["possible_fpir"] = threshold_for_rate(open_set.nonmated_scores, possible_fpir)
    match_key = max(
        (k for k in constraints if k.startswith("match")), key=lambda k: constraints[k].threshold
    )
    possible_key = max(
        (k for k in constraints if k.startswith("possible")), key=lambda k: constraints[k].threshold
    )
    match = _round_up(constraints[match_key].threshold)
    possible = min(_round_up(constraints[possible_key].threshold), match)
    return DerivedThresholds(match, possible, constraints, match_key, possible_key)


def write_thresholds(
    manifest_path: Path, *, match: float, possible: float, calibration: Calibration
) -> None:
    """Replace the ``thresholds`` block of a manifest file (atomically; validated first)."""
    raw = json.loads(manifest_path.read_text(encoding="utf-8"))
    thresholds = Thresholds(match=match, possible=possible, calibration=calibration)
    raw["thresholds"] = thresholds.model_dump(mode="json")
    text = json.dumps(raw, indent=2, ensure_ascii=False) + "\n"
    # the whole manifest must still validate before it replaces the old one
    write_with(
        manifest_path, lambda handle: handle.write(text.encode("utf-8")), check=load_manifest
    )


# --- an operator's own labelled photos -------------------------------------------------------
@dataclass(frozen=True)
class PhotoProblem:
    path: Path
    reason: str


@dataclass
class LabelledEmbeddings:
    people: list[str]
    labels: list[int]  # index into people, per embedding
    paths: list[Path]
    vectors: npt.NDArray[np.float32]
    problems: list[PhotoProblem]


def embed_labelled_folder(
    folder: Path,
    analyser: FaceAnalyser,
    *,
    max_pixels: int,
    progress: Callable[[int, int], None] | None = None,
) -> LabelledEmbeddings:
    """One embedding per photo (its largest face) from ``folder/<person>/<photo>``."""
    people_dirs = sorted(p for p in folder.iterdir() if p.is_dir())
    files = [
        (person, path)
        for person, directory in enumerate(people_dirs)
        for path in sorted(directory.iterdir())
        if is_image_file(path)
    ]
    labels: list[int] = []
    paths: list[Path] = []
    vectors: list[npt.NDArray[np.float32]] = []
    problems: list[PhotoProblem] = []
    for done, (person, path) in enumerate(files, start=1):
        try:
            faces = analyser.analyse(open_photo(path.read_bytes(), max_pixels=max_pixels))
        except (TwinwatchError, OSError) as exc:
            problems.append(PhotoProblem(path, getattr(exc, "message", str(exc))))
            continue
        if not faces:
            problems.append(PhotoProblem(path, "no face found"))
        else:
            largest = max(faces, key=lambda face: face.width * face.height)
            labels.append(person)
            paths.append(path)
            vectors.append(largest.embedding)
        if progress is not None:
            progress(done, len(files))
    dim = analyser.pack.embedding_size
    stacked = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32)
    return LabelledEmbeddings([p.name for p in people_dirs], labels, paths, stacked, problems)


def pair_scores(vectors: npt.NDArray[np.float32], labels: list[int]) -> tuple[Scores, Scores]:
    """Cosine similarities of every genuine pair and every impostor pair."""
    label_array = np.asarray(labels)
    similarity = vectors.astype(np.float64) @ vectors.astype(np.float64).T
    upper = np.triu_indices(len(labels), k=1)
    same = label_array[upper[0]] == label_array[upper[1]]
    values = similarity[upper]
    return values[same], values[~same]


@dataclass(frozen=True)
class FolderCalibration:
    people: int
    photos: int
    genuine_pairs: int
    impostor_pairs: int
    thresholds: DerivedThresholds
    tar_at_match: float
    tar_at_possible: float
    problems: list[PhotoProblem]


def calibrate_folder(
    folder: Path,
    analyser: FaceAnalyser,
    *,
    max_pixels: int,
    match_far: float,
    possible_far: float,
    progress: Callable[[int, int], None] | None = None,
) -> FolderCalibration:
    """Calibrate ``match``/``possible`` on an operator's folder of labelled photos.

    Genuine pairs are every two photos of one person, impostor pairs every two photos of
    different people. Needs at least two people and one person with two usable photos.
    """
    embedded = embed_labelled_folder(folder, analyser, max_pixels=max_pixels, progress=progress)
    genuine, impostor = pair_scores(embedded.vectors, embedded.labels)
    if not genuine.size or not impostor.size:
        raise ValueError(
            "calibration needs photos of at least two people, and at least one person with "
            f"two usable photos (found {len(set(embedded.labels))} people, "
            f"{len(embedded.labels)} usable photos)"
        )
    thresholds = derive_thresholds(
        impostor=impostor, match_far=match_far, possible_far=possible_far
    )
    return FolderCalibration(
        people=len(set(embedded.labels)),
        photos=len(embedded.labels),
        genuine_pairs=int(genuine.size),
        impostor_pairs=int(impostor.size),
        thresholds=thresholds,
        tar_at_match=accept_rate(genuine, thresholds.match),
        tar_at_possible=accept_rate(genuine, thresholds.possible),
        problems=embedded.problems,
    )


def folder_calibration_record(
    result: FolderCalibration, folder: Path, *, match_far: float, possible_far: float
) -> Calibration:
    """The manifest's ``calibration`` block for a folder calibration."""
    return Calibration(
        data=(
            f"operator photos in {folder.name}/: {result.people} people, {result.photos} "
            f"photos, {result.genuine_pairs} genuine and {result.impostor_pairs} impostor "
            "pairs"
        ),
        date=datetime.now(UTC).strftime("%Y-%m-%d"),
        method=(
            f"match: pairwise false-match rate <= {match_far:g}; possible: <= "
            f"{possible_far:g}; `twinwatch models calibrate`, thresholds rounded up to "
            f"{THRESHOLD_DECIMALS} decimals"
        ),
        target_false_match_rate=match_far,
    )
