"""Integration on ../shared/faces/scenes: register from one photo, scan the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.db import Database
from indexer.engine import FaceEngine
from indexer.index_manager import IndexManager
from indexer.photos import reference_photos
from indexer.registry import PhotoInput, Registry
from indexer.scanning import scan_bytes
from indexer.settings import IndexerSettings

pytestmark = [pytest.mark.model, pytest.mark.shared_faces]


def scene_photos(shared_faces: Path) -> dict[str, list[Path]]:
    return {
        folder.name: sorted(folder.glob("*.jpg"), key=lambda p: int(p.stem[3:]))
        for folder in sorted((shared_faces / "scenes").iterdir())
        if folder.is_dir()
    }


def test_scene_identities_are_recognised_in_their_other_photos(
    shared_faces: Path, real_engine: FaceEngine, db: Database, settings: IndexerSettings
) -> None:
    registry = Registry(
        db=db,
        analyser=real_engine,
        index=IndexManager(db=db, pack=real_engine.pack, settings=settings),
        photos=reference_photos(settings),
        settings=settings,
    )
    registry.recover()
    agency = registry.ensure_agency(name="Scenes")
    photos = scene_photos(shared_faces)
    talent_of: dict[str, int] = {}
    for identity, files in photos.items():
        talent, _ = registry.ensure_talent(agency_id=agency.id, name=identity)
        [outcome] = registry.enrol_photos(
            talent_id=talent.id, photos=[PhotoInput(files[0].name, files[0].read_bytes())]
        )
        assert outcome.accepted, (identity, outcome.reasons)
        talent_of[identity] = talent.id

    found = missed = wrong = 0
    for identity, files in photos.items():
        for path in files[1:]:
            result = scan_bytes(
                path.read_bytes(),
                analyser=real_engine,
                index=registry.index,
                max_pixels=settings.max_image_pixels,
                candidates_per_face=3,
            )
            assigned = [face.talent for face in result.faces if face.talent is not None]
            if any(t.talent_id == talent_of[identity] for t in assigned):
                found += 1
            else:
                missed += 1
            wrong += sum(
                1 for t in assigned if t.talent_id != talent_of[identity] and t.band == "match"
            )
    total = found + missed
    assert total == 48
    assert found / total >= 0.95, f"recall {found}/{total}"
    assert wrong == 0, f"{wrong} faces matched to the wrong talent"
