"""Dossier use cases: open one, find one (list, show, find by name or BSN), and its lifecycle:
close, legal holds, erasure on request. Retention runs are in services/retention.py.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from archive import access, lifecycle, shredding
from archive.catalog import Document, Dossier, User
from archive.errors import BadInput, NotFound, RuleForbids
from archive.records import PaperFile
from archive.retention import destroy_on
from archive.search import normalise

from . import validate
from .context import Context

# ---- opening -------------------------------------------------------------------------------------


def open_dossier(
    ctx: Context,
    *,
    coach: str,
    client_name: str | None = None,
    bsn: str | None = None,
    commissioner: str | None = None,
    start: dt.date | None = None,
) -> dict:
    """A new dossier for a client, coached by `coach`. Returns its number, and a warning when an
    open dossier already has this BSN (the office may be opening a second one by mistake)."""
    start = start or ctx.today
    if start > ctx.today + dt.timedelta(days=366):
        raise BadInput("the start date is more than a year ahead; check the date", "far-future")
    clean_bsn = validate.bsn(bsn)
    name = validate.text(client_name, "the client name", max_len=200)
    if client_name is not None and name is None:
        raise BadInput("the client name is empty; leave --client-name out or give the name", "empty")
    commissioner = validate.text(commissioner, "the commissioner", max_len=128)
    with ctx.uow("dossier.create") as uow:
        uow.allow()
        s = uow.session
        c = s.get(User, coach)
        if c is None or c.role != "coach":
            raise BadInput(_not_a_coach(ctx, s, coach, c), "not-a-coach")
        same_bsn = []
        if clean_bsn:
            same_bsn = list(
                s.execute(
                    select(Dossier.number)
                    .where(Dossier.bsn_lookup == ctx.vault.bsn_lookup(clean_bsn), Dossier.status != "destroyed")
                    .order_by(Dossier.number)
                ).scalars()
            )
        number = ctx.vault.allocate_number(s, ctx.today.year)
        ctx.vault.create_dossier(
            s,
            number=number,
            coach=coach,
            commissioner=commissioner,
            start=start,
            client_name=name,
            bsn=clean_bsn,
            by=ctx.actor.name,
        )
        uow.audit("dossier.create", dossier=number, detail=f"same BSN as {', '.join(same_bsn)}" if same_bsn else None)
        uow.commit()
    out = {"dossier": number, "coach": coach}
    if same_bsn:
        out["warning"] = (
            f"dossier {', '.join(same_bsn)} already has this BSN; if this is the same trajectory, "
            f"ask the privacy officer to erase {number}"
        )
    return out


def _not_a_coach(ctx: Context, session, name: str, user: User | None) -> str:
    """Advice the acting role can follow, with a close match when it looks like a typo."""
    shown = validate.shown(name)
    if user is not None:
        return f"{shown} is not a coach but {user.role} staff; give the name of the client's coach"
    coaches = list(session.execute(select(User.name).where(User.role == "coach")).scalars())
    hint = validate.suggest(name, coaches)
    if hint:
        return f"{shown} is not a coach{hint}"
    if ctx.actor.role == "privacy":
        return f"{shown} is not a coach; add them first with `dossier user add NAME --role coach`"
    return f"{shown} is not a coach of the archive; ask the privacy officer to add them as a coach"


# ---- finding -------------------------------------------------------------------------------------


def _summary(ctx: Context, session, d: Dossier) -> dict:
    return {
        "dossier": d.number,
        "coach": d.coach,
        "client_name": _client_name(ctx, session, d),
        "status": d.status,
        "start": d.start_date.isoformat(),
        "end": d.end_date.isoformat() if d.end_date else None,
    }


def _client_name(ctx: Context, session, d: Dossier) -> str | None:
    return lifecycle.client_name_of(ctx.vault, session, d)


def _visible(ctx: Context, session):
    q = select(Dossier)
    if not access.sees_every_dossier(ctx.actor.role):
        q = q.where(Dossier.coach == ctx.actor.name)
    return session.execute(q.order_by(Dossier.created_at.desc(), Dossier.number.desc())).scalars()


def list_dossiers(ctx: Context) -> dict:
    """The dossiers the actor may see (a coach: their own), newest first."""
    with ctx.reading("dossier.view") as uow:
        uow.allow()
        rows = [_summary(ctx, uow.session, d) for d in _visible(ctx, uow.session)]
        uow.audit("dossier.list", detail=f"{len(rows)} dossiers")
        uow.commit()
    return {"dossiers": rows}


def find_dossiers(ctx: Context, *, name: str | None = None, bsn: str | None = None) -> dict:
    """Dossiers by a part of the client's name (any case, accents ignored) or by BSN, within what
    the actor may see. The query itself is not logged."""
    if (name is None) == (bsn is None):
        raise BadInput("give either --name TEXT or --bsn NUMBER", "find-what")
    part = normalise(validate.text(name, "the name", max_len=200, required=True)) if name is not None else None
    clean_bsn = validate.bsn(bsn) if bsn is not None else None
    with ctx.reading("dossier.view") as uow:
        uow.allow()
        s = uow.session
        if clean_bsn:
            lookup = ctx.vault.bsn_lookup(clean_bsn)
            found = [d for d in _visible(ctx, s) if d.bsn_lookup == lookup]
        else:
            found = [d for d in _visible(ctx, s) if part in normalise(_client_name(ctx, s, d) or "")]
        rows = [_summary(ctx, s, d) for d in found]
        uow.audit("dossier.find", detail=f"by {'BSN' if clean_bsn else 'name'}: {len(rows)} found")
        uow.commit()
    return {"dossiers": rows}


def mask_bsn(bsn: str | None) -> str | None:
    return None if bsn is None else "*" * (len(bsn) - 3) + bsn[-3:]


def show_dossier(ctx: Context, number: str, *, reveal: bool = False) -> dict:
    """One dossier's facts; the BSN masked but for its last three digits unless `reveal` (audited)."""
    with ctx.reading("dossier.view") as uow:
        d = uow.dossier(number)
        uow.allow(d)
        if reveal:
            uow.allow(d, "dossier.reveal")
        s = uow.session
        bsn = None
        if d.status != "destroyed" and d.bsn_sealed is not None:
            bsn = ctx.vault.dossier_keys(s, d.number).open_field(d.bsn_sealed, "bsn")
        docs = []
        if access.may_on_dossier(ctx.actor.name, ctx.actor.role, "documents.list", d.coach):
            docs = [
                {
                    "id": r.id,
                    "type": r.doc_type,
                    "pages": r.pages,
                    "scanned_at": r.scanned_at.isoformat(),
                    "low_text_pages": r.low_text_pages,
                }
                for r in s.execute(
                    select(Document)
                    .where(Document.dossier == d.number, Document.destroyed_at.is_(None))
                    .order_by(Document.scanned_at, Document.id)
                ).scalars()
            ]
        p = s.get(PaperFile, d.number)
        when = lifecycle.destroy_date(s, d, ctx.app.policy)
        out = {
            **_summary(ctx, s, d),
            "bsn": bsn if reveal else mask_bsn(bsn),
            "commissioner": d.commissioner,
            "destroy_on": when.isoformat() if when else None,
            "destroyed_at": d.destroyed_at.isoformat() if d.destroyed_at else None,
            "hold": lifecycle.hold_summary(lifecycle.active_hold(s, d.number)),
            "documents": docs,
            "paper": lifecycle.paper_summary(p),
            # The paper file is to be shredded now: the page offers to record it (the use case checks again).
            "paper_due": bool(
                p and p.status != "destroyed" and lifecycle.paper_may_go(s, d, ctx.today, ctx.app.policy)
            ),
        }
        uow.audit("dossier.show", dossier=d.number)
        if reveal:
            uow.audit("dossier.reveal", dossier=d.number, detail="full BSN shown")
        uow.commit()
    return out


