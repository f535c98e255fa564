"""AI-provenance facts about an image: C2PA Content Credentials and IPTC DigitalSourceType.

Two independent labels can say "this image was made by generative AI":

* **C2PA** (signed): the *active* manifest's assertions (``c2pa.actions`` /
  ``c2pa.actions.v2`` and any other ``digitalSourceType`` field in them) carry an IPTC
  digital source type. Read with ``c2pa-python``; never fetches anything (remote manifests
  and OCSP are switched off: a scanned image must not make twinwatch send requests).
* **IPTC** (unsigned): ``Iptc4xmpExt:DigitalSourceType`` in the XMP packet (JPEG APP1,
  PNG iTXt ``XML:com.adobe.xmp``, WebP ``XMP `` chunk, or any packet found in the bytes),
  in attribute or element form, parsed with ``defusedxml``.

What counts as "declares AI": the IPTC terms ``trainedAlgorithmicMedia`` and
``compositeWithTrainedAlgorithmicMedia`` (http or https form of the URI). ``algorithmicMedia``
does *not* count: IPTC defines it as media made purely by an algorithm *not* based on
sampled training data (procedural/fractal art), which cannot be a trained replica of a
person's likeness; ``compositeSynthetic``, ``dataDrivenMedia`` and
``algorithmicallyEnhanced`` do not count either (IPTC tells generative-AI tools to use the
two terms above). A C2PA claim counts whether or not the manifest validates: an image that
*declares* AI declares it; ``c2pa_valid``/``c2pa_trusted`` say how far to believe the rest.

What "valid" means: ``c2pa_valid`` is integrity and well-formedness (the claim signature
verifies, hashes of assertions and of the asset match, certificate profile) — c2pa's
``validation_state`` "Valid" or "Trusted". Whether the signer chains to a trust anchor is
``c2pa_trusted`` (state "Trusted"); with no ``trust_anchors_pem`` nothing is trusted, so a
correctly signed image from an unknown signer is ``c2pa_valid=True, c2pa_trusted=False``.

:func:`read_provenance` never raises on bad input: a broken manifest is
``c2pa_present=True, c2pa_valid=False`` with ``c2pa_error`` saying why.

Beyond labels, ``ai_signals`` lists what an *unlabelled* AI image may still carry: generator
metadata (:mod:`service.scanning.generation`) and generator watermarks read from the decoded
pixels (:mod:`service.scanning.watermarks`), each with its source and strength
(:mod:`service.rules.generators`). They do not make ``declares_ai`` true: a signal is not a
label; the licence check weighs them itself (``service.licensing.evaluate``).
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import c2pa  # type: ignore[import-untyped]
import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from PIL import Image, UnidentifiedImageError

from service.rules.generators import GenerationSignal
from service.scanning.generation import metadata_signals
from service.scanning.watermarks import BgrImage, watermark_may_survive, watermark_signals

logger = logging.getLogger(__name__)

IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DIGITAL_SOURCE_TYPE_PREFIXES = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/",
    "https://cv.iptc.org/newscodes/digitalsourcetype/",
)
AI_SOURCE_TYPE_TERMS = frozenset(
    {"trainedalgorithmicmedia", "compositewithtrainedalgorithmicmedia"}
)
# Reading must never reach the network: no remote manifests, no OCSP.
C2PA_READER_SETTINGS: dict[str, Any] = {
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_trust": True},
}
TRUST_STATUS_SUFFIX = ".untrusted"  # signingCredential.untrusted, timeStamp.untrusted
MAX_ERROR_CHARS = 200
MAX_XMP_PACKET_BYTES = 1 << 20
MAX_XMP_PACKETS = 8
MAX_JSON_DEPTH = 32
_SOURCE_TYPE_TAG = f"{{{IPTC_EXT_NS}}}DigitalSourceType"
_RDF_RESOURCE = f"{{{RDF_NS}}}resource"
# Packet delimiters, searched with bytes.find (linear time, whatever the input).
XMP_DELIMITERS = ((b"<x:xmpmeta", b"</x:xmpmeta>"), (b"<rdf:RDF", b"</rdf:RDF>"))


@dataclass(frozen=True)
class Provenance:
    c2pa_present: bool
    c2pa_valid: bool | None  # None when not present, or present but not checkable (remote)
    c2pa_claims_ai: bool  # the active manifest declares trained-algorithmic (composite) media
    c2pa_error: str | None  # why validation failed, short
    iptc_digital_source_type: str | None  # the IPTC DigitalSourceType URI found in XMP
    c2pa_trusted: bool | None = None  # signer chains to a configured anchor; None if absent
    c2pa_digital_source_type: str | None = None  # the AI one if any, else the first found
    # AI-generation signals beyond labels (generator metadata, invisible watermarks): see
    # service.scanning.generation and service.scanning.watermarks
    ai_signals: tuple[GenerationSignal, ...] = ()

    @property
    def declares_ai(self) -> bool:
        """C2PA claims AI, or the IPTC source type is (composite with) trained media."""
        return self.ai_label is not None

    @property
    def ai_label(self) -> str | None:
        """Which AI label the image carries: "c2pa" (preferred when both), "iptc", or None."""
        if self.c2pa_claims_ai:
            return "c2pa"
        if is_ai_source_type(self.iptc_digital_source_type):
            return "iptc"
        return None


@dataclass(frozen=True)
class _C2paFacts:
    present: bool = False
    valid: bool | None = None
    trusted: bool | None = None
    claims_ai: bool = False
    error: str | None = None
    source_type: str | None = None


NO_C2PA = _C2paFacts()


def read_provenance(
    data: bytes,
    *,
    mime_type: str,
    trust_anchors_pem: str | None = None,
    pixels: BgrImage | None = None,
) -> Provenance:
    """Read the C2PA and IPTC provenance of an image, and its AI-generation signals; never
    raises on bad input.

    ``mime_type`` is a hint (c2pa detects the container itself); ``trust_anchors_pem`` is
    a PEM bundle of root certificates a C2PA signer must chain to for ``c2pa_trusted``;
    ``pixels`` (the decoded image, 8-bit BGR) are read for generator watermarks, unless the
    image is a JPEG re-compressed past where a watermark survives.
    """
    facts = _read_c2pa(data, mime_type=mime_type, trust_anchors_pem=trust_anchors_pem)
    signals = metadata_signals(data, _xmp_packets(data))
    if pixels is not None and watermark_may_survive(data):
        signals = watermark_signals(pixels) + signals
    return Provenance(
        c2pa_present=facts.present,
        c2pa_valid=facts.valid,
        c2pa_claims_ai=facts.claims_ai,
        c2pa_error=facts.error,
        iptc_digital_source_type=read_iptc_digital_source_type(data),
        c2pa_trusted=facts.trusted,
        c2pa_digital_source_type=facts.source_type,
        ai_signals=signals,
    )


def is_ai_source_type(uri: str | None) -> bool:
    """Whether an IPTC digital source type URI says trained-algorithmic (composite) media."""
    if not uri:
        return False
    value = uri.strip()
    for prefix in DIGITAL_SOURCE_TYPE_PREFIXES:
        if value.lower().startswith(prefix):
            return value[len(prefix) :].strip("/").lower() in AI_SOURCE_TYPE_TERMS
    return False


# --- C2PA -----------------------------------------------------------------------------------
def _read_c2pa(data: bytes, *, mime_type: str, trust_anchors_pem: str | None) -> _C2paFacts:
    try:
        store = _c2pa_store(data, mime_type=mime_type, trust_anchors_pem=trust_anchors_pem)
    except c2pa.C2paError.ManifestNotFound:
        return NO_C2PA
    except Exception as exc:  # c2pa raises many kinds; garbage in must never escape
        return _unreadable(exc, data)
    try:
        return _facts_from_store(store)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return _broken(f"manifest store not understood: {type(exc).__name__}: {exc}")


def _c2pa_store(data: bytes, *, mime_type: str, trust_anchors_pem: str | None) -> Any:
    settings: dict[str, Any] = dict(C2PA_READER_SETTINGS)
    if trust_anchors_pem:
        settings["trust"] = {"user_anchors": trust_anchors_pem}
    with (
        c2pa.Context.from_dict(settings) as context,
        c2pa.Reader(mime_type or None, io.BytesIO(data), None, context) as reader,
    ):
        return json.loads(reader.json())


def _unreadable(exc: Exception, data: bytes) -> _C2paFacts:
    """A read failure: a broken manifest if the bytes carry C2PA data, else no C2PA."""
    message = _short(str(exc) or type(exc).__name__)
    if message.startswith("Remote"):
        return _C2paFacts(
            present=True,
            error=_short(f"remote manifest not fetched (fetching is disabled): {message}"),
        )
    if not _has_c2pa_jumbf(data):
        logger.debug("no readable C2PA data (%s)", message)
        return NO_C2PA
    logger.info("C2PA manifest present but unreadable: %s", message)
    return _broken(message)


def _broken(error: str) -> _C2paFacts:
    return _C2paFacts(present=True, valid=False, trusted=False, error=_short(error))


def _has_c2pa_jumbf(data: bytes) -> bool:
    """A C2PA manifest store is a JUMBF superbox ("jumb") labelled "c2pa"."""
    return b"jumb" in data and b"c2pa" in data


def _facts_from_store(store: dict[str, Any]) -> _C2paFacts:
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest") or "")
    failures = _failure_codes(store)
    state = store.get("validation_state")
    integrity_failures = [c for c in failures if not c.endswith(TRUST_STATUS_SUFFIX)]
    valid = state in ("Valid", "Trusted") if state else not integrity_failures
    if active is None:
        valid, integrity_failures = False, [*integrity_failures, "no active manifest"]
    source_types = list(_digital_source_types(active.get("assertions", []) if active else []))
    ai_type = next((t for t in source_types if is_ai_source_type(t)), None)
    error = None if valid else _short("; ".join(integrity_failures) or f"validation {state}")
    return _C2paFacts(
        present=True,
        valid=valid,
        trusted=state == "Trusted",
        claims_ai=ai_type is not None,
        error=error,
        source_type=ai_type or (source_types[0] if source_types else None),
    )


def _failure_codes(store: dict[str, Any]) -> list[str]:
    entries = list(store.get("validation_status") or [])
    results = store.get("validation_results") or {}
    entries += (results.get("activeManifest") or {}).get("failure") or []
    codes = (str(e.get("code")) for e in entries if isinstance(e, dict) and e.get("code"))
    return list(dict.fromkeys(codes))


def _digital_source_types(node: Any, depth: int = 0) -> Iterator[str]:
    """Every ``digitalSourceType`` string anywhere in the assertions, in document order."""
    if depth > MAX_JSON_DEPTH:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "digitalSourceType" and isinstance(value, str):
                yield value
            else:
                yield from _digital_source_types(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            yield from _digital_source_types(item, depth + 1)


def _short(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else text
    return first if len(first) <= MAX_ERROR_CHARS else first[: MAX_ERROR_CHARS - 1] + "…"


# --- IPTC in XMP ----------------------------------------------------------------------------
def read_iptc_digital_source_type(data: bytes) -> str | None:
    """The ``Iptc4xmpExt:DigitalSourceType`` URI from the image's XMP, if any."""
    for packet in _xmp_packets(data):
        value = _source_type_in_packet(packet)
        if value:
            return value
    return None


