"""Intake mail in the quarantine (DESIGN.md §11): one item per message, captured exactly once.

Each message becomes a quarantine item with reason `mail-intake`: its pages (the attachments,
joined into one PDF) are the item's blob, so office staff preview and assign it like any other
item, and the whole message is sealed beside it (`QuarantineItem.message_blob`; for a message
without pages that is the item's only blob). Both are re-read and checked before the catalog
commit, the commit being what allows the mail to be deleted.

`mail_messages` remembers every copy seen in the mailbox, by UIDVALIDITY and UID (so a sweep
fetches each message once), with a capture key: a keyed hash (HMAC under the archive's
mail-capture key) of the message's SHA-256, its Message-ID and the UIDVALIDITY, so the same message
seen again under another UID is not stored twice. No subject, sender, Message-ID or name is
stored in plain text; the catalog holds ids, dates and keyed hashes. Schema: migration 0004.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import crypto
from .catalog import Base, QuarantineItem, utcnow
from .errors import IntegrityFailure
from .vault import Vault

REASON_CODE = "mail-intake"


class MailCopy(Base):
    """One message seen in the intake mailbox: where it was stored and when it goes (or went)."""

    __tablename__ = "mail_messages"
    __table_args__ = (UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_mail_messages_uid"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    capture_key: Mapped[str] = mapped_column(String(64), index=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("quarantine_items.id"))
    mailbox: Mapped[str] = mapped_column(String(255))  # imap[s]://user@host:port/MAILBOX (no password)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)  # IMAP numbers are 32-bit unsigned
    uid: Mapped[int] = mapped_column(BigInteger)
    arrived_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))  # INTERNALDATE
    delete_on: Mapped[dt.date] = mapped_column(Date)  # the fifth working day after arrival
    captured_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


def capture_key(vault: Vault, sha256: str, message_id: str | None, uidvalidity: int) -> str:
    return crypto.mac(vault.archive_key("mail-capture"), f"{sha256}\n{message_id or ''}\n{uidvalidity}".encode())


def stored_uids(session: Session, mailbox: str, uidvalidity: int) -> set[int]:
    """UIDs (of this mailbox and UIDVALIDITY) whose message is stored: committed, so they may be deleted when due."""
    return set(
        session.execute(
            select(MailCopy.uid).where(MailCopy.mailbox == mailbox, MailCopy.uidvalidity == uidvalidity)
        ).scalars()
    )


def reason_for(pages: int, attachments: int, unusable: list[str]) -> str:
    """Our words for the quarantine list: counts and reason codes, never the message's content."""
    if pages:
        text = (
            f"intake e-mail with {pages} page{'s' if pages != 1 else ''} from {attachments} "
            f"attachment{'s' if attachments != 1 else ''}: assign it to a dossier, or discard it; the message "
            "itself is kept with it"
        )
    else:
        text = "intake e-mail without attachments to file: read the message, then discard it"
    if unusable:
        text += (
            f" ({len(unusable)} attachment{'s' if len(unusable) != 1 else ''} could not be read as pages: "
            f"{', '.join(sorted(set(unusable)))}; see the message)"
        )
    return text


@dataclass(frozen=True)
class Sealed:
    """A message (and the PDF of its attachments) sealed in the quarantine folder and read back,
    not yet recorded: an orphan until record()'s transaction commits."""

    message: str  # the blob of the whole message
    pages: str | None  # the blob of the attachments' PDF, when there are pages

    def names(self) -> list[str]:
        return [n for n in (self.message, self.pages) if n]


def seal(vault: Vault, raw: bytes, pages_pdf: bytes | None) -> Sealed:
    """Encrypt, write and read back the message and its pages; before any catalog transaction, so
    the write lock is not held while the files are written."""
    written: list[str] = []
    try:
        message = vault.seal_quarantine_blob(raw)
        written.append(message)
        _check(vault, message, raw)
        pages = None
        if pages_pdf is not None:
            pages = vault.seal_quarantine_blob(pages_pdf)
            written.append(pages)
            _check(vault, pages, pages_pdf)
    except BaseException:
        vault.delete_quarantine_blobs(written)
        raise
    return Sealed(message, pages)


def record(
    vault: Vault,
    session: Session,
    sealed: Sealed,
    *,
    raw: bytes,
    message_id: str | None,
    mailbox: str,
    uidvalidity: int,
    uid: int,
    arrived_at: dt.datetime,
    delete_on: dt.date,
    pages: int,
    reason: str,
    label: str,
) -> tuple[MailCopy, bool]:
    """Record this copy of a message as a new quarantine item on the sealed files, unless an earlier
    copy (same capture key) was stored already. Returns (copy, True when a new item was made: the
    caller commits; otherwise the sealed files are not needed)."""
    key = capture_key(vault, hashlib.sha256(raw).hexdigest(), message_id, uidvalidity)
    earlier = session.execute(select(MailCopy).where(MailCopy.capture_key == key).limit(1)).scalar_one_or_none()
    where = dict(mailbox=mailbox, uidvalidity=uidvalidity, uid=uid, arrived_at=arrived_at, delete_on=delete_on)
    if earlier is not None:
        copy = MailCopy(capture_key=key, item_id=earlier.item_id, **where)
        session.add(copy)
        session.flush()
        return copy, False
    item = vault.add_quarantine_item(
        session,
        blob=sealed.pages or sealed.message,
        kind="pdf" if sealed.pages else "message",
        reason_code=REASON_CODE,
        reason=reason,
        scan_id=None,
        source_label=label,
        pages=pages if sealed.pages else 0,
    )
    item.message_blob = sealed.message
    copy = MailCopy(capture_key=key, item_id=item.id, **where)
    session.add(copy)
    session.flush()
    return copy, True


