"""Append-only, hash-chained audit log (NEN 7513-style fields), DESIGN.md §5.

Each event's hash covers its fields and the previous event's hash, so editing, deleting or
reordering any event breaks the chain from that point on. Events carry ids, never content.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .catalog import AuditEvent, utcnow

GENESIS = "0" * 64


def _digest(prev_hash: str, fields: dict) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def _fields(e: AuditEvent) -> dict:
    at = e.at if e.at.tzinfo else e.at.replace(tzinfo=dt.timezone.utc)
    return {
        "seq": e.seq, "at": at.isoformat(), "actor": e.actor, "role": e.role, "action": e.action,
        "outcome": e.outcome, "dossier": e.dossier, "document": e.document, "purpose": e.purpose,
        "detail": e.detail,
    }


def record(session: Session, *, actor: str, role: str | None, action: str, outcome: str = "ok",
           dossier: str | None = None, document: str | None = None, purpose: str | None = None,
           detail: str | None = None) -> AuditEvent:
    """Add an event inside the caller's transaction, so it commits (or not) with what it describes."""
    last = session.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one_or_none()
    event = AuditEvent(
        seq=(last.seq + 1) if last else 1, at=utcnow(), actor=actor, role=role, action=action,
        outcome=outcome, dossier=dossier, document=document, purpose=purpose, detail=detail,
        prev_hash=last.hash if last else GENESIS,
    )
    event.hash = _digest(event.prev_hash, _fields(event))
    session.add(event)
    session.flush()  # the unique prev_hash makes a concurrent fork fail here instead of later
    return event


def record_now(factory, **kw) -> None:
    """Record in a transaction of its own (refusals, reads), retrying once if another writer won the race."""
    for attempt in range(5):
        with factory() as session:
            try:
                record(session, **kw)
                session.commit()
                return
            except IntegrityError:
                session.rollback()
    raise RuntimeError("audit log busy: could not append an event")


@dataclass
class ChainReport:
    ok: bool
    events: int
    first_bad: int | None = None
    problem: str | None = None


def verify(session: Session) -> ChainReport:
    prev = GENESIS
    count = 0
    expected_seq = 1
    for e in session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars():
        count += 1
        if e.seq != expected_seq:
            return ChainReport(False, count, e.seq, f"event {expected_seq} is missing")
        if e.prev_hash != prev:
            return ChainReport(False, count, e.seq, f"event {e.seq} does not follow event {e.seq - 1}")
        if _digest(prev, _fields(e)) != e.hash:
            return ChainReport(False, count, e.seq, f"event {e.seq} was altered after it was written")
        prev = e.hash
        expected_seq += 1
    return ChainReport(True, count)
