"""Issue 10, crawl input: WARC archives and page URLs in, per-item context, item names and
alert outcomes, completion callbacks.

Archives are written by the tests with warcio's own writer (tests/support/crawl.py); pages
and callback receivers are real HTTP servers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from indexer.engine import FaceEngine
from service import cli as service_cli
from service.alerts.webhooks import verify_signature
from service.crawl.html import ImageHint, largest_candidate, page_images
from service.crawl.warc import (
    SkippedRecord,
    SkipReason,
    WarcImage,
    WarcLimits,
    iter_warc_images,
)
from service.jobs.worker import CallbackDispatcher, JobWorker
from tests.conftest import MODEL_CACHE
from tests.support.crawl import WarcBuilder
from tests.support.service import ServiceWorld, face_crop_jpeg, local_server, service_world

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`

LIMITS = WarcLimits(max_record_bytes=5 * 1024 * 1024, max_images=100)
SHOP_PAGE = "https://shop.example.com/look/12"
GALLERY = "https://gallery.example.net/album/3"
CDN_A = "https://cdn.shop.example.com/img/a.jpg"
IMG_B = "https://img.gallery.example.net/b.jpg"
LONE = "https://lone.example.org/c.jpg"


def crawl_archive(path: Path, a: bytes, b: bytes, c: bytes, *, gzipped: bool = True) -> Path:
    """An archive as a crawler writes it: a page naming its CDN image (srcset), an image
    fetched with a Referer, junk between records, an image with no known page, a revisit of
    the first image a day later, and a last record cut off half way."""
    warc = WarcBuilder(gzipped=gzipped)
    warc.html(
        SHOP_PAGE,
        f'<html><body><img src="/small.jpg" srcset="/small.jpg 200w, {CDN_A} 1200w"></body></html>',
        date="2026-11-01T10:00:00Z",
    )
    warc.image(CDN_A, a, date="2026-11-01T10:00:02Z")
    warc.image(IMG_B, b, date="2026-11-02T08:30:00Z", referer=GALLERY)
    warc.garbage()
    warc.image(LONE, c, date="2026-11-03T12:00:00Z")
    warc.revisit(CDN_A, of=CDN_A, date="2026-11-04T09:00:00Z")
    warc.truncated_image("https://cut.example.org/d.jpg", a, date="2026-11-05T00:00:00Z")
    return warc.write(path)


def jpeg(colour: str) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (96, 96), colour).save(buffer, "JPEG")
    return buffer.getvalue()


# --- the reader ----------------------------------------------------------------------------
@pytest.mark.parametrize("gzipped", [True, False])
def test_warc_images_carry_their_own_url_page_and_date(tmp_path: Path, gzipped: bool) -> None:
    archive = crawl_archive(
        tmp_path / "crawl.warc", jpeg("red"), jpeg("blue"), jpeg("green"), gzipped=gzipped
    )
    found = list(iter_warc_images(archive, limits=LIMITS))
    images = [e for e in found if isinstance(e, WarcImage)]
    skipped = [e for e in found if isinstance(e, SkippedRecord)]
    assert [
        (i.uri, i.page_url, i.observed_at.isoformat() if i.observed_at else None) for i in images
    ] == [
        (CDN_A, SHOP_PAGE, "2026-11-01T10:00:02+00:00"),  # its page names it in a srcset
        (IMG_B, GALLERY, "2026-11-02T08:30:00+00:00"),  # the request's Referer
        (LONE, None, "2026-11-03T12:00:00+00:00"),
        (CDN_A, SHOP_PAGE, "2026-11-04T09:00:00+00:00"),
    ]  # the revisit, its own date
    assert [i.publisher for i in images] == [
        "example.com",
        "example.net",
        "example.org",
        "example.com",
    ]
    assert images[3].revisit_of == images[0].offset and images[3].data == images[0].data
    assert [s.reason for s in skipped] == [SkipReason.MALFORMED, SkipReason.TRUNCATED]
    assert skipped[1].uri == "https://cut.example.org/d.jpg"


def test_unresolvable_revisits_and_oversize_records_are_skipped_with_a_reason(
    tmp_path: Path,
) -> None:
    warc = WarcBuilder()
    warc.image(CDN_A, jpeg("red") + b"\0" * 4096, date="2026-11-01T10:00:00Z")
    warc.revisit(CDN_A, of=CDN_A, date="2026-11-02T10:00:00Z")
    archive = warc.write(tmp_path / "a.warc.gz")
    small = WarcLimits(max_record_bytes=1024, max_images=10)
    found = list(iter_warc_images(archive, limits=small))
    assert [e.reason for e in found if isinstance(e, SkippedRecord)] == [
        SkipReason.TOO_LARGE,
        SkipReason.REVISIT_UNRESOLVED,
    ]
    only_revisit = WarcBuilder()
    only_revisit.image(CDN_A, jpeg("red"), date="2026-11-01T10:00:00Z")
    only_revisit.revisit(CDN_A, of=CDN_A, date="2026-11-02T10:00:00Z")
    data = only_revisit.buffer.getvalue()
    second = data.index(b"\x1f\x8b\x08", 10)  # drop the original: the revisit stands alone
    (tmp_path / "b.warc.gz").write_bytes(data[second:])
    found = list(iter_warc_images(tmp_path / "b.warc.gz", limits=LIMITS))
    assert [(e.reason, e.uri) for e in found if isinstance(e, SkippedRecord)] == [
        (SkipReason.REVISIT_UNRESOLVED, CDN_A)
    ]


def test_records_without_a_usable_uri_or_date_fall_back_or_are_skipped(tmp_path: Path) -> None:
    warc = WarcBuilder()
    long_uri = "https://x.example.com/" + "a" * 3000  # longer than any URL field
    warc.image(long_uri, jpeg("red"), date="2026-11-01T10:00:00Z")
    warc.image(LONE, jpeg("red"), date="2999-01-01T00:00:00Z")  # from the future
    warc.image(
        CDN_A,
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        date="2026-11-01T10:00:00Z",
        content_type="image/svg+xml",
    )
    archive = warc.write(tmp_path / "odd.warc.gz")
    found = list(iter_warc_images(archive, limits=LIMITS))
    assert [(type(e).__name__, e.uri) for e in found] == [
        ("SkippedRecord", long_uri),
        ("WarcImage", LONE),
        ("SkippedRecord", CDN_A),
    ]
    assert [e.reason for e in found if isinstance(e, SkippedRecord)] == [
        SkipReason.URI_INVALID,
        SkipReason.UNSUPPORTED_IMAGE,
    ]
    assert isinstance(found[1], WarcImage) and found[1].observed_at is None


# --- the images on a page ------------------------------------------------------------------
def test_page_images_are_the_ones_a_person_sees() -> None:
    html = """<html><head><base href="https://shop.example.com/assets/">
      <meta property="og:image" content="/og/cover.jpg">
      <meta name="twitter:image" content="https://cdn.example.com/tw.jpg">
      <script type="application/ld+json">{"@type": "Product", "image": [
        "https://cdn.example.com/ld1.jpg", {"@type": "ImageObject", "contentUrl": "ld2.jpg"}],
        "offers": {"seller": {"image": "https://cdn.example.com/seller.png"}}}</script>
      <script type="application/ld+json">not json</script></head><body>
      <picture><source type="image/webp" srcset="p-800.webp 800w, p-1600.webp 1600w">
        <img src="p-fallback.jpg"></picture>
      <img src="a-400.jpg" srcset="a-400.jpg 400w, a-1200.jpg 1200w, a-800.jpg 800w">
      <img src="b.jpg" srcset="b.jpg 1x, b@2x.jpg 2x">
      <img src="a-1200.jpg"><img src="data:image/png;base64,AAAA"><img src="#x">
      <img src="javascript:alert(1)"></body></html>"""
    found = page_images(html, page_url="https://shop.example.com/p/1", limit=20)
    assert [(image.url, image.found_in) for image in found] == [
        ("https://shop.example.com/og/cover.jpg", ImageHint.META),
        ("https://cdn.example.com/tw.jpg", ImageHint.META),
        ("https://shop.example.com/assets/p-1600.webp", ImageHint.PICTURE),
        ("https://shop.example.com/assets/a-1200.jpg", ImageHint.SRCSET),
        ("https://shop.example.com/assets/b@2x.jpg", ImageHint.SRCSET),
        ("https://cdn.example.com/ld1.jpg", ImageHint.JSON_LD),
        ("https://shop.example.com/assets/ld2.jpg", ImageHint.JSON_LD),
        ("https://cdn.example.com/seller.png", ImageHint.JSON_LD),
    ]
    assert len(page_images(html, page_url="https://shop.example.com/", limit=3)) == 3
    assert largest_candidate("x.jpg") == "x.jpg"
    assert largest_candidate(" , ") is None


# --- the command line ----------------------------------------------------------------------
@pytest.mark.model
def test_scan_warc_reports_each_image_with_its_url_page_and_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_engine: FaceEngine
) -> None:
    monkeypatch.setenv("TWINWATCH_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TWINWATCH_MODEL_CACHE_DIR", str(MODEL_CACHE))
    from indexer.demo_fixtures import load_demo_fixture

    fixture = load_demo_fixture()
    group = fixture.reference_source.read_bytes()
    archive = crawl_archive(tmp_path / "crawl.warc.gz", group, jpeg("blue"), group)
    result = CliRunner().invoke(service_cli.app, ["scan-warc", str(archive), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert [
        (i["uri"], i["page_url"], i["observed_at"], len(i["faces"])) for i in report["images"]
    ] == [
        (CDN_A, SHOP_PAGE, "2026-11-01T10:00:02+00:00", 6),
        (IMG_B, GALLERY, "2026-11-02T08:30:00+00:00", 0),
        (LONE, None, "2026-11-03T12:00:00+00:00", 6),
        (CDN_A, SHOP_PAGE, "2026-11-04T09:00:00+00:00", 6),
    ]
    assert [s["reason"] for s in report["skipped"]] == ["malformed_record", "truncated_record"]
    assert "skipped record" in result.stderr


# --- jobs over HTTP ------------------------------------------------------------------------
@pytest.fixture
def world(tmp_path: Path, real_engine: FaceEngine) -> Iterator[ServiceWorld]:
    with service_world(
        tmp_path, real_engine, fetch_allow_private_networks=True, webhook_backoff_base_s=0.01
    ) as built:
        yield built


def drain(world: ServiceWorld) -> None:
    worker = JobWorker(world.ctx, name="crawl-test")

    async def run() -> None:
        while await worker.run_once():
            pass

    asyncio.run(run())


def deliver_callbacks(world: ServiceWorld) -> int:
    return asyncio.run(CallbackDispatcher(world.ctx).run_once())


def job(world: ServiceWorld, job_id: int) -> dict[str, Any]:
    answer = world.client.get(f"/v1/jobs/{job_id}", headers=world.auth("monitor"))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def results(world: ServiceWorld, job_id: int) -> list[dict[str, Any]]:
    answer = world.client.get(f"/v1/jobs/{job_id}/results", headers=world.auth("monitor"))
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


@pytest.mark.model
def test_warc_job_scans_each_image_with_its_own_url_page_and_date(
    world: ServiceWorld, tmp_path: Path
) -> None:
    crop = face_crop_jpeg(world.fixture, "Demo Talent A")
    archive = crawl_archive(tmp_path / "crawl.warc.gz", crop, jpeg("blue"), crop)
    with local_server() as receiver:
        created = world.client.post(
            "/v1/warc-jobs",
            files={"file": ("crawl.warc.gz", archive.read_bytes())},
            data={"channel": "ecommerce", "territory": "FR", "callback_url": receiver.url("/done")},
            headers=world.auth("monitor"),
        )
        assert created.status_code == 202, created.text
        body = created.json()
        secret = body["callback_secret"]
        assert secret and body["callback"]["status"] == "waiting"
        assert [i["name"] for i in body["items"]] == [CDN_A, IMG_B, LONE, CDN_A]
        assert [s["reason"] for s in body["skipped"]] == ["malformed_record", "truncated_record"]
        drain(world)
        assert deliver_callbacks(world) == 1
        assert deliver_callbacks(world) == 0  # called once
        [call] = receiver.received
    done = job(world, body["id"])
    assert done["status"] == "done" and done["callback_secret"] is None  # shown once
    assert secret not in json.dumps(done)
    assert [(i["name"], i["alert_outcome"]) for i in done["items"]] == [
        (CDN_A, "raised"),
        (IMG_B, "none"),
        (LONE, "raised"),
        (CDN_A, "updated"),
    ]
    assert done["callback"]["status"] == "delivered" and done["callback"]["attempts"] == 1
    scans = {
        (s["image"]["source_url"], s["context"]["observed_at"][:10]): s["context"]
        for s in results(world, body["id"])
    }
    assert scans[(CDN_A, "2026-11-01")]["page_url"] == SHOP_PAGE
    assert scans[(CDN_A, "2026-11-01")]["publisher"] == "example.com"
    assert scans[(CDN_A, "2026-11-04")]["page_url"] == SHOP_PAGE
    assert scans[(IMG_B, "2026-11-02")]["page_url"] == GALLERY
    lone = scans[(LONE, "2026-11-03")]
    assert (lone["page_url"], lone["publisher"], lone["channel"], lone["territory"]) == (
        None,
        "example.org",
        "ecommerce",
        "FR",
    )
    assert call.path == "/done" and call.headers["X-Twinwatch-Event"] == "job.finished"
    assert call.headers["X-Twinwatch-Delivery"] == f"job-{body['id']}"
    assert verify_signature(
        secret=secret,
        timestamp=call.headers["X-Twinwatch-Timestamp"],
        body=call.body,
        presented=call.headers["X-Twinwatch-Signature"],
    )
    event = json.loads(call.body)
    assert event["event"] == "job.finished" and event["job"]["id"] == body["id"]
    assert [i["alert_outcome"] for i in event["job"]["items"]] == [
        "raised",
        "none",
        "raised",
        "updated",
    ]
    alerts = world.client.get("/v1/alerts", headers=world.auth("agency")).json()["items"]
    by_publisher = {
        (a["publisher"], a["sightings"]) for a in alerts if a["talent"]["name"] == "Demo Talent A"
    }
    assert by_publisher == {("example.com", 2), ("example.org", 1)}


@pytest.mark.model
def test_page_job_scans_the_srcset_and_og_images_with_the_page_as_context(
    world: ServiceWorld,
) -> None:
    crop = face_crop_jpeg(world.fixture, "Demo Talent B")
    with local_server() as server:
        page = server.url("/look/7")
        server.responses["/look/7"] = (
            200,
            "text/html; charset=utf-8",
            f"""<html><head>
            <meta property="og:image" content="{server.url("/og.jpg")}"></head><body>
            <img src="/s.jpg" srcset="/s.jpg 300w, /l.jpg 1400w">
            <img src="/missing.jpg"><img src="/l.jpg"></body></html>""".encode(),
        )
        server.responses["/og.jpg"] = (200, "image/jpeg", jpeg("white"))
        server.responses["/l.jpg"] = (200, "image/jpeg", crop)
        server.responses["/s.jpg"] = (200, "image/jpeg", jpeg("black"))
        created = world.client.post(
            "/v1/page-jobs",
            data={"page_url": page, "channel": "social", "territory": "SE"},
            headers=world.auth("monitor"),
        )
        assert created.status_code == 202, created.text
    body = created.json()
    assert [i["name"] for i in body["items"]] == [server.url("/og.jpg"), server.url("/l.jpg")]
    assert [(s["uri"], s["reason"]) for s in body["skipped"]] == [
        (server.url("/missing.jpg"), "url_fetch_failed")
    ]
    drain(world)
    done = job(world, body["id"])
    assert [i["alert_outcome"] for i in done["items"]] == ["none", "raised"]
    scans = results(world, body["id"])
    assert {s["image"]["source_url"] for s in scans} == {
        server.url("/og.jpg"),
        server.url("/l.jpg"),
    }
    assert all(
        s["context"]["page_url"] == page and s["context"]["territory"] == "SE" for s in scans
    )
    [matched] = [s for s in scans if s["faces"]]
    assert matched["faces"][0]["talent"]["name"] == "Demo Talent B"


@pytest.mark.model
def test_manifest_gives_each_item_its_own_context_and_the_batch_fills_the_rest(
    world: ServiceWorld,
) -> None:
    crop = face_crop_jpeg(world.fixture, "Demo Talent C")
    manifest = {
        "one.jpg": {
            "page_url": "https://www.knockoff.example.net/p/1",
            "observed_at": "2026-10-01",
            "territory": "DE",
        },
        "two.jpg": {"channel": "Instagram"},
    }
    created = world.client.post(
        "/v1/scan-jobs",
        files=[
            ("files", ("one.jpg", crop)),
            ("files", ("two.jpg", crop)),
            ("files", ("three.jpg", crop)),
            ("manifest", ("m.json", json.dumps(manifest).encode())),
        ],
        data={"publisher": "batch.example.com", "channel": "ecommerce", "territory": "FR"},
        headers=world.auth("monitor"),
    )
    assert created.status_code == 202, created.text
    body = created.json()
    assert [i["name"] for i in body["items"]] == ["one.jpg", "two.jpg", "three.jpg"]
    assert body["items"][0]["context"]["territory"] == "DE" and body["items"][2]["context"] is None
    drain(world)
    one, two, three = (scan["context"] for scan in results(world, body["id"]))
    assert (one["page_url"], one["publisher"], one["territory"], one["channel"]) == (
        "https://www.knockoff.example.net/p/1",
        None,
        "DE",
        "ecommerce",
    )
    assert one["observed_at"].startswith("2026-10-01")
    assert (two["publisher"], two["channel"], two["territory"]) == (
        "batch.example.com",
        "social",
        "FR",
    )
    assert (three["publisher"], three["channel"]) == ("batch.example.com", "ecommerce")
    outcomes = [i["alert_outcome"] for i in job(world, body["id"])["items"]]
    assert outcomes == ["raised", "raised", "updated"]


@pytest.mark.model
@pytest.mark.parametrize(
    ("manifest", "code"),
    [
        (b"[1, 2]", "manifest_invalid"),
        (b"{not json", "manifest_invalid"),
        (json.dumps({"nope.jpg": {}}).encode(), "manifest_invalid"),
        (json.dumps({"a.jpg": {"colour": "red"}}).encode(), "manifest_invalid"),
        (json.dumps({"a.jpg": {"page_url": "x" * 3000}}).encode(), "manifest_invalid"),
        (json.dumps({"a.jpg": {"territory": "Narnia"}}).encode(), "territory_unknown"),
        (json.dumps({"a.jpg": {"channel": "radio"}}).encode(), "channel_unknown"),
        (json.dumps({"a.jpg": {"observed_at": "2999-01-01"}}).encode(), "invalid_date"),
        (json.dumps({"a.jpg": {"publisher": "[::1"}}).encode(), "url_invalid"),
    ],
)
def test_bad_manifests_are_refused_in_the_error_envelope(
    world: ServiceWorld, manifest: bytes, code: str
) -> None:
    as_file = world.client.post(
        "/v1/scan-jobs",
        files=[("files", ("a.jpg", jpeg("red"))), ("manifest", ("m.json", manifest))],
        headers=world.auth("monitor"),
    )
    as_field = world.client.post(
        "/v1/scan-jobs",
        files=[("files", ("a.jpg", jpeg("red")))],
        data={"manifest": manifest.decode()},
        headers=world.auth("monitor"),
    )
    for answer in (as_file, as_field):
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == code


@pytest.mark.model
def test_crawl_input_bounds_answer_4xx_in_the_error_envelope(
    tmp_path: Path, real_engine: FaceEngine
) -> None:
    with (
        service_world(
            tmp_path, real_engine, max_warc_bytes=2000, fetch_allow_private_networks=False
        ) as world,
        local_server() as server,
    ):
        archive = crawl_archive(tmp_path / "big.warc.gz", jpeg("red"), jpeg("blue"), jpeg("green"))
        monitor = world.auth("monitor")
        cases = [
            (
                world.client.post(
                    "/v1/warc-jobs",
                    files={"file": ("a.warc.gz", archive.read_bytes())},
                    headers=monitor,
                ),
                413,
                "payload_too_large",
            ),
            (
                world.client.post(
                    "/v1/warc-jobs", files={"file": ("a.warc", b"hello " * 50)}, headers=monitor
                ),
                422,
                "warc_invalid",
            ),
            (
                world.client.post("/v1/page-jobs", data={"channel": "social"}, headers=monitor),
                422,
                "invalid_request",
            ),
            (
                world.client.post(
                    "/v1/page-jobs", data={"page_url": server.url("/p")}, headers=monitor
                ),
                422,
                "url_host_forbidden",
            ),
            (
                world.client.post(
                    "/v1/scan-jobs",
                    files={"files": ("a.jpg", jpeg("red"))},
                    data={"callback_url": "http://127.0.0.1:9/hook"},
                    headers=monitor,
                ),
                422,
                "url_host_forbidden",
            ),
            (
                world.client.post(
                    "/v1/scan-jobs",
                    files={"files": ("a.jpg", jpeg("red"))},
                    data={"callback_secret": "s" * 20},
                    headers=monitor,
                ),
                422,
                "invalid_request",
            ),
            (
                world.client.post(
                    "/v1/warc-jobs", files={"file": ("a.warc", b"x")}, headers=world.auth("brand")
                ),
                403,
                "forbidden",
            ),
        ]
        for answer, status, code in cases:
            assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), (
                answer.text
            )


@pytest.mark.model
def test_page_without_images_and_non_html_pages_are_refused(world: ServiceWorld) -> None:
    with local_server() as server:
        server.responses["/empty"] = (200, "text/html", b"<html><p>no pictures</p></html>")
        server.responses["/img"] = (200, "image/jpeg", jpeg("red"))
        for path, status, code in (
            ("/empty", 422, "page_no_images"),
            ("/img", 415, "url_not_html"),
            ("/gone", 502, "url_fetch_failed"),
        ):
            answer = world.client.post(
                "/v1/page-jobs", data={"page_url": server.url(path)}, headers=world.auth("monitor")
            )
            assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)


@pytest.mark.model
def test_callback_is_retried_until_delivered_and_every_attempt_is_kept(world: ServiceWorld) -> None:
    with local_server() as receiver:
        receiver.fail_next_posts = 1
        created = world.client.post(
            "/v1/scan-jobs",
            files={"files": ("a.jpg", jpeg("red"))},
            data={"callback_url": receiver.url("/cb"), "callback_secret": "k" * 24},
            headers=world.auth("monitor"),
        )
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        assert created.json()["callback_secret"] == "k" * 24
        drain(world)
        assert deliver_callbacks(world) == 1
        for _ in range(100):
            if deliver_callbacks(world):
                break
            asyncio.run(asyncio.sleep(0.02))
        assert len(receiver.received) == 2
        assert receiver.received[0].body == receiver.received[1].body
    callback = job(world, job_id)["callback"]
    assert (callback["status"], callback["attempts"]) == ("delivered", 2)
    assert [a["status_code"] for a in callback["attempt_log"]] == [500, 204]
