"""Tables of idempotent requests: the answer stored per key, and the talents it names."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from indexer.db import Base, UtcDateTime, id_column, key_ref, table_args, utcnow

TS = UtcDateTime


class IdempotencyRecord(Base):
    """The first answer to a create, kept under its key for replay. The key's owner is an
    API key (an ``Idempotency-Key`` header) or a console session (a one-time form token):
    exactly one of ``key_id`` and ``session_id`` is set, and the record goes with its owner."""

    __tablename__ = "idempotency_records"
    __table_args__ = table_args(
        UniqueConstraint("key_id", "idempotency_key", name="uq_idempotency"),
        UniqueConstraint("session_id", "idempotency_key", name="uq_idempotency_session"),
    )

    id: Mapped[int] = id_column()
    key_id: Mapped[int | None] = key_ref("api_keys.id", ondelete="CASCADE")
    session_id: Mapped[int | None] = key_ref("user_sessions.id", ondelete="CASCADE")
    idempotency_key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    talent_count: Mapped[int] = mapped_column(Integer, default=0)  # talents the answer names
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class IdempotencyTalent(Base):
    """A talent named in a stored idempotent answer: erasing the talent forgets the answer."""

    __tablename__ = "idempotency_talents"
    __table_args__ = table_args(
        UniqueConstraint("record_id", "talent_id", name="uq_idempotency_talent")
    )

    id: Mapped[int] = id_column()
    record_id: Mapped[int] = key_ref("idempotency_records.id", ondelete="CASCADE")
    talent_id: Mapped[int] = key_ref("talents.id", ondelete="CASCADE", index=True)
