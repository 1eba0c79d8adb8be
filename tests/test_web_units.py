"""Pure parts of the web app, without a server: languages, texts, the same-origin rule, marking,
the TLS rule, and the user commands of the CLI."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from archive.errors import BadInput
from dossier.settings import Settings
from dossier.web import guard, i18n
from dossier.web.common import mark
from dossier.web.serving import check_binding

from .conftest import BIN, make_archive

TEMPLATES = Path(__file__).resolve().parents[1] / "dossier" / "web" / "templates"


def test_every_text_of_the_pages_has_a_dutch_translation():
    keys = set()
    for t in TEMPLATES.glob("*.html"):
        keys |= set(re.findall(r"""_\((?:"([^"]+)"|'([^']+)')\)""", t.read_text()))
    texts = {a or b for a, b in keys}
    assert len(texts) > 150
    assert sorted(k for k in texts if k not in i18n.NL) == []


@pytest.mark.parametrize(
    "header, lang",
    [
        (None, "nl"),
        ("", "nl"),
        ("en-US,en;q=0.9", "en"),
        ("nl-NL,en;q=0.5", "nl"),
        ("de-DE,en;q=0.8,nl;q=0.9", "nl"),
        ("fr, en;q=0.1", "en"),
        ("en;q=0.2, nl;q=0.3", "nl"),
    ],
)
def test_language_from_accept_language(header, lang):
    assert i18n.language(header) == lang


