"""The catalog: SQLAlchemy models and the session factory. Schema changes go through Alembic.

No plaintext personal data here: client name and BSN are sealed under the dossier's data key,
page text is sealed, search tokens are keyed hashes, file names are opaque ids.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))
    # Logging in to the web app (services/auth.py, migration 0006). The TOTP secret is sealed under
    # the archive's web-auth key; codes at or before totp_last_step are refused (each code once).
    password_hash: Mapped[str | None] = mapped_column(String(255))
    totp_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # A one-time set-up link (hash of its token only) for the first login or after a reset.
    setup_token_hash: Mapped[str | None] = mapped_column(String(64))
    setup_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    """A web app session. The cookie holds the id; only its SHA-256 is stored. stage: 'password'
    (the password was right, the code is next), 'enrol' (setting up password and authenticator
    through a set-up link) or 'full'."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    address: Mapped[str | None] = mapped_column(String(64))
    # Credentials being set up in this session, not yet confirmed with a code (sealed JSON): the
    # user's own stay as they are until then, so an abandoned set-up changes nothing.
    pending_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)


class LoginFailure(Base):
    """A failed login attempt, by a keyed hash of the name typed (it may be a password typed in the
    wrong field, or a name that is no user): what the lock after 5 failures counts."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name_key: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class RecoveryCode(Base):
    """One-time codes for a lost phone, stored as keyed hashes; used ones are deleted."""

    __tablename__ = "recovery_codes"
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name"), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


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
    bsn_lookup: Mapped[str | None] = mapped_column(String(64), index=True)  # keyed hash, for `find --bsn`
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
    source_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # scanner file name, while it is processed
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # A scan made to file a quarantined item by hand (migration 0007).
    assign_item: Mapped[str | None] = mapped_column(String(16), index=True)
    assign_dossier: Mapped[str | None] = mapped_column(String(16))
    assign_type: Mapped[str | None] = mapped_column(String(32))


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
    # Intake mail: the whole message, sealed beside the pages (the same blob when it has no pages).
    message_blob: Mapped[str | None] = mapped_column(String(64))
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
    channel: Mapped[str | None] = mapped_column(String(16))  # cli | web | watch | system
    address: Mapped[str | None] = mapped_column(String(64))  # the web client's address
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ArchiveKey(Base):
    """Purpose 'master': which master key this catalog belongs to (compared on every command).
    Other purposes: random keys of the archive itself, stored wrapped under the master key."""

    __tablename__ = "archive_keys"
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32))
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    bound_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Counter(Base):
    """Yearly sequence for dossier numbers (D-2026-0001), counted up atomically (Vault.allocate_number)."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


# Execution option that makes a connection's transactions writers (see make_engine, Vault.writer).
WRITER = "dossier_writer"


def make_engine(url: str) -> Engine:
    """An engine for the catalog, SQLite (the embedded default) or PostgreSQL (psycopg 3).

    SQLite: a transaction on a connection with the WRITER execution option begins with
    `BEGIN IMMEDIATE`, so it holds the write lock before it reads anything and what it reads is
    current (busy_timeout lets it wait its turn). Other transactions keep the sqlite3 driver's
    default, which begins a transaction only at the first write: reads before it see the newest
    data, and the write itself waits for the lock. A real deferred `BEGIN` for those would pin a
    read snapshot, and a write after someone else's commit would then fail at once with "database
    is locked" (SQLITE_BUSY_SNAPSHOT, which no timeout helps), so writers must use the WRITER option.
    PostgreSQL: datetimes come back in UTC, as SQLite gives them.
    """
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    connect_args = {"options": "-c TimeZone=UTC"} if url.startswith("postgresql") else {}
    engine = create_engine(url, connect_args=connect_args)
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

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            if conn.get_execution_options().get(WRITER):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def session_factory(engine: Engine, *, writer: bool = False) -> sessionmaker:
    bind = engine.execution_options(**{WRITER: True}) if writer else engine
    return sessionmaker(bind, expire_on_commit=False)


def serialise(session: Session, name: str) -> None:
    """Hold, until the session's transaction ends, the lock that orders every writer of `name`.

    After this, reads in the transaction see every earlier writer's commit, and no other writer
    of `name` gets past this call until this transaction commits or rolls back.
    SQLite has one lock for the whole database: a writer() transaction holds it from its BEGIN
    IMMEDIATE; in a plain session the driver opened a transaction at the first write, which took
    it; with no transaction open yet, BEGIN IMMEDIATE takes it now (waiting up to busy_timeout).
    PostgreSQL: a transaction-scoped advisory lock on `name`, so writers on several machines queue.
    """
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        if not conn.connection.dbapi_connection.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(name)})
    else:
        raise NotImplementedError(f"no writer lock for the {conn.dialect.name} dialect")


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for an advisory lock name."""
    return int.from_bytes(hashlib.sha256(f"dossier:{name}".encode()).digest()[:8], "big", signed=True)


def count_up(session: Session, name: str) -> int:
    """The next value of the named counter: one atomic count-up, so concurrent callers never get
    the same value or fail (the UPDATE holds the row until the caller's transaction ends)."""
    insert_if_missing(session, Counter, name=name, value=0)
    return session.execute(
        update(Counter)
        .where(Counter.name == name)
        .values(value=Counter.value + 1)
        .returning(Counter.value)
        .execution_options(synchronize_session=False)
    ).scalar_one()


def insert_if_missing(session: Session, model, **values) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on the primary key: a row that may already be there."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise NotImplementedError(f"no upsert for the {dialect} dialect")
    session.execute(insert(model).values(**values).on_conflict_do_nothing())


def _migrations() -> Path:
    return Path(__file__).parent / "migrations"


# The newest revision in migrations/versions; a test holds it equal to Alembic's own head. Every
# command checks the catalog against it, and reading Alembic's scripts for that took a third of
# a CLI command's start.
SCHEMA_HEAD = "0008"


def schema_state(engine: Engine) -> str:
    """'current' when the catalog's schema is SCHEMA_HEAD; 'older' when migrations of this program
    bring it there; 'newer' when a newer version of the program wrote it (upgrade the program)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return "older"
        current = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    if current == {SCHEMA_HEAD}:
        return "current"
    from alembic.script import ScriptDirectory  # the rare path: only now read the scripts

    known = {s.revision for s in ScriptDirectory.from_config(alembic_config("")).walk_revisions()}
    return "older" if current <= known else "newer"


def migrate(url: str) -> None:
    """Bring the catalog schema to the newest Alembic revision (safe to repeat)."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_migrations()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg
