"""AI provenance: IPTC DigitalSourceType in XMP and C2PA manifests, on files made here.

The C2PA images are signed in the test with c2pa-python's Builder, by a throw-away ES256
certificate chain (CA + leaf with the emailProtection EKU the C2PA certificate profile
accepts) generated with ``cryptography``; nothing is downloaded.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import c2pa  # type: ignore[import-untyped]
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from service.scanning.provenance import Provenance, is_ai_source_type, read_provenance

DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = DST + "trainedAlgorithmicMedia"
COMPOSITE = DST + "compositeWithTrainedAlgorithmicMedia"
CAPTURE = DST + "digitalCapture"
ALGORITHMIC = DST + "algorithmicMedia"
MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


# --- images and XMP -------------------------------------------------------------------------
def picture(fmt: str, *, xmp: bytes | None = None, png_zip: bool = False) -> bytes:
    """A small real photo-like image (gradient + shapes), optionally carrying an XMP packet."""
    img = Image.radial_gradient("L").resize((96, 64)).convert("RGB")
    img.paste((200, 40, 40), (10, 10, 40, 30))
    buf = io.BytesIO()
    if fmt == "PNG" and xmp is not None:
        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"), zip=png_zip)
        img.save(buf, "PNG", pnginfo=info)
    elif xmp is not None:
        img.save(buf, fmt, xmp=xmp)
    else:
        img.save(buf, fmt)
    return buf.getvalue()


def xmp_packet(description: str) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'{description}</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


IPTC_NS = 'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'


def xmp_attribute(source_type: str) -> bytes:
    return xmp_packet(
        f'<rdf:Description rdf:about="" {IPTC_NS} Iptc4xmpExt:DigitalSourceType="{source_type}"/>'
    )


def xmp_element(source_type: str) -> bytes:
    return xmp_packet(
        f'<rdf:Description rdf:about="" {IPTC_NS}>'
        f"<Iptc4xmpExt:DigitalSourceType>{source_type}"
        "</Iptc4xmpExt:DigitalSourceType></rdf:Description>"
    )


def xmp_resource(source_type: str) -> bytes:
    return xmp_packet(
        f'<rdf:Description rdf:about="" {IPTC_NS}>'
        f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{source_type}"/>'
        "</rdf:Description>"
    )


def png_with_trailing_itxt(xmp: bytes) -> bytes:
    """A PNG whose XMP iTXt chunk comes after the image data (Pillow does not read it)."""
    png = picture("PNG")
    body = b"XML:com.adobe.xmp\0\0\0\0\0" + xmp
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body
    chunk += struct.pack(">I", zlib.crc32(b"iTXt" + body) & 0xFFFFFFFF)
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + chunk + png[iend:]


# --- a throw-away C2PA signer ---------------------------------------------------------------
@dataclass(frozen=True)
class ThrowawaySigner:
    chain_pem: bytes
    key_pem: bytes
    ca_pem: str


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "twinwatch tests"),
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _certificate(
    subject: str,
    *,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_key_usage(ca=ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        ).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def signer() -> ThrowawaySigner:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(
        "twinwatch test CA",
        key=ca_key,
        issuer=_name("twinwatch test CA"),
        issuer_key=ca_key,
        ca=True,
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(
        "twinwatch test signer", key=leaf_key, issuer=ca.subject, issuer_key=ca_key, ca=False
    )
    pem = serialization.Encoding.PEM
    return ThrowawaySigner(
        chain_pem=leaf.public_bytes(pem) + ca.public_bytes(pem),
        key_pem=leaf_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        ca_pem=ca.public_bytes(pem).decode(),
    )


def manifest(source_type: str) -> dict[str, object]:
    return {
        "claim_generator_info": [{"name": "twinwatch-tests", "version": "1"}],
        "title": "generated.jpg",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": source_type}]},
            }
        ],
    }


def sign(
    image: bytes,
    *,
    mime: str,
    source_type: str,
    signer: ThrowawaySigner,
    remote_url: str | None = None,
) -> bytes:
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, signer.chain_pem, signer.key_pem, None)
    builder = c2pa.Builder(manifest(source_type))
    if remote_url is not None:
        builder.set_no_embed()
        builder.set_remote_url(remote_url)
    out = io.BytesIO()
    with c2pa.Signer.from_info(info) as c2pa_signer:
        builder.sign(c2pa_signer, mime, io.BytesIO(image), out)
    return out.getvalue()


def after_scan_start(data: bytes) -> int:
    """An offset inside the JPEG's entropy-coded pixel data (after the last SOS header)."""
    sos = data.rindex(b"\xff\xda")
    header_length: int = struct.unpack(">H", data[sos + 2 : sos + 4])[0]
    return sos + header_length + 10


