"""An intake message's pages: its PDF and image attachments, joined into one PDF.

Attachments are recognised by their bytes (PDF, TIFF, PNG, JPEG), not by the name or type the
sender gave them, and go through the scan path's own input check (scanners.pages), so what office
staff preview here is what `quarantine assign` will file. Images that belong to the body of an
HTML message (the non-root parts of multipart/related: logos, signatures) are not pages; a
forwarded message's attachments are. An attachment that cannot be used is counted with its
reason code: it stays in the sealed message. Nothing here is logged; attachment names are never
looked at.
"""

from __future__ import annotations

import io
import secrets
import shutil
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pikepdf

from .pages import Limits, SourceProblem, normalise_to_pdf

# What the bytes are, as scanners.pages.sniff tells (a PDF header may follow some junk).
_IMAGE_MAGIC = (b"II*\x00", b"MM\x00*", b"\x89PNG", b"\xff\xd8\xff")


@dataclass
class MessagePages:
    pdf: bytes | None  # one PDF of every usable attachment's pages, in message order; None when there are none
    pages: int = 0
    attachments: int = 0  # attachments that gave pages
    unusable: list[str] = field(default_factory=list)  # reason codes of attachments that did not


def message_id(raw: bytes) -> str | None:
    """The Message-ID header as sent (part of the capture key; never stored or shown)."""
    value = message_from_bytes(raw, policy=policy.compat32).get("Message-ID")
    return str(value).strip() if value else None


def _candidates(part: EmailMessage) -> list[bytes]:
    """The decoded bodies of the parts that may be pages, in message order."""
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        inner = part.get_payload()
        return [b for m in (inner if isinstance(inner, list) else [inner]) for b in _candidates(m)]
    if part.is_multipart():
        children = list(part.iter_parts())
        if ctype == "multipart/related" and children:
            # Only the root is the body; the rest are its embedded resources, unless sent as attachments.
            children = children[:1] + [c for c in children[1:] if c.get_content_disposition() == "attachment"]
        return [b for c in children for b in _candidates(c)]
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - a damaged transfer encoding: the part is not usable
        return []
    if not data:
        return []
    return [data] if b"%PDF-" in data[:1024] or data.startswith(_IMAGE_MAGIC) else []


def attachment_pages(raw: bytes, work_dir: Path, limits: Limits) -> MessagePages:
    """The message's attachments as one PDF. A private folder in `work_dir` holds the plaintext for
    a moment; it is removed before returning, also on failure (and by remove_leftovers after a kill)."""
    msg = message_from_bytes(raw, policy=policy.default)
    found = _candidates(msg)
    result = MessagePages(None)
    if not found:
        return result
    work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = work_dir / secrets.token_hex(8)
    tmp.mkdir(mode=0o700)
    opened: list[pikepdf.Pdf] = []  # qpdf copies page streams at save time: keep the parts open until then
    try:
        joined = pikepdf.new()
        opened.append(joined)
        for n, data in enumerate(found):
            source, target = tmp / f"a{n}", tmp / f"a{n}.pdf"
            source.write_bytes(data)
            try:
                count = normalise_to_pdf(source, target, limits)
                part = pikepdf.open(target)
                opened.append(part)
                joined.pages.extend(part.pages)
            except SourceProblem as problem:
                result.unusable.append(problem.code)
                continue
            except pikepdf.PdfError:
                result.unusable.append("unreadable-pdf")
                continue
            result.pages += count
            result.attachments += 1
        if result.pages:
            out = io.BytesIO()
            joined.save(out)
            result.pdf = out.getvalue()
    finally:
        for pdf in opened:
            pdf.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def remove_leftovers(work_dir: Path) -> int:
    """What a killed sweep left in `work_dir` (plaintext attachments): removed at the next sweep,
    which runs alone (see flows/mail_sweep.py)."""
    left = list(work_dir.iterdir()) if work_dir.is_dir() else []
    for d in left:
        shutil.rmtree(d, ignore_errors=True)
    return len(left)


def readable(raw: bytes) -> dict:
    """What office staff read of an intake message (in the web app, from the sealed copy): sender,
    recipients, date, subject, the text of the body, and the attachments' names. For display to
    people only: never to be logged or stored."""
    msg = message_from_bytes(raw, policy=policy.default)
    body = msg.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        try:
            text = body.get_content()
        except (LookupError, UnicodeError, KeyError):  # an unknown charset: show what can be shown
            text = (body.get_payload(decode=True) or b"").decode("utf-8", errors="replace")
        if body.get_content_type() == "text/html":
            text = _html_text(text)
    return {
        "from": str(msg.get("From", "")),
        "to": str(msg.get("To", "")),
        "date": str(msg.get("Date", "")),
        "subject": str(msg.get("Subject", "")),
        "body": text.strip(),
        "attachments": [p.get_filename() or "(no name)" for p in msg.iter_attachments()],
    }


def _html_text(html: str) -> str:
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []
            self.skip = 0

        def handle_starttag(self, tag, attrs):
            if tag in ("script", "style"):
                self.skip += 1
            elif tag in ("br", "p", "div", "tr", "li"):
                self.parts.append("\n")

        def handle_endtag(self, tag):
            if tag in ("script", "style") and self.skip:
                self.skip -= 1

        def handle_data(self, data):
            if not self.skip:
                self.parts.append(data)

    parser = Text()
    parser.feed(html)
    return "".join(parser.parts)
