"""What every route uses: who is logged in (and the CSRF check of a POST), the language, pages.

Routes stay thin: authenticate here, call one use case, render. Permission is never decided
here or in a template: the use case decides, and refuses with an error this module renders.
What a template shows or hides by role is presentation only.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from archive import access
from archive.errors import DossierError, NotPermitted, RuleForbids
from archive.search import normalise, words
from services import auth
from services.context import App, Context, act_as

from . import i18n

HERE = Path(__file__).parent
COOKIE = "dossier_session"
LOGIN_COOKIE = "dossier_login"  # the login form's CSRF token, before there is a session


class CsrfRefused(NotPermitted):
    default_code = "csrf"


def core(request: Request) -> App:
    return request.app.state.core


def address(request: Request) -> str | None:
    return request.client.host if request.client else None


def language(request: Request) -> str:
    return i18n.language(request.headers.get("accept-language"))


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


@dataclass
class Web:
    """A logged-in request: the use cases' context (channel web, the client's address) and the session."""

    request: Request
    ctx: Context
    session: auth.SessionInfo
    session_id: str
    form: dict | None = None  # a POST's fields, once its CSRF token was checked

    def field(self, name: str, default: str = "") -> str:
        value = (self.form or {}).get(name, default)
        return value if isinstance(value, str) else default

    @property
    def lang(self) -> str:
        return language(self.request)

    @property
    def role(self) -> str:
        return self.ctx.actor.role


def signed_in(request: Request) -> Web:
    """The dependency of every page, file and API call: a live full session (401 otherwise)."""
    app = core(request)
    sid = request.cookies.get(COOKIE)
    # The inbox page polls itself (htmx, marked X-Dossier-Poll): that keeps no session alive.
    info = auth.session_for(app, sid, touch=request.headers.get("x-dossier-poll") != "1")
    ctx = act_as(app, info.user, channel="web", address=address(request))
    return Web(request, ctx, info, sid)


async def posted(request: Request) -> Web:
    """The dependency of every POST: a live session and its CSRF token, in the form field `csrf`
    or the X-CSRF-Token header (htmx). The same-origin check has run already (guard.py)."""
    from starlette.concurrency import run_in_threadpool

    web = await run_in_threadpool(signed_in, request)
    web.form = await check_csrf(request, web.session.csrf)
    return web


async def check_csrf(request: Request, expected: str | None) -> dict:
    """The request's form fields, once its token matched `expected` (CsrfRefused, 403, otherwise)."""
    form = dict(await request.form())
    token = request.headers.get("x-csrf-token") or form.get("csrf")
    if not expected or not isinstance(token, str) or not secrets.compare_digest(token, expected):
        raise CsrfRefused("the form has expired or did not come from this site; reload the page and try again")
    return form


SignedIn = Annotated[Web, Depends(signed_in)]
Posted = Annotated[Web, Depends(posted)]


# ---- search terms of a session, in memory only ---------------------------------------------------


class Marks:
    """The words of a session's last search, so the viewer can mark them on the pages it opens from
    the results without the words travelling in a URL or being stored anywhere. Process memory only."""

    TTL = 30 * 60

    def __init__(self) -> None:
        self._by_session: dict[str, tuple[float, list[str]]] = {}

    def remember(self, session_id: str, query: str) -> None:
        now = time.monotonic()
        self._by_session = {k: v for k, v in self._by_session.items() if v[0] > now}
        self._by_session[auth._id_hash(session_id)] = (now + self.TTL, words(query))

    def recall(self, session_id: str) -> list[str]:
        entry = self._by_session.get(auth._id_hash(session_id))
        return entry[1] if entry and entry[0] > time.monotonic() else []

    def forget(self, session_id: str | None) -> None:
        if session_id:
            self._by_session.pop(auth._id_hash(session_id), None)


def marker(terms: list[str]):
    """A predicate for poppler's word list: does this word (as printed) match a search term?"""
    wanted = set(terms)
    return lambda word: any(w in wanted for w in words(word))


_WORD = re.compile(r"\w+", re.UNICODE)


def mark(text: str | None, terms: list[str]) -> Markup:
    """The text, escaped, with the words that match a search term in <mark>."""
    if not text:
        return Markup("")
    if not terms:
        return escape(text)
    wanted = set(terms)
    out, last = [], 0
    for m in _WORD.finditer(text):
        if normalise(m.group()) in wanted:
            out += [escape(text[last : m.start()]), Markup("<mark>"), escape(m.group()), Markup("</mark>")]
            last = m.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


