"""Generator metadata: what Stable Diffusion front-ends and AI services write into images.

Read, all bounded, never raising on bad input:

- **PNG text chunks** (``tEXt``, ``zTXt``, ``iTXt``, before or after the image data), walked
  chunk by chunk without decoding the image: AUTOMATIC1111-style ``parameters`` (also written
  by Forge, SD.Next), ComfyUI ``prompt`` / ``workflow`` (JSON graphs), InvokeAI
  ``invokeai_metadata`` / ``sd-metadata`` (JSON) and ``Dream`` (its command line), Fooocus'
  ``fooocus_scheme``; a ``Software`` chunk naming a known generator (NovelAI writes one);
  other text chunks (``Comment``, ``Description``, ``Title``...) as free text.
- **EXIF**: ``Software`` naming a known generator; ``UserComment`` holding
  AUTOMATIC1111-style parameters (its JPEG and WebP output); ``ImageDescription``,
  ``Artist``, ``XPComment`` and the JPEG comment as free text.
- **XMP** (the packets :mod:`service.scanning.provenance` finds, parsed with ``defusedxml``,
  so no entity expansion): ``xmp:CreatorTool`` and ``xmpMM:History``'s ``softwareAgent``
  naming a known generator; IPTC's ``Iptc4xmpExt:AISystemUsed`` and
  ``AIPromptInformation`` (fields that exist only for AI-generated images); descriptions,
  titles, keywords, headline and credit as free text.

Structured fields give a *strong* signal, a generator named in free text a *weak* one (see
:mod:`service.rules.generators`, which owns the list of generators). Limits: at most
:data:`MAX_TEXT_CHUNKS` text chunks of at most :data:`MAX_CHUNK_BYTES` (compressed and
decompressed), JSON of at most that size, free text searched in its first 4 KiB, and at most
:data:`MAX_SIGNALS` signals per image.
"""

from __future__ import annotations

import io
import json
import logging
import re
import struct
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from PIL import Image, UnidentifiedImageError

from service.rules.generators import (
    GenerationSignal,
    SignalKind,
    SignalStrength,
    clip,
    find_generator,
    generator,
)

log = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PNG_CHUNKS = 10_000  # chunk headers walked (a chunk header costs a slice)
MAX_TEXT_CHUNKS = 64
MAX_CHUNK_BYTES = 256 * 1024
MAX_FREE_TEXT = 4096
MAX_SIGNALS = 16
TEXT_CHUNK_TYPES = (b"tEXt", b"zTXt", b"iTXt")

# EXIF tags (TIFF 6.0 / EXIF 2.3 / Windows XP)
EXIF_IFD = 0x8769
TAG_SOFTWARE = 0x0131
TAG_IMAGE_DESCRIPTION = 0x010E
TAG_ARTIST = 0x013B
TAG_XP_COMMENT = 0x9C9C
TAG_USER_COMMENT = 0x9286

NS = {
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
}
# XMP properties that name the creating tool (strong when a known generator is named).
XMP_TOOL_FIELDS = {
    f"{{{NS['xmp']}}}CreatorTool": "xmp:CreatorTool",
    f"{{{NS['stEvt']}}}softwareAgent": "xmp:History.softwareAgent",
}
# IPTC 2023.2 properties that exist only for AI-generated content (strong on their own).
XMP_AI_FIELDS = {
    f"{{{NS['Iptc4xmpExt']}}}AISystemUsed": "xmp:Iptc4xmpExt:AISystemUsed",
    f"{{{NS['Iptc4xmpExt']}}}AIPromptInformation": "xmp:Iptc4xmpExt:AIPromptInformation",
}
XMP_FREE_TEXT_FIELDS = {
    f"{{{NS['dc']}}}description": "xmp:dc:description",
    f"{{{NS['dc']}}}title": "xmp:dc:title",
    f"{{{NS['dc']}}}subject": "xmp:dc:subject",
    f"{{{NS['dc']}}}creator": "xmp:dc:creator",
    f"{{{NS['photoshop']}}}Headline": "xmp:photoshop:Headline",
    f"{{{NS['photoshop']}}}Credit": "xmp:photoshop:Credit",
    f"{{{NS['exif']}}}UserComment": "xmp:exif:UserComment",
}

# AUTOMATIC1111's parameters end with "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: ..."
_A1111_SETTINGS = re.compile(r"(?m)^Steps: \d+, (?:.*\b)?(?:Sampler|Seed|CFG scale): ")
_UNNAMED_AI_SYSTEM = "an AI system (not named)"


