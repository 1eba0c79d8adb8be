"""Append-only, hash-chained audit log (NEN 7513-style fields), DESIGN.md §5 and §12.

Each event's link covers its fields and the previous event's link, so editing, deleting or
reordering any event breaks the chain from that point on. Events carry ids, never content.

The links are HMACs under the archive's audit key (a random key stored wrapped under the master
key, Vault.audit_chain), so whoever can write the catalog but has no master key cannot re-chain
an edited event. An archive whose log began before the key existed keeps the plain SHA-256 links
of those first events: the key's sealed value says from which event on the links are keyed
(`ChainKey.starts_at`, so it cannot be moved without the master key either), and the first keyed
link covers the last plain one, so none of them can change unnoticed. Removing the newest events
is found against the witness file (archive/witness.py).

Appending is serialised (catalog.serialise): the head is read only once this transaction holds
the chain's lock, so concurrent writers, on one machine or several, queue instead of forking the
chain; the unique prev_hash stays as the database's own guard.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from .catalog import AuditEvent, serialise, utcnow

GENESIS = "0" * 64


@dataclass(frozen=True)
class ChainKey:
    """The audit key and the first event linked under it."""

    key: bytes
    starts_at: int

    def keys(self, seq: int) -> bool:
        return seq >= self.starts_at


def _digest(prev_hash: str, fields: dict, chain: ChainKey | None = None) -> str:
    canonical = (prev_hash + json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)).encode()
    if chain is not None and chain.keys(fields["seq"]):
        return hmac.new(chain.key, canonical, hashlib.sha256).hexdigest()
    return hashlib.sha256(canonical).hexdigest()


def chain_of(session: Session) -> ChainKey | None:
    """The audit key of the catalog this session belongs to (the Vault's sessions carry a getter);
    None for a bare session on a catalog without one (tests of the chain itself)."""
    getter: Callable[[], ChainKey | None] | None = session.info.get("audit_chain")
    return getter() if getter is not None else None


def _fields(e: AuditEvent) -> dict:
    # SQLite gives naive UTC back, PostgreSQL an aware time in the session's zone: hash it in UTC.
    at = e.at.astimezone(dt.UTC) if e.at.tzinfo else e.at.replace(tzinfo=dt.UTC)
    return {
        "seq": e.seq,
        "at": at.isoformat(),
        "actor": e.actor,
        "role": e.role,
        "action": e.action,
        "outcome": e.outcome,
        "dossier": e.dossier,
        "document": e.document,
        "purpose": e.purpose,
        "detail": e.detail,
        # Added later (migration 0003): part of the hash only when set, so older links still verify.
        **({"channel": e.channel} if e.channel is not None else {}),
        **({"address": e.address} if e.address is not None else {}),
    }


def record(
    session: Session,
    *,
    actor: str,
    role: str | None,
    action: str,
    outcome: str = "ok",
    dossier: str | None = None,
    document: str | None = None,
    purpose: str | None = None,
    detail: str | None = None,
    channel: str | None = None,
    address: str | None = None,
    chain: ChainKey | None = None,
) -> AuditEvent:
    """Add an event inside the caller's transaction, so it commits (or not) with what it describes.
    The channel and address default to what the caller's unit of work put in `session.info`; the
    audit key to the catalog's (`chain` only while that key is being made).

    From here until the caller commits, this transaction holds the chain's lock: call it when the
    work it describes is done, not before long work.
    """
    channel = channel or session.info.get("audit_channel")
    address = address or session.info.get("audit_address")
    chain = chain or chain_of(session)
    serialise(session, "audit-chain")
    last = session.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one_or_none()
    event = AuditEvent(
        seq=(last.seq + 1) if last else 1,
        at=utcnow(),
        actor=actor,
        role=role,
        action=action,
        outcome=outcome,
        dossier=dossier,
        document=document,
        purpose=purpose,
        detail=detail,
        channel=channel,
        address=address,
        prev_hash=last.hash if last else GENESIS,
    )
    event.hash = _digest(event.prev_hash, _fields(event), chain)
    session.add(event)
    session.flush()  # the unique prev_hash would stop a fork here, should anything bypass the lock
    return event


def record_now(target, attempts: int = 3, **kw) -> None:
    """Record an event and commit it at once: refusals and failures, which must be logged although
    the command that met them is not carried out.

    `target` is a session factory (Vault.writer or Vault.sessions): the event gets a transaction of
    its own. Or it is the caller's Session, which has changed nothing yet: the event is recorded
    and committed in it. Use that inside a writer() session, whose lock a second transaction on
    SQLite would wait for in vain. A locked catalog is retried a few times, then the error is raised.
    """
    if isinstance(target, Session):
        record(target, **kw)
        target.commit()
        return
    for attempt in range(attempts):
        with target() as session:
            try:
                record(session, **kw)
                session.commit()
                return
            except (IntegrityError, OperationalError):
                session.rollback()
                if attempt == attempts - 1:
                    raise
        time.sleep(0.1 * (attempt + 1))


@dataclass
class ChainReport:
    ok: bool
    events: int
    first_bad: int | None = None
    problem: str | None = None
    keyed_from: int | None = None  # the first event linked under the audit key
    head: tuple[int, str] | None = None  # (seq, link) of the newest event, when the chain is intact
    witnessed: int = 0  # witness entries checked


def verify(session: Session, chain: ChainKey | None = None, witness: list | None = None) -> ChainReport:
    """Check every link (plain SHA-256 before the keyed part, HMAC from it on) and, given the
    witness entries (archive/witness.py), that every witnessed head is still in the log unchanged:
    a log cut short or re-chained differs from what was witnessed."""
    chain = chain or chain_of(session)
    keyed_from = chain.starts_at if chain else None
    witnessed = {}
    for entry in witness or ():
        witnessed.setdefault(entry.seq, []).append(entry)
    prev = GENESIS
    count = 0
    expected_seq = 1
    last = None
    for e in session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars():
        count += 1
        if e.seq != expected_seq:
            return ChainReport(False, count, e.seq, f"event {expected_seq} is missing", keyed_from)
        if e.prev_hash != prev:
            return ChainReport(False, count, e.seq, f"event {e.seq} does not follow event {e.seq - 1}", keyed_from)
        if not hmac.compare_digest(_digest(prev, _fields(e), chain), e.hash):
            how = "re-chained without the audit key" if chain and chain.keys(e.seq) else "altered after it was written"
            return ChainReport(False, count, e.seq, f"event {e.seq} was {how}", keyed_from)
        for entry in witnessed.get(e.seq, ()):
            if not hmac.compare_digest(entry.link, e.hash):
                problem = f"event {e.seq} is not the one witnessed on {entry.at}: the log was re-chained"
                return ChainReport(False, count, e.seq, problem, keyed_from)
        prev = e.hash
        last = (e.seq, e.hash)
        expected_seq += 1
    if chain is not None and chain.starts_at > 1 and count < chain.starts_at:
        # An older log was keyed by an event of its own (Vault._key_the_audit_chain): it must be there.
        return ChainReport(
            False, count, count + 1, f"the log ends at event {count}, before the event that keyed it", keyed_from
        )
    beyond = [e for seq, entries in witnessed.items() if seq > count for e in entries]
    if beyond:
        newest = max(beyond, key=lambda e: e.seq)
        return ChainReport(
            False,
            count,
            count + 1,
            f"the log ends at event {count}, but event {newest.seq} was witnessed on {newest.at}: "
            "the newest events were removed",
            keyed_from,
        )
    return ChainReport(True, count, keyed_from=keyed_from, head=last, witnessed=sum(map(len, witnessed.values())))
