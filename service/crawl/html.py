"""The images a person would see on an HTML page, as absolute URLs.

Read with Beautiful Soup (Python's own ``html.parser`` underneath: no native code), from
``<img src>`` and ``srcset`` (the largest candidate), ``<picture><source srcset>`` (the
largest candidate of the picture), ``og:image``/``twitter:image`` meta tags and JSON-LD
``image`` values; and the videos: ``<video src>``, each ``<video>``'s first ``<source src>``
and ``og:video``/``twitter:player:stream`` meta tags (issue 21). Relative URLs are
resolved against ``<base href>`` or the page's URL; only http(s) URLs are kept, each once,
in page order, at most ``limit``.

A hostile page costs only itself: a JSON-LD block nested deeper than
:data:`~service.rules.json_depth.MAX_JSON_DEPTH` is ignored like one that is not JSON (the
page's other images still count), and a ``<picture>``'s sources and image are its own
children (as HTML defines them), so deeply nested markup is read in one linear pass.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup, Tag
from bs4.exceptions import ParserRejectedMarkup

from service.crawl.errors import PageUnreadableError
from service.rules.json_depth import JsonTooDeepError, loads_bounded

log = logging.getLogger(__name__)

META_IMAGE_NAMES = frozenset(
    {"og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src"}
)
META_VIDEO_NAMES = frozenset(
    {"og:video", "og:video:url", "og:video:secure_url", "twitter:player:stream"}
)
JSON_LD_MAX_DEPTH = 8
_DESCRIPTOR = re.compile(r"^(\d+(?:\.\d+)?)([wx])$")


class ImageHint(StrEnum):
    """Where on the page an image URL was found."""

    IMG = "img"
    SRCSET = "srcset"
    PICTURE = "picture"
    META = "meta"
    JSON_LD = "json_ld"
    VIDEO = "video"  # <video src> or its <source src>
    META_VIDEO = "meta_video"  # og:video, twitter:player:stream


@dataclass(frozen=True)
class PageImage:
    url: str
    found_in: ImageHint


def largest_candidate(srcset: str) -> str | None:
    """The URL of a ``srcset``'s largest candidate (by width, else density), else the first."""
    best: tuple[int, float, str] | None = None
    for candidate in (c.strip() for c in srcset.split(",")):
        parts = candidate.split()
        if not parts:
            continue
        url, descriptor = parts[0], parts[1] if len(parts) > 1 else "1x"
        match = _DESCRIPTOR.match(descriptor)
        value = float(match.group(1)) if match else 0.0
        rank = (1 if match and match.group(2) == "w" else 0, value, url)
        if best is None or rank[:2] > best[:2]:
            best = rank
    return best[2] if best else None


def _img_url(img: Tag) -> tuple[str | None, ImageHint]:
    srcset = img.get("srcset")
    if isinstance(srcset, str) and (largest := largest_candidate(srcset)):
        return largest, ImageHint.SRCSET
    src = img.get("src")
    return (src if isinstance(src, str) else None), ImageHint.IMG


def _picture_url(picture: Tag) -> str | None:
    candidates = " , ".join(
        str(s.get("srcset"))
        for s in picture.find_all("source", recursive=False)
        if isinstance(s.get("srcset"), str)
    )
    img = picture.find("img", recursive=False)
    if isinstance(img, Tag) and isinstance(img.get("srcset"), str):
        candidates += " , " + str(img.get("srcset"))
    if candidates.strip(" ,"):
        return largest_candidate(candidates)
    return _img_url(img)[0] if isinstance(img, Tag) else None


def _json_ld_images(value: Any, depth: int = 0) -> Iterator[str]:
    if depth > JSON_LD_MAX_DEPTH:
        return
    if isinstance(value, list):
        for entry in value:
            yield from _json_ld_images(entry, depth + 1)
    elif isinstance(value, dict):
        for key, entry in value.items():
            if key == "image":
                yield from _image_values(entry)
            elif isinstance(entry, dict | list):
                yield from _json_ld_images(entry, depth + 1)


def _image_values(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for entry in value:
            yield from _image_values(entry)
    elif isinstance(value, dict):
        for key in ("contentUrl", "url"):
            if isinstance(value.get(key), str):
                yield value[key]
                break


def _in_picture(img: Tag) -> bool:
    """A ``<picture>``'s own image (its child), read with the picture's sources."""
    return img.parent is not None and img.parent.name == "picture"


def _meta_hint(name: str) -> ImageHint | None:
    if name in META_IMAGE_NAMES:
        return ImageHint.META
    return ImageHint.META_VIDEO if name in META_VIDEO_NAMES else None


def _video_url(video: Tag) -> str | None:
    """A ``<video>``'s own ``src``, else its first ``<source src>`` (its child)."""
    src = video.get("src")
    if isinstance(src, str) and src.strip():
        return src
    for source in video.find_all("source", recursive=False):
        value = source.get("src")
        if isinstance(value, str) and value.strip():
            return value
    return None


def _found(soup: BeautifulSoup) -> Iterator[tuple[str, ImageHint]]:
    for tag in soup.find_all("meta"):
        name = tag.get("property") or tag.get("name")
        content = tag.get("content")
        hint = _meta_hint(name.lower()) if isinstance(name, str) else None
        if hint is not None and isinstance(content, str):
            yield content, hint
    for video in soup.find_all("video"):
        url = _video_url(video)
        if url:
            yield url, ImageHint.VIDEO
    for picture in soup.find_all("picture"):
        url = _picture_url(picture)
        if url:
            yield url, ImageHint.PICTURE
    for img in soup.find_all("img"):
        if not _in_picture(img):
            url, hint = _img_url(img)
            if url:
                yield url, hint
    for script in soup.find_all("script", attrs={"type": "application/ld+json"}):
        try:
            data = loads_bounded(script.string or "")
        except JsonTooDeepError as exc:
            log.info("a JSON-LD block was ignored: %s", exc)
            continue
        except ValueError:
            continue
        for url in _json_ld_images(data):
            yield url, ImageHint.JSON_LD


def _read(html: str | bytes) -> tuple[BeautifulSoup, list[tuple[str, ImageHint]]]:
    """The parsed page and every image reference on it; ``page_unreadable`` if the parser
    refuses the markup (``<![x``) or it defeats the reader."""
    try:
        soup = BeautifulSoup(html, "html.parser")
        return soup, list(_found(soup))
    except (ParserRejectedMarkup, RecursionError) as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        raise PageUnreadableError(f"The page's HTML cannot be read: {lines[-1][:200]}") from None


def page_images(html: str | bytes, *, page_url: str, limit: int) -> list[PageImage]:
    """The page's images, absolute, de-duplicated, in page order, at most ``limit``;
    ``page_unreadable`` if its markup cannot be parsed."""
    soup, references = _read(html)
    base_tag = soup.find("base", href=True)
    base = urljoin(page_url, str(base_tag["href"])) if isinstance(base_tag, Tag) else page_url
    seen: set[str] = set()
    found: list[PageImage] = []
    for raw, hint in references:
        if not raw.strip() or raw.strip().startswith("#"):
            continue  # no image: the page itself
        url = urljoin(base, raw.strip()).split("#", 1)[0]
        if urlsplit(url).scheme not in ("http", "https") or url in seen:
            continue
        seen.add(url)
        found.append(PageImage(url, hint))
        if len(found) >= limit:
            break
    return found
