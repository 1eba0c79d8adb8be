"""Integrity over the years (DESIGN.md §12): the check by hand (nightly it is the integrity-check
flow, as system:integrity), and rotating the master key. Privacy officer only."""

from __future__ import annotations

from sqlalchemy import select

from archive import integrity, rotation
from archive.catalog import AuditEvent
from archive.errors import DossierError

from .context import Context


def check(ctx: Context) -> dict:
    """Every stored file re-read, catalog and folders compared both ways, the audit chain verified
    against its witness; the chain head witnessed and the outcome recorded. `ok` is False when
    anything is wrong (the CLI exits 5)."""
    with ctx.reading("integrity.check") as uow:
        uow.allow()
    report = integrity.check(ctx.vault)
    a = ctx.actor
    integrity.record(ctx.vault, report, actor=a.name, role=a.role, channel=a.channel)
    return report.as_dict()


def rotate_keys(ctx: Context) -> dict:
    """A new master key; every wrapped key re-wrapped under it, the old key file destroyed. Safe
    to interrupt and run again. Returns the new key id and how many keys were re-wrapped."""
    with ctx.uow("keys.rotate") as uow:
        uow.allow()
    a = ctx.actor
    try:
        return rotation.rotate(ctx.vault, actor=a.name, role=a.role, channel=a.channel)
    except DossierError as e:
        ctx.record_now("keys.rotate", "failed", detail=e.code)
        raise


def last_check(ctx: Context) -> dict | None:
    """The newest integrity check, by hand or nightly: when, its outcome and counts (for `dossier status`)."""
    with ctx.vault.sessions() as s:
        e = s.execute(
            select(AuditEvent).where(AuditEvent.action == "integrity.check").order_by(AuditEvent.seq.desc()).limit(1)
        ).scalar_one_or_none()
        if e is None:
            return None
        return {"at": e.at.isoformat(), "outcome": e.outcome, "detail": e.detail, "by": e.actor}
