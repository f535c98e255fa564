"""The registry's tables (SQLAlchemy 2.x, portable between SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.engine import CursorResult, Dialect, Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)
BUSY_TIMEOUT_MS = 30_000
CHECKPOINT_WAIT_MS = 2_000  # an erasure's log checkpoint waits this long for readers


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


#: Every primary and foreign key: 64-bit on PostgreSQL (BIGINT); on SQLite the rowid alias
#: ``INTEGER PRIMARY KEY``, which is already 64-bit and is what AUTOINCREMENT requires.
BigId = BigInteger().with_variant(Integer, "sqlite")

#: The largest key any route accepts (a signed 64-bit integer).
MAX_ID = 2**63 - 1

#: Options for every table with an integer key: on SQLite, AUTOINCREMENT, so the id of a
#: deleted row is never handed out again (alerts, webhook deliveries, ...).
TABLE_OPTIONS: dict[str, Any] = {"sqlite_autoincrement": True}


def table_args(*items: Any) -> tuple[Any, ...]:
    """A table's ``__table_args__``: its constraints and indexes, plus :data:`TABLE_OPTIONS`."""
    return (*items, dict(TABLE_OPTIONS))


def id_column() -> Any:
    """A 64-bit, never-reused integer primary key (see :data:`BigId`)."""
    return mapped_column(BigId, primary_key=True, autoincrement=True)


def key_ref(target: str, *, ondelete: str, **kwargs: Any) -> Any:
    """A 64-bit foreign key to ``target`` ("table.id"), the same type as the key it names."""
    return mapped_column(BigId, ForeignKey(target, ondelete=ondelete), **kwargs)


class Base(DeclarativeBase):
    pass


class Agency(Base):
    __tablename__ = "agencies"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    talents: Mapped[list[Talent]] = relationship(back_populates="agency")


class Talent(Base):
    __tablename__ = "talents"
    # Two talents may share a name; the agency's external id identifies one.
    __table_args__ = table_args(
        UniqueConstraint("agency_id", "external_id", name="uq_talent_agency_external_id"),
    )

    id: Mapped[int] = id_column()
    agency_id: Mapped[int] = key_ref("agencies.id", ondelete="RESTRICT", index=True)
    name: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(200), default=None)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | paused
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    agency: Mapped[Agency] = relationship(back_populates="talents")
    references: Mapped[list[ReferenceImage]] = relationship(
        back_populates="talent",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ReferenceImage.id",
    )


class ReferenceImage(Base):
    """An accepted reference photo: its hash and quality figures, optionally a stored copy."""

    __tablename__ = "reference_images"
    __table_args__ = table_args(
        UniqueConstraint("talent_id", "sha256", name="uq_reference_talent_sha")
    )

    id: Mapped[int] = id_column()
    talent_id: Mapped[int] = key_ref("talents.id", ondelete="CASCADE", index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    face_x1: Mapped[float] = mapped_column(Float)
    face_y1: Mapped[float] = mapped_column(Float)
    face_x2: Mapped[float] = mapped_column(Float)
    face_y2: Mapped[float] = mapped_column(Float)
    detection_score: Mapped[float] = mapped_column(Float)
    face_px: Mapped[float] = mapped_column(Float)
    blur: Mapped[float] = mapped_column(Float)
    stored_path: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    talent: Mapped[Talent] = relationship(back_populates="references")
    embeddings: Mapped[list[Embedding]] = relationship(
        back_populates="reference", cascade="all, delete-orphan", passive_deletes=True
    )


class Embedding(Base):
    """The source of truth for the FAISS index: its id is the vector's id in the index."""

    __tablename__ = "embeddings"
    __table_args__ = table_args(
        UniqueConstraint("reference_image_id", "pack_name", name="uq_embedding_reference_pack"),
    )

    id: Mapped[int] = id_column()
    reference_image_id: Mapped[int] = key_ref("reference_images.id", ondelete="CASCADE", index=True)
    talent_id: Mapped[int] = key_ref("talents.id", ondelete="CASCADE", index=True)
    pack_name: Mapped[str] = mapped_column(String(100), index=True)
    pack_version: Mapped[str] = mapped_column(String(100))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32 little-endian, unit length
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    reference: Mapped[ReferenceImage] = relationship(back_populates="embeddings")


class IndexRevision(Base):
    """Bumped in the same transaction as any change that affects a pack's index."""

    __tablename__ = "index_revisions"

    pack_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)


def make_engine(url: str, **kwargs: Any) -> Engine:
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")  # deleted rows are zeroed, not left in free pages
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """An engine plus a session factory; ``create_all`` makes the schema if it is missing."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        Base.metadata.create_all(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    def forget_deleted(self) -> None:
        """After an erasure: SQLite's write-ahead log still holds the pages as they were
        before the delete; checkpoint it and truncate it to nothing, so the erased rows live
        nowhere on disk (``secure_delete`` has zeroed them in the database file). Best effort:
        a reader still inside an older snapshot keeps the log until the next erasure."""
        if self.engine.dialect.name != "sqlite":
            return
        with self.engine.connect() as connection:  # wait for readers 2 s, not 30
            connection.exec_driver_sql(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
            try:
                busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").scalar()
            finally:
                connection.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if busy:
            log.warning("write-ahead log busy: erased rows stay in it until the next checkpoint")

    def dispose(self) -> None:
        self.engine.dispose()


def bump_revisions(session: Session, pack_names: set[str]) -> None:
    """Mark these packs' indexes stale; call inside the transaction that changed them."""
    for pack_name in sorted(pack_names):
        row = session.get(IndexRevision, pack_name, with_for_update=True)
        if row is None:
            session.add(IndexRevision(pack_name=pack_name, revision=1))
        else:
            row.revision += 1


def rows_changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE/DELETE and return how many rows it changed (for compare-and-set claims)."""
    result = session.execute(statement)
    return int(cast(CursorResult[Any], result).rowcount)


def claim_oldest(
    session: Session, table: Any, claimable: Any, values: dict[str, Any]
) -> int | None:
    """Take the oldest row of ``table`` that ``claimable`` admits, setting ``values``: the
    candidate is picked with SKIP LOCKED, then changed only while still claimable (a
    compare-and-set, for databases without row locks). Its id, or None when there is
    none or another worker won the race."""
    candidate: int | None = session.scalar(
        select(table.id)
        .where(claimable)
        .order_by(table.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if candidate is None:
        return None
    statement = update(table).where(table.id == candidate, claimable).values(**values)
    return candidate if rows_changed(session, statement) == 1 else None


def current_revision(session: Session, pack_name: str) -> int:
    row = session.get(IndexRevision, pack_name)
    return row.revision if row else 0
