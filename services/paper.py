"""The paper dossier in its locked cabinet (DESIGN.md §5): register, move, check out and in,
where it is, the cabinet inventory, and the confirmation that it was destroyed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from archive import paper
from archive.catalog import User
from archive.errors import BadInput

from . import validate
from .context import Context


def _place(room, cabinet, shelf) -> tuple[str | None, str | None, str | None]:
    return (
        validate.text(room, "the room", max_len=64),
        validate.text(cabinet, "the cabinet", max_len=64),
        validate.text(shelf, "the shelf", max_len=64),
    )


def _change(ctx: Context, number: str, change) -> dict:
    """Run `change(session, dossier, who)` on a dossier's paper file (it adds its own history and
    audit event), commit, and show the file as it is now."""
    with ctx.uow("paper.manage") as uow:
        d = uow.dossier(number)
        uow.allow(d)
        change(uow.session, d, dict(actor=ctx.actor.name, role=ctx.actor.role))
        uow.commit()
        return paper.show(uow.session, d, ctx.app.policy)


def register(ctx: Context, number: str, *, room: str, cabinet: str, shelf: str | None = None) -> dict:
    room, cabinet, shelf = _place(room, cabinet, shelf)
    return _change(
        ctx, number, lambda s, d, who: paper.register(ctx.vault, s, d, room=room, cabinet=cabinet, shelf=shelf, **who)
    )


def move(
    ctx: Context, number: str, *, room: str | None = None, cabinet: str | None = None, shelf: str | None = None
) -> dict:
    room, cabinet, shelf = _place(room, cabinet, shelf)
    return _change(
        ctx, number, lambda s, d, who: paper.move(ctx.vault, s, d, room=room, cabinet=cabinet, shelf=shelf, **who)
    )


def checkout(ctx: Context, number: str, *, to: str, due: dt.date | None = None) -> dict:
    to = validate.text(to, "the person (--to)", max_len=64, required=True)

    def change(s, d, who) -> None:
        if s.get(User, to) is None:
            raise BadInput(_unknown_person(ctx, s, to), "unknown-person")
        paper.checkout(
            ctx.vault,
            s,
            d,
            to=to,
            due=due,
            today=ctx.today,
            default_days=ctx.app.paper_checkout_days,
            policy=ctx.app.policy,
            **who,
        )

    return _change(ctx, number, change)


def checkin(
    ctx: Context, number: str, *, room: str | None = None, cabinet: str | None = None, shelf: str | None = None
) -> dict:
    room, cabinet, shelf = _place(room, cabinet, shelf)
    return _change(
        ctx, number, lambda s, d, who: paper.checkin(ctx.vault, s, d, room=room, cabinet=cabinet, shelf=shelf, **who)
    )


def _unknown_person(ctx: Context, session, name: str) -> str:
    """Paper files go to people with an account: a close match, or advice the acting role can follow."""
    shown = validate.shown(name)
    hint = validate.suggest(name, list(session.execute(select(User.name)).scalars()))
    if hint:
        return f"{shown} is not a user of the archive{hint}"
    if ctx.actor.role == "privacy":
        return (
            f"{shown} is not a user of the archive; paper files go only to people with an account (add one with "
            "`dossier user add NAME --role office`)"
        )
    return (
        f"{shown} is not a user of the archive; paper files go only to people with an account: ask the privacy "
        "officer to add them"
    )


def show(ctx: Context, number: str) -> dict:
    with ctx.reading("paper.manage") as uow:
        d = uow.dossier(number)
        uow.allow(d)
        shown = paper.show(uow.session, d, ctx.app.policy)
        uow.audit("paper.show", dossier=d.number)
        uow.commit()
    return shown


def inventory(
    ctx: Context,
    *,
    room: str | None = None,
    cabinet: str | None = None,
    overdue: bool = False,
    include_destroyed: bool = False,
) -> dict:
    room, cabinet, _ = _place(room, cabinet, None)
    with ctx.reading("paper.manage") as uow:
        uow.allow()
        files = paper.inventory(
            uow.session,
            today=ctx.today,
            policy=ctx.app.policy,
            room=room,
            cabinet=cabinet,
            overdue=overdue,
            include_destroyed=include_destroyed,
        )
        uow.audit("paper.list", detail=f"{len(files)} paper files")
        uow.commit()
    return {
        "today": ctx.today.isoformat(),
        "printed_by": ctx.actor.name,
        "filter": {"room": room, "cabinet": cabinet, "overdue": overdue},
        "files": files,
    }


def confirm_destroyed(
    ctx: Context,
    number: str,
    *,
    by: str,
    witness: str | None = None,
    certificate: str | None = None,
    method: str | None = None,
    on: dt.date | None = None,
) -> dict:
    """Record that the paper file was shredded, by whom, with a witness or a certificate number."""
    with ctx.uow("paper.manage") as uow:
        d = uow.dossier(number)
        uow.allow(d)  # first: someone who may not record this learns nothing from the checks below
        on = validate.not_in_future(on, ctx.today, "the destruction date") or ctx.today
        if not witness and not certificate:
            raise BadInput(
                "give a witness (--witness NAME) or the destruction certificate number (--certificate N)", "no-proof"
            )
        by = validate.text(by, "the person who destroyed it (--by)", max_len=128, required=True)
        witness = validate.text(witness, "the witness", max_len=128)
        certificate = validate.text(certificate, "the certificate number", max_len=64)
        method = validate.text(method, "the method", max_len=128)
        record = paper.confirm_destroyed(
            ctx.vault,
            uow.session,
            d,
            by=by,
            witness=witness,
            certificate=certificate,
            method=method,
            on=on,
            today=ctx.today,
            policy=ctx.app.policy,
            actor=ctx.actor.name,
            role=ctx.actor.role,
        )
        uow.commit()
        return {**paper.show(uow.session, d, ctx.app.policy), "record": paper.record_dict(record)}
