"""Cover sheets: the versioned, signed QR payload (pure functions) and the printable A4 sheet.

Payload, version 1:  DSA1|<dossier>|<type>|<serial>|<mac>
where mac = first 20 hex digits (80 bits) of HMAC-SHA256(cover key, "DSA1|dossier|type|serial").
No name and no BSN: a lost sheet reveals only a dossier number.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from .doctypes import is_document_type, is_dossier_number
from .reasons import Reason

PREFIX = "DSA"
VERSION = 1
MAC_HEX = 20


@dataclass(frozen=True)
class CoverPayload:
    dossier: str
    doc_type: str
    serial: int
    mac: str
    version: int = VERSION

    def signed_part(self) -> str:
        return f"{PREFIX}{self.version}|{self.dossier}|{self.doc_type}|{self.serial}"

    def text(self) -> str:
        return f"{self.signed_part()}|{self.mac}"


def _mac(key: bytes, signed_part: str) -> str:
    return hmac.new(key, signed_part.encode(), hashlib.sha256).hexdigest()[:MAC_HEX]


def make_payload(key: bytes, dossier: str, doc_type: str, serial: int) -> CoverPayload:
    unsigned = CoverPayload(dossier, doc_type, serial, mac="")
    return CoverPayload(dossier, doc_type, serial, _mac(key, unsigned.signed_part()))


def looks_like_ours(value: str) -> bool:
    """A barcode that claims to be one of our cover sheets (valid or not)."""
    return value.startswith(PREFIX)


class PayloadError(ValueError):
    """A barcode that claims to be our cover sheet but cannot be trusted. The message is safe to show."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def parse_payload(value: str) -> CoverPayload:
    """Parse one of our payloads; raises PayloadError for anything malformed."""
    parts = value.split("|")
    if len(parts) != 5 or not parts[0].startswith(PREFIX):
        raise PayloadError(Reason.COVER_MALFORMED, "cover sheet barcode is malformed")
    try:
        version = int(parts[0][len(PREFIX) :])
    except ValueError:
        raise PayloadError(Reason.COVER_MALFORMED, "cover sheet barcode is malformed") from None
    if version != VERSION:
        raise PayloadError("cover-version", f"cover sheet has unknown format version {version}")
    dossier, doc_type, serial, mac = parts[1:]
    if not is_dossier_number(dossier) or not is_document_type(doc_type) or not serial.isdigit() or len(mac) != MAC_HEX:
        raise PayloadError(Reason.COVER_MALFORMED, "cover sheet barcode is malformed")
    return CoverPayload(dossier, doc_type, int(serial), mac, version)


def verify_payload(key: bytes, payload: CoverPayload) -> bool:
    return hmac.compare_digest(_mac(key, payload.signed_part()), payload.mac)


# Printed on every cover sheet (render_cover_pdf): OCR still reads them when the barcode is lost.
_COVER_PHRASES = ("voorbladscan", "ditbladwordtnietgearchiveerd", "placethissheetontopofthepages")


def reads_like_cover(text: str) -> bool:
    """True when a page's OCR text holds the printed words of our cover sheet."""
    folded = "".join(ch for ch in text.lower() if ch.isalnum())
    return any(phrase in folded for phrase in _COVER_PHRASES)


def render_cover_pdf(target, payload: CoverPayload):
    """A printable A4 sheet: a large QR (error correction H), the dossier number and type in large text.
    `target` is a path or a binary file object (the web app sends the sheet without a file)."""
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.pdfgen import canvas

    width, height = A4
    c = canvas.Canvas(str(target) if isinstance(target, Path) else target, pagesize=A4, invariant=1)
    c.setTitle("Voorblad")  # no dossier data in the metadata
    c.setFont("Helvetica-Bold", 30)
    c.drawCentredString(width / 2, height - 3.5 * cm, "VOORBLAD SCAN")
    c.setFont("Helvetica", 12)
    c.drawCentredString(width / 2, height - 4.5 * cm, "Leg dit blad bovenop de documenten en scan alles in één keer.")
    c.drawCentredString(width / 2, height - 5.1 * cm, "Place this sheet on top of the pages and scan them together.")

    side = 9 * cm
    widget = QrCodeWidget(payload.text(), barLevel="H", barBorder=4)
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(side, side, transform=[side / (x1 - x0), 0, 0, side / (y1 - y0), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, c, (width - side) / 2, height / 2 - side / 2 + 1 * cm)

    c.setFont("Helvetica-Bold", 40)
    c.drawCentredString(width / 2, 7.5 * cm, payload.dossier)
    c.setFont("Helvetica-Bold", 26)
    c.drawCentredString(width / 2, 5.8 * cm, payload.doc_type)
    c.setFont("Helvetica", 10)
    c.drawCentredString(width / 2, 3.0 * cm, f"Blad nr. {payload.serial}  ·  Dit blad wordt niet gearchiveerd.")
    c.showPage()
    c.save()
    return target