# --- no provenance --------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_plain_image_has_no_provenance(fmt: str) -> None:
    prov = read_provenance(picture(fmt), mime_type=MIME[fmt])
    assert prov == Provenance(
        c2pa_present=False,
        c2pa_valid=None,
        c2pa_claims_ai=False,
        c2pa_error=None,
        iptc_digital_source_type=None,
    )
    assert not prov.declares_ai and prov.ai_label is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"<html><body>hi</body></html>",
        bytes(range(256)) * 40,
        b"\xff\xd8\xff\xe0" + b"\0" * 50,
        b"\x89PNG\r\n\x1a\n" + b"\0" * 30,
    ],
)
def test_garbage_never_raises_and_declares_nothing(data: bytes) -> None:
    prov = read_provenance(data, mime_type="image/jpeg")
    assert not prov.c2pa_present and not prov.declares_ai


# --- IPTC DigitalSourceType in XMP ----------------------------------------------------------
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_xmp_trained_algorithmic_media_is_an_iptc_ai_label(fmt: str) -> None:
    prov = read_provenance(picture(fmt, xmp=xmp_attribute(TRAINED)), mime_type=MIME[fmt])
    assert prov.iptc_digital_source_type == TRAINED
    assert prov.declares_ai and prov.ai_label == "iptc"
    assert not prov.c2pa_present


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("form", [xmp_attribute, xmp_element, xmp_resource])
def test_composite_with_trained_media_is_read_in_every_xmp_form(
    fmt: str, form: Callable[[str], bytes]
) -> None:
    prov = read_provenance(picture(fmt, xmp=form(COMPOSITE)), mime_type=MIME[fmt])
    assert prov.iptc_digital_source_type == COMPOSITE
    assert prov.ai_label == "iptc"


@pytest.mark.parametrize(
    "source_type",
    [CAPTURE, ALGORITHMIC, DST + "compositeSynthetic", DST + "algorithmicallyEnhanced"],
)
def test_non_generative_source_types_do_not_declare_ai(source_type: str) -> None:
    prov = read_provenance(picture("JPEG", xmp=xmp_element(source_type)), mime_type="image/jpeg")
    assert prov.iptc_digital_source_type == source_type
    assert not prov.declares_ai and prov.ai_label is None


def test_compressed_png_itxt_xmp_is_read() -> None:
    data = picture("PNG", xmp=xmp_attribute(TRAINED), png_zip=True)
    assert xmp_attribute(TRAINED) not in data  # only decompression finds it
    assert read_provenance(data, mime_type="image/png").ai_label == "iptc"


def test_xmp_chunk_after_the_image_data_is_found_by_scanning() -> None:
    data = png_with_trailing_itxt(xmp_element(TRAINED))
    assert Image.open(io.BytesIO(data)).info.get("xmp") is None
    assert read_provenance(data, mime_type="image/png").iptc_digital_source_type == TRAINED


def test_xmp_with_an_entity_expansion_bomb_is_ignored_safely() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        + IPTC_NS.encode()
        + b' Iptc4xmpExt:DigitalSourceType="&b;"/></rdf:RDF></x:xmpmeta>'
    )
    prov = read_provenance(picture("JPEG", xmp=bomb), mime_type="image/jpeg")
    assert prov.iptc_digital_source_type is None and not prov.declares_ai