@dataclass(frozen=True)
class _Structured:
    generator_key: str
    what: str  # "generation parameters", "workflow graph" ...
    looks_right: Callable[[str], bool]


def _a1111_parameters(text: str) -> bool:
    return bool(_A1111_SETTINGS.search(text[:MAX_CHUNK_BYTES]))


def _json_object(text: str) -> dict[str, Any] | None:
    if len(text) > MAX_CHUNK_BYTES:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _comfy_prompt(text: str) -> bool:
    graph = _json_object(text)
    if not graph:
        return False
    nodes = list(graph.values())[:1000]
    return any(isinstance(node, dict) and "class_type" in node for node in nodes)


def _comfy_workflow(text: str) -> bool:
    graph = _json_object(text)
    return graph is not None and isinstance(graph.get("nodes"), list)


def _json_dict(text: str) -> bool:
    return bool(_json_object(text))


def _non_empty(text: str) -> bool:
    return bool(text.strip())


# PNG text chunk keyword -> the front-end that writes it, and how its content must look.
PNG_GENERATOR_CHUNKS: dict[str, _Structured] = {
    "parameters": _Structured("automatic1111", "generation parameters", _a1111_parameters),
    "prompt": _Structured("comfyui", "prompt graph", _comfy_prompt),
    "workflow": _Structured("comfyui", "workflow graph", _comfy_workflow),
    "invokeai_metadata": _Structured("invokeai", "generation metadata", _json_dict),
    "sd-metadata": _Structured("invokeai", "generation metadata", _json_dict),
    "Dream": _Structured("invokeai", "dream command", _non_empty),
    "fooocus_scheme": _Structured("fooocus", "metadata scheme", _non_empty),
}
PNG_TOOL_CHUNKS = ("Software",)


def metadata_signals(data: bytes, xmp_packets: Iterable[bytes]) -> tuple[GenerationSignal, ...]:
    """Every generator-metadata signal in the image's bytes, strong ones first."""
    found: list[GenerationSignal] = []
    try:
        found += _png_signals(data)
        found += _exif_signals(data)
        found += _xmp_signals(xmp_packets)
    except Exception as exc:  # metadata is hostile input: a scan never fails over it
        log.warning("generator metadata not read: %s", type(exc).__name__)
    unique = list({(s.source, s.generator): s for s in found}.values())
    unique.sort(key=lambda s: not s.strong)
    return tuple(unique[:MAX_SIGNALS])


# Video container tags (FFmpeg's lower-case names): tools that wrote the file name it in
# these; free text elsewhere only mentions it.
VIDEO_TOOL_TAGS = frozenset({"encoder", "encoded_by", "software", "creation_tool", "tool"})
VIDEO_TEXT_TAGS = frozenset({"comment", "description", "title", "synopsis", "keywords"})


def video_tag_signals(tags: Iterable[tuple[str, str]]) -> tuple[GenerationSignal, ...]:
    """Generator signals in a video's container and stream tags, strong ones first."""
    found: list[GenerationSignal | None] = []
    for key, value in tags:
        name = key.lower()
        if name in VIDEO_TOOL_TAGS:
            found.append(_named_in_tool_field(f"video:{name}", f"the {name} tag", value))
        elif name in VIDEO_TEXT_TAGS:
            found.append(_named_in_free_text(f"video:{name}", f"the {name} tag", value))
    signals = list({(s.source, s.generator): s for s in found if s is not None}.values())
    signals.sort(key=lambda s: not s.strong)
    return tuple(signals[:MAX_SIGNALS])


def _signal(
    source: str, generator_name: str, strength: SignalStrength, detail: str
) -> GenerationSignal:
    return GenerationSignal(
        kind=SignalKind.METADATA,
        source=source,
        generator=clip(generator_name),
        strength=strength,
        detail=clip(detail),
    )


def _named_in_tool_field(source: str, label: str, value: str) -> GenerationSignal | None:
    known = find_generator(value)
    if known is None:
        return None
    return _signal(
        source,
        known.name,
        SignalStrength.STRONG,
        f"{label} names {known.name} ({clip(value, 60)!r})",
    )


def _named_in_free_text(source: str, label: str, value: str) -> GenerationSignal | None:
    known = find_generator(value[:MAX_FREE_TEXT])
    if known is None:
        return None
    return _signal(
        source, known.name, SignalStrength.WEAK, f"{label} mentions {known.name} in free text"
    )


