"""Scanning an image end to end: fetch, analyse (in the inference pool), record."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from starlette.concurrency import run_in_threadpool

from indexer.copies.detector import CopyDetector
from indexer.engine import FaceAnalyser
from indexer.errors import TwinwatchError
from indexer.formats import GENERIC_MEDIA_TYPE, looks_like_video, media_type
from indexer.imaging import DecodeLimits, open_photo
from indexer.index_manager import IndexManager
from indexer.scanning import FaceFinding, ImageScan, scan_photo
from indexer.video import VideoLimits
from indexer.video_scan import scan_video
from service.core.fetching import FetchLimits, fetch_image
from service.core.metrics import Metrics
from service.core.principal import Principal
from service.core.settings import ServiceSettings
from service.rules.fingerprints import perceptual_hash
from service.rules.vocabulary import ScanKind
from service.scanning.generation import video_tag_signals
from service.scanning.pool import InferenceGate
from service.scanning.provenance import read_provenance
from service.scanning.recording import RecordingSink, record_scan
from service.scanning.types import ImageAnalysis, ImageSource, JobLink, UseContext

log = logging.getLogger(__name__)


def analyse_image(
    *,
    data: bytes,
    analyser: FaceAnalyser,
    index: IndexManager,
    settings: ServiceSettings,
    copies: CopyDetector | None = None,
) -> ImageAnalysis:
    """Decode, detect, embed, match, read provenance and fingerprint (blocking: run pooled).

    The models decode the photo at the JPEG reductions they need (see ``FacePhoto``); the
    generator-watermark reader needs the full-size pixels (its block grid), so they are
    decoded too, once, and the fingerprint is taken from them."""
    if looks_like_video(data):
        return analyse_video(data=data, analyser=analyser, index=index, settings=settings)
    photo = open_photo(data, limits=DecodeLimits.of(settings))
    scan = scan_photo(
        photo,
        analyser=analyser,
        index=index,
        candidates_per_face=settings.candidates_per_face,
        copies=copies,
    )
    full = photo.view(1).bgr
    provenance = read_provenance(
        data,
        mime_type=media_type(photo.source_format) or GENERIC_MEDIA_TYPE,
        trust_anchors_pem=settings.c2pa_trust_anchors_pem(),
        pixels=full,
    )
    phash = perceptual_hash(full)
    return ImageAnalysis(data, scan, provenance, phash)


def analyse_video(
    *, data: bytes, analyser: object, index: IndexManager, settings: ServiceSettings
) -> ImageAnalysis:
    """A video: face tracks (``indexer.video_scan``), each recorded as one face at its best
    frame with its time range, and the container's C2PA provenance (BMFF)."""
    video = scan_video(
        data,
        analyser=analyser,
        index=index,
        limits=VideoLimits.of(settings),
        candidates_per_face=settings.candidates_per_face,
    )
    faces = [
        FaceFinding(track.box, track.detection_score, track.candidates, track.talent)
        for track in video.tracks
    ]
    scan = ImageScan(
        video.sha256,
        video.width,
        video.height,
        video.info.media_type,
        video.pack,
        faces,
        video.timings,
    )
    provenance = read_provenance(
        data,
        mime_type=video.info.media_type,
        trust_anchors_pem=settings.c2pa_trust_anchors_pem(),
    )
    tagged = video_tag_signals(video.info.metadata)
    provenance = replace(provenance, ai_signals=(*tagged, *provenance.ai_signals))
    return ImageAnalysis(data, scan, provenance, None, video)


def fetch_limits(settings: ServiceSettings) -> FetchLimits:
    return FetchLimits(
        max_bytes=settings.max_upload_bytes,
        timeout_s=settings.fetch_timeout_s,
        max_redirects=settings.fetch_max_redirects,
        video_max_bytes=settings.video_max_bytes,
    )


async def load_source(source: ImageSource, *, settings: ServiceSettings) -> bytes:
    if source.data is not None:
        return source.data
    assert source.url is not None
    fetched = await fetch_image(
        source.url,
        limits=fetch_limits(settings),
        allow_private_networks=settings.fetch_allow_private_networks,
    )
    return fetched.data


@dataclass(frozen=True)
class ScanPipeline:
    """What scanning one image needs: the models, the index, the pool and the recorder."""

    settings: ServiceSettings
    analyser: FaceAnalyser
    index: IndexManager
    gate: InferenceGate
    metrics: Metrics
    sink: RecordingSink
    copies: CopyDetector | None = None  # the portfolio index (issue 22)


async def run_scan(
    *,
    pipeline: ScanPipeline,
    principal: Principal,
    kind: ScanKind,
    source: ImageSource,
    context: UseContext,
    job: JobLink | None = None,
) -> int:
    """Scan one image and record it; returns the scan id. Raises typed errors on bad input."""
    started = time.perf_counter()
    outcome = "error"
    try:
        with pipeline.gate.admitted(principal.key_id):
            data = await load_source(source, settings=pipeline.settings)
            analysis = await pipeline.gate.run(
                analyse_image,
                data=data,
                analyser=pipeline.analyser,
                index=pipeline.index,
                settings=pipeline.settings,
                copies=pipeline.copies,
            )
            scan_id = await run_in_threadpool(
                record_scan,
                sink=pipeline.sink,
                principal=principal,
                kind=kind,
                source_url=source.url,
                context=context,
                analysis=analysis,
                job=job,
            )
        outcome = "ok"
        for face in analysis.scan.faces:
            pipeline.metrics.faces.labels(face.band.value).inc()
        return scan_id
    except TwinwatchError as exc:
        outcome = exc.code
        raise
    finally:
        pipeline.metrics.scans.labels(kind, outcome).inc()
        pipeline.metrics.scan_latency.labels(kind).observe(time.perf_counter() - started)
