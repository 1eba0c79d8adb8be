"""The parts of the intake mailbox that need no server: the IMAP URL, the password file, and
turning a message's attachments into pages (real PDFs and images made by scanmaker, the scan
path's own input check, pikepdf)."""

from __future__ import annotations

from email.message import EmailMessage

import pikepdf
import pytest

from scanners.mailbox import MailboxAddress, MailboxError, parse_url, read_password
from scanners.message import attachment_pages, message_id, readable
from scanners.pages import Limits

from . import scanmaker as sm


@pytest.mark.parametrize(
    "url, expected",
    [
        ("imaps://intake@mail.firma.nl:993/INBOX", MailboxAddress(True, "intake", "mail.firma.nl", 993, "INBOX")),
        (
            "imaps://intake%40firma.nl@mail.firma.nl/Intake",
            MailboxAddress(True, "intake@firma.nl", "mail.firma.nl", 993, "Intake"),
        ),
        ("imap://intake@firma.nl@127.0.0.1:1143", MailboxAddress(False, "intake@firma.nl", "127.0.0.1", 1143, "INBOX")),
        ("imap://bob@localhost/Archief%2FIntake", MailboxAddress(False, "bob", "localhost", 143, "Archief/Intake")),
    ],
)
def test_imap_urls(url, expected):
    assert parse_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://intake@mail.firma.nl/INBOX",
        "imaps://mail.firma.nl/INBOX",
        "imaps://intake@mail.firma.nl:99999/INBOX",
        "imaps://intake@/INBOX",
        "",
    ],
)
def test_bad_imap_urls_are_refused_in_one_line(url):
    with pytest.raises(MailboxError) as e:
        parse_url(url)
    assert e.value.code == "config" and "\n" not in str(e.value)


def test_a_password_in_the_url_is_refused_and_never_repeated():
    with pytest.raises(MailboxError) as e:
        parse_url("imaps://intake:Geheim-Wachtwoord@mail.firma.nl/INBOX")
    assert "Geheim-Wachtwoord" not in str(e.value) and "DOSSIER_IMAP_PASSWORD_FILE" in str(e.value)


def test_password_file(tmp_path):
    f = tmp_path / "pw"
    f.write_text("Zeer-Geheim 1\nignored\n")
    f.chmod(0o600)
    assert read_password(f) == "Zeer-Geheim 1"
    f.chmod(0o640)
    with pytest.raises(MailboxError, match="chmod 600"):
        read_password(f)
    with pytest.raises(MailboxError, match="cannot be read"):
        read_password(tmp_path / "missing")
    with pytest.raises(MailboxError, match="DOSSIER_IMAP_PASSWORD_FILE"):
        read_password(None)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("attachments")
    page = sm.text_page(sm.dutch_lines(30, seed=3))
    return {
        "pdf2": sm.write_pdf(tmp / "two.pdf", [page, sm.text_page(sm.dutch_lines(30, seed=4))]).read_bytes(),
        "png": sm.write_image(tmp / "one.png", page).read_bytes(),
        "jpg": sm.write_image(tmp / "one.jpg", page).read_bytes(),
        "logo": sm.write_image(tmp / "logo.png", page.resize((120, 40))).read_bytes(),
    }


def _pages_of(pdf: bytes) -> int:
    import io

    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return len(doc.pages)


def test_pdf_and_image_attachments_become_one_pdf(files, tmp_path):
    m = EmailMessage()
    m["Subject"], m["Message-ID"] = "Verwijzing", "<abc@uwv.example>"
    m.set_content("zie bijlagen")
    m.add_attachment(files["pdf2"], maintype="application", subtype="octet-stream", filename="a.bin")  # type lies
    m.add_attachment(files["jpg"], maintype="image", subtype="jpeg", filename="scan.jpg")
    m.add_attachment(b"%PDF-1.7\n1 0 obj <<>> endobj\n", maintype="application", subtype="pdf", filename="kapot.pdf")
    m.add_attachment(b"gewone tekst", maintype="text", subtype="plain", filename="notitie.txt")
    got = attachment_pages(m.as_bytes(), tmp_path / "scratch", Limits())
    assert (got.pages, got.attachments, len(got.unusable)) == (3, 2, 1)
    assert _pages_of(got.pdf) == 3
    assert list((tmp_path / "scratch").iterdir()) == []  # no plaintext left behind
    assert message_id(m.as_bytes()) == "<abc@uwv.example>"


def test_body_images_are_not_pages_but_forwarded_attachments_are(files, tmp_path):
    inner = EmailMessage()
    inner["Subject"] = "Doorgestuurd"
    inner.set_content("origineel")
    inner.add_attachment(files["png"], maintype="image", subtype="png", filename="rapport.png")
    m = EmailMessage()
    m["Subject"] = "Fwd"
    m.set_content("tekst")
    m.add_alternative('<p>tekst <img src="cid:logo1"></p>', subtype="html")
    html = m.get_payload()[1]
    html.add_related(files["logo"], maintype="image", subtype="png", cid="<logo1>")
    m.add_attachment(inner)
    got = attachment_pages(m.as_bytes(), tmp_path, Limits())
    assert (got.pages, got.attachments, got.unusable) == (1, 1, [])


def test_a_message_without_attachments_has_no_pages_and_reads_for_people(tmp_path):
    m = EmailMessage()
    m["From"], m["Subject"] = "UWV <intake@uwv.example>", "Aanmelding"
    m.set_content("<p>Graag een <b>intake</b> plannen.</p><script>x()</script>", subtype="html")
    got = attachment_pages(m.as_bytes(), tmp_path, Limits())
    assert (got.pdf, got.pages) == (None, 0)
    shown = readable(m.as_bytes())
    assert shown["subject"] == "Aanmelding" and shown["from"] == "UWV <intake@uwv.example>"
    assert shown["body"] == "Graag een intake plannen." and shown["attachments"] == []
