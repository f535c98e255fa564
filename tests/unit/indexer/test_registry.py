from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from indexer.db import Embedding, ReferenceImage, Talent
from indexer.errors import TalentNotFoundError
from indexer.index_manager import IndexManager
from indexer.photos import reference_photos
from indexer.registry import PhotoInput, Registry
from indexer.scanning import scan_bytes
from tests.support.fakes import FakeAnalyser, face_photo

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`


def enrol(registry: Registry, name: str, identity: int, photos: int = 2, agency: str = "A") -> int:
    agency_row = registry.ensure_agency(name=agency)
    talent, _ = registry.ensure_talent(agency_id=agency_row.id, name=name)
    outcomes = registry.enrol_photos(
        talent_id=talent.id,
        photos=[
            PhotoInput(f"{name}-{n}.png", face_photo([(identity, 100)], seed=n))
            for n in range(photos)
        ],
    )
    assert all(o.accepted for o in outcomes), outcomes
    return talent.id


def scan(registry: Registry, data: bytes):  # type: ignore[no-untyped-def]
    return scan_bytes(
        data,
        analyser=registry.analyser,
        index=registry.index,
        max_pixels=10**7,
        candidates_per_face=3,
    )


def count(registry: Registry, model: type) -> int:
    with registry.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_enrolment_reports_each_photo_and_why_it_was_rejected(fake_registry: Registry) -> None:
    agency = fake_registry.ensure_agency(name="Agency")
    talent, created = fake_registry.ensure_talent(agency_id=agency.id, name="Ada")
    assert created
    outcomes = fake_registry.enrol_photos(
        talent_id=talent.id,
        photos=[
            PhotoInput("good.png", face_photo([(7, 100)])),
            PhotoInput("two-people.png", face_photo([(7, 100), (8, 90)])),
            PhotoInput("tiny.png", face_photo([(7, 30)])),
            PhotoInput("empty.png", face_photo([])),
            PhotoInput("notes.txt", b"not an image"),
        ],
    )
    assert [o.accepted for o in outcomes] == [True, False, False, False, False]
    assert "2 faces of similar size" in outcomes[1].reasons[0]
    assert "smaller than the minimum 64px" in outcomes[2].reasons[0]
    assert outcomes[3].reasons == ["no face was found in the photo"]
    assert "not an image" in outcomes[4].reasons[0]


def test_small_background_face_does_not_block_enrolment(fake_registry: Registry) -> None:
    agency = fake_registry.ensure_agency(name="Agency")
    talent, _ = fake_registry.ensure_talent(agency_id=agency.id, name="Ada")
    [outcome] = fake_registry.enrol_photos(
        talent_id=talent.id,
        photos=[PhotoInput("with-bystander.png", face_photo([(7, 120), (9, 40)]))],
    )
    assert outcome.accepted


def test_enrolment_is_idempotent(fake_registry: Registry) -> None:
    talent_id = enrol(fake_registry, "Ada", 7)
    again = fake_registry.enrol_photos(
        talent_id=talent_id, photos=[PhotoInput("same.png", face_photo([(7, 100)], seed=0))]
    )
    assert again[0].already_enrolled
    assert count(fake_registry, ReferenceImage) == 2
    assert count(fake_registry, Embedding) == 2


def test_scan_finds_registered_talent_and_not_a_stranger(fake_registry: Registry) -> None:
    ada = enrol(fake_registry, "Ada", 7)
    enrol(fake_registry, "Bea", 8)
    result = scan(fake_registry, face_photo([(7, 80), (99, 80)], seed=5))
    known, stranger = result.faces
    assert known.talent is not None and known.talent.talent_id == ada
    assert known.band == "match"
    assert stranger.talent is None and stranger.band == "none"
    assert result.pack.name == "fake-pack"


def test_two_faces_are_never_assigned_the_same_talent(fake_registry: Registry) -> None:
    ada = enrol(fake_registry, "Ada", 7)
    result = scan(fake_registry, face_photo([(7, 80), (7, 80)], seed=9))
    assigned = [face.talent.talent_id for face in result.faces if face.talent]
    assert assigned == [ada]


def test_erasure_removes_rows_vectors_and_photos(fake_registry: Registry, tmp_path: Path) -> None:
    ada = enrol(fake_registry, "Ada", 7)
    bea = enrol(fake_registry, "Bea", 8)
    assert len(fake_registry.photos.talent_keys(ada)) == 2
    report = fake_registry.erase_talent(talent_id=ada)
    assert (report.references_removed, report.embeddings_removed) == (2, 2)
    assert fake_registry.photos.talent_keys(ada) == []
    assert len(fake_registry.photos.talent_keys(bea)) == 2
    with fake_registry.db.session() as session:
        assert session.get(Talent, ada) is None
        assert set(session.scalars(select(Embedding.talent_id))) == {bea}
    assert fake_registry.index.verify().ok
    assert scan(fake_registry, face_photo([(7, 80)], seed=5)).faces[0].talent is None
    with pytest.raises(TalentNotFoundError):
        fake_registry.erase_talent(talent_id=ada)


def test_crash_inside_erasure_transaction_keeps_the_old_state(fake_registry: Registry) -> None:
    ada = enrol(fake_registry, "Ada", 7)

    def crash(_session: object, _talent_id: int) -> None:
        raise RuntimeError("power cut")

    fake_registry.erase_hooks.append(crash)
    with pytest.raises(RuntimeError):
        fake_registry.erase_talent(talent_id=ada)
    assert count(fake_registry, Embedding) == 2
    assert len(fake_registry.photos.talent_keys(ada)) == 2
    assert scan(fake_registry, face_photo([(7, 80)], seed=5)).faces[0].talent is not None


def reopen(registry: Registry) -> Registry:
    """A fresh process over the same database and data directory."""
    analyser = FakeAnalyser()
    index = IndexManager(db=registry.db, pack=analyser.pack, settings=registry.settings)
    fresh = Registry(
        db=registry.db,
        analyser=analyser,
        index=index,
        photos=reference_photos(registry.settings),
        settings=registry.settings,
    )
    fresh.recover()
    return fresh


def test_crash_after_erasure_commit_is_finished_on_restart(
    fake_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = enrol(fake_registry, "Ada", 7)
    enrol(fake_registry, "Bea", 8)

    def die(**_kwargs: object) -> None:
        raise SystemExit("killed between database commit and index write")

    monkeypatch.setattr(fake_registry.index, "apply_change", die)
    with pytest.raises(SystemExit):
        fake_registry.erase_talent(talent_id=ada)
    # The database committed; the index file and the photos are from before.
    assert len(fake_registry.photos.talent_keys(ada)) == 2
    fresh = reopen(fake_registry)
    assert fresh.photos.talent_keys(ada) == []
    report = fresh.index.verify()
    assert report.ok and report.index_count == 2
    assert scan(fresh, face_photo([(7, 80)], seed=5)).faces[0].talent is None


def test_crash_between_db_write_and_index_write_rebuilds_on_start(
    fake_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    enrol(fake_registry, "Ada", 7)
    monkeypatch.setattr(fake_registry.index, "apply_change", lambda **_: None)
    bea = enrol(fake_registry, "Bea", 8)  # committed to the database, never to the index
    fresh = reopen(fake_registry)
    assert fresh.index.verify().ok
    found = scan(fresh, face_photo([(8, 80)], seed=5)).faces[0].talent
    assert found is not None and found.talent_id == bea


def test_orphan_photo_from_a_crashed_enrolment_is_removed(fake_registry: Registry) -> None:
    ada = enrol(fake_registry, "Ada", 7)
    orphan = fake_registry.photos.save(talent_id=ada, name="f" * 64, data=b"never committed")
    hours_ago = time.time() - 2 * 3600  # older than the grace period
    os.utime(fake_registry.settings.data_dir / "photos" / orphan, (hours_ago, hours_ago))
    reopen(fake_registry)
    assert not fake_registry.photos.exists(orphan)
    assert len(fake_registry.photos.talent_keys(ada)) == 2


def test_index_is_rebuilt_when_missing_corrupt_or_for_another_pack(fake_registry: Registry) -> None:
    enrol(fake_registry, "Ada", 7)
    files = fake_registry.index.files
    manifest = files.read_manifest()
    assert manifest is not None
    index_path = files.directory / manifest.index_file

    index_path.write_bytes(b"garbage")
    assert reopen(fake_registry).index.open().action == "loaded"  # reopen() rebuilt it

    wrong_pack = json.loads(files.manifest_path.read_text())
    wrong_pack["pack_version"] = "0-other"
    files.manifest_path.write_text(json.dumps(wrong_pack))
    report = IndexManager(
        db=fake_registry.db, pack=fake_registry.analyser.pack, settings=fake_registry.settings
    ).open()
    assert report.action == "rebuilt" and "built for" in report.reason

    files.manifest_path.unlink()
    report = IndexManager(
        db=fake_registry.db, pack=fake_registry.analyser.pack, settings=fake_registry.settings
    ).open()
    assert report.action == "rebuilt" and "no index manifest" in report.reason


def test_corrupt_index_file_is_reported_and_rebuilt(fake_registry: Registry) -> None:
    enrol(fake_registry, "Ada", 7)
    files = fake_registry.index.files
    manifest = files.read_manifest()
    assert manifest is not None
    (files.directory / manifest.index_file).write_bytes(b"garbage")
    report = IndexManager(
        db=fake_registry.db, pack=fake_registry.analyser.pack, settings=fake_registry.settings
    ).open()
    assert report.action == "rebuilt" and "corrupt" in report.reason


def test_rebuild_reproduces_the_index_bit_for_bit(fake_registry: Registry) -> None:
    for number in range(5):
        enrol(fake_registry, f"T{number}", 10 + number)
    before = fake_registry.index.verify()
    ids_before, vectors_before = fake_registry.index._require_loaded().index.contents()
    fake_registry.index.rebuild()
    after = fake_registry.index.verify()
    ids_after, vectors_after = fake_registry.index._require_loaded().index.contents()
    assert before.ok and after.ok
    assert before.index_checksum == after.index_checksum == after.database_checksum
    assert np.array_equal(ids_before, ids_after)
    assert np.array_equal(vectors_before, vectors_after)


def test_paused_talent_is_not_matched(fake_registry: Registry) -> None:
    ada = enrol(fake_registry, "Ada", 7)
    fake_registry.set_status(talent_id=ada, status="paused")
    assert scan(fake_registry, face_photo([(7, 80)], seed=5)).faces[0].talent is None
    fake_registry.set_status(talent_id=ada, status="active")
    assert scan(fake_registry, face_photo([(7, 80)], seed=5)).faces[0].talent is not None


def test_other_process_changes_are_picked_up(fake_registry: Registry) -> None:
    other = reopen(fake_registry)
    bea = enrol(other, "Bea", 8)
    found = scan(fake_registry, face_photo([(8, 80)], seed=3)).faces[0].talent
    assert found is not None and found.talent_id == bea


def test_reference_photos_are_not_kept_when_disabled(fake_registry: Registry) -> None:
    fake_registry.settings.keep_reference_photos = False
    enrol(fake_registry, "Ada", 7)
    with fake_registry.db.session() as session:
        assert set(session.scalars(select(ReferenceImage.stored_path))) == {None}
    assert fake_registry.photos.talent_keys(1) == []
    assert list(fake_registry.photos.blobs.list("photos/")) == []


def test_a_new_pack_version_never_mixes_old_vectors_and_migrate_re_embeds(
    fake_registry: Registry,
) -> None:
    from indexer.migration import migrate_references

    enrol(fake_registry, "Ada", 7)
    upgraded = FakeAnalyser(version="2")
    index = IndexManager(db=fake_registry.db, pack=upgraded.pack, settings=fake_registry.settings)
    registry = Registry(
        db=fake_registry.db,
        analyser=upgraded,
        index=index,
        photos=fake_registry.photos,
        settings=fake_registry.settings,
    )
    registry.recover()
    assert index.stale_embeddings() == 2
    assert scan(registry, face_photo([(7, 80)], seed=5)).faces[0].talent is None
    report = migrate_references(
        db=registry.db, photos=registry.photos, target=upgraded, max_pixels=10**7
    )
    assert (report.embedded, report.failed) == (2, 0)
    index.ensure_current()
    assert index.stale_embeddings() == 0
    assert scan(registry, face_photo([(7, 80)], seed=5)).faces[0].talent is not None
    assert index.verify().ok
