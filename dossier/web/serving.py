"""Serving the web app (DESIGN.md §9): where it listens, and the TLS rule checked before it starts.

127.0.0.1:8080 by default. An address other than loopback needs TLS here (DOSSIER_WEB_TLS_CERT and
_KEY) or DOSSIER_WEB_BEHIND_PROXY=true (a proxy in front terminates TLS; cookies are Secure and the
client's address comes from X-Forwarded-For, trusted from the proxy on this machine only).
Plain HTTP on a network address is refused at start, with one line that says what to do.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
import threading

from archive.errors import BadInput

from ..settings import Settings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def check_binding(host: str, settings: Settings) -> bool:
    """Refuse plain HTTP on a network address (BadInput, exit 2); True when cookies must be Secure."""
    cert, key = settings.web_tls_cert, settings.web_tls_key
    if bool(cert) != bool(key):
        raise BadInput("set both DOSSIER_WEB_TLS_CERT and DOSSIER_WEB_TLS_KEY (certificate and its key), or neither")
    for f in (cert, key):
        if f is not None and not f.is_file():
            raise BadInput(f"the TLS file {f} does not exist; check DOSSIER_WEB_TLS_CERT / DOSSIER_WEB_TLS_KEY")
    tls = cert is not None
    if not is_loopback(host) and not tls and not settings.web_behind_proxy:
        raise BadInput(
            f"refusing to serve plain HTTP on {host}: health data must not cross the network unencrypted; "
            "set DOSSIER_WEB_TLS_CERT and DOSSIER_WEB_TLS_KEY, or put a TLS proxy in front and set "
            "DOSSIER_WEB_BEHIND_PROXY=true (see README), or serve on 127.0.0.1"
        )
    return tls or settings.web_behind_proxy


def _log_to_stderr() -> None:
    log = logging.getLogger("dossier.web")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s web %(message)s", "%Y-%m-%d %H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def server(core, settings: Settings, host: str | None = None, port: int | None = None):
    """A uvicorn server for the app (not started). Checks the TLS rule first."""
    import uvicorn

    from .app import create_app

    host = host or settings.web_host
    port = port or settings.web_port
    secure = check_binding(host, settings)
    _log_to_stderr()
    config = uvicorn.Config(
        create_app(core, secure_cookies=secure),
        host=host,
        port=port,
        access_log=False,  # guard.py logs the path only; uvicorn's line would carry the query string
        server_header=False,
        log_level="warning",
        ssl_certfile=str(settings.web_tls_cert) if settings.web_tls_cert else None,
        ssl_keyfile=str(settings.web_tls_key) if settings.web_tls_key else None,
        proxy_headers=settings.web_behind_proxy,
        forwarded_allow_ips="127.0.0.1,::1" if settings.web_behind_proxy else None,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


def url(settings: Settings, host: str | None = None, port: int | None = None) -> str:
    scheme = "https" if settings.web_tls_cert else "http"
    host = host or settings.web_host
    return f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port or settings.web_port}"


class InThread:
    """The web app beside the watcher (dossier watch): uvicorn in a thread of its own, stopped cleanly."""

    def __init__(self, srv):
        self.srv = srv
        self.thread = threading.Thread(target=srv.run, name="web", daemon=True)

    def start(self, timeout: float = 15.0) -> None:
        self.thread.start()
        waited = 0.0
        while not self.srv.started and self.thread.is_alive() and waited < timeout:
            threading.Event().wait(0.05)
            waited += 0.05
        if not self.srv.started:
            raise BadInput("the web app did not start; is the port in use? Set DOSSIER_WEB_PORT to a free one")

    def stop(self) -> None:
        self.srv.should_exit = True
        self.thread.join(timeout=15)
