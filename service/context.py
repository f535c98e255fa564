"""The service's long-lived objects, built once at start-up and passed down."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from indexer.blobs import BlobStore, open_blob_store
from indexer.blobs.layout import CONSENT_DOCUMENTS, EVIDENCE
from indexer.copies.detector import CopyDetector
from indexer.db import Database
from indexer.engine import FaceAnalyser
from indexer.index_manager import IndexManager
from indexer.registry import Registry
from indexer.runtime import open_database, open_runtime
from service.alerts.evidence import EvidenceStore
from service.core.metrics import Metrics
from service.core.settings import ServiceSettings
from service.licensing.consent import ConsentDocumentStore
from service.migrations.startup import prepare_schema
from service.scanning.pool import InferenceGate
from service.scanning.recording import RecordingSink
from service.scanning.scan import ScanPipeline
from service.takedowns.tracking import reopen_on_sighting

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    settings: ServiceSettings
    db: Database
    analyser: FaceAnalyser
    index: IndexManager
    registry: Registry
    evidence: EvidenceStore
    gate: InferenceGate
    metrics: Metrics
    blobs: BlobStore
    copies: CopyDetector
    ready: bool = False
    background_errors: list[str] = field(default_factory=list)

    def recording_sink(self) -> RecordingSink:
        return RecordingSink(
            db=self.db,
            evidence=self.evidence,
            metrics=self.metrics,
            precheck_creates_alerts=self.settings.precheck_creates_alerts,
            keep_alert_evidence=self.settings.keep_alert_evidence,
            evidence_retention_days=self.settings.evidence_retention_days,
            after_sighting=reopen_on_sighting,
            email_time_zone=self.settings.email_time_zone,
        )

    def pipeline(self) -> ScanPipeline:
        return ScanPipeline(
            settings=self.settings,
            analyser=self.analyser,
            index=self.index,
            gate=self.gate,
            metrics=self.metrics,
            sink=self.recording_sink(),
            copies=self.copies,
        )

    def consent_documents(self) -> ConsentDocumentStore:
        """Offline signed consent documents (a per-talent store, erased with the talent)."""
        return consent_documents(self.settings, self.blobs)

    def close(self) -> None:
        self.gate.shutdown()
        self.copies.close()  # the built portfolio index kept, for this machine's next start
        self.db.dispose()


def build_context(
    settings: ServiceSettings, *, analyser: FaceAnalyser | None = None, db: Database | None = None
) -> AppContext:
    """Open the database (its schema upgraded or checked by the migrations), load the model
    pack (unless one is given), recover the registry, open the index. Start-up
    reconciliation of the service's own files is separate (:func:`service.startup.reconcile`)."""
    blobs = open_blob_store(settings)
    evidence = EvidenceStore(blobs, EVIDENCE, orphan_grace_s=settings.blob_orphan_grace_s)
    db = db or open_database(settings, prepare_schema=prepare_schema)
    runtime = open_runtime(
        settings,
        db=db,
        analyser=analyser,
        other_talent_stores=[evidence, consent_documents(settings, blobs)],
        blobs=blobs,
    )
    log.info("blob store: %s", blobs.describe())
    metrics = Metrics()
    gate = InferenceGate(
        workers=settings.inference_workers,
        max_pending=settings.max_pending_inferences,
        max_per_key=settings.max_concurrent_per_key,
        retry_after_s=settings.retry_after_s,
        metrics=metrics,
    )
    return AppContext(
        settings,
        runtime.db,
        runtime.engine,
        runtime.index,
        runtime.registry,
        evidence,
        gate,
        metrics,
        blobs,
        runtime.copies,
    )


def consent_documents(settings: ServiceSettings, blobs: BlobStore) -> ConsentDocumentStore:
    return ConsentDocumentStore(
        blobs, CONSENT_DOCUMENTS, orphan_grace_s=settings.blob_orphan_grace_s
    )
