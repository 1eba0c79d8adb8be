"""A real `dossier web` server for the tests, and clients that log in the way people do.

The server is the installed command in a subprocess on a free loopback port, on a data home made
through the real CLI; Chromium is Debian's (never a downloaded browser). A `Phone` plays the
authenticator app: it hands out each 30-second code once, as the server accepts each code once.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp

BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "groene kikker springt hoog"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Phone:
    """An authenticator app: the current code, or the next step's (which the server also accepts),
    never one it gave before; waits for the clock when both were used."""

    def __init__(self, secret: str):
        self.totp = pyotp.TOTP(secret)
        self.last: int | None = None
        self.last_code: str | None = None

    def code(self) -> str:
        while True:
            now = int(time.time() // 30)
            for step in (now, now + 1):
                if self.last is None or step > self.last:
                    self.last, self.last_code = step, self.totp.generate_otp(step)
                    return self.last_code
            time.sleep(1)


def secret_of(uri: str) -> str:
    return parse_qs(urlparse(uri).query)["secret"][0]


@dataclass
class WebServer:
    url: str
    proc: subprocess.Popen
    log: Path
    env: dict = field(default_factory=dict)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_web(env: dict, log: Path, **settings) -> WebServer:
    port = free_port()
    env = {**env, **{f"DOSSIER_WEB_{k.upper()}": str(v) for k, v in settings.items()}}
    out = open(log, "ab")
    proc = subprocess.Popen(
        [str(BIN / "dossier"), "web", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dossier web exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                return WebServer(url, proc, log, env)
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("dossier web did not answer within 60 s")


def csrf_in(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(url: str, name: str, phone: Phone, password: str = PASSWORD) -> httpx.Client:
    """An HTTP client logged in through the two steps, with the session's CSRF token as `.csrf`."""
    c = httpx.Client(base_url=url, timeout=60)
    r = c.get("/login")
    r = c.post("/login", data={"csrf": csrf_in(r.text), "username": name, "password": password})
    assert r.status_code == 303, r.text
    r = c.get("/login/code")
    r = c.post("/login/code", data={"csrf": csrf_in(r.text), "code": phone.code()})
    assert r.status_code == 303, r.text
    c.csrf = csrf_in(c.get("/account").text)
    return c


def browser_login(page, url: str, name: str, phone: Phone, password: str = PASSWORD) -> None:
    page.goto(f"{url}/login")
    page.fill("input[autocomplete=username]", name)
    page.fill("input[autocomplete=current-password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/login/code**")
    page.fill("input[autocomplete=one-time-code]", phone.code())
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/(\?.*)?$"))


def environment(home: Path, prefect_url: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOSSIER_", "PREFECT_"))}
    env["DOSSIER_HOME"] = str(home)
    if prefect_url:
        env["PREFECT_API_URL"] = prefect_url
    return env
