"""Clients' rights, consent, disclosures and breaches (DESIGN.md §10): the tables and the pure rules.
Schema: migration 0005.

What outlives the data here: requests (kind, dates, outcome), consents and their withdrawals,
disclosures (to whom, for what, under which consent, the copy's hash) and the breach register.
They hold dossier numbers, staff names, dates, recipients and purposes; free text in them is
checked for personal data (archive.lifecycle.check_free_text) before it is stored. What belongs
to the client sits sealed under the dossier's data key and goes with it when it is shredded: the
old values a rectification replaced (FieldHistory) and correction notes on documents
(DocumentNote). Consents, withdrawals and disclosures are append-only: the database refuses
edits and deletions; a withdrawal is a new fact, not an edit of the consent.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import Date, DateTime, ForeignKey, Integer, LargeBinary, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from .catalog import Base, count_up, utcnow
from .errors import BadInput
from .keys import DossierKeys

REQUEST_KINDS = ("access", "rectification", "erasure")
REQUEST_CHANNELS = ("phone", "letter", "email")
REQUEST_OUTCOMES = ("done", "refused")
INFORMED_HOW = ("letter", "email", "phone", "in-person")
CORRECTABLE_FIELDS = ("client_name", "bsn")
REQUEST_DUE_SOON_DAYS = 7
BREACH_NOTIFY_HOURS = 72  # GDPR art. 33(1)


# ---- tables -------------------------------------------------------------------------------------


class RightsRequest(Base):
    """A client's request to see, correct or erase their data (GDPR art. 15–17), with its deadline.
    The row is the record that outlives the data: no name, no content."""

    __tablename__ = "rights_requests"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # R-2026-0001
    dossier: Mapped[str] = mapped_column(ForeignKey("dossiers.number"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # access | rectification | erasure
    via: Mapped[str | None] = mapped_column(String(16))  # phone | letter | email
    received: Mapped[dt.date] = mapped_column(Date)
    due: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done | refused
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    opened_by: Mapped[str] = mapped_column(String(64))
    extended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    extended_by: Mapped[str | None] = mapped_column(String(64))
    extension_reason: Mapped[str | None] = mapped_column(Text)  # checked free of personal data
    exported_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    export_sha256: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)  # checked free of personal data
    destruction_record: Mapped[int | None] = mapped_column(Integer)  # an erasure's destruction record


class FieldHistory(Base):
    """The value a rectification replaced, sealed under the dossier's data key (shredded with it)."""

    __tablename__ = "dossier_field_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dossier: Mapped[str] = mapped_column(ForeignKey("dossiers.number"), index=True)
    field: Mapped[str] = mapped_column(String(16))  # client_name | bsn
    old_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # None: the field was empty
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(64))
    request: Mapped[str | None] = mapped_column(String(16))


class DocumentNote(Base):
    """A correction note attached to an archived document (the scan itself is never altered)."""

    __tablename__ = "document_notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dossier: Mapped[str] = mapped_column(ForeignKey("dossiers.number"), index=True)
    document: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    text_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # None once the dossier is destroyed
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    request: Mapped[str | None] = mapped_column(String(16))


class Consent(Base):
    """The client's consent to give documents of some types to a recipient for a purpose (append-only)."""

    __tablename__ = "consents"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # C-2026-0001
    dossier: Mapped[str] = mapped_column(ForeignKey("dossiers.number"), index=True)
    purpose: Mapped[str] = mapped_column(String(64))  # e.g. cv-to-employer
    recipient: Mapped[str] = mapped_column(String(128))
    types: Mapped[str | None] = mapped_column(String(400))  # comma-separated; None: every document type
    given: Mapped[dt.date] = mapped_column(Date)
    until: Mapped[dt.date | None] = mapped_column(Date)
    document: Mapped[str | None] = mapped_column(String(32))  # the signed toestemmingsformulier
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(64))


class ConsentWithdrawal(Base):
    """The client withdrew a consent: inactive from `withdrawn_on` on (append-only)."""

    __tablename__ = "consent_withdrawals"
    consent: Mapped[str] = mapped_column(ForeignKey("consents.id"), primary_key=True)
    withdrawn_on: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(64))


