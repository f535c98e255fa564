"""Images kept as evidence for alerts (only those), per talent, with a retention period."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from indexer.db import Database, Talent, utcnow
from indexer.photos import PhotoStore
from service.core.tables.alerts import Alert, AlertSighting
from service.core.tables.scanning import Finding

log = logging.getLogger(__name__)


class EvidenceStore(PhotoStore):
    """``evidence/<talent_id>/<alert_id>-<sha256>`` in the blob store; erased with the
    talent."""

    def reconcile_with_alerts(self, db: Database) -> None:
        """Remove files no alert points at (e.g. written before a crashed commit)."""
        with db.session() as session:
            talent_ids = set(session.scalars(select(Talent.id)))
            kept = set(
                session.scalars(select(Alert.evidence_path).where(Alert.evidence_path.is_not(None)))
            )
        self.reconcile(talent_ids=talent_ids, stored_paths={p for p in kept if p})

    def purge_expired(self, db: Database, *, now: datetime | None = None) -> int:
        """Delete evidence past its retention date; the alert keeps its hashes and context."""
        now = now or utcnow()
        with db.session() as session:
            expired = list(
                session.execute(
                    select(Alert.id, Alert.evidence_path).where(
                        Alert.evidence_path.is_not(None), Alert.evidence_expires_at <= now
                    )
                )
            )
            if not expired:
                return 0
            session.execute(
                update(Alert)
                .where(Alert.id.in_([row[0] for row in expired]))
                .values(evidence_path=None)
            )
        for _, path in expired:
            if path:
                self.remove(path)
        log.info("purged %d expired evidence images", len(expired))
        return len(expired)


def latest_face_box(session: Session, alert_id: int) -> list[float] | None:
    """The face box of the alert's newest sighting (in its kept image), if it has one."""
    box = session.scalar(
        select(Finding.box)
        .join(AlertSighting, AlertSighting.finding_id == Finding.id)
        .where(AlertSighting.alert_id == alert_id)
        .order_by(AlertSighting.id.desc())
        .limit(1)
    )
    return list(box) if box else None
