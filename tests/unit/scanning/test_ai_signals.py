"""AI-generation signals beyond labels: generator metadata, generator watermarks, and what
they do to a licence verdict. Every image is made here: PNGs in each front-end's style,
JPEGs with EXIF/XMP, and real photos watermarked with invisible-watermark's own encoder."""

from __future__ import annotations

import io
import json
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from indexer.engine import FaceEngine
from indexer.imaging import decode_image
from service.licensing.evaluate import FailureCode, Medium, UnknownFact, Verdict
from service.licensing.verdicts import Audience, Viewer, render_verdict, store_verdict
from service.rules.generators import (
    GenerationSignal,
    SignalKind,
    SignalStrength,
    find_generator,
)
from service.scanning import watermarks
from service.scanning.generation import MAX_CHUNK_BYTES, metadata_signals, png_text_chunks
from service.scanning.provenance import read_provenance
from service.scanning.watermarks import (
    WATERMARKS,
    BgrImage,
    agreement,
    decode_band,
    embed,
    jpeg_quality,
    package_decode,
    read_watermarks,
    watermark_may_survive,
    watermark_signals,
)
from tests.unit.licensing.test_evaluate import codes, evaluate, image, licence
from tests.unit.scanning.test_provenance import IPTC_NS, xmp_packet

SDXL, SD_V1 = (next(w for w in WATERMARKS if w.key == key) for key in ("sdxl", "sd_v1"))
A1111 = (
    "portrait of a woman, studio light\nNegative prompt: blurry\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 512x512, "
    "Model: sd_xl_base_1.0"
)
COMFY_PROMPT = json.dumps(
    {
        "3": {"class_type": "KSampler", "inputs": {"seed": 5}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {}},
    }
)
COMFY_WORKFLOW = json.dumps(
    {"last_node_id": 9, "nodes": [{"id": 3, "type": "KSampler"}], "links": []}
)
INVOKE = json.dumps(
    {
        "generation_mode": "txt2img",
        "positive_prompt": "a portrait",
        "model": {"name": "stable-diffusion-v1-5"},
    }
)


# --- images ---------------------------------------------------------------------------------
def photo_like(width: int = 96, height: int = 64) -> Image.Image:
    img = Image.radial_gradient("L").resize((width, height)).convert("RGB")
    img.paste((200, 40, 40), (10, 10, 40, 30))
    return img


def png_with(*chunks: tuple[str, str], compressed: str = "") -> bytes:
    """A PNG with tEXt chunks; ``compressed`` = "ztxt" or "itxt" writes them compressed."""
    info = PngInfo()
    for key, value in chunks:
        if compressed == "itxt":
            info.add_itxt(key, value, zip=True)
        else:
            info.add_text(key, value, zip=compressed == "ztxt")
    buffer = io.BytesIO()
    photo_like().save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def with_chunk_before_iend(png: bytes, extra: bytes) -> bytes:
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + extra + png[iend:]


def jpeg_with(
    *,
    software: str | None = None,
    description: str | None = None,
    user_comment: bytes | None = None,
    xmp: bytes | None = None,
) -> bytes:
    exif = Image.Exif()
    if software:
        exif[0x0131] = software
    if description:
        exif[0x010E] = description
    if user_comment is not None:
        exif.get_ifd(0x8769)[0x9286] = user_comment
    buffer = io.BytesIO()
    extra: dict[str, Any] = {"xmp": xmp} if xmp else {}
    photo_like().save(buffer, "JPEG", quality=90, exif=exif.tobytes(), **extra)
    return buffer.getvalue()


def signals_of(data: bytes) -> tuple[GenerationSignal, ...]:
    return read_provenance(data, mime_type="").ai_signals


def only(signals: tuple[GenerationSignal, ...]) -> GenerationSignal:
    assert len(signals) == 1, signals
    return signals[0]


# --- generator metadata ---------------------------------------------------------------------
@pytest.mark.parametrize("compressed", ["", "ztxt", "itxt"])
def test_automatic1111_parameters_chunk_is_a_strong_signal(compressed: str) -> None:
    signal = only(signals_of(png_with(("parameters", A1111), compressed=compressed)))
    assert signal.source == "png:parameters"
    assert signal.strength is SignalStrength.STRONG and signal.kind is SignalKind.METADATA
    assert signal.generator == "Stable Diffusion web UI (AUTOMATIC1111)"
    assert "PNG text chunk 'parameters'" in signal.detail