def test_adversarial_unclosed_xmp_openings_are_scanned_in_linear_time() -> None:
    data = picture("JPEG") + b"<x:xmpmeta " * 400_000 + b"<rdf:RDF " * 400_000
    started = time.monotonic()
    prov = read_provenance(data, mime_type="image/jpeg")
    assert time.monotonic() - started < 3.0
    assert prov.iptc_digital_source_type is None


def test_property_in_another_namespace_is_not_mistaken_for_iptc() -> None:
    other = xmp_packet(
        '<rdf:Description rdf:about="" xmlns:ex="http://example.test/ns/" '
        f'ex:DigitalSourceType="{TRAINED}"/>'
    )
    assert read_provenance(picture("JPEG", xmp=other), mime_type="image/jpeg").ai_label is None


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (TRAINED, True),
        (COMPOSITE, True),
        ("https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia", True),
        (f" {TRAINED}/ ", True),
        (CAPTURE, False),
        (ALGORITHMIC, False),
        (None, False),
        ("", False),
        ("trainedAlgorithmicMedia", False),
        ("http://example.test/trainedAlgorithmicMedia", False),
    ],
)
def test_ai_source_type_vocabulary(uri: str | None, expected: bool) -> None:
    assert is_ai_source_type(uri) is expected


@pytest.mark.parametrize(
    ("claims_ai", "iptc", "label"),
    [
        (False, None, None),
        (False, CAPTURE, None),
        (False, TRAINED, "iptc"),
        (True, None, "c2pa"),
        (True, COMPOSITE, "c2pa"),
    ],
)
def test_declares_ai_exactly_when_an_ai_label_is_carried(
    claims_ai: bool, iptc: str | None, label: str | None
) -> None:
    prov = Provenance(
        c2pa_present=claims_ai,
        c2pa_valid=True if claims_ai else None,
        c2pa_claims_ai=claims_ai,
        c2pa_error=None,
        iptc_digital_source_type=iptc,
    )
    assert prov.ai_label == label
    assert prov.declares_ai is (label is not None)


# --- C2PA -----------------------------------------------------------------------------------
def test_signed_jpeg_claiming_trained_media_is_a_valid_c2pa_ai_label(
    signer: ThrowawaySigner,
) -> None:
    data = sign(picture("JPEG"), mime="image/jpeg", source_type=TRAINED, signer=signer)
    prov = read_provenance(data, mime_type="image/jpeg")
    assert prov.c2pa_present and prov.c2pa_claims_ai
    assert prov.c2pa_valid is True and prov.c2pa_error is None
    assert prov.c2pa_trusted is False  # self-made CA: integrity holds, the signer is unknown
    assert prov.c2pa_digital_source_type == TRAINED
    assert prov.declares_ai and prov.ai_label == "c2pa"


def test_signer_chaining_to_a_configured_anchor_is_trusted(signer: ThrowawaySigner) -> None:
    data = sign(picture("JPEG"), mime="image/jpeg", source_type=TRAINED, signer=signer)
    prov = read_provenance(data, mime_type="image/jpeg", trust_anchors_pem=signer.ca_pem)
    assert prov.c2pa_valid is True and prov.c2pa_trusted is True


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_signed_png_and_webp_composites_claim_ai(signer: ThrowawaySigner, fmt: str) -> None:
    data = sign(picture(fmt), mime=MIME[fmt], source_type=COMPOSITE, signer=signer)
    prov = read_provenance(data, mime_type=MIME[fmt])
    assert prov.c2pa_valid is True and prov.c2pa_claims_ai and prov.ai_label == "c2pa"


def test_signed_camera_capture_does_not_claim_ai(signer: ThrowawaySigner) -> None:
    data = sign(picture("JPEG"), mime="image/jpeg", source_type=CAPTURE, signer=signer)
    prov = read_provenance(data, mime_type="image/jpeg")
    assert prov.c2pa_present and prov.c2pa_valid is True
    assert not prov.c2pa_claims_ai and prov.c2pa_digital_source_type == CAPTURE
    assert not prov.declares_ai


