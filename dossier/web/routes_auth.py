"""Logging in and out, first set-up through a one-time link, one's own account."""

from __future__ import annotations

import secrets

import segno
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from archive.errors import DossierError
from services import auth

from . import i18n
from .common import COOKIE, LOGIN_COOKIE, Posted, SignedIn, address, check_csrf, core, language, page

router = APIRouter()


def cookie(request: Request, name: str, value: str, *, clear: bool = False) -> str:
    """A Set-Cookie value: HttpOnly; SameSite=Strict; Path=/, Secure under TLS or behind a proxy.
    No expiry: the server decides when a session ends."""
    parts = [f"{name}={'' if clear else value}", "HttpOnly", "SameSite=Strict", "Path=/"]
    if request.app.state.secure_cookies:
        parts.append("Secure")
    if clear:
        parts.append("Max-Age=0")
    return "; ".join(parts)


def _redirect(to: str, *cookies: str) -> RedirectResponse:
    r = RedirectResponse(to, status_code=303)
    for c in cookies:
        r.headers.append("set-cookie", c)
    return r


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path of this site only (no scheme, host or query)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value.split("?", 1)[0].split("#", 1)[0] or "/"


def login_page(request: Request, *, status: int = 200, error: str | None = None, notice: str | None = None, name=""):
    """The login form, with a fresh or the existing login CSRF cookie."""
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    r = page(
        request,
        "login.html",
        status=status,
        csrf=token,
        error=error,
        notice=notice,
        name=name,
        next=safe_next(request.url.path if request.url.path not in ("/login", "/logout") else None),
    )
    r.headers.append("set-cookie", cookie(request, LOGIN_COOKIE, token))
    return r


@router.get("/login")
def login_form(request: Request, bye: str | None = None):
    notice = {"out": "You are logged out.", "password": "Your password was changed; log in with the new one."}
    return login_page(request, notice=notice.get(bye or ""))


@router.post("/login")
async def login_submit(request: Request):
    form = await request.form()
    await check_csrf(request, request.cookies.get(LOGIN_COOKIE))
    name = str(form.get("username", ""))
    try:
        pending = await run_in_threadpool(
            auth.login_password, core(request), name, str(form.get("password", "")), address=address(request)
        )
    except auth.LoginFailed as e:
        return login_page(request, status=401, error=i18n.error(language(request), e), name=name[:64])
    to = "/login/code"
    nxt = safe_next(str(form.get("next", "")))
    if nxt != "/":
        to += f"?next={nxt}"
    return _redirect(to, cookie(request, COOKIE, pending.id))


def _pending(request: Request) -> auth.SessionInfo | None:
    try:
        return auth.session_for(core(request), request.cookies.get(COOKIE), stages=("password",))
    except auth.NotAuthenticated:
        return None


@router.get("/login/code")
def code_form(request: Request, next: str | None = None):
    info = _pending(request)
    if info is None:
        return _redirect("/login")
    return page(request, "code.html", csrf=info.csrf, name=info.user, next=safe_next(next))


@router.post("/login/code")
async def code_submit(request: Request):
    form = await request.form()
    info = await run_in_threadpool(_pending, request)
    if info is None:
        return login_page(request, status=401, error=i18n.t(language(request), "Log in again: too much time passed."))
    await check_csrf(request, info.csrf)
    try:
        full = await run_in_threadpool(
            auth.login_code,
            core(request),
            request.cookies.get(COOKIE),
            str(form.get("code", "")),
            address=address(request),
        )
    except auth.LoginFailed as e:
        lang = language(request)
        if e.code == "locked":
            return login_page(request, status=401, error=i18n.error(lang, e))
        return page(
            request, "code.html", status=401, csrf=info.csrf, name=info.user, error=i18n.error(lang, e), next="/"
        )
    return _redirect(safe_next(str(form.get("next", ""))), cookie(request, COOKIE, full.id))


@router.post("/logout")
def logout(request: Request, web: Posted):
    request.app.state.marks.forget(web.session_id)
    auth.logout(core(request), web.session_id, address=address(request))
    return _redirect("/login?bye=out", cookie(request, COOKIE, "", clear=True))


