"""A pre-check's stated medium and AI label: the evaluator's rule (pure) and the API form
that carries them (POST /v1/prechecks and the batch form keep them with the pre-check)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.core.tables.jobs import Job
from service.jobs.queue import context_from_json
from service.licensing.evaluate import (
    FailureCode,
    ImageFacts,
    LicenceTerms,
    UsageContext,
    evaluate_licences,
)
from service.rules.vocabulary import Medium, Verdict
from tests.support.console import ConsoleWorld, console_world
from tests.support.fakes import face_photo

SEEN = datetime(2026, 6, 1, tzinfo=UTC)


def terms(*media: Medium, label_required: bool = False) -> LicenceTerms:
    return LicenceTerms(
        id=1,
        talent_id=1,
        licensee="H&M",
        publishers=("hm.com",),
        channels=("social",),
        territories=("FR",),
        valid_from=SEEN - timedelta(days=1),
        valid_until=None,
        media=media,
        ai_label_required=label_required,
    )


def judged(
    licence: LicenceTerms, *, stated: Medium | None, label: str | None = None
) -> tuple[Verdict, list[FailureCode]]:
    image = ImageFacts(
        sha256="a" * 64,
        phash=None,
        declares_ai=label is not None,
        ai_label=label,
        stated_medium=stated,
    )
    verdict = evaluate_licences(
        licences=[licence],
        context=UsageContext(
            page_url=None,
            publisher="hm.com",
            observed_at=SEEN,
            channel="social",
            territory="FR",
            image=image,
        ),
    )
    return verdict.verdict, [f.code for check in verdict.checks for f in check.failures]


@pytest.mark.parametrize(
    ("licence", "stated", "label", "expected"),
    [
        (terms(Medium.PHOTO), None, None, (Verdict.LICENSED, [])),
        (terms(Medium.PHOTO), Medium.PHOTO, None, (Verdict.LICENSED, [])),
        (
            terms(Medium.PHOTO),
            Medium.AI_REPLICA,
            None,
            (Verdict.UNLICENSED, [FailureCode.MEDIUM_NOT_ALLOWED]),
        ),
        (
            terms(Medium.PHOTO),
            Medium.AI_REPLICA,
            "c2pa",
            (Verdict.UNLICENSED, [FailureCode.MEDIUM_NOT_ALLOWED]),
        ),
        (
            terms(Medium.AI_REPLICA),
            Medium.PHOTO,
            None,
            (Verdict.UNLICENSED, [FailureCode.MEDIUM_NOT_ALLOWED]),
        ),
        (terms(Medium.AI_REPLICA), None, None, (Verdict.REVIEW, [])),
        (terms(Medium.AI_REPLICA), Medium.AI_REPLICA, None, (Verdict.LICENSED, [])),
        (
            terms(Medium.AI_REPLICA, label_required=True),
            Medium.AI_REPLICA,
            None,
            (Verdict.UNLICENSED, [FailureCode.AI_LABEL_MISSING]),
        ),
        (
            terms(Medium.AI_REPLICA, label_required=True),
            Medium.AI_REPLICA,
            "iptc",
            (Verdict.LICENSED, []),
        ),
        (terms(Medium.PHOTO, Medium.AI_REPLICA), Medium.AI_REPLICA, None, (Verdict.LICENSED, [])),
    ],
)
def test_a_stated_medium_is_judged_against_the_licence_media(
    licence: LicenceTerms,
    stated: Medium | None,
    label: str | None,
    expected: tuple[Verdict, list[FailureCode]],
) -> None:
    assert judged(licence, stated=stated, label=label) == expected


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as built:
        yield built


def test_the_api_keeps_the_stated_medium_and_refuses_a_label_on_a_photo(
    world: ConsoleWorld,
) -> None:
    auth = {"Authorization": f"Bearer {world.keys['brand']}"}
    use = {"publisher": "hm.com", "channel": "social", "territory": "FR"}
    image = face_photo([(7, 90)], size=130, seed=5)
    stated = world.client.post(
        "/v1/prechecks",
        headers=auth,
        files={"file": ("a.png", image)},
        data={**use, "medium": "ai_replica", "ai_label": "iptc"},
    )
    assert stated.status_code == 201, stated.text
    assert stated.json()["context"]["medium"] == "ai_replica"
    assert stated.json()["context"]["ai_label"] == "iptc"
    refused = world.client.post(
        "/v1/prechecks",
        headers=auth,
        files={"file": ("a.png", image)},
        data={**use, "medium": "photo", "ai_label": "c2pa"},
    )
    assert refused.status_code == 422 and refused.json()["error"]["details"]["field"] == "ai_label"
    unknown = world.client.post(
        "/v1/prechecks",
        headers=auth,
        files={"file": ("a.png", image)},
        data={**use, "medium": "hologram"},
    )
    assert unknown.status_code == 422
    batch = world.client.post(
        "/v1/precheck-jobs",
        headers=auth,
        files=[("files", ("a.png", image))],
        data={**use, "medium": "ai_replica"},
    )
    assert batch.status_code == 202, batch.text
    with world.ctx.db.session() as session:
        job = session.get(Job, batch.json()["id"])
        assert job is not None
        assert context_from_json(job.context).medium is Medium.AI_REPLICA
