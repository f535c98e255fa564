"""Periodic clean-up that the background workers run: expired idempotency records."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from indexer.db import Database, rows_changed, utcnow
from service.models import IdempotencyRecord

KEEP_RECORDS = timedelta(days=1)


def purge_idempotency_records(db: Database, *, older_than: timedelta = KEEP_RECORDS) -> int:
    """Forget Idempotency-Keys after a day (clients retry within minutes, not days)."""
    with db.session() as session:
        return rows_changed(session, delete(IdempotencyRecord).where(
            IdempotencyRecord.created_at < utcnow() - older_than))
