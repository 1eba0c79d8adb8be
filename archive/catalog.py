"""The catalog: SQLAlchemy models and the session factory. Schema changes go through Alembic.

No plaintext personal data here: client name and BSN are sealed under the dossier's data key,
page text is sealed, search tokens are keyed hashes, file names are opaque ids.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import (
    Boolean, Date, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint,
    create_engine, event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))


class Dossier(Base):
    __tablename__ = "dossiers"
    number: Mapped[str] = mapped_column(String(16), primary_key=True)
    coach: Mapped[str] = mapped_column(ForeignKey("users.name"))
    commissioner: Mapped[str | None] = mapped_column(String(128))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed | destroyed
    client_name_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    bsn_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class DataKey(Base):
    """A dossier's wrapped data key. Deleting this row is crypto-shredding."""

    __tablename__ = "data_keys"
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dossier: Mapped[str] = mapped_column(ForeignKey("dossiers.number"), unique=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CoverSheet(Base):
    __tablename__ = "cover_sheets"
    serial: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dossier: Mapped[str] = mapped_column(ForeignKey("dossiers.number"))
    doc_type: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    issued_by: Mapped[str] = mapped_column(String(64))
    first_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    times_used: Mapped[int] = mapped_column(Integer, default=0)


class Scan(Base):
    """One received file, known by its hash. The original file name is never stored."""

    __tablename__ = "scans"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    received_by: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="received")  # received|archived|quarantined|duplicate
    pages: Mapped[int | None] = mapped_column(Integer)
    source_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # scanner file name, for people only
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Document(Base):
    __tablename__ = "documents"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dossier: Mapped[str] = mapped_column(ForeignKey("dossiers.number"), index=True)
    doc_type: Mapped[str] = mapped_column(String(32))
    pages: Mapped[int] = mapped_column(Integer)
    scan_id: Mapped[str | None] = mapped_column(ForeignKey("scans.id"))
    cover_serial: Mapped[int | None] = mapped_column(ForeignKey("cover_sheets.serial"))
    scan_page: Mapped[int | None] = mapped_column(Integer)  # first page in the scan: a resumed scan skips what is filed
    scanned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    file_name: Mapped[str] = mapped_column(String(64))
    file_mac: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    low_text_pages: Mapped[int] = mapped_column(Integer, default=0)
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class PageText(Base):
    __tablename__ = "page_texts"
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    page: Mapped[int] = mapped_column(Integer, primary_key=True)
    confidence: Mapped[float] = mapped_column(Float)
    words: Mapped[int] = mapped_column(Integer)
    low_text: Mapped[bool] = mapped_column(Boolean, default=False)
    text_sealed: Mapped[bytes] = mapped_column(LargeBinary)


class SearchToken(Base):
    """Keyed hash of a normalised word (HMAC under the dossier's token key): no plaintext index."""

    __tablename__ = "search_tokens"
    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    page: Mapped[int] = mapped_column(Integer, primary_key=True)


class QuarantineItem(Base):
    __tablename__ = "quarantine_items"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    scan_id: Mapped[str | None] = mapped_column(ForeignKey("scans.id"))
    scan_page: Mapped[int | None] = mapped_column(Integer)
    reason_code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)  # written by us, never quotes content
    source_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # original file name + pages, sealed
    pages: Mapped[int | None] = mapped_column(Integer)
    blob_name: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | assigned | discarded
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(64))


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("prev_hash", name="uq_audit_chain"),)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(48))
    outcome: Mapped[str] = mapped_column(String(16))
    dossier: Mapped[str | None] = mapped_column(String(16), index=True)
    document: Mapped[str | None] = mapped_column(String(32))
    purpose: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Counter(Base):
    """Yearly sequence for dossier numbers (D-2026-0001)."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn, _record):
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # Deleted rows (shredded keys!) are overwritten, not left in free pages.
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()
    return engine


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def migrate(url: str) -> None:
    """Bring the catalog schema to the newest Alembic revision (safe to repeat)."""
    from alembic import command
    from alembic.config import Config

    here = Path(__file__).parent / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(here))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")
