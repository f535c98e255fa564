"""Videos end to end with the real model pack, on clips made here from ../shared/faces
(stills panned and zoomed, cut between people): the truth is known."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.clips import (
    Actor,
    Appearance,
    Shot,
    appearances,
    encode,
    lfw_people,
    photos_of,
    read_still,
    reference_jpeg,
)
from indexer.db import Database
from indexer.engine import FaceEngine
from indexer.index_manager import IndexManager
from indexer.matching import Band
from indexer.photos import reference_photos
from indexer.registry import PhotoInput, Registry
from indexer.settings import IndexerSettings
from indexer.video import VideoLimits
from indexer.video_scan import TrackFinding, VideoScan, scan_video

pytestmark = [pytest.mark.model, pytest.mark.shared_faces]
SIZE = (640, 360)
TOLERANCE_S = 0.5  # the bound on start and end


@dataclass(frozen=True)
class Cast:
    talents: dict[str, Path]  # label -> the identity's folder (enrolled from photo 1)
    stranger: Path


@pytest.fixture(scope="module")
def cast(shared_faces: Path) -> Cast:
    people = lfw_people(shared_faces / "lfw", 3, photos=3)
    return Cast({"A": people[0], "B": people[1]}, people[2])


def shots(cast: Cast) -> list[Shot]:
    """A: a pan and zoom alone; the stranger; A and B side by side (second photos each)."""
    a, b = (read_still(photos_of(cast.talents[k])[1]) for k in ("A", "B"))
    c = read_still(photos_of(cast.stranger)[1])
    return [
        Shot(5.0, (40, 60, 90), [Actor("A", a, (0.3, 0.5, 0.6), (0.65, 0.45, 0.85))]),
        Shot(2.0, (150, 120, 40), [Actor("C", c, (0.5, 0.5, 0.7), (0.5, 0.5, 0.7))]),
        Shot(
            3.0,
            (20, 20, 20),
            [
                Actor("A", a, (0.27, 0.5, 0.6), (0.3, 0.5, 0.6)),
                Actor("B", b, (0.73, 0.5, 0.6), (0.7, 0.5, 0.6)),
            ],
        ),
    ]


@pytest.fixture(scope="module")
def clip(cast: Cast, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return encode(shots(cast), tmp_path_factory.mktemp("clips") / "cast.mp4", size=SIZE, fps=15)


@pytest.fixture
def registry(
    real_engine: FaceEngine, db: Database, settings: IndexerSettings, cast: Cast
) -> Registry:
    registry = Registry(
        db=db,
        analyser=real_engine,
        index=IndexManager(db=db, pack=real_engine.pack, settings=settings),
        photos=reference_photos(settings),
        settings=settings,
    )
    registry.recover()
    agency = registry.ensure_agency(name="Agency")
    for label, folder in cast.talents.items():
        talent, _ = registry.ensure_talent(agency_id=agency.id, name=label)
        first = photos_of(folder)[0]
        [outcome] = registry.enrol_photos(
            talent_id=talent.id, photos=[PhotoInput(first.name, reference_jpeg(first))]
        )
        assert outcome.accepted, outcome.reasons
    return registry


def scanned(clip: Path, engine: FaceEngine, registry: Registry) -> VideoScan:
    return scan_video(
        clip.read_bytes(),
        analyser=engine,
        index=registry.index,
        limits=VideoLimits.of(registry.settings),
        candidates_per_face=3,
    )


def covering(tracks: list[TrackFinding], truth: Appearance) -> list[TrackFinding]:
    return [t for t in tracks if t.start_s < truth.end_s and t.end_s > truth.start_s]


def test_each_appearance_is_one_track_with_its_time_range_and_talent(
    clip: Path, real_engine: FaceEngine, registry: Registry, cast: Cast
) -> None:
    result = scanned(clip, real_engine, registry)
    assert result.duration_s == pytest.approx(10.0, abs=0.1)
    assert len(result.tracks) == 4  # A, the stranger, A again, B
    for truth in appearances(shots(cast)):
        named = [
            t
            for t in covering(result.tracks, truth)
            if (t.talent and t.talent.talent_name)
            == (truth.label if truth.label in cast.talents else None)
        ]
        assert len(named) == 1, (truth, result.tracks)
        [track] = named
        assert abs(track.start_s - truth.start_s) <= TOLERANCE_S
        assert abs(track.end_s - truth.end_s) <= TOLERANCE_S
        assert truth.start_s <= track.best_frame_s <= truth.end_s
        if truth.label in cast.talents:
            assert track.band is Band.MATCH
            assert track.best_crop is not None and track.best_crop.size > 0


def test_the_stranger_is_matched_to_no_one(
    clip: Path, real_engine: FaceEngine, registry: Registry
) -> None:
    result = scanned(clip, real_engine, registry)
    [stranger] = [t for t in result.tracks if 5.0 <= t.best_frame_s < 7.0]
    assert stranger.talent is None


def test_a_long_appearance_is_embedded_a_few_times_not_every_sample(
    clip: Path, real_engine: FaceEngine, registry: Registry
) -> None:
    result = scanned(clip, real_engine, registry)
    assert result.samples >= 20
    assert result.timings.faces < sum(t.samples for t in result.tracks)