class Disclosure(Base):
    """A watermarked copy of a document given to a third party under a consent (append-only)."""

    __tablename__ = "disclosures"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # V-2026-0001 (verstrekking)
    dossier: Mapped[str] = mapped_column(ForeignKey("dossiers.number"), index=True)
    document: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    doc_type: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(64))
    consent: Mapped[str] = mapped_column(ForeignKey("consents.id"))
    pages: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))  # of the watermarked copy handed out
    disclosed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disclosed_by: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(16))


class Breach(Base):
    """A personal-data breach: discovered when, the authority told by when (72 h) and when it was."""

    __tablename__ = "breaches"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # B-2026-0001
    discovered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    notify_by: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    summary: Mapped[str] = mapped_column(Text)  # checked free of personal data
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    opened_by: Mapped[str] = mapped_column(String(64))
    authority_notified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    authority_reference: Mapped[str | None] = mapped_column(String(64))
    delay_reason: Mapped[str | None] = mapped_column(Text)  # art. 33(1): why later than 72 h
    notified_recorded_by: Mapped[str | None] = mapped_column(String(64))


class BreachDossier(Base):
    """A dossier affected by a breach, and when and how its client was informed (art. 34)."""

    __tablename__ = "breach_dossiers"
    breach: Mapped[str] = mapped_column(ForeignKey("breaches.id"), primary_key=True)
    dossier: Mapped[str] = mapped_column(ForeignKey("dossiers.number"), primary_key=True)
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    added_by: Mapped[str] = mapped_column(String(64))
    informed_on: Mapped[dt.date | None] = mapped_column(Date)
    informed_how: Mapped[str | None] = mapped_column(String(16))
    informed_by: Mapped[str | None] = mapped_column(String(64))


# ---- ids ----------------------------------------------------------------------------------------

_ID_PREFIX = {"request": "R", "consent": "C", "disclosure": "V", "breach": "B"}
_ID = re.compile(r"^([RCVB])-(\d{4})-(\d{4,6})$")


def next_id(session: Session, kind: str, year: int) -> str:
    """The next id of `kind` in `year` (R-2026-0001): one atomic count-up, as for dossier numbers."""
    return f"{_ID_PREFIX[kind]}-{year:04d}-{count_up(session, f'{kind}-{year}'):04d}"


def parse_id(value: str, kind: str) -> str:
    """A request, consent, disclosure or breach id as typed (any case); BadInput otherwise."""
    clean = value.strip().upper()
    m = _ID.match(clean)
    prefix = _ID_PREFIX[kind]
    if not m or m.group(1) != prefix:
        shown = "".join(c if c.isprintable() else "?" for c in value)[:40]
        raise BadInput(f"'{shown}' is not a {kind} id; they look like {prefix}-2026-0001", f"bad-{kind}-id")
    return clean


# ---- deadlines (pure) ---------------------------------------------------------------------------


