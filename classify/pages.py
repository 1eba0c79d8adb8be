"""What a page is: one of our cover sheets (trusted or not), blank, or content. Pure rules."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .coversheet import CoverPayload, PayloadError, looks_like_ours, parse_payload, verify_payload
from .reasons import Reason

# Both facts come from one copy of the page averaged down to ~75 dpi (~5 ms a page).
#
# Blank (the back of a duplex sheet): hardly any ink is left after the averaging, which washes out
# dust, noise and JPEG speckle (measured: at most ~27 pixels on noisy, fax and show-through backs,
# against a limit of ~90) while a single printed word keeps >140. Ink is anything clearly darker
# than the paper, so faint pencil and faded toner count as well. A median filter at 150 dpi cost
# 30-140 ms for the same answers.
BLANK_INK_FRACTION = 0.0002
_INK_BELOW_PAPER = 60
_LIGHT_PAPER = 150
_EDGE = 0.04  # scanner shadows along the edges are not ink
#
# Code-like: somewhere on the page a 2.5 cm square is more than a third dark, as inside our 9 cm
# cover QR (measured 0.50-0.59 on clean, noisy, JPEG q10, fax, rotated, 200 dpi and faded covers)
# and not in text (0.17-0.24 for 8-20 pt type, 0.11 for handwriting, at most 0.36 on the peer
# corpus's text pages). Only such pages are worth the barcode reader's slow rescue passes.
CODE_BLOCK_CM = 2.5
CODE_BLOCK_DARK_SHARE = 1 / 3
_DARK = 160


@dataclass(frozen=True)
class PageInk:
    blank: bool
    code_like: bool


def page_ink(image: Image.Image) -> PageInk:
    page = image if image.mode == "L" else image.convert("L")  # pages come in grey: no per-page copy
    factor = max(1, round(min(page.size) / 620))
    if factor > 1:
        page = page.reduce(factor)
    w, h = page.size
    page = page.crop((int(w * _EDGE), int(h * _EDGE), int(w * (1 - _EDGE)), int(h * (1 - _EDGE))))
    histogram = page.histogram()
    paper = _median(histogram)
    ink = sum(histogram[: max(0, paper - _INK_BELOW_PAPER)])
    side = round(min(w, h) * CODE_BLOCK_CM / 21)
    # A page that is mostly dark (a photo, a dark form, an open scanner lid) is not blank paper.
    return PageInk(
        blank=paper >= _LIGHT_PAPER and ink < BLANK_INK_FRACTION * page.width * page.height,
        code_like=_densest_block(page, side) >= CODE_BLOCK_DARK_SHARE,
    )


def _median(histogram: list[int]) -> int:
    half, seen = sum(histogram) / 2, 0
    for value, count in enumerate(histogram):
        seen += count
        if seen >= half:
            return value
    return 255


def _densest_block(page: Image.Image, side: int) -> float:
    """Largest share of dark pixels in any side x side square (a summed-area table: one pass)."""
    dark = np.asarray(page) < _DARK
    side = max(1, min(side, *dark.shape))
    table = np.zeros((dark.shape[0] + 1, dark.shape[1] + 1), dtype=np.int32)
    table[1:, 1:] = dark.cumsum(0, dtype=np.int32).cumsum(1, dtype=np.int32)
    sums = table[side:, side:] - table[:-side, side:] - table[side:, :-side] + table[:-side, :-side]
    return float(sums.max()) / (side * side)


def is_blank(image: Image.Image) -> bool:
    return page_ink(image).blank


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
        return PageRole(
            number,
            "bad-cover",
            payload,
            Reason.COVER_SIGNATURE,
            f"the cover sheet on page {number} has an invalid signature (altered or not made by this archive); "
            "print a new cover sheet with `dossier cover`",
        )
    facts = facts_for(payload)
    if facts.dossier_status is None:
        return PageRole(
            number,
            "bad-cover",
            payload,
            Reason.UNKNOWN_DOSSIER,
            f"the cover sheet on page {number} names dossier {payload.dossier}, which does not exist",
        )
    if facts.dossier_status == "destroyed":
        return PageRole(
            number,
            "bad-cover",
            payload,
            Reason.DESTROYED_DOSSIER,
            f"the cover sheet on page {number} names dossier {payload.dossier}, which was destroyed",
        )
    if facts.sheet_dossier != payload.dossier or facts.sheet_type != payload.doc_type:
        return PageRole(
            number,
            "bad-cover",
            payload,
            Reason.COVER_NOT_ISSUED,
            f"the cover sheet on page {number} (serial {payload.serial}) was not issued by this archive",
        )
    return PageRole(number, "cover", payload)
