"""Stored verdicts rendered per audience (service.licensing.verdicts), without the models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from service.core.principal import Principal, Role
from service.licensing.evaluate import (
    FailureCode,
    ImageFacts,
    LicenceTerms,
    Medium,
    UsageContext,
    Verdict,
    evaluate_licences,
)
from service.licensing.verdicts import (
    Audience,
    StoredCheck,
    StoredVerdict,
    Viewer,
    asset_reuse_view,
    render_verdict,
    store_verdict,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
BRANDS = [1, 2, 3, None]


def terms(licence_id: int, **overrides: object) -> LicenceTerms:
    values: dict[str, object] = {
        "id": licence_id,
        "talent_id": 7,
        "licensee": "Brand One",
        "publishers": ("brand-one.example",),
        "channels": ("*",),
        "territories": ("FR", "DE"),
        "valid_from": NOW - timedelta(days=10),
        "valid_until": NOW + timedelta(days=10),
        "media": (Medium.PHOTO,),
        "ai_label_required": True,
    }
    values.update(overrides)
    return LicenceTerms(**values)  # type: ignore[arg-type]


def context(**overrides: object) -> UsageContext:
    values: dict[str, object] = {
        "page_url": None,
        "publisher": "brand-one.example",
        "observed_at": NOW,
        "channel": "social",
        "territory": "US",
        "image": ImageFacts(sha256="a" * 64, phash=None, declares_ai=False, ai_label=None),
    }
    values.update(overrides)
    return UsageContext(**values)  # type: ignore[arg-type]


def stored(
    licences: list[LicenceTerms], use: UsageContext, brands: dict[int, int | None]
) -> StoredVerdict:
    verdict = evaluate_licences(licences=licences, context=use)
    return store_verdict(verdict, terms=licences, brands=brands, context=use)


def test_brand_reason_names_its_own_licence_and_the_territory_it_failed() -> None:
    own, other = terms(12), terms(13, licensee="Brand Two", publishers=("b2.example.com",))
    verdict = stored([own, other], context(), {12: 1, 13: 2})
    rendered = render_verdict(verdict, Viewer(Audience.LICENSEE, brand_id=1))
    assert rendered.verdict is Verdict.UNLICENSED
    assert rendered.reasons == ["your licence 12: territory US not in FR, DE"]
    assert [c["licence_id"] for c in rendered.checks] == [12]
    assert "b2.example.com" in " ".join(verdict.reasons)  # the talent's side sees it all
    assert render_verdict(verdict, Viewer(Audience.TALENT_SIDE)).checks == verdict.checks


def test_brand_without_a_licence_is_told_so_in_its_own_terms() -> None:
    verdict = stored([terms(4, licensee="Brand Two")], context(), {4: 2})
    rendered = render_verdict(verdict, Viewer(Audience.LICENSEE, brand_id=1))
    assert rendered.reasons == ["no licence of yours covers this talent"]
    assert rendered.checks == [] and rendered.licence_id is None


def test_revoked_licence_is_said_revoked_once() -> None:
    revoked = terms(
        5,
        revoked_at=NOW - timedelta(days=1),
        revocation_reason="private note",
        valid_until=NOW - timedelta(days=2),
        publishers=("elsewhere.example",),
    )
    verdict = stored([revoked], context(), {5: 1})
    failures = [f["code"] for f in verdict.checks[0]["failures"]]
    assert failures == [FailureCode.REVOKED]  # not also expired, off-publisher, ...
    rendered = render_verdict(verdict, Viewer(Audience.LICENSEE, brand_id=1))
    assert rendered.reasons == ["your licence 5: revoked"]
    assert "private note" not in repr(rendered)


def test_licensed_by_own_licence_names_it() -> None:
    verdict = stored([terms(9, territories=("US",))], context(), {9: 1})
    rendered = render_verdict(verdict, Viewer(Audience.LICENSEE, brand_id=1))
    assert (rendered.verdict, rendered.licence_id) == (Verdict.LICENSED, 9)
    assert rendered.reasons == ["your licence 9 covers this use"]
    other = render_verdict(verdict, Viewer(Audience.LICENSEE, brand_id=2))
    assert other.licence_id is None and other.checks == []
    assert other.reasons == ["this use is covered, but not by a licence of yours"]


def test_viewer_follows_the_key_role() -> None:
    def of(role: Role, **ids: int) -> Viewer:
        return Viewer.of(Principal(key_id=1, key_prefix="tw_x", role=role, **ids))

    assert of(Role.BRAND, brand_id=3) == Viewer(Audience.LICENSEE, brand_id=3)
    assert of(Role.MONITOR, monitor_id=2) == Viewer(Audience.MONITOR)
    assert of(Role.AGENCY, agency_id=1) == Viewer(Audience.TALENT_SIDE)
    assert of(Role.ADMIN) == Viewer(Audience.TALENT_SIDE)


@st.composite
def stored_verdicts(draw: st.DrawFn) -> StoredVerdict:
    count = draw(st.integers(min_value=0, max_value=5))
    checks: list[StoredCheck] = []
    for n in range(count):
        codes = draw(st.lists(st.sampled_from(list(FailureCode)), max_size=3, unique=True))
        checks.append(
            {
                "licence_id": 1000 + n,
                "licensee": f"secret-licensee-{n}",
                "licensee_brand_id": draw(st.sampled_from(BRANDS)),
                "covers": not codes,
                "failures": [
                    {
                        "code": code.value,
                        "message": f"secret-message-{n}",
                        "params": {
                            "seen": f"seen-{n}",
                            "allowed": f"secret-allowed-{n}",
                            "until": "2026-01-01",
                            "from": "2025-01-01",
                            "on": "2025-06-01",
                            "approved": "2",
                        },
                    }
                    for code in codes
                ],
                "unknowns": draw(st.lists(st.sampled_from(["publisher", "territory"]), max_size=1)),
            }
        )
    verdict = draw(st.sampled_from(list(Verdict)))
    covering = [c["licence_id"] for c in checks if c["covers"]]
    licence_id = covering[0] if verdict is Verdict.LICENSED and covering else None
    reasons = [f"licence {c['licence_id']} ({c['licensee']}): secret" for c in checks]
    return StoredVerdict(verdict, licence_id, checks, reasons)


@given(stored_verdicts(), st.sampled_from([1, 2, 3]))
def test_a_brand_never_sees_other_licensees(verdict: StoredVerdict, brand_id: int) -> None:
    rendered = render_verdict(verdict, Viewer(Audience.LICENSEE, brand_id=brand_id))
    text = repr(rendered)
    assert rendered.verdict is verdict.verdict
    assert all(c["licensee_brand_id"] == brand_id for c in rendered.checks)
    for n, check in enumerate(verdict.checks):
        if check["licensee_brand_id"] != brand_id:
            for secret in (
                f"secret-licensee-{n}",
                f"secret-allowed-{n}",
                f"seen-{n}",
                str(check["licence_id"]),
            ):
                assert secret not in text
    assert "secret-message" not in text  # the evaluator's wording is for the talent's side
    assert rendered.reasons  # a brand is always told why, in its own terms


@given(stored_verdicts(), st.sampled_from([Audience.MONITOR, Audience.THIRD_PARTY]))
def test_monitors_and_third_parties_see_the_verdict_only(
    verdict: StoredVerdict, audience: Audience
) -> None:
    rendered = render_verdict(verdict, Viewer(audience))
    assert (rendered.verdict, rendered.licence_id, rendered.reasons, rendered.checks) == (
        verdict.verdict,
        None,
        [],
        [],
    )


@given(st.sampled_from(BRANDS), st.booleans(), st.sampled_from([1, 2]))
def test_asset_reuse_names_only_the_viewers_own_licence(
    owner: int | None, covered: bool, viewer_brand: int
) -> None:
    entry = {
        "licence_id": 77,
        "licensee": "secret-licensee",
        "licensee_brand_id": owner,
        "matched_by": "sha256",
        "distance": None,
        "publisher_covered": covered,
        "message": "this image is an approved asset of licence 77 (secret-licensee)",
    }
    for viewer in (Viewer(Audience.LICENSEE, brand_id=viewer_brand), Viewer(Audience.MONITOR)):
        seen = asset_reuse_view(entry, viewer)
        assert "secret-licensee" not in repr(seen) and seen["publisher_covered"] is covered
        mine = viewer.brand_id is not None and owner == viewer.brand_id
        assert (seen["licence_id"] == 77) is mine and ("77" in seen["message"]) is mine
    assert asset_reuse_view(entry, Viewer(Audience.TALENT_SIDE))["licensee"] == "secret-licensee"