def add_months_clamped(day: dt.date, months: int) -> dt.date:
    """`day` plus whole calendar months; a day the target month lacks becomes its last day
    (31 January + 1 month = 28 or 29 February). Deadlines for answers move earlier, never later."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def request_due(received: dt.date) -> dt.date:
    """Answer within one month of receipt (GDPR art. 12(3))."""
    return add_months_clamped(received, 1)


def extended_due(received: dt.date) -> dt.date:
    """One month plus two further months (art. 12(3)), counted from receipt so a month end is not
    clamped twice: received 31 January 2024 → due 29 February, extended to 30 April (not 29 April)."""
    return add_months_clamped(received, 3)


def is_overdue(due: dt.date, today: dt.date, status: str = "open") -> bool:
    """Overdue from the day after the due date, while open."""
    return status == "open" and today > due


def due_soon(due: dt.date, today: dt.date, days: int = REQUEST_DUE_SOON_DAYS) -> bool:
    """Due within `days` days (or already overdue)."""
    return due <= today + dt.timedelta(days=days)


def notify_by(discovered_at: dt.datetime) -> dt.datetime:
    """The authority must be told within 72 hours of becoming aware (art. 33(1))."""
    return discovered_at + dt.timedelta(hours=BREACH_NOTIFY_HOURS)


def as_utc(t: dt.datetime | None) -> dt.datetime | None:
    """Stored times come back naive (SQLite) or aware (PostgreSQL): always aware UTC."""
    if t is None:
        return None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


# ---- consent (pure) -----------------------------------------------------------------------------


def same_party(a: str, b: str) -> bool:
    """Recipients compare without regard to case or spacing ("Bakkerij  de Vries" is "bakkerij De Vries")."""
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


@dataclass(frozen=True)
class ConsentFacts:
    id: str
    purpose: str
    recipient: str
    types: tuple[str, ...] | None  # None: every type
    given: dt.date
    until: dt.date | None
    withdrawn: dt.date | None

    def state(self, today: dt.date) -> str:
        """not-yet | active | expired | withdrawn, on `today`."""
        if self.withdrawn is not None and today >= self.withdrawn:
            return "withdrawn"
        if today < self.given:
            return "not-yet"
        if self.until is not None and today > self.until:
            return "expired"
        return "active"

    def covers_type(self, doc_type: str) -> bool:
        return self.types is None or doc_type in self.types


@dataclass(frozen=True)
class Coverage:
    consent: ConsentFacts | None  # the consent that allows it, or None
    reason: str  # ok | no-consent | other-purpose | other-type | withdrawn | expired | not-yet


def coverage(consents: list[ConsentFacts], *, recipient: str, purpose: str, doc_type: str, today: dt.date) -> Coverage:
    """Whether an active consent covers giving a document of `doc_type` to `recipient` for
    `purpose` on `today`; if not, the reason that is closest to the request (for the refusal)."""
    to_recipient = [c for c in consents if same_party(c.recipient, recipient)]
    for_purpose = [c for c in to_recipient if c.purpose == purpose]
    of_type = [c for c in for_purpose if c.covers_type(doc_type)]
    for c in of_type:
        if c.state(today) == "active":
            return Coverage(c, "ok")
    for state in ("withdrawn", "expired", "not-yet"):
        if any(c.state(today) == state for c in of_type):
            return Coverage(None, state)
    if for_purpose:
        return Coverage(None, "other-type")
    if to_recipient:
        return Coverage(None, "other-purpose")
    return Coverage(None, "no-consent")


def consent_facts(c: Consent, withdrawn: dt.date | None) -> ConsentFacts:
    return ConsentFacts(
        id=c.id,
        purpose=c.purpose,
        recipient=c.recipient,
        types=tuple(c.types.split(",")) if c.types else None,
        given=c.given,
        until=c.until,
        withdrawn=withdrawn,
    )


def consents_of(session: Session, number: str) -> list[ConsentFacts]:
    rows = session.execute(
        select(Consent, ConsentWithdrawal.withdrawn_on)
        .outerjoin(ConsentWithdrawal, ConsentWithdrawal.consent == Consent.id)
        .where(Consent.dossier == number)
        .order_by(Consent.recorded_at, Consent.id)
    ).all()
    return [consent_facts(c, w) for c, w in rows]


# ---- sealed data of the client ------------------------------------------------------------------


def add_history(
    session: Session, keys: DossierKeys, *, field: str, old: str | None, actor: str, request: str | None
) -> FieldHistory:
    """Keep the value a rectification replaces, sealed under the dossier's data key."""
    h = FieldHistory(dossier=keys.dossier, field=field, changed_by=actor, request=request)
    session.add(h)
    session.flush()  # the id is part of what the seal is bound to
    h.old_sealed = keys.seal_field(old, f"history:{h.id}")
    return h


def field_history(session: Session, keys: DossierKeys) -> list[dict]:
    rows = session.execute(
        select(FieldHistory).where(FieldHistory.dossier == keys.dossier).order_by(FieldHistory.id)
    ).scalars()
    return [
        {
            "field": h.field,
            "old_value": keys.open_field(h.old_sealed, f"history:{h.id}"),
            "changed_at": as_utc(h.changed_at).isoformat(),
            "changed_by": h.changed_by,
            "request": h.request,
        }
        for h in rows
    ]


