"""The web app (DESIGN.md §9): the application factory.

People work here; the CLI is the operator's console. Every route authenticates (common.py),
calls one use case with channel "web" and the client's address, and renders; the use case
checks permission and records the audit event. Errors are rendered once, here: a page in the
user's language, or {"error", "code"} under /api/.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from archive.errors import DossierError, RuleForbids
from services import auth

from . import i18n
from .common import COOKIE, HERE, Marks, api_error, back_to_form, is_api, language, page
from .guard import Guard


def create_app(core, *, secure_cookies: bool = False) -> FastAPI:
    """The ASGI app over an opened application (services.context.App). `secure_cookies`: served
    under TLS or behind a TLS proxy (cookies get Secure, and HSTS is sent)."""
    from . import routes_api, routes_auth, routes_office, routes_privacy, routes_read

    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, title="Dossierarchief")
    web.state.core = core
    web.state.secure_cookies = secure_cookies
    web.state.marks = Marks()
    web.add_middleware(Guard, hsts=secure_cookies)
    web.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for r in (routes_auth, routes_read, routes_office, routes_privacy, routes_api):
        web.include_router(r.router)

    @web.exception_handler(DossierError)
    def dossier_error(request: Request, e: DossierError):
        lang = language(request)
        if isinstance(e, auth.NotAuthenticated):
            if is_api(request):
                return api_error(401, str(e), e.code)
            ended = request.cookies.get(COOKIE) is not None
            notice = i18n.t(lang, "Your session has ended; log in again.") if ended else None
            r = routes_auth.login_page(request, status=401, notice=notice)
            if ended:
                r.headers.append("set-cookie", routes_auth.cookie(request, COOKIE, "", clear=True))
            return r
        if is_api(request):
            return api_error(e.http_status, str(e), e.code)
        acted_on = e.http_status in (400, 409) or isinstance(e, RuleForbids)  # not a role: the way back helps
        back = back_to_form(request.method, request.url.path) if acted_on else None
        return page(
            request, "error.html", status=e.http_status, message=i18n.error(lang, e), code=e.http_status, back=back
        )

    @web.exception_handler(HTTPException)
    def http_error(request: Request, e: HTTPException):
        message = "not found" if e.status_code == 404 else "this request is not supported"
        if is_api(request):
            return api_error(e.status_code, message, "http")
        return page(
            request, "error.html", status=e.status_code, message=i18n.t(language(request), message), code=e.status_code
        )

    @web.exception_handler(RequestValidationError)
    def bad_request(request: Request, e: RequestValidationError):
        # Never echo the input (it may be anything); say where it was wrong.
        where = ", ".join(".".join(str(p) for p in err.get("loc", ())) for err in e.errors()[:3])
        message = f"the request is not valid ({where}); use the links and forms of the app"
        if is_api(request):
            return api_error(400, message, "bad-request")
        return page(request, "error.html", status=400, message=message, code=400)

    return web


def all_routes(routes) -> list:
    """Every endpoint route of the app, through the routers it includes (FastAPI nests them)."""
    from fastapi.routing import APIRoute

    found = []
    for r in routes:
        if isinstance(r, APIRoute):
            found.append(r)
        elif hasattr(r, "original_router"):  # an included router (routers are included without a prefix)
            found += all_routes(r.original_router.routes)
    return found
