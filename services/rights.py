"""Clients' rights (GDPR art. 12, 15–17, 19; DESIGN.md §10), privacy officer: requests with their
deadlines, rectification, and closing an erasure request by erasing the dossier.

The access export is services/access_export.py; consent and disclosure services/consent.py; the
breach register services/breach.py.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from archive import lifecycle, rights
from archive.catalog import Dossier, utcnow
from archive.errors import BadInput, Conflict, NotFound, NotPermitted, RuleForbids
from archive.rights import Disclosure, RightsRequest

from . import validate
from .context import Context, UnitOfWork
from .documents import resolve_document

# ---- requests -----------------------------------------------------------------------------------


def _live(d: Dossier) -> None:
    if d.status == "destroyed":
        when = f" on {d.destroyed_at:%Y-%m-%d}" if d.destroyed_at else ""
        raise NotFound(f"dossier {d.number} was destroyed{when}; nothing is held on the client any more", "destroyed")


def request_id(value: str) -> str:
    """A request id as typed (r-2026-0001); BadInput when it is not one."""
    return rights.parse_id(value, "request")


def load_request(uow: UnitOfWork, ident: str) -> tuple[RightsRequest, Dossier]:
    """A request by its id, with its dossier; the actor's permission is checked (and a refusal audited)."""
    rid = request_id(ident)
    r = uow.session.get(RightsRequest, rid)
    if r is None:
        uow.allow()
        raise NotFound(f"request {rid} does not exist; see `dossier request list`", "unknown-request")
    d = uow.dossier(r.dossier)
    uow.allow(d)
    return r, d


def open_request(ctx: Context, number: str, *, kind: str, received: dt.date, via: str | None = None) -> dict:
    """Register a client's request to see, correct or erase their data; due one month after receipt."""
    kind = validate.choice(kind, rights.REQUEST_KINDS, "the kind of request", "--kind")
    via = validate.choice(via, rights.REQUEST_CHANNELS, "the way it came in", "--via")
    validate.not_in_future(received, ctx.today, "the day it was received")
    with ctx.uow("requests.manage") as uow:
        d = uow.dossier(number)
        uow.allow(d)
        _live(d)
        r = RightsRequest(
            id=rights.next_id(uow.session, "request", received.year),
            dossier=d.number,
            kind=kind,
            via=via,
            received=received,
            due=rights.request_due(received),
            opened_by=ctx.actor.name,
        )
        uow.session.add(r)
        uow.session.flush()
        uow.audit("request.open", dossier=d.number, detail=f"{r.id}: {kind}, received {received}, due {r.due}")
        uow.commit()
        out = rights.request_dict(r, ctx.today)
    return {k: out[k] for k in ("request", "dossier", "kind", "received", "due", "via", "status", "overdue")}


def extend_request(ctx: Context, ident: str, reason: str) -> dict:
    """Move the due date two further months (art. 12(3)), once, with a reason that outlives the data.
    The client must be told within the first month: an extension after it is recorded with a warning."""
    with ctx.uow("requests.manage") as uow:
        r, d = load_request(uow, ident)
        if r.status != "open":
            raise Conflict(f"request {r.id} is closed ({r.status}); it cannot be extended", "closed")
        if r.extended_at is not None:
            raise Conflict(
                f"request {r.id} was already extended on {r.extended_at:%Y-%m-%d} (to {r.due}); the law allows "
                "one extension of two months",
                "already-extended",
            )
        clean = lifecycle.check_free_text(
            validate.text(reason, "the reason", max_len=500, required=True),
            "the reason",
            names=lifecycle.client_names(ctx.vault, uow.session, d),
        )
        previous = r.due
        r.due = rights.extended_due(r.received)
        r.extended_at, r.extended_by, r.extension_reason = utcnow(), ctx.actor.name, clean
        uow.audit("request.extend", dossier=d.number, detail=f"{r.id}: due {previous} -> {r.due}")
        uow.commit()
        out = {"request": r.id, "dossier": d.number, "due": r.due.isoformat(), "previous_due": previous.isoformat()}
    if ctx.today > previous:
        out["warning"] = (
            f"the first month ended on {previous}; the client should have been told of the extension by then"
        )
    return out


def list_requests(ctx: Context, *, open_only: bool = False, day: dt.date | None = None) -> dict:
    """Requests with their deadlines, the soonest due first; overdue from the day after the due date."""
    day = day or ctx.today
    with ctx.reading("requests.manage") as uow:
        uow.allow()
        q = select(RightsRequest)
        if open_only:
            q = q.where(RightsRequest.status == "open")
        rows = uow.session.execute(q.order_by(RightsRequest.due, RightsRequest.id)).scalars().all()
        requests = [rights.request_dict(r, day) for r in rows]
        uow.audit("request.list", detail=f"dated {day}: {len(requests)} requests")
        uow.commit()
    return {"today": day.isoformat(), "requests": requests}


