"""The paper dossier in its locked cabinet (DESIGN.md §5): location with history, check-out to a
person with a due date, check-in, and destruction confirmed by a person with a witness or a
certificate. Functions take the caller's session and add their audit event.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from . import audit
from .catalog import Dossier, User, utcnow
from .errors import BadInput, Conflict, NotFound, RuleForbids
from .lifecycle import (
    RetentionPolicy,
    active_hold,
    check_free_text,
    client_names,
    destroy_date,
    digital_record,
    location,
    may_destroy_paper,
    paper_may_go,
)
from .records import DestructionRecord, PaperEvent, PaperFile


def get_file(session, number: str) -> PaperFile:
    p = session.get(PaperFile, number)
    if p is None:
        raise NotFound(
            f"dossier {number} has no paper file registered; register it with "
            f"`dossier paper register {number} --room R --cabinet C`",
            "not-registered",
        )
    return p


def _place(vault, session, d: Dossier, room, cabinet, shelf) -> tuple[str | None, str | None, str | None]:
    names = client_names(vault, session, d)
    return (
        check_free_text(room, "the room", names=names, max_len=64, required=False),
        check_free_text(cabinet, "the cabinet", names=names, max_len=64, required=False),
        check_free_text(shelf, "the shelf", names=names, max_len=64, required=False),
    )


def _event(session, p: PaperFile, action: str, actor: str) -> PaperEvent:
    e = PaperEvent(
        dossier=p.dossier,
        actor=actor,
        action=action,
        room=p.room,
        cabinet=p.cabinet,
        shelf=p.shelf,
        holder=p.holder,
        due=p.due,
    )
    session.add(e)
    session.flush()
    return e


def _not_destroyed(p: PaperFile, doing: str) -> None:
    if p.status == "destroyed":
        raise NotFound(
            f"the paper file of {p.dossier} was destroyed on {p.destroyed_at:%Y-%m-%d}; it cannot be {doing}",
            "destroyed",
        )


def register(
    vault, session, d: Dossier, *, room: str, cabinet: str, shelf: str | None, actor: str, role: str
) -> PaperFile:
    if session.get(PaperFile, d.number) is not None:
        p = session.get(PaperFile, d.number)
        where = f"room {p.room}, cabinet {p.cabinet}" + (f", shelf {p.shelf}" if p.shelf else "")
        raise Conflict(
            f"the paper file of {d.number} is already registered ({where}, {p.status}); use "
            f"`dossier paper move` to change its place",
            "already-registered",
        )
    room_, cabinet_, shelf_ = _place(vault, session, d, room, cabinet, shelf)
    if not room_ or not cabinet_:
        raise BadInput("give the room and the cabinet of the paper file (--room, --cabinet)", "no-location")
    p = PaperFile(
        dossier=d.number, status="in-cabinet", room=room_, cabinet=cabinet_, shelf=shelf_, registered_by=actor
    )
    session.add(p)
    session.flush()
    _event(session, p, "register", actor)
    audit.record(
        session,
        actor=actor,
        role=role,
        action="paper.register",
        dossier=d.number,
        detail=_where(p)
        + (" (dossier already destroyed: on the destruction worklist)" if d.status == "destroyed" else ""),
    )
    return p


def _where(p: PaperFile) -> str:
    return f"room {p.room}, cabinet {p.cabinet}" + (f", shelf {p.shelf}" if p.shelf else "")


def _apply_place(p: PaperFile, room, cabinet, shelf) -> None:
    """New place: what is given replaces; a new room or cabinet without --shelf clears the shelf."""
    moved_cabinet = (room and room != p.room) or (cabinet and cabinet != p.cabinet)
    p.room = room or p.room
    p.cabinet = cabinet or p.cabinet
    if shelf:
        p.shelf = shelf
    elif moved_cabinet:
        p.shelf = None


def move(
    vault, session, d: Dossier, *, room: str | None, cabinet: str | None, shelf: str | None, actor: str, role: str
) -> PaperFile:
    p = get_file(session, d.number)
    _not_destroyed(p, "moved")
    if p.status == "checked-out":
        raise Conflict(
            f"the paper file of {d.number} is checked out to {p.holder}; check it in with "
            f"`dossier paper checkin {d.number} --room R --cabinet C` to put it in its new place",
            "checked-out",
        )
    room_, cabinet_, shelf_ = _place(vault, session, d, room, cabinet, shelf)
    if not (room_ or cabinet_ or shelf_):
        raise BadInput("say where the paper file goes: --room, --cabinet and/or --shelf", "no-location")
    before = _where(p)
    _apply_place(p, room_, cabinet_, shelf_)
    if _where(p) == before:
        raise Conflict(f"the paper file of {d.number} is already there ({before})", "same-place")
    _event(session, p, "move", actor)
    audit.record(
        session, actor=actor, role=role, action="paper.move", dossier=d.number, detail=f"from {before} to {_where(p)}"
    )
    return p


def checkout(
    vault,
    session,
    d: Dossier,
    *,
    to: str,
    due: dt.date | None,
    today: dt.date,
    default_days: int,
    policy: RetentionPolicy,
    actor: str,
    role: str,
) -> PaperFile:
    p = get_file(session, d.number)
    _not_destroyed(p, "checked out")
    if p.status == "checked-out":
        raise Conflict(
            f"the paper file of {d.number} is already checked out to {p.holder} (due back "
            f"{p.due:%Y-%m-%d}); it must be checked in first",
            "checked-out",
        )
    if d.status == "destroyed":
        raise RuleForbids(
            f"dossier {d.number} was destroyed on {d.destroyed_at:%Y-%m-%d}; its paper file is on the "
            "destruction worklist and may not leave the cabinet",
            "dossier-destroyed",
        )
    when = destroy_date(session, d, policy)
    if when is not None and today >= when and active_hold(session, d.number) is None:
        raise RuleForbids(
            f"dossier {d.number} is due for destruction since {when:%Y-%m-%d}; its paper file goes to the "
            "shredder and may not leave the cabinet (unless the privacy officer places a legal hold)",
            "due-for-destruction",
        )
    person = session.get(User, to)
    if person is None:
        raise BadInput(
            "that person is not known to the archive; paper files go only to people with an account",
            "unknown-person",
        )
    if person.role == "coach" and d.coach != person.name:
        raise RuleForbids(
            f"{to} is not the coach of {d.number}; its paper file may go to its coach ({d.coach}), "
            "office staff or the privacy officer only",
            "not-own-client",
        )
    due = due or today + dt.timedelta(days=default_days)
    if due < today:
        raise BadInput(f"the due date {due} is in the past; give a date from today on", "due-past")
    p.status, p.holder, p.due, p.checked_out_at = "checked-out", person.name, due, utcnow()
    _event(session, p, "checkout", actor)
    audit.record(
        session,
        actor=actor,
        role=role,
        action="paper.checkout",
        dossier=d.number,
        detail=f"to {person.name}, due {due}",
    )
    return p


def checkin(
    vault, session, d: Dossier, *, room: str | None, cabinet: str | None, shelf: str | None, actor: str, role: str
) -> PaperFile:
    p = get_file(session, d.number)
    _not_destroyed(p, "checked in")
    if p.status != "checked-out":
        raise Conflict(f"the paper file of {d.number} is not checked out (it is in {_where(p)})", "not-checked-out")
    room_, cabinet_, shelf_ = _place(vault, session, d, room, cabinet, shelf)
    holder, was_due = p.holder, p.due
    _apply_place(p, room_, cabinet_, shelf_)
    p.status, p.holder, p.due, p.checked_out_at = "in-cabinet", None, None, None
    _event(session, p, "checkin", actor)
    audit.record(
        session,
        actor=actor,
        role=role,
        action="paper.checkin",
        dossier=d.number,
        detail=f"from {holder} (due {was_due}) into {_where(p)}",
    )
    return p


def confirm_destroyed(
    vault,
    session,
    d: Dossier,
    *,
    by: str,
    witness: str | None,
    certificate: str | None,
    method: str | None,
    on: dt.date,
    today: dt.date,
    policy: RetentionPolicy,
    actor: str,
    role: str,
) -> DestructionRecord:
    """Record that the paper file was destroyed, by whom, with a witness or a certificate."""
    p = get_file(session, d.number)
    _not_destroyed(p, "destroyed again")
    if p.status == "checked-out":
        raise Conflict(
            f"the paper file of {d.number} is checked out to {p.holder} (due back {p.due:%Y-%m-%d}); "
            "get it back and check it in before destroying it",
            "checked-out",
        )
    if on > today:
        raise BadInput(f"the destruction date {on} is in the future", "date-future")
    may_destroy_paper(session, d, on, policy)
    if not witness and not certificate:
        raise BadInput("give a witness (--witness) or the destruction certificate number (--certificate)", "no-proof")
    names = client_names(vault, session, d)
    by_ = check_free_text(by, "the person who destroyed it (--by)", names=names, max_len=128)
    witness_ = check_free_text(witness, "the witness", names=names, max_len=128, required=False)
    certificate_ = check_free_text(certificate, "the certificate number", names=names, max_len=64, required=False)
    method_ = check_free_text(method, "the method", names=names, max_len=128, required=False) or "shredded"
    if witness_ and witness_.casefold() == by_.casefold():
        raise BadInput("the witness must be someone other than the person who destroyed the file", "self-witness")
    digital = digital_record(session, d.number)
    if digital is not None:
        rule, rule_text, authorised = digital.rule, digital.rule_text, digital.authorised_by
    else:
        rule, rule_text, authorised = "retention", policy.describe(), "policy:retention"
    when = destroy_date(session, d, policy)
    p.status, p.destroyed_at = "destroyed", utcnow()
    _event(session, p, "destroy", actor)
    record = DestructionRecord(
        dossier=d.number,
        scope="paper",
        rule=rule,
        rule_text=rule_text,
        end_date=d.end_date,
        trigger_date=when or on,
        authorised_by=authorised,
        performed_by=by_,
        recorded_by=actor,
        performed_on=on,
        witness=witness_,
        certificate=certificate_,
        method=method_,
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        actor=actor,
        role=role,
        action="paper.destroy",
        dossier=d.number,
        detail=f"destruction record {record.id}: by {by_}, "
        + (f"witness {witness_}" if witness_ else f"certificate {certificate_}")
        + f", {method_}",
    )
    return record


# ---- reading ------------------------------------------------------------------------------------


def history(session, number: str) -> list[dict]:
    rows = session.execute(select(PaperEvent).where(PaperEvent.dossier == number).order_by(PaperEvent.id)).scalars()
    return [
        {
            "at": e.at.isoformat(),
            "action": e.action,
            "by": e.actor,
            "location": {"room": e.room, "cabinet": e.cabinet, "shelf": e.shelf},
            "holder": e.holder,
            "due": e.due.isoformat() if e.due else None,
        }
        for e in rows
    ]


def show(session, d: Dossier, policy: RetentionPolicy) -> dict:
    p = get_file(session, d.number)
    when = destroy_date(session, d, policy)
    record = None
    if p.status == "destroyed":
        rec = session.execute(
            select(DestructionRecord)
            .where(DestructionRecord.dossier == d.number, DestructionRecord.scope == "paper")
            .order_by(DestructionRecord.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        record = record_dict(rec) if rec else None
    hold = active_hold(session, d.number)
    return {
        "dossier": d.number,
        "status": p.status,
        "location": location(p),
        "holder": p.holder,
        "due": p.due.isoformat() if p.due else None,
        "checked_out_at": p.checked_out_at.isoformat() if p.checked_out_at else None,
        "destroy_on": when.isoformat() if when else None,
        "dossier_status": d.status,
        "hold": {"since": hold.placed_at.isoformat(), "by": hold.placed_by} if hold else None,
        "destruction": record,
        "history": history(session, d.number),
    }


def inventory(
    session,
    *,
    today: dt.date,
    policy: RetentionPolicy,
    room: str | None = None,
    cabinet: str | None = None,
    overdue: bool = False,
    include_destroyed: bool = False,
) -> list[dict]:
    q = select(PaperFile)
    if not include_destroyed:
        q = q.where(PaperFile.status != "destroyed")
    if room:
        q = q.where(PaperFile.room == room)
    if cabinet:
        q = q.where(PaperFile.cabinet == cabinet)
    if overdue:
        q = q.where(PaperFile.status == "checked-out", PaperFile.due < today)
    out = []
    for p in session.execute(
        q.order_by(PaperFile.room, PaperFile.cabinet, PaperFile.shelf, PaperFile.dossier)
    ).scalars():
        d = session.get(Dossier, p.dossier)
        when = destroy_date(session, d, policy)
        out.append(
            {
                "dossier": p.dossier,
                "status": p.status,
                "location": location(p),
                "holder": p.holder,
                "due": p.due.isoformat() if p.due else None,
                "overdue": bool(p.status == "checked-out" and p.due and p.due < today),
                "destroy_on": when.isoformat() if when else None,
                # Due once the dossier is due or already destroyed (retention run, erasure), unless on hold.
                "due_for_destruction": p.status != "destroyed" and paper_may_go(session, d, today, policy),
                "dossier_status": d.status,
            }
        )
    return out


def record_dict(r: DestructionRecord) -> dict:
    out = {
        "id": r.id,
        "dossier": r.dossier,
        "scope": r.scope,
        "rule": r.rule,
        "rule_text": r.rule_text,
        "reason": r.reason,
        "end_date": r.end_date.isoformat() if r.end_date else None,
        "trigger_date": r.trigger_date.isoformat(),
        "performed_on": r.performed_on.isoformat(),
        "recorded_at": r.recorded_at.isoformat(),
        "authorised_by": r.authorised_by,
        "performed_by": r.performed_by,
        "recorded_by": r.recorded_by,
    }
    if r.scope == "digital":
        out.update(
            key_id=r.key_id,
            counts={
                "documents": r.documents,
                "pages": r.pages,
                "files": r.files,
                "page_texts": r.page_texts,
                "search_tokens": r.search_tokens,
            },
        )
    else:
        out.update(paper={"by": r.performed_by, "witness": r.witness, "certificate": r.certificate, "method": r.method})
    return out