# ---- pages ---------------------------------------------------------------------------------------


@cache
def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["mark"] = mark
    return env


def local_time(iso: str | None, zone: str) -> str:
    if not iso:
        return "–"
    t = dt.datetime.fromisoformat(iso)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


_FORM_PAGES = (
    (re.compile(r"^/(?:paper|dossiers)/(D-\d{4}-\d{4,6})/"), "/dossiers/{}"),
    (re.compile(r"^/quarantine/"), "/quarantine"),
    (re.compile(r"^/users/|^/users$"), "/users"),
    (re.compile(r"^/office/(new|cover)$"), "/office/{}"),
)


def back_to_form(method: str, path: str) -> str | None:
    """Where a refused form came from, for the error page's way back (the browser sends no
    referrer). Only the app's own pages; nothing but the dossier number is taken from the path."""
    if method != "POST":
        return None
    for pattern, target in _FORM_PAGES:
        m = pattern.match(path)
        if m:
            return target.format(*m.groups())
    return None


@dataclass(frozen=True)
class Refused:
    """A form whose use case refused what was typed: its page is shown again with the reason beside
    the form and the typed values still in it, so nobody types a dossier twice."""

    action: str  # the form's own path: which form on the page it was
    message: str
    status: int
    values: dict[str, str]

    def at(self, action: str) -> bool:
        return self.action == action

    def kept(self, action: str, name: str) -> str:
        return self.values.get(name, "") if self.at(action) else ""


KEPT_MAX = 500  # longer than any field of these forms; a value past it is not shown again


def submit(request: Request, web: Web, do: Callable[[], Response], again: Callable[[Refused], Response]) -> Response:
    """Run a form's use case; when it refuses the input (400, 404, 409) or a rule forbids it now
    (a legal hold, not yet due), `again` shows the form's page again with the refusal. A role that
    may not, no login or a fault go to the app's error handling. The page's own use case runs
    again, so it checks permission again."""
    try:
        return do()
    except DossierError as e:
        if e.http_status not in (400, 404, 409) and not isinstance(e, RuleForbids):
            raise
        values = {
            k: v for k, v in (web.form or {}).items() if k != "csrf" and isinstance(v, str) and len(v) <= KEPT_MAX
        }
        return again(Refused(request.url.path, i18n.error(web.lang, e), e.http_status, values))


def page(
    request: Request,
    template: str,
    /,
    *,
    web: Web | None = None,
    status: int = 200,
    csrf: str | None = None,
    refused: Refused | None = None,
    **data,
) -> HTMLResponse:
    """A template rendered for this request. With `refused`, the page of a refused form: its status,
    and `refusal(action)` / `kept(action, name)` put the reason and the typed values in that form."""
    lang = language(request)
    zone = core(request).policy.timezone
    role = web.role if web else None
    placed: list[str] = []

    def refusal(action: str) -> Markup:
        if refused is None or not refused.at(action):
            return Markup("")
        placed.append(action)
        return Markup('<p class="error" role="alert" data-refused>{}</p>').format(refused.message)

    def render(**extra) -> str:
        return (
            templates()
            .get_template(template)
            .render(
                _=i18n.translator(lang),
                lang=lang,
                user=web.ctx.actor.name if web else None,
                role=role,
                csrf=web.session.csrf if web else csrf,
                may=lambda action: role is not None and access.role_may(role, action),
                when=lambda iso: local_time(iso, zone),
                path=request.url.path,
                refused=refused,
                refusal=refusal,
                kept=lambda action, name: refused.kept(action, name) if refused else "",
                **data,
                **extra,
            )
        )

    html = render()
    if refused is not None and not placed:  # the form is gone from the page (its state changed): say it on top
        html = render(unplaced=refused.message)
    return HTMLResponse(html, status_code=refused.status if refused else status)


def done(to: str, msg: str) -> RedirectResponse:
    """After a form that worked: its page again (303, so a reload does not post twice), saying what was done."""
    return RedirectResponse(f"{to}?msg={quote(msg)}", status_code=303)


def api_error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"error": message, "code": code}, status_code=status)
