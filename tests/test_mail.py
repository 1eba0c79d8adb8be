"""The intake mailbox (DESIGN.md §11) against a real Dovecot, through the real `dossier` command.

Every scenario works its own IMAP folder of one shared archive. Messages are appended with a
back-dated INTERNALDATE; every message carries the same planted subject, sender, client name and
BSN, which the last test looks for under the data home and in Prefect's database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient

from . import scanmaker as sm
from .conftest import BIN, Archive, files_containing

pytestmark = [pytest.mark.imap, pytest.mark.prefect]

SUBJECT = "Verwijzing Kraaijeveldmarker"
SENDER = "Hendrika Zonneveldmarker <h.zonneveldmarker@uwv.example>"
CLIENT_NAME = "Jolanda Vreeswijkmarker"
BSN = "123456782"
MARKERS = ["Kraaijeveldmarker", "Zonneveldmarker", "Vreeswijkmarker", BSN]
AMS = dt.timezone(dt.timedelta(hours=2))  # Amsterdam in April (CEST)
UTC = dt.UTC


class MailArchive(Archive):
    """An archive whose `dossier` commands see DOSSIER_IMAP_URL and DOSSIER_IMAP_PASSWORD_FILE."""

    imap: dict = {}

    def env(self, user: str) -> dict:
        return {**super().env(user), **self.imap}


def message(tag: str, n: int, *, pdf: Path | None = None, image: Path | None = None, body: str = "") -> bytes:
    """Message `n` of a scenario: the planted subject (ending in n), sender, name and BSN."""
    m = EmailMessage()
    m["From"] = SENDER
    m["To"] = "intake@firma.example"
    m["Subject"] = f"{SUBJECT} {tag} {n}"
    m["Message-ID"] = f"<{tag}.{n}.{os.getpid()}.Kraaijeveldmarker@uwv.example>"
    m["Date"] = "Thu, 02 Apr 2026 10:00:00 +0200"
    m.set_content(f"Beste collega,\n\nHierbij de verwijzing van {CLIENT_NAME}, BSN {BSN}. {body}\n")
    if pdf is not None:
        m.add_attachment(
            pdf.read_bytes(), maintype="application", subtype="pdf", filename=f"{CLIENT_NAME} verwijzing.pdf"
        )
    if image is not None:
        m.add_attachment(image.read_bytes(), maintype="image", subtype="jpeg", filename=f"{CLIENT_NAME} scan.jpg")
    return m.as_bytes()


@pytest.fixture(scope="module")
def world(tmp_path_factory, prefect_server, imap_server):
    tmp = tmp_path_factory.mktemp("mail")
    password_file = tmp / "imap-password"
    password_file.write_text(imap_server.password + "\n")
    password_file.chmod(0o600)
    home = tmp / "home"
    a = MailArchive(home, prefect_server)
    a.ok("init", user="petra")
    a.ok("user", "add", "anna", "--role", "coach")
    a.ok("user", "add", "olaf", "--role", "office")
    a.imap = {"DOSSIER_IMAP_PASSWORD_FILE": str(password_file)}
    return dict(a=a, tmp=tmp, server=imap_server, password_file=password_file)


def imap(server) -> IMAPClient:
    c = IMAPClient(server.host, port=server.port, ssl=False)
    c.login(server.user, server.password)
    return c


def folder(world, name: str, messages: list[tuple[bytes, dt.datetime]]) -> str:
    """A new IMAP folder holding `messages` (bytes, INTERNALDATE); the archive now sweeps it."""
    with imap(world["server"]) as c:
        c.create_folder(name)
        for raw, when in messages:
            c.append(name, raw, msg_time=when)
    world["a"].imap = {**world["a"].imap, "DOSSIER_IMAP_URL": world["server"].url(name)}
    return name


def in_mailbox(world, name: str) -> list[int]:
    """The message numbers (from the Subject) still in an IMAP folder, as the server tells."""
    with imap(world["server"]) as c:
        c.select_folder(name, readonly=True)
        uids = c.search("ALL")
        got = c.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]) if uids else {}
    return sorted(int(v[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().strip().rsplit(" ", 1)[-1]) for v in got.values())


def sweep(world, today: str) -> dict:
    return world["a"].ok("mail", "sweep", "--today", today, user="olaf")


def mail_items(world) -> dict[str, dict]:
    return {i["id"]: i for i in world["a"].ok("quarantine", "list", user="olaf")["items"] if i["code"] == "mail-intake"}


def catalog(world, sql: str, *args):
    return world["a"].sql(sql, *args)


def test_deleted_on_the_fifth_working_day_holidays_counted(world):
    """Easter 2026: Good Friday 3 and Easter Monday 6 April are no working days."""
    folder(
        world,
        "rule",
        [
            (message("rule", 1), dt.datetime(2026, 4, 2, 10, 0, tzinfo=AMS)),  # Thursday: due Monday 13 April
            (message("rule", 2), dt.datetime(2026, 4, 7, 9, 0, tzinfo=AMS)),  # Tuesday: due Tuesday 14 April
            # Monday 6 April 23:30 UTC is Tuesday 7 April in Amsterdam: due the 14th, not the 13th.
            (message("rule", 3), dt.datetime(2026, 4, 6, 23, 30, tzinfo=UTC)),
        ],
    )
    # Five weekdays after 2 April would be 9 April; with the holidays it is 13 April.
    assert sweep(world, "2026-04-10") == {"captured": 3, "deleted": 0, "kept": 3}
    assert in_mailbox(world, "rule") == [1, 2, 3]
    assert sweep(world, "2026-04-10") == {"captured": 0, "deleted": 0, "kept": 3}  # nothing new, nothing due
    assert sweep(world, "2026-04-13") == {"captured": 0, "deleted": 1, "kept": 2}  # the boundary day
    assert in_mailbox(world, "rule") == [2, 3]
    assert sweep(world, "2026-04-14") == {"captured": 0, "deleted": 2, "kept": 0}
    assert in_mailbox(world, "rule") == []
    assert len(catalog(world, "SELECT DISTINCT item_id FROM mail_messages WHERE mailbox LIKE '%/rule'")) == 3


def test_attachments_become_pages_that_assign_files_into_a_dossier(world):
    a, tmp = world["a"], world["tmp"]
    texts = [sm.dutch_lines(60, seed=s) for s in (11, 12, 13)]
    pdf = sm.write_pdf(tmp / "att.pdf", [sm.text_page(texts[0]), sm.text_page(texts[1])])
    jpg = sm.write_image(tmp / "att.jpg", sm.text_page(texts[2]), quality=85)
    folder(
        world,
        "assign",
        [
            (message("assign", 1, pdf=pdf, image=jpg), dt.datetime(2026, 5, 4, 9, 0, tzinfo=AMS)),
            (message("assign", 2, body="Kastanjeboomwoord"), dt.datetime(2026, 5, 4, 9, 5, tzinfo=AMS)),
        ],
    )
    before = set(mail_items(world))
    assert sweep(world, "2026-05-04") == {"captured": 2, "deleted": 0, "kept": 2}
    new = {i: v for i, v in mail_items(world).items() if i not in before}
    by_pages = {v["pages"]: v for v in new.values()}
    assert set(by_pages) == {3, 0}
    item, bodyonly = by_pages[3], by_pages[0]
    assert "3 pages from 2 attachments" in item["reason"] and item["source"] == "e-mail, 2026-05-04 09:00"

    # The message without attachments: office staff read it (the whole message is the item).
    eml = tmp / "message.eml"
    a.ok("quarantine", "get", bodyonly["id"], "-o", eml, user="olaf")
    read = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert "Kastanjeboomwoord" in read.get_body().get_content() and read["Subject"] == f"{SUBJECT} assign 2"
    # Office staff read the e-mail itself (in the web app), from the sealed copy; the look is recorded.
    from dossier.settings import Settings
    from dossier.wiring import build_app
    from services import quarantine as quarantine_
    from services.context import act_as

    shown = quarantine_.read_message(act_as(build_app(Settings(home=a.home)), "olaf"), item["id"])
    assert shown["subject"].startswith(SUBJECT) and shown["attachments"]
    assert ("olaf", "quarantine.message") in catalog(world, "SELECT actor, action FROM audit_events")

    def sealed_message(item_id):
        ((name,),) = catalog(world, "SELECT message_blob FROM quarantine_items WHERE id = ?", item_id)
        return name and a.home / "quarantine" / name[:2] / f"{name}.bin"

    sealed = {i: sealed_message(i) for i in (item["id"], bodyonly["id"])}
    assert all(p.exists() for p in sealed.values())
    a.ok("quarantine", "discard", bodyonly["id"], user="olaf")

    # The one with attachments: assigned like any item, then retrieved as a PDF with its pages.
    d = a.new_dossier("anna", client_name=CLIENT_NAME, bsn=BSN)
    filed = a.ok("quarantine", "assign", item["id"], "--dossier", d, "--type", "arbeidsdeskundig-rapport", user="olaf")
    assert filed["status"] == "assigned" and filed["documents"][0]["pages"] == 3
    out = tmp / "filed.pdf"
    got = a.ok("get", filed["documents"][0]["id"], "-o", out, user="anna")
    assert got["pages"] == 3
    pages = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout.split("\f")
    for text, page in zip(texts, pages):
        assert sm.word_recall(text, page) >= 0.9

    # Assigning or discarding destroys the sealed message at once, and the catalog forgets its name
    # in the same step: no mail outlives its item.
    assert not any(p.exists() for p in sealed.values())
    assert sealed_message(item["id"]) is None and sealed_message(bodyonly["id"]) is None
    sweep(world, "2026-05-04")


def _count_rows(home: Path, mailbox_suffix: str) -> int:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{home / 'catalog.db'}?mode=ro", uri=True, timeout=1)) as db:
            return db.execute(
                "SELECT COUNT(*) FROM mail_messages WHERE mailbox LIKE ?", (f"%/{mailbox_suffix}",)
            ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_an_interrupted_sweep_resumes_without_duplicates_or_loss(world):
    a, tmp = world["a"], world["tmp"]
    total = 8
    pdfs = [
        sm.write_pdf(
            tmp / f"crash{n}.pdf",
            [sm.office_quality(sm.text_page(sm.dutch_lines(80, seed=n)), seed=n) for _ in range(2)],
            jpeg_quality=90,
        )
        for n in range(total)
    ]
    folder(
        world,
        "crash",
        [(message("crash", n, pdf=pdfs[n]), dt.datetime(2026, 6, 1, 8, n, tzinfo=AMS)) for n in range(total)],
    )

    # A failure to store: the quarantine folder cannot take files (a file in its place). Nothing
    # is stored, nothing deleted, one clear line, non-zero exit.
    q = a.home / "quarantine"
    q.rename(a.home / "quarantine.away")
    q.write_bytes(b"")
    try:
        r = a.run("mail", "sweep", "--today", "2026-12-01", user="olaf")
    finally:
        q.unlink()
        (a.home / "quarantine.away").rename(q)
    assert r.rc == 1 and r.data["captured"] == 0 and r.data["deleted"] == 0 and r.data["kept"] == total
    assert len(r.stderr.strip().splitlines()) == 1 and "stay in the mailbox" in r.stderr
    assert in_mailbox(world, "crash") == list(range(total))
    assert _count_rows(a.home, "crash") == 0

    # Killed mid-sweep (SIGKILL, no clean-up), after some messages were stored.
    p = subprocess.Popen(
        [str(BIN / "dossier"), "mail", "sweep", "--today", "2026-12-01", "--json"],
        env=a.env("olaf"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None and _count_rows(a.home, "crash") < 2:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    stored_at_kill = _count_rows(a.home, "crash")
    assert 2 <= stored_at_kill < total, f"the kill came too late or too early ({stored_at_kill} stored)"
    assert in_mailbox(world, "crash") == list(range(total))  # deletion comes only after storing

    assert sweep(world, "2026-12-01") == {"captured": total - stored_at_kill, "deleted": total, "kept": 0}
    assert in_mailbox(world, "crash") == []
    rows = catalog(world, "SELECT uid, item_id FROM mail_messages WHERE mailbox LIKE '%/crash'")
    assert len(rows) == total and len({i for _, i in rows}) == total
    pages = catalog(
        world, f"SELECT pages FROM quarantine_items WHERE id IN ({','.join('?' * total)})", *[i for _, i in rows]
    )
    assert [p for (p,) in pages] == [2] * total
    assert not list((a.home / "work" / "mail").iterdir())  # the plaintext a killed sweep left is gone


def test_unreachable_server_or_wrong_password_is_one_line_and_deletes_nothing(world, imap_server):
    a, tmp = world["a"], world["tmp"]
    folder(world, "refuse", [(message("refuse", 1), dt.datetime(2026, 1, 5, 9, 0, tzinfo=AMS))])
    url = imap_server.url("refuse")
    wrong = tmp / "wrong-password"
    wrong.write_text("Niet-Het-Wachtwoord-99\n")
    wrong.chmod(0o600)
    loose = tmp / "loose-password"
    loose.write_text(imap_server.password + "\n")
    loose.chmod(0o644)
    with socketless_port() as dead:
        cases = {
            "refused the login": {"DOSSIER_IMAP_PASSWORD_FILE": str(wrong)},
            "cannot be reached": {"DOSSIER_IMAP_URL": imap_server.url("refuse", port=dead)},
            "there is no mailbox": {"DOSSIER_IMAP_URL": imap_server.url("Nergens")},
            "can be read by other accounts": {"DOSSIER_IMAP_PASSWORD_FILE": str(loose)},
        }
        for expected, change in cases.items():
            a.imap = {
                **a.imap,
                "DOSSIER_IMAP_URL": url,
                "DOSSIER_IMAP_PASSWORD_FILE": str(world["password_file"]),
                **change,
            }
            r = a.run("mail", "sweep", "--today", "2026-12-01", user="olaf")
            assert r.rc != 0, expected
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and expected in lines[0], r.stderr
            assert "error" in r.data and expected in r.data["error"]
            for secret in (imap_server.password, "Niet-Het-Wachtwoord-99"):
                assert secret not in r.stderr + r.stdout
    a.imap = {**a.imap, "DOSSIER_IMAP_URL": url, "DOSSIER_IMAP_PASSWORD_FILE": str(world["password_file"])}
    assert in_mailbox(world, "refuse") == [1]
    assert _health(a, url)["last_sweep"]["outcome"] == "failed"  # what `dossier status` will tell
    with imap(world["server"]) as c:  # Friday 27 November 2026: due Friday 4 December
        c.append("refuse", message("refuse", 2), msg_time=dt.datetime(2026, 11, 27, 16, 0, tzinfo=AMS))
    assert sweep(world, "2026-12-01") == {"captured": 2, "deleted": 1, "kept": 1}
    assert in_mailbox(world, "refuse") == [2]
    health = _health(a, url)
    assert health["last_sweep"]["outcome"] == "ok" and "2 captured, 1 deleted, 1 kept" in health["last_sweep"]["detail"]
    assert health["oldest"]["delete_on"] == "2026-12-04"


def _health(a: Archive, url: str) -> dict:
    from sqlalchemy.orm import Session

    from archive.catalog import make_engine
    from archive.intake_mail import mailbox_status

    engine = make_engine(f"sqlite:///{a.home / 'catalog.db'}")
    try:
        with Session(engine) as s:
            return mailbox_status(s, url)
    finally:
        engine.dispose()


def test_imaps_needs_a_trusted_certificate(world, imap_server):
    a = world["a"]
    folder(world, "tls", [(message("tls", 1), dt.datetime(2026, 1, 5, 9, 0, tzinfo=AMS))])
    a.imap = {**a.imap, "DOSSIER_IMAP_URL": imap_server.tls_url("tls")}
    r = a.run("mail", "sweep", "--today", "2026-12-01", user="olaf")  # a self-signed certificate: refused
    assert r.rc == 1 and "could not be reached securely" in r.data["error"]
    assert in_mailbox(world, "tls") == [1]
    a.imap = {**a.imap, "SSL_CERT_FILE": str(imap_server.ca_file)}  # the operator trusts it
    try:
        assert sweep(world, "2026-12-01") == {"captured": 1, "deleted": 1, "kept": 0}
    finally:
        a.imap = {k: v for k, v in a.imap.items() if k != "SSL_CERT_FILE"}
    assert in_mailbox(world, "tls") == []


class socketless_port:
    """A loopback port nobody listens on, for as long as the block runs."""

    def __enter__(self) -> int:
        import socket

        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        return self.s.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.s.close()


def test_no_subject_sender_name_or_bsn_in_plain_text_anywhere(world, prefect_server):
    """After every scenario above (sweeps, assign, failures, a kill): nothing under the data home or
    in Prefect's database holds the planted subject, sender, client name or BSN, nor the password."""
    needles = []
    for m in MARKERS + [world["server"].password]:
        needles += [m.encode(), m.lower().encode(), m.encode("utf-16-le")]
    leaks = files_containing(needles, world["a"].home, prefect_server.home, names=True)
    assert leaks == []
    # The search works: the same needles are found in the mail server's own copy of the messages.
    assert files_containing(needles, world["server"].root / "mail", names=True)