def test_comfyui_prompt_and_workflow_chunks_are_two_strong_signals() -> None:
    found = signals_of(png_with(("prompt", COMFY_PROMPT), ("workflow", COMFY_WORKFLOW)))
    assert [(s.source, s.generator, s.strength) for s in found] == [
        ("png:prompt", "ComfyUI", SignalStrength.STRONG),
        ("png:workflow", "ComfyUI", SignalStrength.STRONG),
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("invokeai_metadata", INVOKE),
        ("sd-metadata", INVOKE),
        ("Dream", '"a portrait" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms'),
    ],
)
def test_invokeai_chunks_are_strong_signals(key: str, value: str) -> None:
    signal = only(signals_of(png_with((key, value))))
    assert (signal.source, signal.generator, signal.strength) == (
        f"png:{key}",
        "InvokeAI",
        SignalStrength.STRONG,
    )


def test_text_chunk_after_the_image_data_is_read_too() -> None:
    late = chunk(b"tEXt", b"parameters\x00" + A1111.encode())
    data = with_chunk_before_iend(png_with(), late)
    assert only(signals_of(data)).source == "png:parameters"


def test_generator_named_as_software_is_strong_and_in_free_text_is_weak() -> None:
    software = only(signals_of(png_with(("Software", "NovelAI"))))
    assert (software.generator, software.strength) == ("NovelAI", SignalStrength.STRONG)
    comment = only(signals_of(png_with(("Comment", "made with Midjourney v6, then retouched"))))
    assert (comment.source, comment.generator, comment.strength) == (
        "png:Comment",
        "Midjourney",
        SignalStrength.WEAK,
    )
    assert "free text" in comment.detail


def test_unstructured_chunks_with_front_end_keywords_are_not_signals() -> None:
    assert (
        signals_of(
            png_with(
                ("parameters", "exposure 1/250 f/2.8"),
                ("prompt", "not json"),
                ("workflow", '{"steps": 3}'),
            )
        )
        == ()
    )


def test_exif_software_naming_a_generator_is_strong() -> None:
    signal = only(signals_of(jpeg_with(software="Midjourney")))
    assert (signal.source, signal.generator, signal.strength) == (
        "exif:Software",
        "Midjourney",
        SignalStrength.STRONG,
    )


def test_png_exif_chunk_is_read_without_decoding_the_image(monkeypatch: pytest.MonkeyPatch) -> None:
    exif = Image.Exif()
    exif[0x0131] = "Midjourney"
    buffer = io.BytesIO()
    photo_like().save(buffer, "PNG", exif=exif.tobytes())

    def no_decoding(self: Image.Image) -> None:
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr("PIL.PngImagePlugin.PngImageFile.load", no_decoding)
    assert only(metadata_signals(buffer.getvalue(), [])).source == "exif:Software"


def test_automatic1111_parameters_in_exif_user_comment_are_strong() -> None:
    comment = b"UNICODE\x00" + A1111.encode("utf-16-be")
    found = signals_of(jpeg_with(user_comment=comment))
    assert found[0].source == "exif:UserComment" and found[0].strong


def test_exif_description_naming_a_generator_is_weak() -> None:
    signal = only(signals_of(jpeg_with(description="Campaign visual, DALL-E 3 draft")))
    assert (signal.source, signal.generator, signal.strength) == (
        "exif:ImageDescription",
        "DALL·E (OpenAI)",
        SignalStrength.WEAK,
    )


def test_camera_and_editor_metadata_are_not_signals() -> None:
    data = jpeg_with(
        software="Adobe Photoshop 25.0 (Windows)",
        description="Red carpet arrival, Cannes; image by Imagen Studio",
        xmp=xmp_packet(
            '<rdf:Description rdf:about="" '
            'xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
            'xmp:CreatorTool="Canon EOS R5 Firmware 1.8"/>'
        ),
    )
    assert signals_of(data) == ()


def test_xmp_creator_tool_and_iptc_ai_system_fields_are_strong() -> None:
    description = (
        f'<rdf:Description rdf:about="" {IPTC_NS} '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Adobe Firefly">'
        "<Iptc4xmpExt:AISystemUsed>Imagen 3</Iptc4xmpExt:AISystemUsed>"
        "<Iptc4xmpExt:AIPromptInformation>a woman on a beach"
        "</Iptc4xmpExt:AIPromptInformation></rdf:Description>"
    )
    found = signals_of(jpeg_with(xmp=xmp_packet(description)))
    assert {(s.source, s.generator) for s in found} == {
        ("xmp:CreatorTool", "Adobe Firefly"),
        ("xmp:Iptc4xmpExt:AISystemUsed", "Google Imagen"),
        ("xmp:Iptc4xmpExt:AIPromptInformation", "an AI system (not named)"),
    }
    assert all(s.strong for s in found)


