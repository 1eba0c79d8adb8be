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

NO_COVER = ("no-cover", "no cover sheet before these pages; put a cover sheet from `dossier cover` on top and scan again, "
            "or assign them with `dossier quarantine assign`")


UNREAD_COVER = "unread-cover"


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


def hold_from(segment: Segment, page: int) -> tuple[Segment | None, Segment]:
    """A page inside a document that reads like a cover sheet is one whose barcode could not be
    read: the pages before it stay in the document; it and the pages after it, which belong to an
    unknown dossier, go to the quarantine."""
    i = segment.pages.index(page)
    kept = Segment(pages=segment.pages[:i], cover=segment.cover) if i else None
    return kept, Segment(pages=segment.pages[i:], reason_code=UNREAD_COVER,
                         reason=f"page {page} looks like a cover sheet, but its barcode could not be read, so the pages "
                                "from it on were not filed; print a new cover sheet with `dossier cover` and scan them "
                                "again, or assign them with `dossier quarantine assign`")
