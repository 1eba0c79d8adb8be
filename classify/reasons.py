"""Why something went to the quarantine: one vocabulary for every layer (README's reason table).

A StrEnum, so a stored code compares equal to its member and reads back with Reason(code).
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # The file itself cannot be used.
    EMPTY_FILE = "empty-file"
    INCOMPLETE_FILE = "incomplete-file"
    UNREADABLE_PDF = "unreadable-pdf"
    UNREADABLE_IMAGE = "unreadable-image"
    UNSUPPORTED_FORMAT = "unsupported-format"
    ENCRYPTED_INPUT = "encrypted-input"
    NO_PAGES = "no-pages"
    PAGE_TOO_LARGE = "page-too-large"
    IMAGE_TOO_LARGE = "image-too-large"
    UNREADABLE_PAGE = "unreadable-page"
    TOO_MANY_PAGES = "too-many-pages"
    PDF_STRUCTURE = "pdf-structure"
    # Cover sheets that cannot be trusted.
    COVER_MALFORMED = "cover-malformed"
    COVER_SIGNATURE = "cover-signature"
    UNKNOWN_DOSSIER = "unknown-dossier"
    DESTROYED_DOSSIER = "destroyed-dossier"
    COVER_NOT_ISSUED = "cover-not-issued"
    # Pages that cannot be filed with certainty.
    NO_COVER = "no-cover"
    NO_CONTENT = "no-content"
    UNREAD_COVER = "unread-cover"
    PROCESSING_FAILED = "processing-failed"
    # Intake that waits for a person by design.
    MAIL_INTAKE = "mail-intake"


# Items whose bytes cannot become a document: scan the paper again, then discard the item.
UNFILEABLE = frozenset(
    {
        Reason.EMPTY_FILE,
        Reason.UNSUPPORTED_FORMAT,
        Reason.UNREADABLE_PDF,
        Reason.INCOMPLETE_FILE,
        Reason.ENCRYPTED_INPUT,
        Reason.UNREADABLE_IMAGE,
        Reason.UNREADABLE_PAGE,
        Reason.PAGE_TOO_LARGE,
        Reason.IMAGE_TOO_LARGE,
        Reason.NO_PAGES,
        Reason.TOO_MANY_PAGES,
        Reason.PDF_STRUCTURE,
    }
)
