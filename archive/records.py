"""Records-management tables (DESIGN.md §5), on the catalog's metadata: paper files and their
history, legal holds, and destruction records that outlive the data. Schema: migration 0002.

Nothing here holds client content: dossier numbers, locations, staff names, dates and counts.
Free text (hold and erasure reasons, witnesses, methods) is checked before it is stored
(archive.retention.personal_data_problem). Paper history and destruction records are
append-only: the database refuses updates and deletions, as for the audit log.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .catalog import Base, utcnow


class PaperFile(Base):
    """The paper dossier: where it is now, and who has it."""

    __tablename__ = "paper_files"
    dossier: Mapped[str] = mapped_column(ForeignKey("dossiers.number"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="in-cabinet")  # in-cabinet | checked-out | destroyed
    room: Mapped[str] = mapped_column(String(64))
    cabinet: Mapped[str] = mapped_column(String(64))
    shelf: Mapped[str | None] = mapped_column(String(64))
    holder: Mapped[str | None] = mapped_column(String(64))
    due: Mapped[dt.date | None] = mapped_column(Date)
    checked_out_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    registered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    registered_by: Mapped[str] = mapped_column(String(64))
    destroyed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class PaperEvent(Base):
    """One step in a paper file's life: register, move, checkout, checkin, destroy (append-only)."""

    __tablename__ = "paper_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dossier: Mapped[str] = mapped_column(String(16), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    room: Mapped[str | None] = mapped_column(String(64))
    cabinet: Mapped[str | None] = mapped_column(String(64))
    shelf: Mapped[str | None] = mapped_column(String(64))
    holder: Mapped[str | None] = mapped_column(String(64))
    due: Mapped[dt.date | None] = mapped_column(Date)


class LegalHold(Base):
    """A hold blocks all destruction of a dossier, digital and paper, until it is released."""

    __tablename__ = "legal_holds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dossier: Mapped[str] = mapped_column(ForeignKey("dossiers.number"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    placed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    placed_by: Mapped[str] = mapped_column(String(64))
    released_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    released_by: Mapped[str | None] = mapped_column(String(64))


class DestructionRecord(Base):
    """Proof that (part of) a dossier was destroyed, kept after the data are gone (append-only).

    scope 'digital': the data key shredded (key_id) and the counts of what went with it.
    scope 'paper':   the paper file, with who destroyed it, the witness or certificate, the method.
    """

    __tablename__ = "destruction_records"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dossier: Mapped[str] = mapped_column(String(16), index=True)
    scope: Mapped[str] = mapped_column(String(16))  # digital | paper
    rule: Mapped[str] = mapped_column(String(16))  # retention | erasure
    rule_text: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)  # erasure: why (checked free of personal data)
    end_date: Mapped[dt.date | None] = mapped_column(Date)  # trajectory end, when known
    trigger_date: Mapped[dt.date] = mapped_column(Date)  # the due date, or the day erasure was decided
    authorised_by: Mapped[str] = mapped_column(String(64))
    performed_by: Mapped[str] = mapped_column(String(128))
    recorded_by: Mapped[str] = mapped_column(String(64))
    performed_on: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    key_id: Mapped[str | None] = mapped_column(String(32))
    documents: Mapped[int | None] = mapped_column(Integer)
    pages: Mapped[int | None] = mapped_column(Integer)
    files: Mapped[int | None] = mapped_column(Integer)
    page_texts: Mapped[int | None] = mapped_column(Integer)
    search_tokens: Mapped[int | None] = mapped_column(Integer)
    witness: Mapped[str | None] = mapped_column(String(128))
    certificate: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str | None] = mapped_column(String(128))
