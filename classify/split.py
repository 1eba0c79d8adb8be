"""Splitting a batch into documents (DESIGN.md §3.6). Pure: page roles in, segments out.

- every trusted cover sheet starts a document; the cover page itself is not part of it;
- blank pages (backs of duplex scans) are dropped;
- content before the first cover sheet, or after an untrusted one (with that sheet), goes to
  the quarantine with the reason, never into a guessed dossier.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .coversheet import CoverPayload
from .pages import PageRole
from .reasons import Reason

NO_COVER = (
    Reason.NO_COVER,
    "no cover sheet before these pages; put a cover sheet from `dossier cover` on top and scan again, "
    "or assign them with `dossier quarantine assign`",
)


@dataclass
class Segment:
    pages: list[int] = field(default_factory=list)  # 1-based page numbers in the scan
    cover: CoverPayload | None = None  # set for a document
    reason_code: str | None = None  # set for a quarantine segment
    reason: str | None = None

    @property
    def is_document(self) -> bool:
        return self.reason_code is None


@dataclass
class SplitResult:
    documents: list[Segment]
    quarantine: list[Segment]
    empty_covers: list[int]  # cover sheets with no pages behind them
    blanks: int


def split(roles: list[PageRole]) -> SplitResult:
    documents: list[Segment] = []
    quarantine: list[Segment] = []
    empty_covers: list[int] = []
    blanks = 0
    current: Segment | None = None
    current_cover_page: int | None = None

    def close() -> None:
        if current is None:
            return
        if current.pages:
            (documents if current.is_document else quarantine).append(current)
        elif current_cover_page is not None:
            empty_covers.append(current_cover_page)

    for role in roles:
        if role.kind == "blank":
            blanks += 1
            continue
        if role.kind == "cover":
            close()
            current, current_cover_page = Segment(cover=role.cover), role.number
        elif role.kind == "bad-cover":
            close()
            # The untrusted sheet travels with its pages so the person working the queue sees it.
            current = Segment(pages=[role.number], reason_code=role.problem_code, reason=role.problem)
            current_cover_page = role.number
        else:
            if current is None:
                current, current_cover_page = Segment(reason_code=NO_COVER[0], reason=NO_COVER[1]), None
            current.pages.append(role.number)
    close()
    return SplitResult(documents, quarantine, empty_covers, blanks)


def hold_at(segment: Segment, marks: dict[int, str]) -> tuple[Segment | None, list[Segment]]:
    """Cut a document at pages that make the rest uncertain. `marks` maps such pages to
    Reason.UNREAD_COVER (the page reads like a cover sheet whose barcode could not be read: the pages
    behind it belong to another document, perhaps another client's) or Reason.PROCESSING_FAILED (OCR could not
    read the page, so it could be such a sheet). The pages before the first mark stay in the
    document; from each mark on, the pages go to the quarantine, one item per mark."""
    kept: list[int] = []
    held: list[Segment] = []
    for n in segment.pages:
        if n in marks:
            held.append(Segment(pages=[n], reason_code=marks[n]))
        elif held:
            held[-1].pages.append(n)
        else:
            kept.append(n)
    for h in held:
        first, last = h.pages[0], h.pages[-1]
        span = f"page {first}" if first == last else f"pages {first}-{last}"
        if h.reason_code == Reason.UNREAD_COVER:
            h.reason = (
                f"page {first} looks like a cover sheet, but its barcode could not be read, so {span} "
                "were not filed; print a new cover sheet with `dossier cover` and scan them again, or "
                "assign them with `dossier quarantine assign`"
            )
        else:
            h.reason = (
                f"page {first} could not be read by OCR, so {span} were not filed (it could be a cover "
                "sheet); check the pages and assign them with `dossier quarantine assign`"
            )
    return (Segment(pages=kept, cover=segment.cover) if kept else None), held
