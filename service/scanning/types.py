"""Value types of the scan path: where an image was seen, where it comes from, what was found.

A leaf module: everything else in the scan path (recording, jobs, forms) imports these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from indexer.scanning import ImageScan
from service.scanning.provenance import Provenance


@dataclass(frozen=True)
class UseContext:
    """Where and when an image was seen (scans) or is meant to be used (pre-checks)."""

    page_url: str | None
    publisher: str | None
    observed_at: datetime
    channel: str | None
    territory: str | None
    use_until: datetime | None = None


@dataclass(frozen=True)
class ImageSource:
    data: bytes | None = None
    url: str | None = None


@dataclass(frozen=True)
class ImageAnalysis:
    data: bytes
    scan: ImageScan
    provenance: Provenance
    phash: str