def show_request(ctx: Context, ident: str) -> dict:
    """One request with what was done under it (for its page): corrections, the export, the closing."""
    with ctx.reading("requests.manage") as uow:
        r, d = load_request(uow, ident)
        out = {
            **rights.request_dict(r, ctx.today),
            "coach": d.coach,
            "dossier_status": d.status,
            "corrections": [
                {"field": h.field, "at": rights.as_utc(h.changed_at).isoformat(), "by": h.changed_by}
                for h in uow.session.execute(
                    select(rights.FieldHistory)
                    .where(rights.FieldHistory.request == r.id)
                    .order_by(rights.FieldHistory.id)
                ).scalars()
            ]
            + [
                {
                    "field": "note",
                    "document": n.document,
                    "at": rights.as_utc(n.created_at).isoformat(),
                    "by": n.created_by,
                }
                for n in uow.session.execute(
                    select(rights.DocumentNote)
                    .where(rights.DocumentNote.request == r.id)
                    .order_by(rights.DocumentNote.id)
                ).scalars()
            ],
        }
        uow.audit("request.show", dossier=d.number, detail=r.id)
        uow.commit()
    return out


def due_soon(session, today: dt.date) -> list[dict]:
    """Open requests due within a week, or overdue (for `retention due` and `dossier status`)."""
    horizon = today + dt.timedelta(days=rights.REQUEST_DUE_SOON_DAYS)
    rows = session.execute(
        select(RightsRequest)
        .where(RightsRequest.status == "open", RightsRequest.due <= horizon)
        .order_by(RightsRequest.due, RightsRequest.id)
    ).scalars()
    return [
        {
            k: v
            for k, v in rights.request_dict(r, today).items()
            if k in ("request", "dossier", "kind", "due", "overdue")
        }
        for r in rows
    ]


def close_request(ctx: Context, ident: str, *, outcome: str, note: str | None = None) -> dict:
    """Close a request as done or refused. An erasure request closed as done erases the dossier
    first (services.dossiers.erase_dossier: crypto-shredding; a legal hold still blocks it). The
    request then stays as the record that outlives the data, linked to the destruction record."""
    from . import dossiers

    outcome = validate.choice(outcome, rights.REQUEST_OUTCOMES, "the outcome", "--outcome")
    with ctx.uow("requests.manage") as uow:
        r, d = load_request(uow, ident)
        if r.status != "open":
            raise Conflict(f"request {r.id} was already closed ({r.status}) on {r.closed_at:%Y-%m-%d}", "closed")
        if outcome == "refused" and not (note and note.strip()):
            raise BadInput(
                "a refused request needs --note with the reason (the client must be told why, art. 12(4))",
                "note-needed",
            )
        clean_note = lifecycle.check_free_text(
            validate.text(note, "the note", max_len=500),
            "the note",
            names=lifecycle.client_names(ctx.vault, uow.session, d),
            required=False,
        )
        rid, kind, number, received, destroyed = r.id, r.kind, d.number, r.received, d.status == "destroyed"
    if kind == "erasure" and outcome == "done" and not destroyed:
        try:
            dossiers.erase_dossier(ctx, number, f"erasure request {rid} received {received}")
        except NotPermitted as e:
            if e.code != "on-hold":
                raise
            raise RuleForbids(
                f"erasure request {rid} stays open: dossier {number} is on legal hold, so it cannot be erased; "
                f"release the hold (`dossier release {number}`) if erasure is really required, or close the request "
                "with --outcome refused --note REASON",
                "on-hold",
            ) from None
    with ctx.uow("requests.manage") as uow:
        r, d = load_request(uow, rid)
        if r.status != "open":
            raise Conflict(f"request {r.id} was closed meanwhile ({r.status})", "closed")
        r.status, r.closed_at, r.closed_by, r.note = outcome, utcnow(), ctx.actor.name, clean_note
        if kind == "erasure" and outcome == "done":
            record = lifecycle.digital_record(uow.session, number)
            r.destruction_record = record.id if record is not None else None
        uow.audit("request.close", dossier=number, detail=f"{rid}: {kind} {outcome}")
        uow.commit()
        out = rights.request_dict(r, ctx.today)
    return {
        "request": rid,
        "status": outcome,
        "dossier": number,
        "kind": kind,
        "erased": kind == "erasure" and outcome == "done",
        "destruction_record": out["destruction_record"],
        "exported": out["exported_at"] is not None,
    }


# ---- rectification ------------------------------------------------------------------------------


