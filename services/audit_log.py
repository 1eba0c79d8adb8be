"""The audit log (privacy officer): who did what to which dossier, when, through which channel;
and the check that no event was altered, removed or reordered."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from archive import audit, integrity
from archive.catalog import AuditEvent

from . import validate
from .context import Context


def show(
    ctx: Context,
    *,
    dossier: str | None = None,
    user: str | None = None,
    since: dt.date | None = None,
    document: str | None = None,
    limit: int = 1000,
) -> dict:
    """Events, oldest first, filtered by dossier, document, acting user and first day (local time).
    Reading the log is itself recorded."""
    if dossier is not None:
        dossier = validate.dossier_number(dossier)
    if user is not None:
        user = validate.text(user, "the user", max_len=64, required=True)
    with ctx.reading("audit.view", dossier=dossier) as uow:
        uow.allow()
        q = select(AuditEvent).order_by(AuditEvent.seq)
        if dossier is not None:
            q = q.where(AuditEvent.dossier == dossier)
        if document is not None:
            q = q.where(AuditEvent.document == validate.document_id(document))
        if user is not None:
            q = q.where(AuditEvent.actor == user)
        if since is not None:
            start = dt.datetime.combine(since, dt.time(), tzinfo=ctx.app.local_zone()).astimezone(dt.UTC)
            q = q.where(AuditEvent.at >= start)
        rows = uow.session.execute(q.limit(limit)).scalars().all()
        events = [_event(e) for e in rows]
        uow.audit("audit.show", dossier=dossier, detail=f"{len(events)} events")
        uow.commit()
    return {"events": events}


def _event(e: AuditEvent) -> dict:
    at = e.at if e.at.tzinfo else e.at.replace(tzinfo=dt.UTC)
    return {
        "seq": e.seq,
        "at": at.isoformat(),
        "actor": e.actor,
        "role": e.role,
        "action": e.action,
        "outcome": e.outcome,
        "dossier": e.dossier,
        "document": e.document,
        "channel": e.channel or "cli",
        "address": e.address,
        "purpose": e.purpose,
        "detail": e.detail,
    }


def verify(ctx: Context) -> audit.ChainReport:
    """Every link of the chain (HMACs under the audit key), and every head the integrity checks
    witnessed outside the catalog: an edited, re-chained or shortened log is found."""
    with ctx.reading("audit.verify") as uow:
        uow.allow()
    report = integrity.check_audit(ctx.vault)
    with ctx.reading("audit.verify") as uow:
        uow.audit("audit.verify", outcome="ok" if report.ok else "failed", detail=f"{report.events} events")
        uow.commit()
    return report
