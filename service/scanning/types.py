"""Value types of the scan path: where an image was seen, where it comes from, what was found.

A leaf module: everything else in the scan path (recording, jobs, forms) imports these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from indexer.scanning import ImageScan
from indexer.video_scan import VideoScan
from service.rules.vocabulary import (
    AiLabel,
    Medium,
)
from service.scanning.provenance import Provenance


@dataclass(frozen=True)
class JobLink:
    """The batch-job item a scan is recorded for: the scan is keyed by ``item_id`` and
    ``complete`` finishes the item inside the scan's own transaction, so a re-run after a
    lease expired finds the item done instead of recording it twice; it is told whether the
    scan raised or updated an alert."""

    job_id: int
    item_id: int
    complete: Callable[[Session, int, AlertOutcome], None]  # (session, scan id, outcome)


@dataclass(frozen=True)
class UseContext:
    """Where and when an image was seen (scans) or is meant to be used (pre-checks).

    A pre-check may also state the intended ``medium`` and the ``ai_label`` the published
    asset will carry; a scan states neither (its image's own provenance says)."""

    page_url: str | None
    publisher: str | None
    observed_at: datetime
    channel: str | None
    territory: str | None
    use_until: datetime | None = None
    medium: Medium | None = None
    ai_label: AiLabel | None = None


@dataclass(frozen=True)
class ImageSource:
    data: bytes | None = None
    url: str | None = None


@dataclass(frozen=True)
class ImageAnalysis:
    """One scanned image or video: a video's ``scan`` has one face per track (the box at
    its best frame), in the order of ``video.tracks``, and no perceptual hash."""

    data: bytes
    scan: ImageScan
    provenance: Provenance
    phash: str | None
    video: VideoScan | None = None


class AlertOutcome(StrEnum):
    """What a job item's scan did to the alerts: raised a new one, added a sighting to one
    that existed, or neither (a monitor learns this, never why)."""

    RAISED = "raised"
    UPDATED = "updated"
    NONE = "none"
