"""When a derived image alerts (service.scanning.derived_alerts): face replacement always,
no covering licence always, and alterations only beyond what the covering licence allows."""

from __future__ import annotations

from dataclasses import replace

from indexer.copies.detector import DerivedFinding
from indexer.copies.verify import Placement
from service.rules.vocabulary import Alterations
from service.scanning.derived_alerts import FACE_REPLACED, alterations_seen, decide

WHOLE = Placement(
    image_id=12,
    talent_id=3,
    mirrored=False,
    inliers=80,
    scale=0.5,
    rotation_deg=0.4,
    area_share=0.99,
    region=[(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)],
    face_in_scan=None,
    face_present=True,
)


def finding(placement: Placement = WHOLE, *, face_replaced: bool = False) -> DerivedFinding:
    return DerivedFinding(
        placement=placement,
        portfolio_image_id=12,
        portfolio_name="campaign.jpg",
        talent_id=3,
        talent_name="Ada",
        agency_id=1,
        face_similarity=0.2 if face_replaced else 0.9,
        face_replaced=face_replaced,
    )


def test_face_replacement_alerts_even_under_a_licence_allowing_retouching() -> None:
    decision = decide(
        finding(face_replaced=True),
        licensed_by="Maison Verte",
        allowed=Alterations.RETOUCHING,
        verdict_reasons=[],
    )
    assert decision.alerts
    assert decision.reasons == (f"derived from portfolio image 12 (99% of it), {FACE_REPLACED}",)


def test_a_use_no_licence_covers_alerts_with_the_evaluation_reasons() -> None:
    decision = decide(
        finding(), licensed_by=None, allowed=None, verdict_reasons=["no licence on record"]
    )
    assert decision.alerts
    words = "derived from portfolio image 12 (99% of it)"
    assert decision.reasons == (words, "no licence on record")


def test_resizing_is_no_alteration_but_cropping_mirroring_and_rotating_are() -> None:
    assert alterations_seen(finding()) == []
    cropped = finding(replace(WHOLE, area_share=0.5))
    turned = finding(replace(WHOLE, mirrored=True, rotation_deg=-15.2))
    assert alterations_seen(cropped) == ["cropped"]
    assert alterations_seen(turned) == ["mirrored", "rotated 15°"]


def test_an_altered_copy_alerts_only_where_its_licence_allows_no_alterations() -> None:
    cropped = finding(replace(WHOLE, area_share=0.5))
    strict = decide(cropped, licensed_by="H&M", allowed=Alterations.NONE, verdict_reasons=[])
    assert strict.alerts
    assert strict.reasons == (
        "derived from portfolio image 12 (50% of it), cropped: the licence to H&M allows no "
        "alterations",
    )
    lenient = decide(cropped, licensed_by="H&M", allowed=Alterations.RETOUCHING, verdict_reasons=[])
    assert not lenient.alerts and lenient.reasons == ()
    whole = decide(finding(), licensed_by="H&M", allowed=Alterations.NONE, verdict_reasons=[])
    assert not whole.alerts