def _scope(**headers):
    return {
        "scheme": "http",
        "headers": [(k.lower().replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


def test_same_origin_rule():
    host = {"host": "127.0.0.1:8080"}
    assert guard.same_origin(_scope(**host))  # no browser headers: the CSRF token decides
    assert guard.same_origin(_scope(**host, origin="http://127.0.0.1:8080", sec_fetch_site="same-origin"))
    assert guard.same_origin(_scope(**host, origin="null", sec_fetch_site="same-origin"))
    assert not guard.same_origin(_scope(**host, origin="null"))
    assert not guard.same_origin(_scope(**host, origin="https://evil.example"))
    assert not guard.same_origin(_scope(**host, origin="https://127.0.0.1:8080"))  # another scheme
    assert not guard.same_origin(_scope(**host, sec_fetch_site="cross-site"))
    assert not guard.same_origin(_scope(**host, sec_fetch_site="same-site"))  # e.g. another port
    assert guard.loggable("/setup/abcdefghijklmnopqrstuvwxyz") == "/setup/…"


def test_marking_escapes_and_marks_whole_words():
    html = str(mark("<b>Rugklacht</b> en rugklachten; cliënt", ["rugklacht", "client"]))
    assert html == "&lt;b&gt;<mark>Rugklacht</mark>&lt;/b&gt; en rugklachten; <mark>cliënt</mark>"


def test_plain_http_only_on_loopback(tmp_path):
    s = Settings(home=tmp_path)
    assert check_binding("127.0.0.1", s) is False and check_binding("::1", s) is False
    for host in ("0.0.0.0", "192.168.1.10", "dossiers.example.nl"):
        with pytest.raises(BadInput, match="plain HTTP"):
            check_binding(host, s)
    assert check_binding("0.0.0.0", Settings(home=tmp_path, web_behind_proxy=True)) is True
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    assert check_binding("0.0.0.0", Settings(home=tmp_path, web_tls_cert=cert, web_tls_key=key)) is True
    with pytest.raises(BadInput, match="both"):
        check_binding("0.0.0.0", Settings(home=tmp_path, web_tls_cert=cert))


def test_user_commands(tmp_path):
    a = make_archive(tmp_path / "home", None)

    def password(name, text, user="petra"):
        return subprocess.run(
            [str(BIN / "dossier"), "user", "password", name, "--password-stdin", "--json"],
            input=text,
            env=a.env(user),
            capture_output=True,
            text=True,
        )

    short = password("anna", "kort\n")
    assert short.returncode == 2 and len(short.stderr.strip().splitlines()) == 1 and "too short" in short.stderr
    assert password("anna", "een lang genoeg wachtwoord\n").returncode == 0
    assert password("anna", "nog een lang wachtwoord\n", user="anna").returncode == 0  # herself
    assert password("bert", "nog een lang wachtwoord\n", user="anna").returncode == 3  # not someone else's
    out = a.ok("user", "totp", "anna")
    assert out["user"] == "anna" and out["otpauth_uri"].startswith("otpauth://totp/Dossierarchief:anna?secret=")
    assert a.ok("user", "role", "bert", "--role", "office") == {"user": "bert", "role": "office", "previous": "coach"}
    link = a.ok("user", "link", "olaf")
    assert link["url"].startswith("http://127.0.0.1:8080/setup/") and link["token"] in link["url"]
    assert a.ok("user", "disable", "anna") == {"user": "anna", "disabled": True}
    users = {u["user"]: u for u in a.ok("user", "list")["users"]}
    assert users["anna"]["disabled"] and users["olaf"]["setup_link_open"]
    assert a.run("list", user="anna").rc == 3  # a disabled user does nothing, on the CLI either


def test_every_audit_action_and_reason_reads_in_dutch():
    """The privacy officer's 'wie heeft ingezien' and the quarantine page speak Dutch for every event
    and reason the code can record (collected from the source, so a new one without Dutch fails)."""
    import re
    from pathlib import Path

    from archive import access
    from classify.reasons import Reason
    from dossier.web import i18n

    root = Path(__file__).resolve().parents[1]
    source = "\n".join(
        p.read_text() for d in ("archive", "services", "flows", "dossier") for p in (root / d).rglob("*.py")
    )
    recorded = set(re.findall(r'(?:audit\(|action=)"([a-z][a-z._]+)"', source)) | set(access.ACTIONS)
    assert recorded > {"document.read", "dossier.reveal", "scan.refuse"}
    missing = sorted(a for a in recorded if f"action:{a}" not in i18n.NL)
    assert missing == []
    assert (
        sorted(r.value for r in Reason if f"reason:{r.value}" not in i18n.NL or f"reason:{r.value}" not in i18n.EN)
        == []
    )


def test_a_body_too_large_is_refused_before_it_is_read():
    """No form sends more than 64 kB: a bigger body (declared, or as it arrives) is refused with 413."""
    import asyncio

    from dossier.web.guard import MAX_BODY, Guard

    seen = {}

    async def app(scope, receive, send):
        while (await receive())["more_body"]:
            pass
        seen["read"] = True
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def call(declared: int, chunks: list[bytes]) -> int:
        sent = []
        queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

        async def receive():
            return queue.pop(0)

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/login",
            "headers": [(b"content-length", str(declared).encode())],
        }
        asyncio.run(Guard(app)(scope, receive, send))
        return sent[0]["status"]

    assert call(10, [b"user=anna"]) == 200 and seen.pop("read")
    assert call(MAX_BODY + 1, [b"x"]) == 413 and "read" not in seen
    assert call(10, [b"x" * 40_000, b"x" * 40_000]) == 413  # more than it said


def test_a_refused_form_leads_back_to_its_page():
    from dossier.web.common import back_to_form

    assert back_to_form("POST", "/paper/D-2026-0003/destroyed") == "/dossiers/D-2026-0003"
    assert back_to_form("POST", "/dossiers/D-2026-0003/hold") == "/dossiers/D-2026-0003"
    assert back_to_form("POST", "/quarantine/Q1A2B3C4D/assign") == "/quarantine"
    assert back_to_form("POST", "/users/frank/reset") == "/users"
    assert back_to_form("POST", "/office/new") == "/office/new"
    assert back_to_form("GET", "/paper/D-2026-0003/destroyed") is None
    assert back_to_form("POST", "/paper/D-2026-0003%2F..%2Fx/destroyed") is None  # only a dossier number
    assert back_to_form("POST", "/login") is None


def test_a_form_comes_back_for_refused_input_or_a_rule_but_not_for_a_role_or_a_fault():
    """submit(): input the use case refused, or a rule that forbids it now, shows the form again
    with the reason and what was typed (never the CSRF token); a role that may not, a lost login
    or a fault go to the error page."""
    from types import SimpleNamespace

    from starlette.requests import Request

    from archive.errors import IntegrityFailure, NotPermitted, RuleForbids
    from dossier.web.common import submit
    from services.auth import NotAuthenticated

    action = "/paper/D-2026-0001/checkout"
    request = Request({"type": "http", "method": "POST", "path": action, "headers": [], "query_string": b""})
    web = SimpleNamespace(form={"to": "carla", "due": "2026-12-24", "csrf": "t0ken"}, lang="nl")
    shown = []

    def raising(e):
        def do():
            raise e

        return do

    for e, status in ((BadInput("x", "unknown-person"), 400), (RuleForbids("x", "due-for-destruction"), 403)):
        assert submit(request, web, raising(e), shown.append) is None
        refused = shown.pop()
        assert (refused.status, refused.values) == (status, {"to": "carla", "due": "2026-12-24"})
        assert refused.at(action) and refused.message == i18n.ERRORS_NL[e.code]
    for e in (NotPermitted("anna (coach) may not", "role"), NotAuthenticated("x"), IntegrityFailure("x")):
        with pytest.raises(type(e)):
            submit(request, web, raising(e), shown.append)
    assert shown == []
