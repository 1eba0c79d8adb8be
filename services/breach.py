"""The breach register (GDPR art. 33–34; DESIGN.md §10), privacy officer only: when a breach was
discovered, the 72-hour deadline to tell the authority, which dossiers it touched, when the
authority was told (and why late, if so), and when and how each client was informed.

The register outlives the data: its summaries and references are checked for personal data.
`show` is the exception that serves the letters to the clients: it names them and their coach,
and every dossier it names is recorded as seen.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from archive import lifecycle, rights
from archive.catalog import Dossier
from archive.errors import BadInput, Conflict, NotFound
from archive.rights import Breach, BreachDossier

from . import validate
from .context import Context, UnitOfWork


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _load(uow: UnitOfWork, ident: str) -> Breach:
    bid = rights.parse_id(ident, "breach")
    uow.allow()
    b = uow.session.get(Breach, bid)
    if b is None:
        raise NotFound(f"breach {bid} does not exist; see `dossier breach list`", "unknown-breach")
    return b


def _affected(session, bid: str) -> list[BreachDossier]:
    return list(
        session.execute(
            select(BreachDossier).where(BreachDossier.breach == bid).order_by(BreachDossier.dossier)
        ).scalars()
    )


def _summary(session, b: Breach, now: dt.datetime) -> dict:
    affected = _affected(session, b.id)
    return {
        **rights.breach_dict(b, now),
        "dossiers": len(affected),
        "informed": sum(a.informed_on is not None for a in affected),
    }


def open_breach(ctx: Context, *, discovered: dt.datetime, summary: str) -> dict:
    """Start the procedure: the authority must be told within 72 hours of the discovery."""
    validate.not_later_than_now(discovered, "the discovery time")
    with ctx.uow("breach.manage") as uow:
        uow.allow()
        text = lifecycle.check_free_text(
            validate.text(summary, "the summary", max_len=2000, required=True),
            "the summary",
            names=lifecycle.client_names(ctx.vault, uow.session),
            max_len=2000,
        )
        local_year = discovered.astimezone(ctx.app.local_zone()).year
        b = Breach(
            id=rights.next_id(uow.session, "breach", local_year),
            discovered_at=discovered,
            notify_by=rights.notify_by(discovered),
            summary=text,
            opened_by=ctx.actor.name,
        )
        uow.session.add(b)
        uow.session.flush()
        uow.audit("breach.open", detail=f"{b.id}: discovered {discovered.isoformat()}")
        uow.commit()
        out = rights.breach_dict(b, _now())
    return {k: out[k] for k in ("breach", "notify_by", "discovered", "overdue")}


def affect(ctx: Context, ident: str, numbers: list[str]) -> dict:
    """Add the dossiers a breach touched (again adding one already there changes nothing)."""
    if not numbers:
        raise BadInput("give at least one --dossier D", "no-dossiers")
    clean = sorted({validate.dossier_number(n) for n in numbers})
    with ctx.uow("breach.manage") as uow:
        b = _load(uow, ident)
        known = {a.dossier for a in _affected(uow.session, b.id)}
        added = []
        for number in clean:
            if uow.session.get(Dossier, number) is None:
                raise NotFound(f"dossier {number} does not exist; nothing was added", "unknown-dossier")
            if number in known:
                continue
            uow.session.add(BreachDossier(breach=b.id, dossier=number, added_by=ctx.actor.name))
            uow.audit("breach.affect", dossier=number, detail=b.id)
            added.append(number)
        uow.commit()
        dossiers = sorted(known | set(added))
    return {"breach": b.id, "added": added, "dossiers": dossiers}


def notified(
    ctx: Context,
    ident: str,
    *,
    authority_on: dt.datetime,
    reference: str | None = None,
    delay_reason: str | None = None,
) -> dict:
    """Record that the authority was told; later than 72 hours needs the reason for the delay (art. 33(1))."""
    validate.not_later_than_now(authority_on, "the notification time")
    with ctx.uow("breach.manage") as uow:
        b = _load(uow, ident)
        if b.authority_notified_at is not None:
            when = rights.as_utc(b.authority_notified_at)
            raise Conflict(
                f"breach {b.id} was already recorded as notified on {when:%Y-%m-%d %H:%M} UTC",
                "already-notified",
            )
        discovered, deadline = rights.as_utc(b.discovered_at), rights.as_utc(b.notify_by)
        if authority_on < discovered:
            raise BadInput(
                "the authority cannot have been told before the breach was discovered; check the time", "before"
            )
        late = authority_on > deadline
        if late and not (delay_reason and delay_reason.strip()):
            raise BadInput(
                f"the notification came after the 72-hour deadline ({deadline:%Y-%m-%d %H:%M} UTC); give "
                "--delay-reason with the reason for the delay (art. 33(1))",
                "delay-reason-needed",
            )
        b.authority_notified_at = authority_on
        names = lifecycle.client_names(ctx.vault, uow.session)
        b.authority_reference = lifecycle.check_free_text(
            validate.text(reference, "the reference", max_len=64),
            "the reference",
            names=names,
            max_len=64,
            required=False,
        )
        b.delay_reason = lifecycle.check_free_text(
            validate.text(delay_reason, "the delay reason", max_len=500),
            "the delay reason",
            names=names,
            required=False,
        )
        b.notified_recorded_by = ctx.actor.name
        uow.audit(
            "breach.notified", detail=f"{b.id}: authority told {authority_on.isoformat()}" + (" (late)" if late else "")
        )
        uow.commit()
        out = _summary(uow.session, b, _now())
    return out


def informed(ctx: Context, ident: str, numbers: list[str], *, on: dt.date, how: str) -> dict:
    """Record that the clients of these dossiers were told of the breach (art. 34), when and how."""
    how = validate.choice(how, rights.INFORMED_HOW, "how the client was told", "--how")
    validate.not_in_future(on, ctx.today, "the day the client was told")
    if not numbers:
        raise BadInput("give at least one --dossier D", "no-dossiers")
    clean = sorted({validate.dossier_number(n) for n in numbers})
    with ctx.uow("breach.manage") as uow:
        b = _load(uow, ident)
        affected = {a.dossier: a for a in _affected(uow.session, b.id)}
        for number in clean:
            a = affected.get(number)
            if a is None:
                raise BadInput(
                    f"dossier {number} is not among the dossiers of breach {b.id}; add it with "
                    f"`dossier breach affect {b.id} --dossier {number}`",
                    "not-affected",
                )
            a.informed_on, a.informed_how, a.informed_by = on, how, ctx.actor.name
            uow.audit("breach.informed", dossier=number, detail=f"{b.id}: client told on {on} by {how}")
        uow.commit()
    return {"breach": b.id, "informed": clean, "on": on.isoformat(), "how": how}


def list_breaches(ctx: Context) -> dict:
    """The register, newest first, with deadlines: overdue while the authority has not been told."""
    now = _now()
    with ctx.reading("breach.manage") as uow:
        uow.allow()
        rows = uow.session.execute(select(Breach).order_by(Breach.discovered_at.desc(), Breach.id.desc())).scalars()
        breaches = [_summary(uow.session, b, now) for b in rows]
        uow.audit("breach.list", detail=f"{len(breaches)} breaches")
        uow.commit()
    return {"breaches": breaches}


def show_breach(ctx: Context, ident: str) -> dict:
    """One breach with the affected clients' names and coaches, for the letters (each dossier's view
    is recorded)."""
    with ctx.reading("breach.manage") as uow:
        b = _load(uow, ident)
        s = uow.session
        affected = []
        for a in _affected(s, b.id):
            d = s.get(Dossier, a.dossier)
            affected.append(
                {
                    "dossier": d.number,
                    "client_name": lifecycle.client_name_of(ctx.vault, s, d),
                    "coach": d.coach,
                    "status": d.status,
                    "informed_on": a.informed_on.isoformat() if a.informed_on else None,
                    "informed_how": a.informed_how,
                }
            )
            uow.audit("breach.show", dossier=d.number, detail=b.id)
        uow.audit("breach.show", detail=f"{b.id}: {len(affected)} dossiers")
        uow.commit()
        out = {**rights.breach_dict(b, _now()), "affected": affected}
    return out


def open_count(session) -> int:
    """Breaches whose authority notification is still to be made (for `dossier status`)."""
    return session.scalar(select(func.count()).select_from(Breach).where(Breach.authority_notified_at.is_(None)))