def test_xmp_description_naming_a_generator_is_weak() -> None:
    description = (
        '<rdf:Description rdf:about="" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
        '<rdf:li xml:lang="x-default">Styled with Stable Diffusion</rdf:li>'
        "</rdf:Alt></dc:description></rdf:Description>"
    )
    signal = only(signals_of(jpeg_with(xmp=xmp_packet(description))))
    assert (signal.source, signal.generator, signal.strength) == (
        "xmp:dc:description",
        "Stable Diffusion",
        SignalStrength.WEAK,
    )


def test_generator_names_match_whole_words_only() -> None:
    assert find_generator("imagenes de verano") is None
    assert find_generator("Imagen 3") is not None
    assert find_generator("midjourneyman") is None
    assert find_generator("SDXL 1.0 refiner") is not None
    assert find_generator("an ideogram of a novel AI idea") is None
    assert find_generator("Ideogram 2.0") is not None


def test_xml_entity_expansion_in_xmp_is_refused_not_expanded() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "Midjourney">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        b'xmp:CreatorTool="&b;"/></rdf:RDF></x:xmpmeta>'
    )
    assert signals_of(jpeg_with(xmp=bomb)) == ()


def test_compressed_text_chunk_bomb_is_read_only_up_to_the_bound() -> None:
    bomb = zlib.compress(b"Steps: 20, Sampler: Euler" + b" " * (64 * 1024 * 1024), 9)
    data = with_chunk_before_iend(png_with(), chunk(b"zTXt", b"parameters\x00\x00" + bomb))
    [(key, text)] = list(png_text_chunks(data))
    assert key == "parameters" and len(text) == MAX_CHUNK_BYTES


def test_hostile_chunks_never_fail_a_read() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    many = b"".join(chunk(b"tEXt", b"Comment\x00x") for _ in range(20_000))
    broken = png_with()[:-20] + chunk(b"tEXt", b"no-separator")[:9]
    for data in (
        png_with(("prompt", deep), ("workflow", deep)),
        with_chunk_before_iend(png_with(), many),
        broken,
        b"\x89PNG\r\n\x1a\n",
    ):
        assert signals_of(data) == ()


# --- watermarks -----------------------------------------------------------------------------
def pixels_of(data: bytes) -> BgrImage:
    """Decoded as a scan decodes it."""
    return decode_image(data, max_pixels=10**8).bgr


def reread_png(bgr: BgrImage) -> BgrImage:
    ok, encoded = cv2.imencode(".png", bgr)
    assert ok
    return pixels_of(encoded.tobytes())


def reread_jpeg(bgr: BgrImage, quality: int) -> BgrImage:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1])).save(buffer, "JPEG", quality=quality)
    return pixels_of(buffer.getvalue())


def demo_photo() -> BgrImage:
    """The demo fixture's group photo (a real photo shipped with insightface, 1280x886)."""
    from indexer.demo_fixtures import load_demo_fixture

    return pixels_of(load_demo_fixture().reference_source.read_bytes())


def test_watermark_decoder_never_imports_torch() -> None:
    assert watermarks.available()
    assert "torch" not in sys.modules


@pytest.mark.parametrize("watermark", [SDXL, SD_V1], ids=["sdxl", "sd_v1"])
def test_generator_watermark_is_found_after_a_png_round_trip(watermark: Any) -> None:
    marked = reread_png(embed(demo_photo(), watermark))
    [signal] = [s for s in watermark_signals(marked) if s.source == f"watermark:{watermark.key}"]
    assert signal.strong and signal.kind is SignalKind.WATERMARK
    assert signal.bits_total == watermark.length
    assert signal.bits_matched is not None and signal.bits_matched >= watermark.min_matched
    assert signal.detail == f"{watermark.label}, {signal.bits_matched}/{watermark.length} bits"