# ---- lifecycle -----------------------------------------------------------------------------------


def close_dossier(ctx: Context, number: str, end: dt.date) -> dict:
    """Set the trajectory end, which fixes the destruction date."""
    policy = ctx.app.policy
    with ctx.uow("dossier.close") as uow:
        d = uow.dossier(number)
        uow.allow(d)
        previous = lifecycle.close(
            uow.session, d, end, today=ctx.today, policy=policy, actor=ctx.actor.name, role=ctx.actor.role
        )
        uow.commit()
    when = destroy_on(end, policy.period)
    return {
        "dossier": d.number,
        "status": "closed",
        "end": end.isoformat(),
        "destroy_on": when.isoformat(),
        "due": ctx.today >= when,
        "previous_end": previous.isoformat() if previous else None,
    }


def place_hold(ctx: Context, number: str, reason: str) -> dict:
    reason = validate.text(reason, "the hold reason", max_len=500, required=True)
    with ctx.uow("dossier.hold") as uow:
        d = uow.dossier(number)
        uow.allow(d)
        h = lifecycle.place_hold(ctx.vault, uow.session, d, reason, actor=ctx.actor.name, role=ctx.actor.role)
        uow.commit()
    return {"dossier": d.number, "hold": lifecycle.hold_summary(h)}


