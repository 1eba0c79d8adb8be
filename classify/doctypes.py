"""The document types of a dossier (DESIGN.md §7) and the dossier number format."""

from __future__ import annotations

import re

DOCUMENT_TYPES: tuple[str, ...] = (
    "toestemmingsformulier",
    "opdrachtbevestiging",
    "werkplan",
    "arbeidsdeskundig-rapport",
    "coachingsplan",
    "voortgangsrapportage",
    "eindrapportage",
    "cv",
    "aantekeningen",
)

DOSSIER_NUMBER = re.compile(r"^D-(\d{4})-(\d{4,6})$")


def is_document_type(value: str) -> bool:
    return value in DOCUMENT_TYPES


def is_dossier_number(value: str) -> bool:
    return bool(DOSSIER_NUMBER.match(value))