def add_note(
    session: Session, keys: DossierKeys, *, document: str, text: str, actor: str, request: str | None
) -> DocumentNote:
    """Attach a correction note to a document, sealed under the dossier's data key."""
    n = DocumentNote(dossier=keys.dossier, document=document, created_by=actor, request=request)
    session.add(n)
    session.flush()
    n.text_sealed = keys.seal_field(text, f"note:{document}:{n.id}")
    return n


def notes_by_document(session: Session, keys: DossierKeys | None, number: str) -> dict[str, list[dict]]:
    """Correction notes of a dossier's documents, oldest first; the text only with the keys
    (None: who may list documents but not read them sees that a note exists, not what it says)."""
    out: dict[str, list[dict]] = {}
    rows = session.execute(
        select(DocumentNote).where(DocumentNote.dossier == number).order_by(DocumentNote.id)
    ).scalars()
    for n in rows:
        text = None
        if keys is not None and n.text_sealed is not None:
            text = keys.open_field(n.text_sealed, f"note:{n.document}:{n.id}")
        out.setdefault(n.document, []).append(
            {"note": n.id, "at": as_utc(n.created_at).isoformat(), "by": n.created_by, "text": text}
        )
    return out


def forget_client_data(session: Session, number: str) -> None:
    """When a dossier is shredded: its sealed history and notes are unreadable already; gone is better."""
    session.execute(
        update(FieldHistory)
        .where(FieldHistory.dossier == number)
        .values(old_sealed=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(DocumentNote)
        .where(DocumentNote.dossier == number)
        .values(text_sealed=None)
        .execution_options(synchronize_session=False)
    )


# ---- plain views --------------------------------------------------------------------------------


def request_dict(r: RightsRequest, today: dt.date) -> dict:
    return {
        "request": r.id,
        "dossier": r.dossier,
        "kind": r.kind,
        "via": r.via,
        "received": r.received.isoformat(),
        "due": r.due.isoformat(),
        "status": r.status,
        "overdue": is_overdue(r.due, today, r.status),
        "extended": r.extended_at is not None,
        "extension_reason": r.extension_reason,
        "opened_by": r.opened_by,
        "exported_at": as_utc(r.exported_at).isoformat() if r.exported_at else None,
        "closed_at": as_utc(r.closed_at).isoformat() if r.closed_at else None,
        "closed_by": r.closed_by,
        "note": r.note,
        "destruction_record": r.destruction_record,
    }


def consent_dict(c: ConsentFacts, today: dt.date, extra: dict | None = None) -> dict:
    state = c.state(today)
    return {
        "consent": c.id,
        "purpose": c.purpose,
        "recipient": c.recipient,
        "types": list(c.types) if c.types is not None else None,
        "given": c.given.isoformat(),
        "until": c.until.isoformat() if c.until else None,
        "withdrawn": c.withdrawn.isoformat() if c.withdrawn else None,
        "active": state == "active",
        "state": state,
        **(extra or {}),
    }


def disclosure_dict(x: Disclosure) -> dict:
    return {
        "disclosure": x.id,
        "dossier": x.dossier,
        "document": x.document,
        "type": x.doc_type,
        "recipient": x.recipient,
        "purpose": x.purpose,
        "consent": x.consent,
        "pages": x.pages,
        "sha256": x.sha256,
        "at": as_utc(x.disclosed_at).isoformat(),
        "by": x.disclosed_by,
        "channel": x.channel,
    }


def breach_dict(b: Breach, now: dt.datetime) -> dict:
    deadline = as_utc(b.notify_by)
    notified = as_utc(b.authority_notified_at)
    return {
        "breach": b.id,
        "discovered": as_utc(b.discovered_at).isoformat(),
        "notify_by": deadline.isoformat(),
        "summary": b.summary,
        "opened_by": b.opened_by,
        "notified": notified.isoformat() if notified else None,
        "reference": b.authority_reference,
        "delay_reason": b.delay_reason,
        "overdue": notified is None and now > deadline,
        "late": notified is not None and notified > deadline,
    }