# ---- first login through a set-up link, and a new authenticator ------------------------------------


@router.get("/setup/totp")
def setup_totp(request: Request):
    sid = request.cookies.get(COOKIE)
    info = auth.session_for(core(request), sid, stages=("enrol", "full"))
    enrol = auth.enrolment(core(request), sid)
    return page(request, "setup_totp.html", csrf=info.csrf, enrol=enrol, qr=_qr(enrol.otpauth_uri))


@router.post("/setup/totp")
async def setup_totp_confirm(request: Request):
    form = await request.form()
    sid = request.cookies.get(COOKIE)
    app = core(request)
    info = await run_in_threadpool(auth.session_for, app, sid, stages=("enrol", "full"))
    await check_csrf(request, info.csrf)
    try:
        done = await run_in_threadpool(
            auth.confirm_setup, app, sid, str(form.get("code", "")), address=address(request)
        )
    except DossierError as e:
        enrol = await run_in_threadpool(auth.enrolment, app, sid)
        return page(
            request,
            "setup_totp.html",
            status=400,
            csrf=info.csrf,
            enrol=enrol,
            qr=_qr(enrol.otpauth_uri),
            error=i18n.error(language(request), e),
        )
    r = page(request, "recovery_codes.html", csrf=done.csrf, codes=done.recovery_codes, name=done.user)
    r.headers.append("set-cookie", cookie(request, COOKIE, done.id))
    return r


def _qr(uri: str) -> Markup:
    """The enrolment QR code as inline SVG: made here, no request leaves the server."""
    return Markup(segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff", title="QR"))


@router.get("/setup/{token}")
def setup_form(request: Request, token: str):
    name = auth.setup_link_user(core(request), token)
    return _setup_page(request, token, name)


def _setup_page(request: Request, token: str, name: str, *, status: int = 200, error: str | None = None) -> Response:
    csrf = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    r = page(request, "setup_password.html", status=status, csrf=csrf, name=name, token=token, error=error)
    r.headers.append("set-cookie", cookie(request, LOGIN_COOKIE, csrf))
    return r


@router.post("/setup/{token}")
async def setup_submit(request: Request, token: str):
    form = await request.form()
    await check_csrf(request, request.cookies.get(LOGIN_COOKIE))
    app = core(request)
    name = await run_in_threadpool(auth.setup_link_user, app, token)
    password, again = str(form.get("password", "")), str(form.get("again", ""))
    lang = language(request)
    if password != again:
        return _setup_page(request, token, name, status=400, error=i18n.t(lang, "The two passwords differ."))
    try:
        enrol = await run_in_threadpool(auth.begin_setup, app, token, password, address=address(request))
    except DossierError as e:
        return _setup_page(request, token, name, status=400, error=i18n.error(lang, e))
    return _redirect("/setup/totp", cookie(request, COOKIE, enrol.id))


@router.get("/account")
def account(request: Request, web: SignedIn, done: str | None = None):
    return page(request, "account.html", web=web, done=done)


@router.post("/account/password")
async def account_password(request: Request, web: Posted):
    form = await request.form()
    current, new, again = (str(form.get(k, "")) for k in ("current", "password", "again"))
    lang = web.lang
    if new != again:
        return page(request, "account.html", web=web, status=400, error=i18n.t(lang, "The two passwords differ."))
    try:
        await run_in_threadpool(auth.change_own_password, web.ctx, current, new)
    except DossierError as e:
        return page(request, "account.html", web=web, status=400, error=i18n.error(lang, e))
    return _redirect("/login?bye=password", cookie(request, COOKIE, "", clear=True))


@router.post("/account/totp")
async def account_totp(request: Request, web: Posted):
    form = await request.form()
    try:
        await run_in_threadpool(
            auth.begin_new_authenticator,
            core(request),
            web.session_id,
            str(form.get("current", "")),
            address=address(request),
        )
    except DossierError as e:
        return page(request, "account.html", web=web, status=400, error=i18n.error(web.lang, e))
    return _redirect("/setup/totp")
