"""Periodic clean-up that the background workers run: expired idempotency records; and
forgetting stored idempotent answers that name an erased talent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from indexer.db import Database, rows_changed, utcnow
from service.core.tables.idempotency import IdempotencyRecord, IdempotencyTalent

KEEP_RECORDS = timedelta(days=1)


def purge_idempotency_records(db: Database, *, older_than: timedelta = KEEP_RECORDS) -> int:
    """Forget Idempotency-Keys after a day (clients retry within minutes, not days), and at
    once those whose answer names a talent erased without the hook."""
    with db.session() as session:
        return rows_changed(
            session,
            delete(IdempotencyRecord)
            .where((IdempotencyRecord.created_at < utcnow() - older_than) | _names_erased_talent())
            .execution_options(synchronize_session=False),
        )


def forget_talent_answers(session: Session, talent_id: int) -> None:
    """Erasure hook: delete every stored answer that names the talent (same transaction)."""
    named = select(IdempotencyTalent.record_id).where(IdempotencyTalent.talent_id == talent_id)
    session.execute(
        delete(IdempotencyRecord)
        .where(IdempotencyRecord.id.in_(named))
        .execution_options(synchronize_session=False)
    )


def names_erased_talent(session: Session, record: IdempotencyRecord) -> bool:
    return bool(
        session.scalar(select(_names_erased_talent()).where(IdempotencyRecord.id == record.id))
    )


def _names_erased_talent() -> ColumnElement[bool]:
    """Fewer talent links than talents named: one was erased (its links went with it)."""
    links = (
        select(func.count())
        .select_from(IdempotencyTalent)
        .where(IdempotencyTalent.record_id == IdempotencyRecord.id)
        .scalar_subquery()
    )
    return IdempotencyRecord.talent_count > links