# --- PNG text chunks -----------------------------------------------------------------------
def png_text_chunks(data: bytes) -> Iterator[tuple[str, str]]:
    """(keyword, text) of the PNG's text chunks, in file order; nothing if not a PNG."""
    for kind, body in islice(_png_chunks(data, TEXT_CHUNK_TYPES), MAX_TEXT_CHUNKS):
        parsed = _text_chunk(kind, body)
        if parsed is not None:
            yield parsed


def _png_chunks(data: bytes, kinds: tuple[bytes, ...]) -> Iterator[tuple[bytes, bytes]]:
    """(type, body) of the PNG's chunks of ``kinds`` of at most MAX_CHUNK_BYTES, walking
    chunk headers only (the image data is skipped, never inflated)."""
    if not data.startswith(PNG_SIGNATURE):
        return
    position, walked = len(PNG_SIGNATURE), 0
    while position + 8 <= len(data) and walked < MAX_PNG_CHUNKS:
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body_start, walked = position + 8, walked + 1
        position = body_start + length + 4  # body and CRC
        if kind == b"IEND" or position > len(data):
            return
        if kind in kinds and length <= MAX_CHUNK_BYTES:
            yield kind, data[body_start : body_start + length]


def _text_chunk(kind: bytes, body: bytes) -> tuple[str, str] | None:
    keyword, sep, rest = body.partition(b"\x00")
    if not sep or not 1 <= len(keyword) <= 79:
        return None
    key = keyword.decode("latin-1")
    if kind == b"tEXt":
        return key, rest.decode("latin-1")
    if kind == b"zTXt":
        text = _inflate(rest[1:]) if rest[:1] == b"\x00" else None
        return (key, text.decode("latin-1")) if text is not None else None
    return _itxt(key, rest)


def _itxt(key: str, rest: bytes) -> tuple[str, str] | None:
    if len(rest) < 2:
        return None
    compressed, method, rest = rest[0], rest[1], rest[2:]
    _language, _, rest = rest.partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    if compressed:
        inflated = _inflate(text) if method == 0 else None
        if inflated is None:
            return None
        text = inflated
    return key, text.decode("utf-8", errors="replace")


def _inflate(blob: bytes) -> bytes | None:
    try:
        inflater = zlib.decompressobj()
        return inflater.decompress(blob, MAX_CHUNK_BYTES)
    except zlib.error:
        return None


def _png_signals(data: bytes) -> Iterator[GenerationSignal]:
    for key, text in png_text_chunks(data):
        source = f"png:{key}"
        structured = PNG_GENERATOR_CHUNKS.get(key)
        if structured is not None and structured.looks_right(text):
            name = generator(structured.generator_key).name
            yield _signal(
                source,
                name,
                SignalStrength.STRONG,
                f"{name} {structured.what} in PNG text chunk {key!r}",
            )
            continue
        if key in PNG_TOOL_CHUNKS:
            named = _named_in_tool_field(source, f"PNG text chunk {key!r}", text)
        elif key != "XML:com.adobe.xmp":
            named = _named_in_free_text(source, f"PNG text chunk {key!r}", text)
        else:
            named = None
        if named is not None:
            yield named


# --- EXIF ----------------------------------------------------------------------------------
def _exif(data: bytes) -> tuple[dict[int, Any], dict[int, Any], str | None]:
    """IFD0, the EXIF IFD and the JPEG comment, read from the headers, never decoding pixels
    (Pillow's PNG ``getexif`` decodes the whole image, so a PNG's ``eXIf`` chunk is read
    here)."""
    try:
        if data.startswith(PNG_SIGNATURE):
            chunk = next((body for _, body in _png_chunks(data, (b"eXIf",))), None)
            exif = Image.Exif()
            if chunk is not None:
                exif.load(chunk)
            return dict(exif), dict(exif.get_ifd(EXIF_IFD)), None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as img:
                exif = img.getexif()
                comment = img.info.get("comment")
                return dict(exif), dict(exif.get_ifd(EXIF_IFD)), _as_text(comment)
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
        struct.error,
        KeyError,
        TypeError,
        Image.DecompressionBombError,
    ):
        return {}, {}, None


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value[:MAX_CHUNK_BYTES]
    if isinstance(value, bytes):
        return value[:MAX_CHUNK_BYTES].decode("utf-8", errors="replace")
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value[:8]):
        return _xp_text(bytes(v & 0xFF for v in value[:MAX_CHUNK_BYTES]))
    return None


def _xp_text(raw: bytes) -> str:
    return raw.decode("utf-16-le", errors="replace").rstrip("\x00")


