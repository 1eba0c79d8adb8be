"""What every response carries and what every POST must pass before any route runs (DESIGN.md §9).

An ASGI middleware, so it also covers static files, errors and responses FastAPI never sees:
- the security headers on every response (no caching anywhere, a CSP without inline script,
  no framing, no sniffing, no referrer);
- a request that changes something (POST, PUT, PATCH, DELETE) from another site is refused with
  403 before it is read: `Sec-Fetch-Site: cross-site` or `same-site`, or an `Origin` that is not
  this server's. Chromium sends `Origin: null` on the app's own form posts under `no-referrer`:
  that is accepted only with `Sec-Fetch-Site: same-origin`. Clients that send neither header
  (curl, scripts) still need the session's CSRF token, checked by the route's dependency;
- one log line per request with the path only (never a query string: a search may be a name),
  set-up tokens cut off.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger("dossier.web")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# No form of the app sends more (the biggest: a new dossier): a larger body is refused unread.
MAX_BODY = 64 * 1024
_OURS = {name for name, _ in HEADERS} | {HSTS[0]}


def same_origin(scope) -> bool:
    """Whether an unsafe request may come from this page (see the module's docstring)."""
    headers = dict(scope.get("headers") or [])
    site = headers.get(b"sec-fetch-site")
    if site is not None and site not in (b"same-origin", b"none"):
        return False
    origin = headers.get(b"origin")
    if origin is None:
        return True
    if origin == b"null":
        return site == b"same-origin"
    host = headers.get(b"host", b"").decode("latin-1")
    return origin.decode("latin-1") == f"{scope.get('scheme', 'http')}://{host}"


def loggable(path: str) -> str:
    if path.startswith("/setup/") and path != "/setup/totp":
        return "/setup/…"
    return path


class Guard:
    def __init__(self, app, *, hsts: bool = False):
        self.app = app
        self.extra = HEADERS + ([HSTS] if hsts else [])

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.monotonic()
        status = {"code": 0}

        async def with_headers(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OURS]
                message = {**message, "headers": kept + self.extra}
            await send(message)

        try:
            if scope["method"] not in SAFE_METHODS and not same_origin(scope):
                await _refuse(
                    with_headers,
                    scope,
                    403,
                    "Geweigerd: dit verzoek kwam van een andere site.",
                    "refused: this request came from another site",
                )
                return
            if scope["method"] not in SAFE_METHODS and _declared_length(scope) > MAX_BODY:
                await _refuse(with_headers, scope, 413, "Geweigerd: dit verzoek is te groot.", "refused: too large")
                return
            unsafe = scope["method"] not in SAFE_METHODS
            await self.app(scope, _limited(receive) if unsafe else receive, with_headers)
        except BodyTooLarge:
            if not status["code"]:
                await _refuse(with_headers, scope, 413, "Geweigerd: dit verzoek is te groot.", "refused: too large")
        except Exception as e:  # noqa: BLE001 - a library's message may quote content: its type only
            log.error("internal error in %s %s: %s", scope["method"], loggable(scope.get("path", "")), type(e).__name__)
            if os.environ.get("DOSSIER_DEBUG"):  # developers only: the traceback may quote content
                log.exception("traceback")
            if status["code"]:
                raise
            await _refuse(with_headers, scope, 500, "Interne fout; probeer het opnieuw.", "internal error; try again")
        finally:
            log.info(
                "%s %s %s %.0f ms",
                scope["method"],
                loggable(scope.get("path", "")),
                status["code"],
                (time.monotonic() - started) * 1000,
            )


class BodyTooLarge(Exception):
    pass


def _declared_length(scope) -> int:
    try:
        return int(dict(scope.get("headers") or []).get(b"content-length", b"0"))
    except ValueError:
        return MAX_BODY + 1


def _limited(receive):
    """The body as it arrives, cut off (BodyTooLarge) past MAX_BODY whatever Content-Length said."""
    seen = 0

    async def receive_limited():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_BODY:
                raise BodyTooLarge()
        return message

    return receive_limited


async def _refuse(send, scope, status: int, dutch: str, english: str) -> None:
    import json

    if scope.get("path", "").startswith("/api/"):
        body, kind = json.dumps({"error": english}).encode(), b"application/json"
    else:
        body = f"<!doctype html><meta charset=utf-8><title>{status}</title><p>{dutch}</p><p lang=en>{english}</p>"
        body, kind = body.encode(), b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
