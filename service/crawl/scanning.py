"""`twinwatch scan-warc`: every image of a WARC archive through the same scan as
`twinwatch scan` (models loaded once, ``inference_workers`` threads, at most two images per
worker in memory), each reported with its URL, page, publisher and date."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from indexer.cli import scan_report
from indexer.errors import TwinwatchError
from indexer.formats import looks_like_video
from indexer.imaging import DecodeLimits
from indexer.listing import counted, listing, print_listing, summary_line
from indexer.pooling import ordered_map
from indexer.runtime import Runtime
from indexer.scanning import scan_bytes
from indexer.video import VideoLimits
from indexer.video_scan import scan_video, video_report
from service.crawl.warc import (
    SkippedRecord,
    WarcImage,
    WarcLimits,
    iter_warc_images,
)


@dataclass
class WarcScanReport:
    path: Path
    pack: dict[str, str] = field(default_factory=dict)
    images: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def failed(self) -> int:
        return sum(1 for image in self.images if "error" in image)

    def to_json(self) -> dict[str, Any]:
        return {
            "archive": str(self.path),
            "pack": self.pack,
            "images": self.images,
            "skipped": self.skipped,
            "wall_s": round(self.wall_s, 3),
        }


def _scan_image(rt: Runtime, image: WarcImage) -> dict[str, Any]:
    """One image's report (runs on a pool worker)."""
    context = {
        "uri": image.uri,
        "page_url": image.page_url,
        "publisher": image.publisher,
        "observed_at": image.observed_at.isoformat() if image.observed_at else None,
        "offset": image.offset,
        "revisit_of": image.revisit_of,
    }
    try:
        if looks_like_video(image.data):
            video = scan_video(
                image.data,
                analyser=rt.engine,
                index=rt.index,
                limits=VideoLimits.of(rt.settings),
                candidates_per_face=rt.settings.candidates_per_face,
            )
            report = video_report(image.uri, video)
            del report["path"]
            return {**context, **report}
        result = scan_bytes(
            image.data,
            analyser=rt.engine,
            index=rt.index,
            limits=DecodeLimits.of(rt.settings),
            candidates_per_face=rt.settings.candidates_per_face,
        )
    except TwinwatchError as exc:
        return {**context, "error": {"code": exc.code, "message": exc.message}}
    report = scan_report(Path(image.uri), result)
    del report["path"]
    return {**context, **report}


def scan_warc_file(
    rt: Runtime,
    path: Path,
    *,
    limits: WarcLimits,
    on_position: Callable[[int], None] = lambda _: None,
) -> WarcScanReport:
    """Scan the archive's images as they are read (``on_position``: bytes read so far)."""
    started = time.perf_counter()
    report = WarcScanReport(
        path, pack={"name": rt.engine.pack.name, "version": rt.engine.pack.version}
    )

    def images() -> Iterator[WarcImage]:
        for entry in iter_warc_images(path, limits=limits, on_position=on_position):
            if isinstance(entry, SkippedRecord):
                report.skipped.append(entry.to_json())
            else:
                yield entry

    for result in ordered_map(
        partial(_scan_image, rt), images(), workers=rt.settings.inference_workers
    ):
        report.images.append(result)
    report.wall_s = time.perf_counter() - started
    return report


def print_warc_table(out: Console, report: WarcScanReport) -> None:
    table = listing(
        "image URL",
        "page",
        "seen",
        "faces",
        "talents",
        title=f"{report.path.name} (model pack "
        f"{report.pack.get('name')}@{report.pack.get('version')})",
    )
    for image in report.images:
        faces, talents = _faces_and_talents(image)
        table.add_row(
            escape(image["uri"]),
            escape(image["page_url"] or "-"),
            (image["observed_at"] or "-")[:19],
            faces,
            escape(talents),
        )
    print_listing(out, table, warc_summary(report))


def _faces_and_talents(image: dict[str, Any]) -> tuple[str, str]:
    if "error" in image:
        return "-", f"error: {image['error']['message']}"
    found = image.get("tracks") or image.get("faces", [])  # a video's faces are tracks
    named = [
        f"{f['talent']['name']} ({f['talent']['similarity']:.2f})" for f in found if f["talent"]
    ]
    return str(len(found)), ", ".join(named) or "-"


def warc_summary(report: WarcScanReport) -> str:
    """``"4 images: 2 matched, 1 failed, 1 record skipped"``."""
    matched = sum(
        1
        for i in report.images
        if any(f["talent"] for f in (i.get("tracks") or i.get("faces", ())))
    )
    return summary_line(
        counted(len(report.images), "image") + ":",
        (matched, "matched"),
        (report.failed, "failed"),
        (len(report.skipped), "record skipped" if len(report.skipped) == 1 else "records skipped"),
    )