def _xmp_packets(data: bytes) -> Iterator[bytes]:
    """Pillow's XMP (JPEG APP1, PNG iTXt even compressed, WebP), then packets in the bytes."""
    pillow = _pillow_xmp(data)
    if pillow:
        yield from _packets_in(pillow) or [pillow]
    yield from _packets_in(data)


def _packets_in(blob: bytes) -> list[bytes]:
    """``<x:xmpmeta>`` elements in ``blob`` (else bare ``<rdf:RDF>`` ones), at most 8."""
    for opening, closing in XMP_DELIMITERS:
        packets: list[bytes] = []
        start = blob.find(opening)
        while start != -1 and len(packets) < MAX_XMP_PACKETS:
            end = blob.find(closing, start)
            if end == -1:
                break
            end += len(closing)
            if end - start <= MAX_XMP_PACKET_BYTES:
                packets.append(blob[start:end])
            start = blob.find(opening, end)
        if packets:
            return packets
    return []


def _pillow_xmp(data: bytes) -> bytes | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as img:
                xmp = img.info.get("xmp")
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
        Image.DecompressionBombError,
    ):
        return None
    if isinstance(xmp, str):
        return xmp.encode("utf-8")
    return xmp if isinstance(xmp, bytes) and len(xmp) <= MAX_XMP_PACKET_BYTES else None


def _source_type_in_packet(packet: bytes) -> str | None:
    try:
        root = SafeET.fromstring(packet)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        logger.debug("skipping an unparsable XMP packet: %s", type(exc).__name__)
        return None
    for element in root.iter():
        value = _source_type_of(element)
        if value:
            return value
    return None


def _source_type_of(element: Element) -> str | None:
    """Attribute form (``Iptc4xmpExt:DigitalSourceType="…"``) or element form (text or
    ``rdf:resource``)."""
    attribute = element.attrib.get(_SOURCE_TYPE_TAG, "").strip()
    if attribute:
        return attribute
    if element.tag == _SOURCE_TYPE_TAG:
        return (element.text or "").strip() or element.attrib.get(_RDF_RESOURCE, "").strip() or None
    return None
