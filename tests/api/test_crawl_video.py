"""Videos in crawl input: `<video src>`, `<source src>` and `og:video` on a page, video
responses in a WARC archive, each staged as a job item and scanned into face tracks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from service import cli as service_cli
from service.core.tables.scanning import Finding, Scan
from service.crawl.html import ImageHint, page_images
from tests.api.test_crawl_input import drain, job, results, world  # noqa: F401
from tests.api.test_watches import crawl_ctx, create, run
from tests.conftest import MODEL_CACHE
from tests.models.test_api_scans import TALENT
from tests.models.test_api_video import talent_clip
from tests.support.crawl import WarcBuilder
from tests.support.service import ServiceWorld, local_server
from tests.support.sites import local_site


def test_page_videos_are_read_from_video_source_and_og_video() -> None:
    html = """<html><head>
      <meta property="og:video" content="/og.mp4">
      <meta property="og:image" content="/og.jpg"></head><body>
      <video src="/direct.webm" poster="/poster.jpg"></video>
      <video><source src="/first.mp4" type="video/mp4"><source src="/second.webm"></video>
      <video></video></body></html>"""
    found = page_images(html, page_url="https://shop.example.com/look/1", limit=10)
    assert [(p.url.rsplit("/", 1)[1], p.found_in) for p in found] == [
        ("og.mp4", ImageHint.META_VIDEO),
        ("og.jpg", ImageHint.META),
        ("direct.webm", ImageHint.VIDEO),
        ("first.mp4", ImageHint.VIDEO),
    ]


@pytest.mark.model
def test_page_job_scans_a_video_into_tracks(
    world: ServiceWorld,  # noqa: F811
    tmp_path: Path,
) -> None:
    clip = talent_clip(world, tmp_path / "clip.mp4")
    with local_server() as server:
        page = server.url("/campaign")
        server.responses["/campaign"] = (
            200,
            "text/html; charset=utf-8",
            b'<html><body><video><source src="/c.mp4" type="video/mp4"></video></body></html>',
        )
        server.responses["/c.mp4"] = (200, "video/mp4", clip)
        created = world.client.post(
            "/v1/page-jobs",
            data={"page_url": page, "channel": "social", "territory": "SE"},
            headers=world.auth("monitor"),
        )
        assert created.status_code == 202, created.text
    body = created.json()
    assert [i["name"] for i in body["items"]] == [server.url("/c.mp4")]
    drain(world)
    assert [i["alert_outcome"] for i in job(world, body["id"])["items"]] == ["raised"]
    [scan] = results(world, body["id"])
    assert scan["image"]["kind"] == "video"
    assert scan["context"]["page_url"] == page
    named = [t for t in scan["tracks"] if t["talent"] and t["talent"]["name"] == TALENT]
    assert [(round(t["start_s"]), round(t["end_s"])) for t in named] == [(0, 2), (3, 5)]


@pytest.mark.model
def test_warc_job_scans_a_video_response_with_its_page(
    world: ServiceWorld,  # noqa: F811
    tmp_path: Path,
) -> None:
    clip = talent_clip(world, tmp_path / "clip.mp4")
    page, video = "https://example.com/campaign", "https://cdn.example.com/c.mp4"
    archive = WarcBuilder()
    archive.html(page, f'<video src="{video}"></video>', date="2026-11-01T10:00:00Z")
    archive.image(video, clip, date="2026-11-01T10:00:01Z", content_type="video/mp4")
    path = archive.write(tmp_path / "crawl.warc.gz")
    created = world.client.post(
        "/v1/warc-jobs",
        files={"file": ("crawl.warc.gz", path.read_bytes())},
        data={"channel": "ecommerce", "territory": "SE"},
        headers=world.auth("monitor"),
    )
    assert created.status_code == 202, created.text
    body = created.json()
    assert [i["name"] for i in body["items"]] == [video]
    drain(world)
    [scan] = results(world, body["id"])
    assert scan["image"]["kind"] == "video"
    assert scan["context"]["page_url"] == page
    assert any(t["talent"] and t["talent"]["name"] == TALENT for t in scan["tracks"])


@pytest.mark.model
def test_scan_warc_reports_a_video_record_as_tracks(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    world: ServiceWorld,  # noqa: F811  (its demo talents, in the data folder shared below)
) -> None:
    monkeypatch.setenv("TWINWATCH_DATA_DIR", str(world.ctx.settings.data_dir))
    monkeypatch.setenv("TWINWATCH_MODEL_CACHE_DIR", str(MODEL_CACHE))
    clip = talent_clip(world, tmp_path / "clip.mp4")
    video = "https://cdn.example.com/c.mp4"
    archive = WarcBuilder()
    archive.image(video, clip, date="2026-11-01T10:00:01Z", content_type="video/mp4")
    path = archive.write(tmp_path / "crawl.warc.gz")
    result = CliRunner().invoke(service_cli.app, ["scan-warc", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    [record] = report["images"]
    assert (record["uri"], record["kind"]) == (video, "video")
    assert record["duration_s"] == pytest.approx(5.0, abs=0.1)
    assert [t["talent"]["name"] for t in record["tracks"]] == [TALENT, TALENT]
    table = CliRunner().invoke(service_cli.app, ["scan-warc", str(path)])
    assert table.exit_code == 0, table.output


@pytest.mark.model
def test_a_watched_page_with_a_video_scans_it_into_tracks(
    world: ServiceWorld,  # noqa: F811
    tmp_path: Path,
) -> None:
    clip = talent_clip(world, tmp_path / "clip.mp4")
    with local_site() as site:
        site.html("/look", '<video src="/look.mp4"></video>')
        site.pages["/look.mp4"] = ("video/mp4", clip)
        watch = create(world, site.url("/look"), "page")
        done = run(world, crawl_ctx(world, site), watch)
    assert done["stats"]["images_scanned"] == 1, done
    with world.ctx.db.session() as session:
        [scan] = session.scalars(select(Scan).where(Scan.source_url == site.url("/look.mp4")))
        starts = session.scalars(
            select(Finding.start_s).where(
                Finding.scan_id == scan.id, Finding.talent_id.is_not(None)
            )
        ).all()
    assert scan.media_kind == "video"
    assert sorted(round(s) for s in starts if s is not None) == [0, 3]
