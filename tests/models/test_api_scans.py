"""Scans, licences, alerts, webhooks and usage through the real API and real models."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from indexer.engine import FaceEngine
from service.access.keys import create_key
from service.alerts.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)
from service.core.principal import Role
from service.core.tables.alerts import Alert
from service.core.tables.licensing import UsageEvent
from service.core.tables.scanning import Scan
from service.jobs.worker import WebhookDispatcher
from tests.support.service import ServiceWorld, face_crop_jpeg, local_server, service_world

pytestmark = [pytest.mark.postgres, pytest.mark.model]

TALENT = "Demo Talent C"
NOW = datetime.now(UTC)


@pytest.fixture
def world(tmp_path: Path, real_engine: FaceEngine) -> Iterator[ServiceWorld]:
    with service_world(tmp_path, real_engine, fetch_allow_private_networks=True) as built:
        yield built


def add_licence(world: ServiceWorld, talent: str = TALENT, **overrides: object) -> dict:  # type: ignore[type-arg]
    body = {
        "licensee": "H&M",
        "publishers": ["*.hm.com", "hm.com"],
        "channels": ["ecommerce"],
        "territories": ["SE", "DE"],
        "media": ["photo"],
        "ai_label_required": True,
        "valid_from": (NOW - timedelta(days=30)).isoformat(),
        "valid_until": (NOW + timedelta(days=30)).isoformat(),
        "compensation": {"per_use": "12.50", "currency": "EUR"},
    }
    body.update(overrides)
    response = world.client.post(
        f"/v1/talents/{world.talents[talent]}/licences", json=body, headers=world.auth("agency")
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def scan(world: ServiceWorld, image: bytes, who: str = "monitor", **context: str) -> dict:  # type: ignore[type-arg]
    fields = {
        "publisher": "shop.example.net",
        "channel": "ecommerce",
        "territory": "SE",
        "observed_at": NOW.isoformat(),
        **context,
    }
    response = world.client.post(
        "/v1/scans", files={"file": ("image.jpg", image)}, data=fields, headers=world.auth(who)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def face_of(result: dict, talent: str) -> dict:  # type: ignore[type-arg]
    faces = [f for f in result["faces"] if f["talent"] and f["talent"]["name"] == talent]
    assert len(faces) == 1, result["faces"]
    return dict(faces[0])


def deliver_webhooks(world: ServiceWorld) -> int:
    return asyncio.run(WebhookDispatcher(world.ctx).run_once())


def test_scan_flags_unlicensed_match_and_agency_gets_signed_webhook(world: ServiceWorld) -> None:
    with local_server() as receiver:
        created = world.client.post(
            "/v1/webhooks", json={"url": receiver.url("/hook")}, headers=world.auth("agency")
        )
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        add_licence(world)

        result = scan(world, face_crop_jpeg(world.fixture, TALENT))
        assert result["model_pack"]["name"] == "opencv-yunet-sface"
        face = face_of(result, TALENT)
        assert face["band"] == "match"
        assert face["licence"]["verdict"] == "unlicensed"
        assert face["licence"]["reasons"] == [] and face["licence"]["checks"] == []

        assert deliver_webhooks(world) == 1
        [hook] = receiver.received
        assert verify_signature(
            secret=secret,
            timestamp=hook.headers[TIMESTAMP_HEADER],
            body=hook.body,
            presented=hook.headers[SIGNATURE_HEADER],
        )
        payload = json.loads(hook.body)
        assert payload["event"] == "alert.created"
        assert payload["alert"]["talent"]["name"] == TALENT
        assert payload["alert"]["publisher"] == "shop.example.net"
        assert any("shop.example.net" in reason for reason in payload["alert"]["reasons"])
        assert payload["alert"]["model_pack"]["name"] == "opencv-yunet-sface"
        alert = world.client.get(
            f"/v1/alerts/{payload['alert']['id']}", headers=world.auth("agency")
        ).json()
        assert payload["alert"] == alert
        assert hook.headers[DELIVERY_HEADER]
        assert not verify_signature(
            secret="wrong-secret-0123456789",
            timestamp=hook.headers[TIMESTAMP_HEADER],
            body=hook.body,
            presented=hook.headers[SIGNATURE_HEADER],
        )


def test_webhook_failures_are_retried_with_backoff_and_every_attempt_recorded(
    world: ServiceWorld,
) -> None:
    with local_server() as receiver:
        receiver.fail_next_posts = 1
        hook_id = world.client.post(
            "/v1/webhooks", json={"url": receiver.url("/hook")}, headers=world.auth("agency")
        ).json()["id"]
        scan(world, face_crop_jpeg(world.fixture, TALENT))
        assert deliver_webhooks(world) == 1  # answered 500
        assert deliver_webhooks(world) == 0  # not due yet: backing off
        with world.ctx.db.session() as session:
            from service.core.tables.alerts import WebhookDelivery

            delivery = session.scalars(select(WebhookDelivery)).one()
            assert delivery.status == "pending" and delivery.attempts == 1
            delivery.next_attempt_at = datetime.now(UTC)  # fast-forward the backoff
        assert deliver_webhooks(world) == 1
        log = world.client.get(
            f"/v1/webhooks/{hook_id}/deliveries", headers=world.auth("agency")
        ).json()
        assert log[0]["status"] == "delivered"
        assert [a["status_code"] for a in log[0]["attempt_log"]] == [500, 204]
        assert len(receiver.received) == 2
        assert len({r.headers[DELIVERY_HEADER] for r in receiver.received}) == 1


def test_same_image_from_licensed_publisher_is_licensed_and_records_usage(
    world: ServiceWorld,
) -> None:
    licence = add_licence(world)
    image = face_crop_jpeg(world.fixture, TALENT)
    result = scan(world, image, publisher="www2.hm.com")
    face = face_of(result, TALENT)
    assert face["licence"] == {
        "verdict": "licensed",
        "licence_id": None,
        "reasons": [],
        "checks": [],
    }  # a monitor learns the verdict, not the licence
    scan(world, image, publisher="www2.hm.com")  # the same use seen again: one usage event
    usage = world.client.get(
        "/v1/usage", params={"talent_id": world.talents[TALENT]}, headers=world.auth("agency")
    ).json()
    assert len(usage["events"]) == 1 and usage["events"][0]["sightings"] == 2
    assert usage["events"][0]["licence_id"] == licence["id"]
    assert usage["totals"][0]["uses"] == 1
    assert usage["totals"][0]["amount_owed"] == "12.50"
    csv_text = world.client.get(
        "/v1/usage", params={"format": "csv"}, headers=world.auth("agency")
    ).text
    assert "total" in csv_text and "12.50" in csv_text
    with world.ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 0


def test_revoked_licence_flips_the_verdict(world: ServiceWorld) -> None:
    licence = add_licence(world)
    image = face_crop_jpeg(world.fixture, TALENT)
    assert face_of(scan(world, image, publisher="hm.com"), TALENT)["licence"]["verdict"] == (
        "licensed"
    )
    revoked = world.client.post(
        f"/v1/licences/{licence['id']}/revoke",
        json={"reason": "talent withdrew consent"},
        headers=world.auth("agency"),
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    # After the revocation itself (NOW is taken at import: a slow run is minutes past it).
    later = (
        datetime.fromisoformat(revoked.json()["revoked_at"]) + timedelta(minutes=1)
    ).isoformat()
    verdict = face_of(
        scan(world, image, who="admin", publisher="hm.com", observed_at=later), TALENT
    )["licence"]
    assert verdict["verdict"] == "unlicensed"
    assert verdict["checks"][0]["failures"][0]["code"] == "revoked"


def test_expired_licence_flips_the_verdict(world: ServiceWorld) -> None:
    add_licence(
        world,
        valid_from=(NOW - timedelta(days=60)).isoformat(),
        valid_until=(NOW - timedelta(days=1)).isoformat(),
    )
    verdict = face_of(
        scan(world, face_crop_jpeg(world.fixture, TALENT), who="admin", publisher="hm.com"), TALENT
    )["licence"]
    assert verdict["verdict"] == "unlicensed"
    assert [f["code"] for f in verdict["checks"][0]["failures"]] == ["expired"]


def test_alerts_are_deduplicated_with_a_sighting_count_and_can_be_triaged(
    world: ServiceWorld,
) -> None:
    image = face_crop_jpeg(world.fixture, TALENT)
    scan(world, image)
    scan(world, image, page_url="https://shop.example.net/item/2")
    alerts = world.client.get("/v1/alerts", headers=world.auth("agency")).json()
    assert alerts["total"] == 1
    alert = alerts["items"][0]
    assert alert["sightings"] == 2 and alert["status"] == "open"
    assert alert["reasons"] == ["no licence on record"] or alert["reasons"]
    triaged = world.client.post(
        f"/v1/alerts/{alert['id']}/triage",
        json={"action": "confirm_violation", "note": "takedown sent"},
        headers=world.auth("agency"),
    ).json()
    assert triaged["status"] == "confirmed_violation"
    filtered = world.client.get(
        "/v1/alerts", params={"status": "open"}, headers=world.auth("agency")
    ).json()
    assert filtered["total"] == 0
    by_publisher = world.client.get(
        "/v1/alerts", params={"publisher": "shop.example.net"}, headers=world.auth("agency")
    ).json()
    assert by_publisher["total"] == 1


def test_evidence_export_has_what_a_takedown_needs(world: ServiceWorld) -> None:
    add_licence(world)
    image = face_crop_jpeg(world.fixture, TALENT)
    scan(world, image, page_url="https://shop.example.net/p/1")
    alert_id = world.client.get("/v1/alerts", headers=world.auth("agency")).json()["items"][0]["id"]
    report = world.client.get(
        f"/v1/alerts/{alert_id}/evidence", headers=world.auth("agency")
    ).json()
    sighting = report["sightings"][0]
    assert sighting["page_url"] == "https://shop.example.net/p/1"
    assert len(sighting["face_box"]) == 4 and sighting["similarity"] > 0.5
    assert sighting["model_pack"].startswith("opencv-yunet-sface@")
    assert report["image"]["sha256"] and report["image"]["copy_kept"]
    assert report["licences_checked"][0]["failures"][0]["code"] == "wrong_publisher"
    page = world.client.get(f"/v1/alerts/{alert_id}/evidence.html", headers=world.auth("agency"))
    assert page.status_code == 200 and "Unlicensed use of Demo Talent C" in page.text
    kept = world.client.get(f"/v1/alerts/{alert_id}/evidence/image", headers=world.auth("agency"))
    assert kept.content == image


def test_group_photo_alerts_every_unlicensed_talent_once(world: ServiceWorld) -> None:
    result = scan(world, world.group_photo)
    assert result["summary"]["faces"] == 6 and result["summary"]["unlicensed"] == 6
    assert len({f["talent"]["id"] for f in result["faces"]}) == 6
    assert world.client.get("/v1/alerts", headers=world.auth("agency")).json()["total"] == 6


def test_stranger_is_not_matched_and_raises_nothing(world: ServiceWorld) -> None:
    result = scan(world, world.stranger_photo)
    assert result["summary"] == {
        "faces": 1,
        "matched": 0,
        "licensed": 0,
        "unlicensed": 0,
        "review": 0,
        "asset_reuse_uncovered": 0,
    }
    assert result["faces"][0]["candidates"] == []


def test_brand_precheck_answers_cleared_or_not_and_why(world: ServiceWorld) -> None:
    add_licence(world)
    image = face_crop_jpeg(world.fixture, TALENT)
    use = {
        "publisher": "www2.hm.com",
        "channel": "ecommerce",
        "territory": "SE",
        "use_from": NOW.isoformat(),
        "use_until": (NOW + timedelta(days=10)).isoformat(),
    }
    ok = world.client.post(
        "/v1/prechecks", files={"file": ("a.jpg", image)}, data=use, headers=world.auth("brand")
    ).json()
    assert ok["cleared"] is True
    too_long = {**use, "use_until": (NOW + timedelta(days=90)).isoformat()}
    refused = world.client.post(
        "/v1/prechecks",
        files={"file": ("a.jpg", image)},
        data=too_long,
        headers=world.auth("brand"),
    ).json()
    assert refused["cleared"] is False
    assert any("expire" in why for why in refused["faces"][0]["why"])
    wrong_place = {**use, "territory": "US"}
    refused = world.client.post(
        "/v1/prechecks",
        files={"file": ("a.jpg", image)},
        data=wrong_place,
        headers=world.auth("brand"),
    ).json()
    assert refused["cleared"] is False
    assert world.client.get("/v1/alerts", headers=world.auth("agency")).json()["total"] == 0


def test_reuse_of_an_approved_asset_by_an_uncovered_publisher_is_flagged(
    world: ServiceWorld,
) -> None:
    licence = add_licence(world)
    asset = world.stranger_photo  # an approved campaign image; its face is not the talent's
    added = world.client.post(
        f"/v1/licences/{licence['id']}/assets",
        files={"file": ("campaign.png", asset)},
        headers=world.auth("agency"),
    )
    assert added.status_code == 200 and len(added.json()["approved_assets"]) == 1
    result = scan(world, asset, publisher="knockoff.example.org")
    assert result["summary"]["matched"] == 0
    [reuse] = result["asset_reuse"]  # a monitor: no licence named
    assert reuse["licence_id"] is None and reuse["licensee"] is None
    assert reuse["publisher_covered"] is False
    [reuse] = scan(world, asset, who="admin", publisher="knockoff.example.org")["asset_reuse"]
    assert reuse["licence_id"] == licence["id"] and reuse["publisher_covered"] is False
    assert "knockoff.example.org" in reuse["message"]
    alerts = world.client.get("/v1/alerts", headers=world.auth("agency")).json()
    assert alerts["total"] == 1 and alerts["items"][0]["band"] == "asset_reuse"


def test_url_scan_fetches_from_a_real_server(world: ServiceWorld) -> None:
    image = face_crop_jpeg(world.fixture, TALENT)
    with local_server() as server:
        server.responses["/img.jpg"] = (200, "image/jpeg", image)
        response = world.client.post(
            "/v1/scans",
            data={"url": server.url("/img.jpg"), "publisher": "shop.example.net"},
            headers=world.auth("monitor"),
        )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["image"]["source_url"] == server.url("/img.jpg")
    assert face_of(body, TALENT)["band"] == "match"


def test_idempotency_key_replays_instead_of_duplicating(world: ServiceWorld) -> None:
    image = face_crop_jpeg(world.fixture, TALENT)
    headers = {**world.auth("monitor"), "Idempotency-Key": "scan-123"}
    first = world.client.post(
        "/v1/scans",
        files={"file": ("a.jpg", image)},
        data={"publisher": "x.example"},
        headers=headers,
    )
    second = world.client.post(
        "/v1/scans",
        files={"file": ("a.jpg", image)},
        data={"publisher": "x.example"},
        headers=headers,
    )
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    other = world.client.post(
        "/v1/scans",
        files={"file": ("a.jpg", image)},
        data={"publisher": "y.example"},
        headers=headers,
    )
    assert other.status_code == 409 and other.json()["error"]["code"] == (
        "idempotency_key_conflict"
    )
    with world.ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Scan)) == 1
        assert session.scalar(select(func.count()).select_from(Alert)) == 1


def test_erasing_a_talent_removes_alerts_licences_usage_and_evidence(world: ServiceWorld) -> None:
    add_licence(world)
    image = face_crop_jpeg(world.fixture, TALENT)
    scan(world, image, publisher="hm.com")
    scan(world, image)  # unlicensed: alert + evidence file
    assert world.ctx.evidence.talent_keys(world.talents[TALENT])
    erased = world.client.delete(
        f"/v1/talents/{world.talents[TALENT]}", headers=world.auth("agency")
    )
    assert erased.status_code == 200 and erased.json()["erased"]
    assert world.ctx.evidence.talent_keys(world.talents[TALENT]) == []
    with world.ctx.db.session() as session:
        for model in (Alert, UsageEvent):
            assert session.scalar(select(func.count()).select_from(model)) == 0
    assert world.ctx.index.verify().ok
    result = scan(world, image)
    assert result["summary"]["matched"] == 0


def ai_labelled(jpeg: bytes) -> bytes:
    """The same picture re-saved with an IPTC DigitalSourceType 'trainedAlgorithmicMedia'."""
    from io import BytesIO

    from PIL import Image

    from tests.unit.scanning.test_provenance import TRAINED, xmp_attribute

    buffer = BytesIO()
    Image.open(BytesIO(jpeg)).save(buffer, "JPEG", quality=92, xmp=xmp_attribute(TRAINED))
    return buffer.getvalue()


def test_ai_image_under_a_photo_only_licence_is_a_medium_violation(world: ServiceWorld) -> None:
    add_licence(world)
    image = ai_labelled(face_crop_jpeg(world.fixture, TALENT))
    result = scan(world, image, who="admin", publisher="hm.com")
    assert result["provenance"]["declares_ai"] is True
    assert result["provenance"]["ai_label"] == "iptc"
    verdict = face_of(result, TALENT)["licence"]
    assert verdict["verdict"] == "unlicensed"
    assert [f["code"] for f in verdict["checks"][0]["failures"]] == ["medium_not_allowed"]


def test_labelled_ai_replica_under_a_replica_licence_is_licensed(world: ServiceWorld) -> None:
    licence = add_licence(world, media=["ai_replica"], ai_label_required=True)
    with world.ctx.db.session() as session:  # a replica licence needs the talent's signature
        talent_key = create_key(session, role=Role.TALENT, talent=world.talents[TALENT]).key
    signed = world.client.post(
        f"/v1/licences/{licence['id']}/consent",
        headers={"Authorization": f"Bearer {talent_key}"},
        json={"signature_name": TALENT, "terms_sha256": licence["consent"]["terms_sha256"]},
    )
    assert signed.status_code == 201, signed.text
    now = datetime.now(UTC).isoformat()
    labelled = scan(
        world,
        ai_labelled(face_crop_jpeg(world.fixture, TALENT)),
        publisher="hm.com",
        observed_at=now,
    )
    assert face_of(labelled, TALENT)["licence"]["verdict"] == "licensed"
    unlabelled = scan(
        world,
        face_crop_jpeg(world.fixture, TALENT),
        who="admin",
        publisher="hm.com",
        observed_at=now,
    )
    verdict = face_of(unlabelled, TALENT)["licence"]
    assert verdict["verdict"] == "unlicensed"
    assert [f["code"] for f in verdict["checks"][0]["failures"]] == ["ai_label_missing"]


@pytest.mark.shared_faces
def test_scene_talent_enrolled_over_the_api_is_found_in_another_photo(
    world: ServiceWorld, shared_faces: Path
) -> None:
    folder = shared_faces / "scenes" / "Scarlett"
    photos = sorted(folder.glob("*.jpg"), key=lambda p: int(p.stem[3:]))
    talent = world.client.post(
        "/v1/talents", json={"name": "Scene Talent"}, headers=world.auth("agency")
    ).json()
    enrolled = world.client.post(
        f"/v1/talents/{talent['id']}/photos",
        files={"files": (photos[0].name, photos[0].read_bytes())},
        headers=world.auth("agency"),
    ).json()
    assert enrolled["photos"][0]["accepted"], enrolled
    result = scan(world, photos[1].read_bytes())
    assert face_of(result, "Scene Talent")["band"] == "match"