def _check(vault: Vault, name: str, expected: bytes) -> None:
    """Re-read and open what was written before anything counts as stored."""
    try:
        same = vault.quarantine_store().get(name) == expected
    except (OSError, crypto.DecryptionFailed):
        same = False
    if not same:
        raise IntegrityFailure(
            "the sealed copy of an intake message does not read back; nothing was deleted", "verify-failed"
        )


def mark_deleted(session: Session, mailbox: str, uidvalidity: int, uids: list[int]) -> list[str]:
    """Record the copies as deleted from the mailbox; returns their capture keys (for the audit log)."""
    now = utcnow()
    copies = (
        session.execute(
            select(MailCopy)
            .where(MailCopy.mailbox == mailbox, MailCopy.uidvalidity == uidvalidity, MailCopy.uid.in_(uids))
            .order_by(MailCopy.uid)
        )
        .scalars()
        .all()
    )
    for copy in copies:
        copy.deleted_at = now
    return [c.capture_key for c in copies]


def message_of(vault: Vault, item: QuarantineItem) -> bytes | None:
    """The whole sealed message of an intake item (for office staff to read), or None."""
    if item.message_blob is None:
        return None
    try:
        return vault.quarantine_store().get(item.message_blob)
    except FileNotFoundError:
        raise IntegrityFailure(
            f"the sealed message of item {item.id} is missing; restore it from backup", "missing"
        ) from None
    except crypto.DecryptionFailed:
        raise IntegrityFailure(f"the sealed message of item {item.id} was altered or damaged", "tampered") from None


def release_resolved(vault: Vault) -> list[str]:
    """Destroy the sealed messages of intake items that were assigned or discarded since: the pages
    live on in their dossier (under its key) or were rejected, and the mail is kept no longer than
    its item. The catalog forgets them first (committed), then the files go. Returns the item ids."""
    with vault.writer() as session:
        items = (
            session.execute(
                select(QuarantineItem).where(QuarantineItem.message_blob.is_not(None), QuarantineItem.status != "open")
            )
            .scalars()
            .all()
        )
        released = [(i.id, i.message_blob) for i in items]
        for item in items:
            item.message_blob = None
        session.commit()
    qstore = vault.quarantine_store()
    for _, blob in released:
        qstore.delete(blob)
    return [item_id for item_id, _ in released]


def mark_gone(session: Session, mailbox: str, uidvalidity: int, present: set[int]) -> int:
    """Copies no longer in the mailbox that we did not delete (removed by hand, or the mailbox was
    made anew): recorded as gone, so the mailbox's oldest message is told right."""
    gone = [
        c
        for c in session.execute(
            select(MailCopy).where(MailCopy.mailbox == mailbox, MailCopy.deleted_at.is_(None))
        ).scalars()
        if c.uidvalidity != uidvalidity or c.uid not in present
    ]
    now = utcnow()
    for copy in gone:
        copy.deleted_at = now
    return len(gone)


def oldest_in_mailbox(session: Session, mailbox: str) -> MailCopy | None:
    """The stored message that has waited longest in the mailbox (for `dossier status`)."""
    return session.execute(
        select(MailCopy)
        .where(MailCopy.mailbox == mailbox, MailCopy.deleted_at.is_(None))
        .order_by(MailCopy.arrived_at)
        .limit(1)
    ).scalar_one_or_none()


def mailbox_status(session: Session, mailbox: str) -> dict:
    """The mailbox's health for `dossier status`: the last sweep (when, ok or failed, its counts)
    and the stored message that has waited longest in `mailbox` (str of scanners.mailbox's
    address, e.g. "imaps://intake@mail.example:993/INBOX"), with its deletion day."""
    from .catalog import AuditEvent

    last = session.execute(
        select(AuditEvent).where(AuditEvent.action == "mail.sweep").order_by(AuditEvent.seq.desc()).limit(1)
    ).scalar_one_or_none()
    oldest = oldest_in_mailbox(session, mailbox)
    return {
        "last_sweep": None
        if last is None
        else {"at": last.at.isoformat(), "outcome": last.outcome, "detail": last.detail},
        "oldest": None
        if oldest is None
        else {
            "item": oldest.item_id,
            "arrived": oldest.arrived_at.isoformat(),
            "delete_on": oldest.delete_on.isoformat(),
        },
    }
