"""The office: new dossiers, cover sheets, the quarantine, paper files, the inbox's status."""

from __future__ import annotations

import threading
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from archive.errors import BadInput
from classify.doctypes import DOCUMENT_TYPES
from services import covers, dossiers, paper, quarantine, scanning, status, users, validate

from .common import Posted, SignedIn, page

router = APIRouter()

# Filing a quarantined item runs the scan flow through a Prefect server (the watcher's, or one
# started for the purpose); one at a time from the web app, as prefect_for sets the process's
# PREFECT_API_URL while it runs.
_flow_lock = threading.Lock()


def _back(to: str, msg: str) -> RedirectResponse:
    return RedirectResponse(f"{to}?msg={quote(msg)}", status_code=303)


@router.get("/office/new")
def new_form(request: Request, web: SignedIn):
    return page(request, "new_dossier.html", web=web, coaches=users.coaches(web.ctx)["coaches"])


@router.post("/office/new")
def new_submit(request: Request, web: Posted):
    f = web.field
    out = dossiers.open_dossier(
        web.ctx,
        coach=f("coach"),
        client_name=f("client_name") or None,
        bsn=f("bsn") or None,
        commissioner=f("commissioner") or None,
        start=validate.date(f("start") or None, "the start date"),
    )
    return _back(f"/dossiers/{out['dossier']}", "same-bsn" if out.get("warning") else "opened")


@router.get("/office/cover")
def cover_form(request: Request, web: SignedIn):
    return page(request, "cover.html", web=web, types=DOCUMENT_TYPES)


@router.post("/office/cover")
def cover_submit(request: Request, web: Posted):
    sheet = covers.make_cover(web.ctx, web.field("dossier"), web.field("type"))
    name = f"voorblad-{sheet.dossier}-{sheet.doc_type}-{sheet.serial}.pdf"
    return Response(
        sheet.pdf, media_type="application/pdf", headers={"content-disposition": f'attachment; filename="{name}"'}
    )


@router.get("/quarantine")
def quarantine_list(request: Request, web: SignedIn):
    items = quarantine.list_items(web.ctx)["items"]
    return page(
        request, "quarantine.html", web=web, items=items, types=DOCUMENT_TYPES, msg=request.query_params.get("msg")
    )


@router.get("/quarantine/{item_id}/pages/{n}.jpg")
def quarantine_page(request: Request, item_id: str, n: int, web: SignedIn, w: int = 600):
    return Response(quarantine.item_page(web.ctx, item_id, n, width=w), media_type="image/jpeg")


@router.get("/quarantine/{item_id}/message")
def quarantine_message(request: Request, item_id: str, web: SignedIn):
    return page(request, "message.html", web=web, m=quarantine.read_message(web.ctx, item_id))


@router.post("/quarantine/{item_id}/assign")
def quarantine_assign(request: Request, item_id: str, web: Posted):
    from ..prefect_server import prefect_for

    number, doc_type = validate.dossier_number(web.field("dossier")), validate.doc_type(web.field("type"))
    with _flow_lock, prefect_for(web.ctx.app):
        scanning.assign_item(web.ctx, item_id, number, doc_type)
    return _back("/quarantine", "assigned")


@router.post("/quarantine/{item_id}/discard")
def quarantine_discard(request: Request, item_id: str, web: Posted):
    quarantine.discard_item(web.ctx, item_id)
    return _back("/quarantine", "discarded")


@router.get("/paper")
def paper_list(request: Request, web: SignedIn):
    files = paper.inventory(web.ctx)["files"]
    return page(request, "paper.html", web=web, files=files, msg=request.query_params.get("msg"))


@router.post("/paper/{number}/register")
def paper_register(request: Request, number: str, web: Posted):
    f = web.field
    paper.register(web.ctx, number, room=f("room"), cabinet=f("cabinet"), shelf=f("shelf") or None)
    return _back(f"/dossiers/{validate.dossier_number(number)}", "paper-registered")


@router.post("/paper/{number}/checkout")
def paper_checkout(request: Request, number: str, web: Posted):
    due = validate.date(web.field("due") or None, "the due date")
    paper.checkout(web.ctx, number, to=web.field("to"), due=due)
    return _back(f"/dossiers/{validate.dossier_number(number)}", "paper-out")


@router.post("/paper/{number}/checkin")
def paper_checkin(request: Request, number: str, web: Posted):
    paper.checkin(web.ctx, number)
    return _back(f"/dossiers/{validate.dossier_number(number)}", "paper-in")


@router.post("/paper/{number}/destroyed")
def paper_destroyed(request: Request, number: str, web: Posted):
    f = web.field
    paper.confirm_destroyed(
        web.ctx,
        number,
        by=f("by"),
        witness=f("witness") or None,
        certificate=f("certificate") or None,
        method=f("method") or None,
        on=validate.date(f("on") or None, "the destruction date"),
    )
    return _back(f"/dossiers/{validate.dossier_number(number)}", "paper-destroyed")


@router.post("/dossiers/{number}/close")
def close(request: Request, number: str, web: Posted):
    end = validate.date(web.field("end") or None, "the end date")
    if end is None:
        raise BadInput("give the day the trajectory ended", "empty")
    dossiers.close_dossier(web.ctx, number, end)
    return _back(f"/dossiers/{validate.dossier_number(number)}", "closed")


@router.get("/status")
def inbox_status(request: Request, web: SignedIn):
    st = status.system_status(web.ctx)
    partial = request.headers.get("hx-request") == "true"
    return page(request, "status.html", web=web, st=st, partial=partial)