def document_corrections(ctx: Context, ident: str) -> dict:
    """The correction notes of one document, for whoever may read it (the web viewer shows them
    beside the pages)."""
    with ctx.reading("documents.read") as uow:
        doc = resolve_document(uow.session, ident, ctx.actor.name if ctx.actor.role == "coach" else None)
        d = uow.dossier(doc.dossier)
        uow.document_id = doc.id
        uow.allow(d)
        _live(d)
        notes = rights.notes_by_document(uow.session, ctx.vault.dossier_keys(uow.session, d.number), d.number)
        uow.audit(
            "document.corrections", dossier=d.number, document=doc.id, detail=f"{len(notes.get(doc.id, []))} notes"
        )
        uow.commit()
    return {"document": doc.id, "dossier": d.number, "corrections": notes.get(doc.id, [])}


def _rectification_request(uow: UnitOfWork, ident: str | None, number: str) -> str | None:
    if ident is None:
        return None
    rid = rights.parse_id(ident, "request")
    r = uow.session.get(RightsRequest, rid)
    if r is None or r.dossier != number:
        raise BadInput(f"request {rid} is not a request of dossier {number}; see `dossier request list`", "bad-request")
    if r.kind != "rectification" or r.status != "open":
        raise BadInput(f"request {rid} is not an open rectification request ({r.kind}, {r.status})", "bad-request")
    return rid


def correct(
    ctx: Context,
    number: str,
    *,
    client_name: str | None = None,
    bsn: str | None = None,
    note_on: str | None = None,
    text: str | None = None,
    request: str | None = None,
) -> dict:
    """Rectification (art. 16): replace the client's name or BSN, keeping the old value sealed in
    the dossier's history (shredded with it), or attach a correction note to a document. Lists
    the recipients of earlier disclosures, who must be told (art. 19)."""
    if sum(x is not None for x in (client_name, bsn, note_on)) != 1:
        raise BadInput("give one of --client-name NAME, --bsn NUMBER or --note-on DOC --text TEXT", "correct-what")
    if (note_on is None) != (text is None):
        raise BadInput("a correction note needs both --note-on DOC and --text TEXT", "correct-what")
    new_name = validate.text(client_name, "the client name", max_len=200, required=True) if client_name else None
    if client_name is not None and new_name is None:
        raise BadInput("the client name is empty; give the corrected name", "empty")
    new_bsn = validate.bsn(bsn) if bsn is not None else None
    note_text = validate.text(text, "the correction note", max_len=2000, required=True) if text is not None else None
    with ctx.uow("dossier.correct") as uow:
        d = uow.dossier(number)
        uow.allow(d)
        _live(d)
        s = uow.session
        rid = _rectification_request(uow, request, d.number)
        keys = ctx.vault.dossier_keys(s, d.number)
        document = None
        if new_name is not None:
            field = "client_name"
            old = keys.open_field(d.client_name_sealed, "client_name")
            if old == new_name:
                raise BadInput("the client name is already this; nothing to correct", "unchanged")
            rights.add_history(s, keys, field=field, old=old, actor=ctx.actor.name, request=rid)
            d.client_name_sealed = keys.seal_field(new_name, "client_name")
        elif new_bsn is not None:
            field = "bsn"
            old = keys.open_field(d.bsn_sealed, "bsn")
            if old == new_bsn:
                raise BadInput("the BSN is already this; nothing to correct", "unchanged")
            rights.add_history(s, keys, field=field, old=old, actor=ctx.actor.name, request=rid)
            d.bsn_sealed = keys.seal_field(new_bsn, "bsn")
            d.bsn_lookup = ctx.vault.bsn_lookup(new_bsn)
        else:
            field = "note"
            doc = resolve_document(s, note_on, ctx.actor.name if ctx.actor.role == "coach" else None)
            uow.document_id = document = doc.id
            if doc.dossier != d.number:
                raise BadInput(
                    f"document {doc.id} is not in dossier {d.number}; check the id with `dossier docs`", "other-dossier"
                )
            if doc.destroyed_at is not None:
                raise NotFound(f"document {doc.id} was destroyed on {doc.destroyed_at:%Y-%m-%d}", "destroyed")
            note = rights.add_note(s, keys, document=doc.id, text=note_text, actor=ctx.actor.name, request=rid)
        q = select(Disclosure).where(Disclosure.dossier == d.number)
        if document is not None:
            q = q.where(Disclosure.document == document)
        notify = [
            {k: x[k] for k in ("disclosure", "recipient", "purpose", "document", "type", "at")}
            for x in map(
                rights.disclosure_dict, s.execute(q.order_by(Disclosure.disclosed_at, Disclosure.id)).scalars()
            )
        ]
        detail = ("correction note" if field == "note" else f"{field} replaced, old value kept sealed") + (
            f" ({rid})" if rid else ""
        )
        uow.audit("dossier.correct", dossier=d.number, document=document, detail=detail)
        uow.commit()
        out = {"dossier": d.number, "corrected": field, "request": rid, "notify": notify}
        if field == "note":
            out.update(document=document, note=note.id)
    return out