def release_hold(ctx: Context, number: str) -> dict:
    with ctx.uow("dossier.hold") as uow:
        d = uow.dossier(number)
        uow.allow(d)
        h = lifecycle.release_hold(uow.session, d, actor=ctx.actor.name, role=ctx.actor.role)
        uow.commit()
    return {
        "dossier": d.number,
        "released": True,
        "hold": {**lifecycle.hold_summary(h), "released_at": h.released_at.isoformat(), "released_by": h.released_by},
    }


def erasure_plan(ctx: Context, number: str, reason: str) -> dict:
    """What `erase` would destroy, checked (role, hold, reason) but not done: for the confirmation."""
    with ctx.reading("dossier.erase") as uow:
        d = uow.dossier(number)
        uow.allow(d)
        _check_erasable(ctx, uow.session, d, reason)
        docs = uow.session.scalar(
            select(func.count())
            .select_from(Document)
            .where(Document.dossier == d.number, Document.destroyed_at.is_(None))
        )
        return {"dossier": d.number, "documents": docs}


def _check_erasable(ctx: Context, session, d: Dossier, reason: str) -> str:
    if d.status == "destroyed":
        raise NotFound(f"dossier {d.number} was already destroyed on {d.destroyed_at:%Y-%m-%d}", "destroyed")
    hold = lifecycle.active_hold(session, d.number)
    if hold is not None:
        raise RuleForbids(
            f"dossier {d.number} is on legal hold since {hold.placed_at:%Y-%m-%d}; release the hold "
            "first if erasure is really required",
            "on-hold",
        )
    return lifecycle.check_free_text(
        validate.text(reason, "the reason", max_len=500, required=True),
        "the reason",
        names=lifecycle.client_names(ctx.vault, session, d),
    )


def erase_dossier(ctx: Context, number: str, reason: str, *, rule_note: str | None = None) -> dict:
    """Destroy a dossier now (right to erasure): its data key is shredded, its files deleted."""
    with ctx.uow("dossier.erase") as uow:
        d = uow.dossier(number)
        uow.allow(d)
        number = d.number
        clean = _check_erasable(ctx, uow.session, d, reason)
        record = shredding.shred_dossier(
            uow.session,
            number,
            rule="erasure",
            today=ctx.today,
            policy=ctx.app.policy,
            actor=ctx.actor.name,
            role=ctx.actor.role,
            reason=clean,
            note=rule_note,
        )
        uow.commit()
        p = uow.session.get(PaperFile, number)
        paper_left = lifecycle.paper_summary(p) if p is not None and p.status != "destroyed" else None
    finished = shredding.finish(ctx.vault)
    return {
        "dossier": number,
        "destroyed": True,
        "documents": record.documents,
        "key_id": record.key_id,
        "record": record.id,
        "files_removed": finished["files_removed"],
        "paper": paper_left,
    }