def test_vectorised_decoder_equals_the_package_decoder_bit_for_bit() -> None:
    photo = demo_photo()
    images = [
        photo,
        reread_png(embed(photo, SDXL)),
        reread_png(embed(photo, SD_V1)),
        reread_jpeg(embed(photo, SD_V1), 90),
        cv2.resize(photo, (1024, 1024)),
    ]
    for bgr in images:
        for watermark in (SDXL, SD_V1):
            pixels = bgr.astype(np.float32) if watermark.float_pixels else bgr
            assert decode_band(pixels, first_block=0, length=watermark.length) == package_decode(
                pixels, watermark.length
            )


def test_a_large_image_is_read_on_a_bounded_band_with_its_bits_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    marked = reread_png(embed(demo_photo(), SD_V1))
    whole = agreement(decode_band(marked, first_block=0, length=SD_V1.length), SD_V1.bits)
    monkeypatch.setattr(watermarks, "MAX_DECODE_BLOCKS", 8_000)  # half the image's blocks
    banded = {r.watermark.key: r.matched for r in read_watermarks(marked)}["sd_v1"]
    assert whole >= SD_V1.min_matched and banded >= SD_V1.min_matched


def test_unwatermarked_and_small_images_carry_no_watermark_signal() -> None:
    assert watermark_signals(demo_photo()) == ()
    assert read_watermarks(cv2.resize(demo_photo(), (200, 150))) == []


def test_jpeg_recompression_is_reported_honestly() -> None:
    """Whatever survives re-compression, a watermark is claimed only at or above its
    threshold, and the claim states the agreement the package's decoder measured."""
    for watermark in (SDXL, SD_V1):
        marked = embed(demo_photo(), watermark)
        for quality in (95, 90, 80, 70, 50):
            reread = reread_jpeg(marked, quality)
            readings = {r.watermark.key: r.matched for r in read_watermarks(reread)}
            claimed = [
                s for s in watermark_signals(reread) if s.source == f"watermark:{watermark.key}"
            ]
            if readings[watermark.key] >= watermark.min_matched:
                assert [s.bits_matched for s in claimed] == [readings[watermark.key]]
            else:
                assert claimed == [], (watermark.key, quality, readings)


@pytest.mark.shared_faces
def test_watermarks_on_registered_talent_photos_and_no_false_positives(shared_faces: Path) -> None:
    photos = sorted((shared_faces / "scenes").glob("*/*.jpg"))
    assert len(photos) == 61
    for path in photos:  # no unwatermarked scene photo is read as watermarked
        assert watermark_signals(pixels_of(path.read_bytes())) == (), path
    talent_photo = pixels_of(
        sorted((shared_faces / "scenes" / "Scarlett").glob("*.jpg"))[0].read_bytes()
    )
    scale = 1024 / max(talent_photo.shape[:2])  # the size generators write
    if scale < 1:
        talent_photo = cv2.resize(
            talent_photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA
        )
    for watermark in (SDXL, SD_V1):
        found = watermark_signals(reread_png(embed(talent_photo, watermark)))
        assert [s.source for s in found] == [f"watermark:{watermark.key}"]


# --- the verdict ----------------------------------------------------------------------------
def strong_watermark() -> GenerationSignal:
    return GenerationSignal(
        SignalKind.WATERMARK,
        "watermark:sdxl",
        "Stable Diffusion XL",
        SignalStrength.STRONG,
        "SDXL invisible watermark, 48/48 bits",
        48,
        48,
    )


def weak_mention() -> GenerationSignal:
    return GenerationSignal(
        SignalKind.METADATA,
        "exif:ImageDescription",
        "Midjourney",
        SignalStrength.WEAK,
        "EXIF ImageDescription mentions Midjourney in free text",
    )


def signalled(*signals: GenerationSignal) -> Any:
    return image(ai_signals=signals)


def test_unlabelled_ai_image_under_label_required_licence_is_label_missing_naming_signal() -> None:
    replica = licence(media=(Medium.AI_REPLICA,), ai_label_required=True)
    verdict = evaluate(replica, image=signalled(strong_watermark()))
    assert verdict.verdict is Verdict.UNLICENSED
    assert codes(verdict) == [FailureCode.AI_LABEL_MISSING]
    assert "SDXL invisible watermark, 48/48 bits" in verdict.checks[0].failures[0].message


def test_unlabelled_ai_image_under_a_photo_and_replica_licence_requiring_labels_fails() -> None:
    both = licence(media=(Medium.PHOTO, Medium.AI_REPLICA), ai_label_required=True)
    assert codes(evaluate(both, image=signalled(strong_watermark()))) == [
        FailureCode.AI_LABEL_MISSING
    ]
    assert evaluate(both).verdict is Verdict.LICENSED  # read as a photo without the signal


