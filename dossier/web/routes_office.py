"""The office: new dossiers, cover sheets, the quarantine, paper files, the inbox's status."""

from __future__ import annotations

import threading

from fastapi import APIRouter, Request
from fastapi.responses import Response

from archive.errors import BadInput
from classify.doctypes import DOCUMENT_TYPES
from services import covers, dossiers, paper, quarantine, scanning, status, users, validate

from .common import Posted, Refused, SignedIn, Web, done, page, submit
from .routes_read import back_to_dossier, on_dossier_page

router = APIRouter()

# Filing a quarantined item runs the scan flow through a Prefect server (the watcher's, or one
# started for the purpose); one at a time from the web app, as prefect_for sets the process's
# PREFECT_API_URL while it runs.
_flow_lock = threading.Lock()


def _new_page(request: Request, web: Web, refused: Refused | None = None):
    return page(request, "new_dossier.html", web=web, coaches=users.coaches(web.ctx)["coaches"], refused=refused)


@router.get("/office/new")
def new_form(request: Request, web: SignedIn):
    return _new_page(request, web)


@router.post("/office/new")
def new_submit(request: Request, web: Posted):
    def do():
        f = web.field
        out = dossiers.open_dossier(
            web.ctx,
            coach=f("coach"),
            client_name=f("client_name") or None,
            bsn=f("bsn") or None,
            commissioner=f("commissioner") or None,
            start=validate.date(f("start") or None, "the start date"),
        )
        return done(f"/dossiers/{out['dossier']}", "same-bsn" if out.get("warning") else "opened")

    return submit(request, web, do, lambda refused: _new_page(request, web, refused))


def _cover_page(request: Request, web: Web, refused: Refused | None = None):
    return page(request, "cover.html", web=web, types=DOCUMENT_TYPES, refused=refused)


@router.get("/office/cover")
def cover_form(request: Request, web: SignedIn):
    return _cover_page(request, web)


@router.post("/office/cover")
def cover_submit(request: Request, web: Posted):
    def do():
        sheet = covers.make_cover(web.ctx, web.field("dossier"), web.field("type"))
        name = f"voorblad-{sheet.dossier}-{sheet.doc_type}-{sheet.serial}.pdf"
        return Response(
            sheet.pdf, media_type="application/pdf", headers={"content-disposition": f'attachment; filename="{name}"'}
        )

    return submit(request, web, do, lambda refused: _cover_page(request, web, refused))


def _quarantine_page(request: Request, web: Web, refused: Refused | None = None):
    items = quarantine.list_items(web.ctx)["items"]
    msg = request.query_params.get("msg")
    return page(request, "quarantine.html", web=web, items=items, types=DOCUMENT_TYPES, msg=msg, refused=refused)


@router.get("/quarantine")
def quarantine_list(request: Request, web: SignedIn):
    return _quarantine_page(request, web)


@router.get("/quarantine/{item_id}/pages/{n}.jpg")
def quarantine_page(request: Request, item_id: str, n: int, web: SignedIn, w: int = 600):
    return Response(quarantine.item_page(web.ctx, item_id, n, width=w), media_type="image/jpeg")


@router.get("/quarantine/{item_id}/message")
def quarantine_message(request: Request, item_id: str, web: SignedIn):
    return page(request, "message.html", web=web, m=quarantine.read_message(web.ctx, item_id))


@router.post("/quarantine/{item_id}/assign")
def quarantine_assign(request: Request, item_id: str, web: Posted):
    from ..prefect_server import prefect_for

    def do():
        number, doc_type = validate.dossier_number(web.field("dossier")), validate.doc_type(web.field("type"))
        with _flow_lock, prefect_for(web.ctx.app):
            scanning.assign_item(web.ctx, item_id, number, doc_type)
        return done("/quarantine", "assigned")

    return submit(request, web, do, lambda refused: _quarantine_page(request, web, refused))


@router.post("/quarantine/{item_id}/discard")
def quarantine_discard(request: Request, item_id: str, web: Posted):
    def do():
        quarantine.discard_item(web.ctx, item_id)
        return done("/quarantine", "discarded")

    return submit(request, web, do, lambda refused: _quarantine_page(request, web, refused))


@router.get("/paper")
def paper_list(request: Request, web: SignedIn):
    files = paper.inventory(web.ctx)["files"]
    return page(request, "paper.html", web=web, files=files, msg=request.query_params.get("msg"))


@router.post("/paper/{number}/register")
def paper_register(request: Request, number: str, web: Posted):
    f = web.field

    def do():
        paper.register(web.ctx, number, room=f("room"), cabinet=f("cabinet"), shelf=f("shelf") or None)
        return back_to_dossier(number, "paper-registered")

    return on_dossier_page(request, web, number, do)


@router.post("/paper/{number}/checkout")
def paper_checkout(request: Request, number: str, web: Posted):
    def do():
        due = validate.date(web.field("due") or None, "the due date")
        paper.checkout(web.ctx, number, to=web.field("to"), due=due)
        return back_to_dossier(number, "paper-out")

    return on_dossier_page(request, web, number, do)


@router.post("/paper/{number}/checkin")
def paper_checkin(request: Request, number: str, web: Posted):
    def do():
        paper.checkin(web.ctx, number)
        return back_to_dossier(number, "paper-in")

    return on_dossier_page(request, web, number, do)


@router.post("/paper/{number}/destroyed")
def paper_destroyed(request: Request, number: str, web: Posted):
    f = web.field

    def do():
        paper.confirm_destroyed(
            web.ctx,
            number,
            by=f("by"),
            witness=f("witness") or None,
            certificate=f("certificate") or None,
            method=f("method") or None,
            on=validate.date(f("on") or None, "the destruction date"),
        )
        return back_to_dossier(number, "paper-destroyed")

    return on_dossier_page(request, web, number, do)


@router.post("/dossiers/{number}/close")
def close(request: Request, number: str, web: Posted):
    def do():
        end = validate.date(web.field("end") or None, "the end date")
        if end is None:
            raise BadInput("give the day the trajectory ended", "empty")
        dossiers.close_dossier(web.ctx, number, end)
        return back_to_dossier(number, "closed")

    return on_dossier_page(request, web, number, do)


@router.get("/status")
def inbox_status(request: Request, web: SignedIn):
    st = status.system_status(web.ctx)
    partial = request.headers.get("hx-request") == "true"
    return page(request, "status.html", web=web, st=st, partial=partial)