def test_tampering_with_the_pixels_after_signing_invalidates_the_manifest(
    signer: ThrowawaySigner,
) -> None:
    data = bytearray(sign(picture("JPEG"), mime="image/jpeg", source_type=TRAINED, signer=signer))
    data[after_scan_start(bytes(data))] ^= 0x5A
    prov = read_provenance(bytes(data), mime_type="image/jpeg")
    assert prov.c2pa_present and prov.c2pa_valid is False
    assert prov.c2pa_error is not None and "dataHash.mismatch" in prov.c2pa_error
    assert prov.c2pa_claims_ai  # the (now unverifiable) claim is still reported


@pytest.mark.parametrize("where", [200, 1000, 5000])
def test_corrupted_manifest_is_present_but_invalid_and_never_raises(
    signer: ThrowawaySigner, where: int
) -> None:
    data = bytearray(sign(picture("JPEG"), mime="image/jpeg", source_type=TRAINED, signer=signer))
    start = data.index(b"jumb")
    data[start + where : start + where + 64] = b"\xa5" * 64
    prov = read_provenance(bytes(data), mime_type="image/jpeg")
    assert prov.c2pa_present and prov.c2pa_valid is False and prov.c2pa_error


def test_truncated_signed_file_is_present_but_invalid(signer: ThrowawaySigner) -> None:
    data = sign(picture("JPEG"), mime="image/jpeg", source_type=TRAINED, signer=signer)
    prov = read_provenance(data[: data.index(b"jumb") + 3000], mime_type="image/jpeg")
    assert prov.c2pa_present and prov.c2pa_valid is False and prov.c2pa_error


def test_both_labels_prefer_c2pa(signer: ThrowawaySigner) -> None:
    image = picture("JPEG", xmp=xmp_attribute(COMPOSITE))
    data = sign(image, mime="image/jpeg", source_type=TRAINED, signer=signer)
    prov = read_provenance(data, mime_type="image/jpeg")
    assert prov.iptc_digital_source_type == COMPOSITE and prov.ai_label == "c2pa"


def test_wrong_mime_hint_still_reads_the_manifest(signer: ThrowawaySigner) -> None:
    data = sign(picture("JPEG"), mime="image/jpeg", source_type=TRAINED, signer=signer)
    for hint in ("image/png", "application/octet-stream", ""):
        assert read_provenance(data, mime_type=hint).c2pa_claims_ai


def test_concurrent_reads_from_worker_threads_agree(signer: ThrowawaySigner) -> None:
    signed = sign(picture("JPEG"), mime="image/jpeg", source_type=TRAINED, signer=signer)
    tampered = bytearray(signed)
    tampered[after_scan_start(signed)] ^= 0x5A
    inputs = [signed, bytes(tampered), picture("PNG", xmp=xmp_attribute(TRAINED))] * 8
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda d: read_provenance(d, mime_type=""), inputs))
    expected = [read_provenance(d, mime_type="") for d in inputs[:3]] * 8
    assert results == expected
    assert [r.c2pa_valid for r in results[:3]] == [True, False, None]


class _CountingHandler(BaseHTTPRequestHandler):
    hits: list[str] = []  # noqa: RUF012 - shared on purpose: the server records every request

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def counting_server() -> Iterator[tuple[str, list[str]]]:
    _CountingHandler.hits = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _CountingHandler.hits
    httpd.shutdown()
    httpd.server_close()


def test_remote_manifest_is_never_fetched(
    signer: ThrowawaySigner, counting_server: tuple[str, list[str]]
) -> None:
    base, hits = counting_server
    data = sign(
        picture("JPEG"),
        mime="image/jpeg",
        source_type=TRAINED,
        signer=signer,
        remote_url=f"{base}/manifest.c2pa",
    )
    prov = read_provenance(data, mime_type="image/jpeg")
    assert hits == []
    assert prov.c2pa_present and prov.c2pa_valid is None
    assert prov.c2pa_error is not None and "remote manifest not fetched" in prov.c2pa_error
    assert not prov.declares_ai