def test_unlabelled_ai_image_under_a_photo_only_licence_is_medium_not_allowed() -> None:
    verdict = evaluate(licence(), image=signalled(strong_watermark()))
    assert codes(verdict) == [FailureCode.MEDIUM_NOT_ALLOWED]
    assert "SDXL invisible watermark" in verdict.checks[0].failures[0].message


def test_unlabelled_ai_image_under_a_replica_licence_without_label_duty_is_licensed() -> None:
    replica = licence(media=(Medium.AI_REPLICA,), ai_label_required=False)
    assert evaluate(replica, image=signalled(strong_watermark())).verdict is Verdict.LICENSED


def test_a_weak_signal_sends_the_face_to_review_instead_of_deciding() -> None:
    verdict = evaluate(licence(), image=signalled(weak_mention()))
    assert verdict.verdict is Verdict.REVIEW
    assert verdict.checks[0].unknowns == (UnknownFact.AI_GENERATION.value,)
    assert "weak signal" in verdict.reasons[0]


def test_a_weak_signal_decides_where_both_readings_agree() -> None:
    replica = licence(media=(Medium.AI_REPLICA,), ai_label_required=True)
    assert codes(evaluate(replica, image=signalled(weak_mention()))) == [
        FailureCode.AI_LABEL_MISSING
    ]


def test_a_strong_signal_outranks_a_weak_one_and_a_label_outranks_both() -> None:
    verdict = evaluate(licence(), image=signalled(weak_mention(), strong_watermark()))
    assert codes(verdict) == [FailureCode.MEDIUM_NOT_ALLOWED]
    labelled = image(declares_ai=True, ai_label="c2pa", ai_signals=(strong_watermark(),))
    replica = licence(media=(Medium.AI_REPLICA,), ai_label_required=True)
    assert evaluate(replica, image=labelled).verdict is Verdict.LICENSED


def test_agency_reasons_name_the_weak_signal_that_sent_the_face_to_review() -> None:
    from service.licensing.evaluate import evaluate_licences
    from tests.unit.licensing.test_evaluate import context

    use, terms = context(image=signalled(weak_mention())), licence()
    verdict = evaluate_licences(licences=[terms], context=use)
    stored = store_verdict(verdict, terms=[terms], brands={terms.id: 7}, context=use)
    assert stored.reasons[-1] == (
        "weak AI-generation signal: EXIF ImageDescription mentions "
        "Midjourney in free text (exif:ImageDescription)"
    )
    brand = render_verdict(stored, Viewer(Audience.LICENSEE, brand_id=7))
    assert brand.reasons == [
        f"your licence {terms.id}: a human must confirm whether the image is AI-generated"
    ]


def test_brand_and_monitor_never_see_the_signal() -> None:
    from tests.unit.licensing.test_evaluate import context

    use = context(image=signalled(strong_watermark()))
    terms = licence()
    from service.licensing.evaluate import evaluate_licences

    verdict = evaluate_licences(licences=[terms], context=use)
    stored = store_verdict(verdict, terms=[terms], brands={terms.id: 7}, context=use)
    assert any("SDXL invisible watermark" in reason for reason in stored.reasons)
    brand = render_verdict(stored, Viewer(Audience.LICENSEE, brand_id=7))
    assert brand.reasons == [f"your licence {terms.id}: medium ai_replica not in photo"]
    monitor = render_verdict(stored, Viewer(Audience.MONITOR))
    assert monitor.reasons == [] and monitor.checks == []


