"""The service's long-lived objects, built once at start-up and passed down."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from indexer.db import Database
from indexer.engine import FaceAnalyser
from indexer.index_manager import IndexManager
from indexer.photos import PhotoStore
from indexer.registry import Registry
from indexer.runtime import open_database
from service.evidence import EvidenceStore
from service.limits import InferenceGate
from service.metrics import Metrics
from service.settings import ServiceSettings

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
    ready: bool = False
    background_errors: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.gate.shutdown()
        self.db.dispose()


def build_context(settings: ServiceSettings, *, analyser: FaceAnalyser | None = None,
                  db: Database | None = None) -> AppContext:
    """Open the database, load the model pack (unless one is given), recover, open the index."""
    from indexer.engine import load_engine
    from service import models  # noqa: F401  (registers the service's tables before create_all)
    from service.jobs import reconcile_uploads  # (jobs -> scan_service -> context)

    db = db or open_database(settings)
    db.create_all()
    analyser = analyser or load_engine(settings)
    index = IndexManager(db=db, pack=analyser.pack, settings=settings)
    evidence = EvidenceStore(settings.evidence_dir())
    registry = Registry(db=db, analyser=analyser, index=index,
                        photos=PhotoStore(settings.photos_dir()), settings=settings,
                        other_talent_stores=[evidence])
    metrics = Metrics()
    gate = InferenceGate(workers=settings.inference_workers,
                         max_pending=settings.max_pending_inferences,
                         max_per_key=settings.max_concurrent_per_key,
                         retry_after_s=settings.retry_after_s, metrics=metrics)
    context = AppContext(settings, db, analyser, index, registry, evidence, gate, metrics)
    registry.recover()
    evidence.reconcile_with_alerts(db)
    reconcile_uploads(db, settings.job_uploads_dir())
    context.ready = True
    return context
