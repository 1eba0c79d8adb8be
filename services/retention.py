"""Retention use cases: what is due for destruction, a run by hand (with its plan shown first),
and the destruction log. The nightly run is the retention-run flow itself, as system:retention."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from archive import lifecycle
from archive.paper import record_dict
from archive.records import DestructionRecord

from . import validate
from .context import Context


def due(ctx: Context, day: dt.date | None = None) -> dict:
    """Due for destruction on `day` (default today; any date, it only looks), due soon, overdue check-outs;
    for the privacy officer also clients' requests due within a week (None for who may not see them)."""
    from archive import access

    from .rights import due_soon

    day = day or ctx.today
    with ctx.reading("retention.view") as uow:
        uow.allow()
        data = lifecycle.overview(uow.session, day, ctx.app.policy)
        data["requests_due"] = (
            due_soon(uow.session, day) if access.role_may(ctx.actor.role, "requests.manage") else None
        )
        uow.audit("retention.due", detail=f"dated {day}: {len(data['due'])} due, {len(data['upcoming'])} upcoming")
        uow.commit()
    return {**data, "upcoming_days": ctx.app.policy.upcoming_days}


def plan(ctx: Context, day: dt.date | None = None) -> dict:
    """What a run dated `day` would destroy and which paper files it would list; nothing changes."""
    day = validate.not_in_future(day, ctx.today, "--today") or ctx.today
    with ctx.reading("retention.run") as uow:
        uow.allow()
        p = lifecycle.plan_run(uow.session, day, ctx.app.policy)
        worklist = lifecycle.paper_worklist(uow.session, day, ctx.app.policy)
        documents = {n: c for n, c in lifecycle.live_documents(uow.session).items() if n in p.destroy}
    return {
        "today": day.isoformat(),
        "destroy": [{"dossier": n, "documents": documents.get(n, 0)} for n in p.destroy],
        "skipped": p.skipped,
        "paper_worklist": worklist,
    }


def run(ctx: Context, day: dt.date | None = None) -> dict:
    """Destroy every dossier due on `day` (never a date ahead: a typo would destroy a year early)
    that is not on hold. Raises flows.retention.RetentionIncomplete when some could not be."""
    from flows.retention import retention_run

    day = validate.not_in_future(day, ctx.today, "--today") or ctx.today
    with ctx.reading("retention.run") as uow:
        uow.allow()
    return retention_run(today=day.isoformat(), actor=ctx.actor.name)


def log(ctx: Context, number: str | None = None) -> dict:
    """The destruction records: what, when, by which rule, by whom (no personal data)."""
    if number is not None:
        number = validate.dossier_number(number)
    with ctx.reading("retention.view", dossier=number) as uow:
        uow.allow()
        q = select(DestructionRecord).order_by(DestructionRecord.id)
        if number is not None:
            q = q.where(DestructionRecord.dossier == number)
        records = [record_dict(r) for r in uow.session.execute(q).scalars()]
        uow.audit("retention.log", dossier=number, detail=f"{len(records)} records")
        uow.commit()
    return {"records": records}
