"""The privacy officer: users, who has seen a dossier, retention, legal holds, erasure."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services import audit_log, auth, dossiers, retention, users, validate

from .common import Posted, Refused, SignedIn, Web, page, submit
from .routes_read import back_to_dossier, on_dossier_page

router = APIRouter()

# What "who has seen this" lists first: the events that showed something of the dossier.
READS = {
    "dossier.show",
    "dossier.reveal",
    "documents.list",
    "document.view",
    "document.page",
    "document.read",
    "documents.search",
    "documents.search.hit",
    "paper.show",
}


def _users_page(request: Request, web: Web, *, link: dict | None = None, refused: Refused | None = None):
    listed = users.list_users(web.ctx)["users"]
    if link is not None:
        link = {**link, "url": str(request.base_url).rstrip("/") + f"/setup/{link['token']}"}
    return page(request, "users.html", web=web, users=listed, link=link, refused=refused)


def _on_users_page(request: Request, web: Web, do: Callable[[], Response]) -> Response:
    return submit(request, web, do, lambda refused: _users_page(request, web, refused=refused))


@router.get("/users")
def users_list(request: Request, web: SignedIn):
    return _users_page(request, web)


@router.post("/users")
def users_add(request: Request, web: Posted):
    def do():
        added = users.add_user(web.ctx, web.field("name").strip(), web.field("role"))
        return _users_page(request, web, link=auth.issue_setup_link(web.ctx, added["user"]))

    return _on_users_page(request, web, do)


@router.post("/users/{name}/disable")
def users_disable(request: Request, name: str, web: Posted):
    def do():
        users.disable_user(web.ctx, name)
        return _users_page(request, web)

    return _on_users_page(request, web, do)


@router.post("/users/{name}/enable")
def users_enable(request: Request, name: str, web: Posted):
    def do():
        users.enable_user(web.ctx, name)
        return _users_page(request, web)

    return _on_users_page(request, web, do)


@router.post("/users/{name}/reset")
def users_reset(request: Request, name: str, web: Posted):
    """A lost phone or a forgotten password: the credentials are cleared, a new set-up link shown."""
    return _on_users_page(
        request, web, lambda: _users_page(request, web, link=auth.issue_setup_link(web.ctx, name, reset=True))
    )


@router.post("/users/{name}/role")
def users_role(request: Request, name: str, web: Posted):
    def do():
        users.set_role(web.ctx, name, web.field("role"))
        return _users_page(request, web)

    return _on_users_page(request, web, do)


@router.get("/dossiers/{number}/history")
def history(request: Request, number: str, web: SignedIn):
    events = audit_log.show(web.ctx, dossier=number)["events"]
    events.reverse()  # newest first
    return page(request, "history.html", web=web, number=validate.dossier_number(number), events=events, reads=READS)


@router.get("/retention")
def retention_page(request: Request, web: SignedIn):
    due = retention.due(web.ctx)
    log = retention.log(web.ctx)["records"] if web.role == "privacy" else []
    return page(request, "retention.html", web=web, due=due, log=log)


@router.post("/dossiers/{number}/hold")
def hold(request: Request, number: str, web: Posted):
    def do():
        dossiers.place_hold(web.ctx, number, web.field("reason"))
        return back_to_dossier(number, "held")

    return on_dossier_page(request, web, number, do)


@router.post("/dossiers/{number}/release")
def release(request: Request, number: str, web: Posted):
    def do():
        dossiers.release_hold(web.ctx, number)
        return back_to_dossier(number, "released")

    return on_dossier_page(request, web, number, do)


@router.post("/dossiers/{number}/erase/confirm")
def erase_confirm(request: Request, number: str, web: Posted):
    """What erasure would destroy, checked but not done: the officer confirms on this page."""

    def do():
        plan = dossiers.erasure_plan(web.ctx, number, web.field("reason"))
        return page(request, "erase.html", web=web, plan=plan, reason=web.field("reason"))

    return on_dossier_page(request, web, number, do)


@router.post("/dossiers/{number}/erase")
def erase(request: Request, number: str, web: Posted):
    if web.field("confirm") != validate.dossier_number(number):
        plan = dossiers.erasure_plan(web.ctx, number, web.field("reason"))
        return page(request, "erase.html", web=web, plan=plan, reason=web.field("reason"), status=400, mismatch=True)
    done = dossiers.erase_dossier(web.ctx, number, web.field("reason"))
    return page(request, "erased.html", web=web, done=done)
