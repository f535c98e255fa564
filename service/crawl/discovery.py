"""What a watch's documents point at: a page's links (site watches), a sitemap's pages and
child sitemaps, a feed's entries.

Sitemaps are read with ``defusedxml`` (no entities, no DTDs, no external references), after a
``.gz`` body is decompressed up to a bound; feeds with ``feedparser``, after the same bound on
bytes. Every list is cut at a count: what was cut is counted, never read.
"""

from __future__ import annotations

import gzip
import io
import logging
import zlib
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit
from xml.etree.ElementTree import Element

import feedparser
from bs4 import BeautifulSoup, Tag
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from service.licensing.publishers import parse_location

log = logging.getLogger(__name__)
SITEMAP_MEDIA_TYPES = frozenset(
    {
        "application/xml",
        "text/xml",
        "application/gzip",
        "application/x-gzip",
        "application/octet-stream",
        "text/plain",
    }
)
FEED_MEDIA_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/xml",
        "text/xml",
        "application/rdf+xml",
    }
)
GZIP_MAGIC = b"\x1f\x8b"
URL_MAX = 2048


class DiscoveryError(ValueError):
    """A sitemap or feed that cannot be read (reported on the run; the run goes on)."""


@dataclass
class Found:
    """URLs found in one document, at most ``limit``; ``dropped`` counts the rest."""

    limit: int
    urls: list[str] = field(default_factory=list)
    dropped: int = 0

    def add(self, url: str) -> None:
        if len(self.urls) < self.limit:
            self.urls.append(url)
        else:
            self.dropped += 1


def normalised(url: str, base: str | None = None) -> str | None:
    """An absolute http(s) URL without its fragment (one page, however it is linked), or
    None for anything else."""
    raw = url.strip()
    if not raw or len(raw) > URL_MAX:
        return None
    try:
        parts = urlsplit(urljoin(base, raw) if base else raw)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path or "/", parts.query, ""))


def registrable(url: str) -> str | None:
    """The registrable domain of ``url`` (a site watch stays within it)."""
    location = parse_location(url)
    return location.registered if location is not None else None


def page_links(html: bytes, *, page_url: str, limit: int) -> tuple[str | None, list[str]]:
    """The page's canonical URL (``<link rel=canonical>``) and its ``<a href>`` links,
    absolute, without fragments, de-duplicated, at most ``limit``."""
    soup = BeautifulSoup(html, "html.parser")
    canonical = None
    for tag in soup.find_all("link", href=True):
        rel = tag.get("rel")
        if isinstance(tag, Tag) and isinstance(rel, list) and "canonical" in rel:
            canonical = normalised(str(tag["href"]), page_url)
            break
    links: dict[str, None] = {}
    for anchor in soup.find_all("a", href=True):
        url = normalised(str(anchor["href"]), page_url)
        if url is not None:
            links[url] = None
            if len(links) >= limit:
                break
    return canonical, list(links)


def unpacked(data: bytes, *, max_bytes: int) -> bytes:
    """``data``, gunzipped if it is gzip (at most ``max_bytes`` out: a bomb stops there)."""
    if not data.startswith(GZIP_MAGIC):
        return data
    out = bytearray()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as reader:
            while chunk := reader.read(64 * 1024):
                out += chunk
                if len(out) > max_bytes:
                    raise DiscoveryError(f"the sitemap is over {max_bytes:,} bytes unpacked")
    except (OSError, EOFError, zlib.error) as exc:
        raise DiscoveryError(f"the gzip body cannot be read: {exc}") from None
    return bytes(out)


@dataclass
class Sitemap:
    """A sitemap's pages, or (an index) its child sitemaps."""

    pages: Found
    children: Found


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_sitemap(data: bytes, *, base: str, max_bytes: int, limit: int) -> Sitemap:
    """The ``<loc>`` entries of a sitemap (``<urlset>``) or sitemap index
    (``<sitemapindex>``), gzipped or not."""
    text = unpacked(data, max_bytes=max_bytes)
    try:
        root: Element = fromstring(text, forbid_dtd=True)
    except (DefusedXmlException, SyntaxError, ValueError) as exc:
        raise DiscoveryError(f"the sitemap is not readable XML: {str(exc)[:200]}") from None
    found = Sitemap(pages=Found(limit), children=Found(limit))
    target = found.children if _local(root.tag) == "sitemapindex" else found.pages
    for entry in root:
        for child in entry:
            if _local(child.tag) == "loc" and child.text:
                url = normalised(child.text, base)
                if url is not None:
                    target.add(url)
    return found


def read_feed(data: bytes, *, base: str, limit: int) -> Found:
    """The links of an RSS or Atom feed's entries."""
    parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    if parsed.get("bozo") and not parsed.get("entries"):
        problem = parsed.get("bozo_exception")
        raise DiscoveryError(f"the feed is not readable: {str(problem)[:200]}")
    found = Found(limit)
    for entry in parsed.get("entries", []):
        link = entry.get("link")
        url = normalised(link, base) if isinstance(link, str) else None
        if url is not None:
            found.add(url)
    return found