# --- end to end: the real API and the real model pack ---------------------------------------
@pytest.mark.model
def test_sdxl_watermarked_unlabelled_talent_image_raises_ai_label_missing_naming_the_watermark(
    tmp_path: Path, real_engine: FaceEngine
) -> None:
    from datetime import UTC, datetime, timedelta

    from service.access.keys import create_key
    from service.core.principal import Role
    from tests.support.service import service_world

    now = datetime.now(UTC)
    talent = "Demo Talent C"
    png = cv2.imencode(".png", embed(demo_photo(), SDXL))[1].tobytes()
    with service_world(tmp_path, real_engine) as world:
        created = world.client.post(
            f"/v1/talents/{world.talents[talent]}/licences",
            headers=world.auth("agency"),
            json={
                "licensee": "H&M",
                "publishers": ["hm.com"],
                "channels": ["ecommerce"],
                "territories": ["SE"],
                "media": ["ai_replica"],
                "ai_label_required": True,
                "valid_from": (now - timedelta(days=30)).isoformat(),
            },
        )
        assert created.status_code == 201, created.text
        with world.ctx.db.session() as session:  # the talent signs: only the label is missing
            talent_key = create_key(session, role=Role.TALENT, talent=world.talents[talent]).key
        signed = world.client.post(
            f"/v1/licences/{created.json()['id']}/consent",
            headers={"Authorization": f"Bearer {talent_key}"},
            json={
                "signature_name": talent,
                "terms_sha256": created.json()["consent"]["terms_sha256"],
            },
        )
        assert signed.status_code == 201, signed.text
        now = datetime.now(UTC)  # seen after the signature
        response = world.client.post(
            "/v1/scans",
            files={"file": ("twin.png", png)},
            headers=world.auth("admin"),
            data={
                "publisher": "hm.com",
                "channel": "ecommerce",
                "territory": "SE",
                "observed_at": now.isoformat(),
            },
        )
        assert response.status_code == 201, response.text
        result = response.json()
        provenance = result["provenance"]
        assert provenance["declares_ai"] is False
        [signal] = provenance["ai_signals"]
        assert signal["source"] == "watermark:sdxl" and signal["strength"] == "strong"
        assert signal["bits_total"] == 48 and signal["bits_matched"] >= SDXL.min_matched
        [face] = [f for f in result["faces"] if f["talent"] and f["talent"]["name"] == talent]
        verdict = face["licence"]
        assert verdict["verdict"] == "unlicensed"
        assert [f["code"] for f in verdict["checks"][0]["failures"]] == ["ai_label_missing"]
        expected = f"SDXL invisible watermark, {signal['bits_matched']}/48 bits"
        assert any(expected in reason for reason in verdict["reasons"]), verdict["reasons"]

        alerts = world.client.get("/v1/alerts", headers=world.auth("agency")).json()
        [alert] = [a for a in alerts["items"] if a["talent"]["name"] == talent]
        assert any(expected in reason for reason in alert["reasons"])
        evidence = world.client.get(
            f"/v1/alerts/{alert['id']}/evidence", headers=world.auth("agency")
        ).json()
        assert evidence["sightings"][0]["provenance"]["ai_signals"][0]["detail"] == expected


def test_agency_inbox_shows_the_signals_of_a_sighting(tmp_path: Path) -> None:
    from tests.console.test_pages import browser
    from tests.support.console import console_world
    from tests.support.fakes import face_photo

    png = with_chunk_before_iend(
        face_photo([(7, 90)], size=130, seed=3), chunk(b"tEXt", b"parameters\x00" + A1111.encode())
    )
    with console_world(tmp_path) as world:
        response = world.client.post(
            "/v1/scans",
            headers={"Authorization": f"Bearer {world.keys['monitor']}"},
            files={"file": ("seen.png", png)},
            data={"page_url": "https://shop.example/p/1", "publisher": "shop.example"},
        )
        assert response.status_code == 201, response.text
        assert response.json()["provenance"]["ai_signals"][0]["source"] == "png:parameters"
        html = browser(world, "agency").get("/console/alerts").text
        assert (
            "AI-generation signals: Stable Diffusion web UI (AUTOMATIC1111) generation "
            "parameters in PNG text chunk &#39;parameters&#39; (strong)"
        ) in html


@pytest.mark.parametrize("quality", [50, 75, 90, 95, 100])
def test_jpeg_quality_is_read_from_the_quantisation_tables(quality: int) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(demo_photo()[:, :, ::-1])).save(
        buffer, "JPEG", quality=quality
    )
    estimate = jpeg_quality(buffer.getvalue())
    assert estimate is not None and abs(estimate - quality) <= 1


def test_watermarks_are_read_where_they_can_survive_and_not_on_recompressed_jpegs() -> None:
    marked = embed(demo_photo(), SDXL)
    png = cv2.imencode(".png", marked)[1].tobytes()
    assert watermark_may_survive(png) and jpeg_quality(png) is None
    for quality, read in ((80, False), (90, False), (95, True), (100, True)):
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(marked[:, :, ::-1])).save(
            buffer, "JPEG", quality=quality
        )
        assert watermark_may_survive(buffer.getvalue()) is read, quality
    provenance = read_provenance(png, mime_type="image/png", pixels=marked)
    assert [s.source for s in provenance.ai_signals] == ["watermark:sdxl"]
