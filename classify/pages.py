"""What a page is: one of our cover sheets (trusted or not), blank, or content. Pure rules."""
from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from .coversheet import CoverPayload, PayloadError, looks_like_ours, parse_payload, verify_payload

# A page is blank (the back of a duplex sheet) when hardly any ink is left after averaging the
# page down to ~75 dpi: box averaging washes out dust, noise and JPEG speckle (measured: at most
# ~15 dark pixels on noisy, fax and show-through backs) while a single printed word keeps >100.
# It costs ~3 ms a page; a median filter at 150 dpi cost 30-140 ms for the same answers.
BLANK_INK_FRACTION = 0.0002
_INK = 150
_EDGE = 0.04  # scanner shadows along the edges are not ink


def is_blank(image: Image.Image) -> bool:
    page = image.convert("L")
    factor = max(1, round(min(page.size) / 620))
    if factor > 1:
        page = page.reduce(factor)
    w, h = page.size
    page = page.crop((int(w * _EDGE), int(h * _EDGE), int(w * (1 - _EDGE)), int(h * (1 - _EDGE))))
    ink = sum(page.histogram()[:_INK])
    return ink < BLANK_INK_FRACTION * page.width * page.height


@dataclass(frozen=True)
class PageRole:
    number: int  # 1-based page in the scan
    kind: str  # "cover" | "bad-cover" | "blank" | "content"
    cover: CoverPayload | None = None
    problem_code: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class SheetFacts:
    """What the catalog knows about the sheet's dossier and serial, looked up by the caller."""

    dossier_status: str | None  # None when the dossier is unknown
    sheet_dossier: str | None  # the dossier the serial was issued for; None if never issued
    sheet_type: str | None


def cover_payload(barcodes: list[str]) -> str | None:
    ours = [b for b in barcodes if looks_like_ours(b)]
    return ours[0] if ours else None


def classify_cover(number: int, value: str, key: bytes, facts_for) -> PageRole:
    """Decide whether a cover sheet barcode can be trusted. `facts_for(payload)` gives SheetFacts."""
    try:
        payload = parse_payload(value)
    except PayloadError as e:
        return PageRole(number, "bad-cover", problem_code=e.code, problem=f"{e} (page {number})")
    if not verify_payload(key, payload):
        return PageRole(number, "bad-cover", payload, "cover-signature",
                        f"the cover sheet on page {number} has an invalid signature (altered or not made by this archive); "
                        "print a new cover sheet with `dossier cover`")
    facts = facts_for(payload)
    if facts.dossier_status is None:
        return PageRole(number, "bad-cover", payload, "unknown-dossier",
                        f"the cover sheet on page {number} names dossier {payload.dossier}, which does not exist")
    if facts.dossier_status == "destroyed":
        return PageRole(number, "bad-cover", payload, "destroyed-dossier",
                        f"the cover sheet on page {number} names dossier {payload.dossier}, which was destroyed")
    if facts.sheet_dossier != payload.dossier or facts.sheet_type != payload.doc_type:
        return PageRole(number, "bad-cover", payload, "cover-not-issued",
                        f"the cover sheet on page {number} (serial {payload.serial}) was not issued by this archive")
    return PageRole(number, "cover", payload)
