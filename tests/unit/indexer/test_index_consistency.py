"""The persisted index is used only if it holds exactly the database's vectors, and the
service's view of it follows changes made by other processes (the CLI)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from indexer.db import Database
from indexer.index_manager import IndexManager
from indexer.registry import PhotoInput, Registry
from indexer.runtime import open_runtime
from indexer.settings import IndexerSettings
from indexer.vector_index import vectors_checksum
from service.api.app import create_app
from tests.support.fakes import FakeAnalyser, face_photo
from tests.support.jobs import open_job_world


def enrol(registry: Registry, names: list[str], first_identity: int = 20) -> None:
    agency = registry.ensure_agency(name="Agency")
    for n, name in enumerate(names):
        talent = registry.create_talent(agency_id=agency.id, name=name)
        [outcome] = registry.enrol_photos(
            talent_id=talent.id,
            photos=[PhotoInput(f"{name}.png", face_photo([(first_identity + n, 100)]))],
        )
        assert outcome.accepted, outcome


@pytest.mark.parametrize("recompute_checksum", [False, True])
def test_a_self_consistent_manifest_missing_a_vector_is_rebuilt(
    fake_registry: Registry, db: Database, settings: IndexerSettings, recompute_checksum: bool
) -> None:
    enrol(fake_registry, ["A", "B", "C"])
    files = fake_registry.index.files
    manifest = files.read_manifest()
    assert manifest is not None and manifest.count == 3
    index = files.load(manifest, nprobe=1)
    ids, vectors = index.contents()
    index.remove(ids[:1])  # a vector goes missing ...
    checksum = (
        vectors_checksum(ids[1:], vectors[1:]) if recompute_checksum else manifest.vectors_checksum
    )
    # ... and the manifest is rewritten to match the file (sha256, count, even checksum)
    files.save(
        index, pack_version=manifest.pack_version, revision=manifest.revision, checksum=checksum
    )
    tampered = files.read_manifest()
    assert tampered is not None and tampered.count == 2

    reopened = IndexManager(db=db, pack=FakeAnalyser().pack, settings=settings)
    report = reopened.open()
    assert (report.action, report.count) == ("rebuilt", 3)
    assert "database" in report.reason
    assert reopened.verify().ok


def test_an_intact_index_is_loaded_not_rebuilt(
    fake_registry: Registry, db: Database, settings: IndexerSettings
) -> None:
    enrol(fake_registry, ["A", "B"])
    reopened = IndexManager(db=db, pack=FakeAnalyser().pack, settings=settings)
    assert reopened.open().action == "loaded"
    hits = reopened.search(
        np.stack(
            [
                fake_registry.index.files.load(
                    fake_registry.index.files.read_manifest() or pytest.fail("no manifest"),
                    nprobe=1,
                ).contents()[1][0]
            ]
        ),
        top_talents=1,
    )
    assert hits[0][0].similarity == pytest.approx(1.0, abs=1e-5)


def test_ready_reflects_a_cli_import_done_while_the_service_runs(tmp_path: Path) -> None:
    world = open_job_world(tmp_path)
    with TestClient(create_app(context=world.ctx)) as client:
        before = client.get("/ready").json()["index"]["vectors"]
        cli = open_runtime(world.ctx.settings, analyser=FakeAnalyser())  # another process
        try:
            enrol(cli.registry, ["New One", "New Two"], first_identity=60)
        finally:
            cli.close()
        after = client.get("/ready").json()["index"]["vectors"]
    world.ctx.close()
    assert after == before + 2


def _index_log(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "indexer.index_manager" and r.levelno == level
    ]


def test_a_fresh_data_dir_creates_its_empty_index_without_a_warning(
    db: Database, settings: IndexerSettings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="indexer.index_manager"):
        report = IndexManager(db=db, pack=FakeAnalyser().pack, settings=settings).open()
    assert (report.action, report.count) == ("rebuilt", 0)
    assert _index_log(caplog, logging.WARNING) == []
    assert any("no embeddings yet" in m for m in _index_log(caplog, logging.INFO))


def test_a_missing_index_with_embeddings_still_warns(
    fake_registry: Registry,
    db: Database,
    settings: IndexerSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    enrol(fake_registry, ["A"])
    fake_registry.index.files.manifest_path.unlink()
    with caplog.at_level(logging.INFO, logger="indexer.index_manager"):
        report = IndexManager(db=db, pack=FakeAnalyser().pack, settings=settings).open()
    assert (report.action, report.count) == ("rebuilt", 1)
    assert any("no index manifest" in m for m in _index_log(caplog, logging.WARNING))
