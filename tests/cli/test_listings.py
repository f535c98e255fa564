"""The `twinwatch` listings in an 80-column terminal (issue 18): the command runs in its own
process with COLUMNS=80, long file names, URLs, e-mail addresses and hashes come out whole
(folded across lines, never cut with an ellipsis), and every listing ends with a summary."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from indexer.db import Agency, Talent
from indexer.demo_fixtures import load_demo_fixture
from indexer.runtime import open_database
from indexer.settings import PROJECT_ROOT
from service.access import accounts
from service.access.keys import TenantKind, create_key, create_tenant
from service.core.principal import Role
from service.core.settings import ServiceSettings
from tests.conftest import MODEL_CACHE, seed_migrated_database
from tests.support.crawl import WarcBuilder

LONG_AGENCY = "Lumen International Model Management (Paris, Milan and New York)"
LONG_EMAIL = "first.booker.with.a.long.address@lumen-international-models.example"
LONG_LABEL = "crawler-eu-west-1-production-shop-monitoring-nightly"
LONG_FILE = "campaign-2026-summer-lookbook-final-retouched-v3-export-for-web.jpg"
LONG_URL = (
    "https://cdn.knockoff-fashion-outlet.example.net/media/catalog/product/cache/"
    "a1b2c3d4e5f6/linen-wrap-dress-sand-front-model-shot-2048x2048.jpg"
)
LONG_PAGE = "https://knockoff-fashion-outlet.example.net/collections/summer/linen-wrap-dress-sand"


def twinwatch(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command line in its own process, in an 80-column terminal."""
    env = {
        **os.environ,
        "COLUMNS": "80",
        "TWINWATCH_DATA_DIR": str(data_dir),
        "TWINWATCH_MODEL_CACHE_DIR": str(MODEL_CACHE),
    }
    env.pop("TWINWATCH_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def column(output: str, header: str) -> str:
    """A table column's cells joined back together (a folded value's pieces, in order),
    without the spaces a wrapped value was split at."""
    lines = output.splitlines()
    (heading,) = [line for line in lines if "┃" in line and header in line]
    index = [cell.strip() for cell in heading.split("┃")].index(header)
    body = [line for line in lines if line.startswith("│")]
    return "".join(line.split("│")[index].strip() for line in body).replace(" ", "")


def whole(value: str) -> str:
    return value.replace(" ", "")


def assert_fits_80_columns(output: str) -> None:
    assert max(len(line) for line in output.splitlines()) <= 80, output
    assert "…" not in output.replace("prefix", ""), output  # nothing cut short


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A database with an agency with a long name, a talent without a photo, a user with a
    long address, a disabled user and two keys (one revoked)."""
    folder = tmp_path / "var"
    seed_migrated_database(folder)
    db = open_database(ServiceSettings(data_dir=folder), prepare_schema=lambda _db: None)
    try:
        with db.session() as session:
            create_tenant(session, kind=TenantKind.AGENCY, name=LONG_AGENCY)
            create_tenant(session, kind=TenantKind.MONITOR, name="Model Alliance")
            accounts.create_user(session, email=LONG_EMAIL, role=Role.AGENCY, agency=LONG_AGENCY)
            accounts.create_user(session, email="left@lumen.example", role=Role.ADMIN)
        with db.session() as session:
            accounts.disable_user(session, email="left@lumen.example")
            create_key(session, role=Role.MONITOR, monitor="Model Alliance", label=LONG_LABEL)
            create_key(session, role=Role.AGENCY, agency=LONG_AGENCY)
    finally:
        db.dispose()
    return folder


def test_talent_list_shows_whole_agency_names_and_counts_talents_without_a_photo(
    data_dir: Path,
) -> None:
    db = open_database(ServiceSettings(data_dir=data_dir), prepare_schema=lambda _db: None)
    try:
        with db.session() as session:
            agency = session.scalars(select(Agency).where(Agency.name == LONG_AGENCY)).one()
            session.add_all(
                [
                    Talent(agency_id=agency.id, name="Ada Lovelace"),
                    Talent(agency_id=agency.id, name="Grace Hopper", status="paused"),
                ]
            )
    finally:
        db.dispose()
    result = twinwatch(data_dir, "talent", "list")
    assert result.returncode == 0, result.stderr
    assert column(result.stdout, "agency") == whole(LONG_AGENCY) * 2
    assert_fits_80_columns(result.stdout)
    assert result.stdout.rstrip().splitlines()[-1] == (
        "2 talents, 2 without a usable photo, 1 paused"
    )


def test_users_and_keys_lists_show_whole_addresses_and_labels_and_end_with_a_summary(
    data_dir: Path,
) -> None:
    users = twinwatch(data_dir, "users", "list")
    assert users.returncode == 0, users.stderr
    assert whole(LONG_EMAIL) in column(users.stdout, "e-mail")
    assert_fits_80_columns(users.stdout)
    assert users.stdout.rstrip().splitlines()[-1] == (
        "2 users, 2 without a password yet, 1 disabled"
    )
    keys = twinwatch(data_dir, "keys", "list")
    assert keys.returncode == 0, keys.stderr
    assert column(keys.stdout, "label") == whole(LONG_LABEL)
    assert keys.stdout.rstrip().splitlines()[-1] == "2 keys"
    agencies = twinwatch(data_dir, "agencies", "list")
    assert column(agencies.stdout, "name") == whole(LONG_AGENCY)
    assert agencies.stdout.rstrip().splitlines()[-1] == "1 agency"


def _no_face_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 96), "blue").save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.mark.model
def test_scan_shows_whole_file_names_and_sums_up_faces_and_failures(
    data_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    group = load_demo_fixture().reference_source.read_bytes()
    (folder / LONG_FILE).write_bytes(group)
    (folder / ("b-" + LONG_FILE)).write_bytes(_no_face_jpeg())
    (folder / ("c-" + LONG_FILE)).write_bytes(b"\xff\xd8 not really a JPEG")
    result = twinwatch(data_dir, "scan", str(folder))
    assert result.returncode == 1, result.stderr  # one image could not be scanned
    names = column(result.stdout, "image")
    for name in (LONG_FILE, "b-" + LONG_FILE, "c-" + LONG_FILE):
        assert name in names, result.stdout
    assert_fits_80_columns(result.stdout)
    assert result.stdout.rstrip().splitlines()[-1] == (
        "3 images: 6 faces, 1 without a face, 1 failed"
    )


@pytest.mark.model
def test_scan_warc_shows_whole_image_and_page_urls_and_sums_up(
    data_dir: Path, tmp_path: Path
) -> None:
    warc = WarcBuilder(gzipped=True)
    warc.image(
        LONG_URL,
        load_demo_fixture().reference_source.read_bytes(),
        date="2026-11-01T10:00:02Z",
        referer=LONG_PAGE,
    )
    warc.image("https://lone.example.org/blue.jpg", _no_face_jpeg(), date="2026-11-02T10:00:00Z")
    warc.truncated_image(
        "https://cut.example.org/d.jpg", _no_face_jpeg(), date="2026-11-03T00:00:00Z"
    )
    archive = warc.write(tmp_path / "crawl.warc.gz")
    result = twinwatch(data_dir, "scan-warc", str(archive))
    assert result.returncode == 0, result.stderr
    assert LONG_URL in column(result.stdout, "image URL"), result.stdout
    assert LONG_PAGE in column(result.stdout, "page"), result.stdout
    assert_fits_80_columns(result.stdout)
    assert result.stdout.rstrip().splitlines()[-1] == "2 images: 1 record skipped"
