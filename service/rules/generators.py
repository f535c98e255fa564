"""AI-generation signals: the one table of known image generators, and what a signal is.

An image that carries no AI *label* (C2PA, IPTC DigitalSourceType) may still say it was
generated: a Stable Diffusion front-end's PNG text chunks, a generator named as the creating
software, an IPTC ``AISystemUsed`` field, or an invisible watermark the generator embedded.
Each such finding is a :class:`GenerationSignal` with where it was found (``source``), the
generator it names, and how far to believe it (:class:`SignalStrength`):

- ``strong``: structured generator metadata (a front-end's own parameter chunk, the creating
  software field naming a generator, IPTC's AI-system field) or a generator's watermark
  decoded at or above its threshold. Enough to read the image as an unlabelled AI image.
- ``weak``: a generator named in free text (a description, a comment, a title). A person
  may write "not made with Midjourney"; a human decides.

:data:`KNOWN_GENERATORS` is the only list of generator names; the metadata reader
(``service.scanning.generation``) and the watermark reader (``service.scanning.watermarks``)
name generators from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

MAX_SIGNAL_TEXT = 160  # a signal's detail and generator are cut to this many characters


class SignalStrength(StrEnum):
    STRONG = "strong"
    WEAK = "weak"


class SignalKind(StrEnum):
    METADATA = "metadata"
    WATERMARK = "watermark"


@dataclass(frozen=True)
class Generator:
    """A known image generator: its display name and the words that name it in text."""

    key: str
    name: str
    patterns: tuple[str, ...]  # regular expressions, matched case-insensitively on words
    # (names that are also words of prose, such as "ideogram" or "novel AI", need more)


KNOWN_GENERATORS: tuple[Generator, ...] = (
    Generator(
        "automatic1111",
        "Stable Diffusion web UI (AUTOMATIC1111)",
        (r"automatic1111", r"stable[- ]diffusion[- ]web[- ]?ui", r"sd[- ]web[- ]?ui"),
    ),
    Generator("comfyui", "ComfyUI", (r"comfy[- ]?ui",)),
    Generator("invokeai", "InvokeAI", (r"invokeai",)),
    Generator("fooocus", "Fooocus", (r"fooocus",)),
    Generator("novelai", "NovelAI", (r"novelai",)),
    Generator(
        "stable_diffusion_xl", "Stable Diffusion XL", (r"sd[- ]?xl", r"stable[- ]diffusion[- ]xl")
    ),
    Generator("stable_diffusion", "Stable Diffusion", (r"stable[- ]diffusion",)),
    Generator("midjourney", "Midjourney", (r"mid[- ]?journey",)),
    Generator("dall_e", "DALL·E (OpenAI)", (r"dall[-·‧ ]?e(?:[- ]?[23])?",)),
    Generator("firefly", "Adobe Firefly", (r"adobe[- ]firefly", r"firefly[- ]image")),
    Generator(
        "flux",
        "FLUX (Black Forest Labs)",
        (r"flux\.1", r"flux[- ](?:dev|schnell|pro)", r"black[- ]forest[- ]labs"),
    ),
    Generator("leonardo", "Leonardo.Ai", (r"leonardo\.ai",)),
    Generator("ideogram", "Ideogram", (r"ideogram\.ai", r"ideogram (?:ai|v?\d(?:\.\d)?)")),
    Generator("imagen", "Google Imagen", (r"google[- ]imagen", r"imagen[- ][234]\b")),
    Generator("bing_image_creator", "Bing Image Creator", (r"bing[- ]image[- ]creator",)),
    # Video generators (issue 21: AI-generator tags in a video's container metadata).
    Generator("sora", "OpenAI Sora", (r"openai[- ]sora", r"sora[- ]?(?:turbo|2)")),
    Generator("runway", "Runway", (r"runway[- ]?ml", r"runway[- ]gen[- ]?[234]")),
    Generator("pika", "Pika", (r"pika[- ]?(?:labs|art)",)),
    Generator("veo", "Google Veo", (r"google[- ]veo", r"veo[- ]?[23]")),
    Generator("kling", "Kling AI", (r"kling[- ]?ai", r"kling[- ]?\d(?:\.\d)?")),
)
_BY_KEY = {generator.key: generator for generator in KNOWN_GENERATORS}
_MATCHERS = tuple(
    (
        generator,
        re.compile(r"(?<![\w])(?:" + "|".join(generator.patterns) + r")(?![\w])", re.IGNORECASE),
    )
    for generator in KNOWN_GENERATORS
)
MAX_MATCHED_TEXT = 4096  # free text is searched in its first 4 KiB only (bounded regex work)


def generator(key: str) -> Generator:
    """A known generator by key (a programming error if unknown)."""
    return _BY_KEY[key]


def find_generator(text: str) -> Generator | None:
    """The first known generator (in table order) named in ``text``, if any."""
    sample = text[:MAX_MATCHED_TEXT]
    for known, pattern in _MATCHERS:
        if pattern.search(sample):
            return known
    return None


def clip(text: str, limit: int = MAX_SIGNAL_TEXT) -> str:
    """One line of at most ``limit`` characters (stored and shown; input is untrusted)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class GenerationSignal:
    """One sign that an image was made by an AI generator.

    ``source`` says where: ``png:parameters`` (a PNG text chunk), ``exif:Software``,
    ``xmp:CreatorTool``, ``xmp:Iptc4xmpExt:AISystemUsed``, ``watermark:sdxl`` ...;
    ``detail`` is the agency-facing sentence ("SDXL invisible watermark, 48/48 bits").
    Watermark signals carry their bit agreement (``bits_matched`` of ``bits_total``).
    """

    kind: SignalKind
    source: str
    generator: str
    strength: SignalStrength
    detail: str
    bits_matched: int | None = None
    bits_total: int | None = None

    @property
    def strong(self) -> bool:
        return self.strength is SignalStrength.STRONG


def strongest(signals: tuple[GenerationSignal, ...]) -> GenerationSignal | None:
    """The signal that decides: the first strong one, else the first weak one, else None."""
    return next((s for s in signals if s.strong), signals[0] if signals else None)