def _user_comment(value: Any) -> str | None:
    """EXIF UserComment: an 8-byte character-code prefix, then the text."""
    if not isinstance(value, bytes):
        return _as_text(value)
    prefix, body = value[:8], value[8:MAX_CHUNK_BYTES]
    if prefix.startswith(b"UNICODE"):
        encoding = "utf-16-be" if body[:1] == b"\x00" else "utf-16-le"
        return body.decode(encoding, errors="replace").rstrip("\x00")
    return body.decode("utf-8", errors="replace").rstrip("\x00")


def _exif_signals(data: bytes) -> Iterator[GenerationSignal]:
    ifd0, exif_ifd, comment = _exif(data)
    software = _as_text(ifd0.get(TAG_SOFTWARE))
    if software:
        named = _named_in_tool_field("exif:Software", "EXIF Software", software)
        if named is not None:
            yield named
    user_comment = _user_comment(exif_ifd.get(TAG_USER_COMMENT))
    if user_comment and _a1111_parameters(user_comment):
        name = generator("automatic1111").name
        yield _signal(
            "exif:UserComment",
            name,
            SignalStrength.STRONG,
            f"{name} generation parameters in EXIF UserComment",
        )
    free_text = [
        (
            "exif:ImageDescription",
            "EXIF ImageDescription",
            _as_text(ifd0.get(TAG_IMAGE_DESCRIPTION)),
        ),
        ("exif:Artist", "EXIF Artist", _as_text(ifd0.get(TAG_ARTIST))),
        ("exif:XPComment", "EXIF XPComment", _xp_field(ifd0.get(TAG_XP_COMMENT))),
        ("exif:UserComment", "EXIF UserComment", user_comment),
        ("jpeg:comment", "JPEG comment", comment),
    ]
    for source, label, text in free_text:
        named = _named_in_free_text(source, label, text) if text else None
        if named is not None:
            yield named


def _xp_field(value: Any) -> str | None:
    if isinstance(value, bytes):
        return _xp_text(value[:MAX_CHUNK_BYTES])
    return _as_text(value)


# --- XMP -----------------------------------------------------------------------------------
def _xmp_signals(packets: Iterable[bytes]) -> Iterator[GenerationSignal]:
    for packet in packets:
        root = _parse(packet)
        if root is not None:
            yield from _signals_in_xmp(root)


def _parse(packet: bytes) -> Element | None:
    try:
        return SafeET.fromstring(packet)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        log.debug("skipping an unparsable XMP packet: %s", type(exc).__name__)
        return None


def _xmp_values(root: Element) -> Iterator[tuple[str, str]]:
    """(qualified name, text) of every property, in attribute or element form (the text of
    an ``rdf:Alt``/``rdf:Bag``/``rdf:Seq`` is its items', joined)."""
    for element in root.iter():
        yield from element.attrib.items()
        if (
            element.tag in XMP_TOOL_FIELDS
            or element.tag in XMP_AI_FIELDS
            or element.tag in XMP_FREE_TEXT_FIELDS
        ):
            text = " ".join(part.strip() for part in element.itertext() if part.strip())
            yield element.tag, text[:MAX_CHUNK_BYTES]


def _signals_in_xmp(root: Element) -> Iterator[GenerationSignal]:
    for name, value in _xmp_values(root):
        if not value.strip():
            continue
        if name in XMP_AI_FIELDS:
            yield _ai_field_signal(XMP_AI_FIELDS[name], value)
        elif name in XMP_TOOL_FIELDS:
            label = XMP_TOOL_FIELDS[name]
            named = _named_in_tool_field(label, f"XMP {label.removeprefix('xmp:')}", value)
            if named is not None:
                yield named
        elif name in XMP_FREE_TEXT_FIELDS:
            label = XMP_FREE_TEXT_FIELDS[name]
            named = _named_in_free_text(label, f"XMP {label.removeprefix('xmp:')}", value)
            if named is not None:
                yield named


def _ai_field_signal(source: str, value: str) -> GenerationSignal:
    field = source.rsplit(":", 1)[-1]
    if field == "AISystemUsed":
        known = find_generator(value)
        name = known.name if known else clip(value, 60)
        return _signal(source, name, SignalStrength.STRONG, f"IPTC {field} names {name}")
    known = find_generator(value)
    name = known.name if known else _UNNAMED_AI_SYSTEM
    return _signal(
        source, name, SignalStrength.STRONG, f"IPTC {field} holds the prompt given to an AI system"
    )
