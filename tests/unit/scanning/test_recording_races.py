"""A talent erased while its photo is being scanned: the scan is recorded without it, never
a 500 (regression: IntegrityError on finding_candidates in 1 of 4 trials)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from service.core.tables.alerts import Alert
from service.core.tables.scanning import Finding, FindingCandidate, Scan
from service.rules.vocabulary import ScanKind
from service.scanning import recording
from service.scanning.scan import run_scan
from service.scanning.types import ImageSource, UseContext
from tests.support.fakes import face_photo
from tests.support.jobs import TALENT_IDENTITY, JobWorld, open_job_world

CONTEXT = UseContext(
    page_url=None,
    publisher="shop.example.net",
    observed_at=datetime(2026, 5, 1, tzinfo=UTC),
    channel=None,
    territory=None,
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[JobWorld]:
    built = open_job_world(tmp_path)
    yield built
    built.ctx.close()


def scan(world: JobWorld, data: bytes) -> int:
    return asyncio.run(
        run_scan(
            pipeline=world.ctx.pipeline(),
            principal=world.monitor,
            kind=ScanKind.SCAN,
            source=ImageSource(data=data),
            context=CONTEXT,
        )
    )


def test_a_talent_erased_inside_the_recording_window_is_no_match(
    world: JobWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = recording._scan_row
    erased: list[int] = []

    def erase_then_build(*args: Any, **kwargs: Any) -> Scan:
        # Runs inside record_scan's transaction, after matching found the talent.
        if not erased:
            world.ctx.registry.erase_talent(talent_id=world.talent_id)
            erased.append(world.talent_id)
        return original(*args, **kwargs)

    monkeypatch.setattr(recording, "_scan_row", erase_then_build)
    scan_id = scan(world, face_photo([(TALENT_IDENTITY, 100)], seed=5))

    assert erased == [world.talent_id]
    with world.ctx.db.session() as session:
        [finding] = session.scalars(select(Finding).where(Finding.scan_id == scan_id))
        assert (finding.talent_id, finding.band, finding.verdict) == (None, "none", None)
        assert session.scalar(select(func.count()).select_from(FindingCandidate)) == 0
        assert session.scalar(select(func.count()).select_from(Alert)) == 0


def test_a_talent_still_registered_is_recorded_as_usual(world: JobWorld) -> None:
    scan_id = scan(world, face_photo([(TALENT_IDENTITY, 100)], seed=5))
    with world.ctx.db.session() as session:
        [finding] = session.scalars(select(Finding).where(Finding.scan_id == scan_id))
        assert finding.talent_id == world.talent_id and finding.band == "match"
        assert session.scalar(select(func.count()).select_from(Alert)) == 1
