"""Checks at the edge of every use case: dates, numbers, ids, names and free text. Pure.

Each refusal is one line that says what is wrong and what to do, and never echoes a BSN. Text
typed by people is printable and bounded: control characters and 100,000-character names would
otherwise end up in the catalog and be echoed to terminals.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re

from stdnum.nl import bsn as bsn_rules

from archive.errors import BadInput
from classify.doctypes import DOCUMENT_TYPES, is_document_type, is_dossier_number

USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
DOCUMENT_ID = re.compile(r"^[0-9a-f]{6,32}$")
QUARANTINE_ID = re.compile(r"^Q[0-9A-F]{8}$")


def shown(value: str, limit: int = 40) -> str:
    """User input as it may be echoed: printable, short."""
    clean = "".join(c if c.isprintable() else "?" for c in value)
    return clean if len(clean) <= limit else clean[:limit] + "…"


def suggest(value: str, choices, what: str = "") -> str:
    """' (did you mean X?)' for a close match among `choices`, else ''."""
    close = difflib.get_close_matches(value.lower(), [c.lower() for c in choices], n=1, cutoff=0.6)
    if not close:
        return ""
    match = next(c for c in choices if c.lower() == close[0])
    return f" (did you mean {match}?)"


def dossier_number(value: str) -> str:
    value = value.strip().upper()
    if not is_dossier_number(value):
        raise BadInput(f"'{shown(value)}' is not a dossier number; they look like D-2026-0001", "bad-dossier-number")
    return value


def doc_type(value: str) -> str:
    value = value.strip().lower()
    if not is_document_type(value):
        raise BadInput(
            f"unknown document type '{shown(value)}'{suggest(value, DOCUMENT_TYPES)}; use one of: "
            f"{', '.join(DOCUMENT_TYPES)}",
            "bad-document-type",
        )
    return value


def doc_types(value: str) -> list[str]:
    return [doc_type(v) for v in value.split(",") if v.strip()]


def date(value: str | None, what: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise BadInput(
            f"{what} '{shown(value)}' is not a date; write it as YYYY-MM-DD, e.g. 2026-03-01", "bad-date"
        ) from None


def not_in_future(day: dt.date | None, today: dt.date, what: str) -> dt.date | None:
    """Acts are dated today or earlier (catching up is fine); a date ahead is a typo that could destroy."""
    if day is not None and day > today:
        raise BadInput(
            f"{what} {day} is in the future (today is {today}); give today's date or an earlier one", "future-date"
        )
    return day


def user_name(value: str) -> str:
    if not USER_NAME.match(value):
        raise BadInput(
            f"'{shown(value)}' is not a usable user name; use letters, digits, dot, dash or underscore (at most 64)",
            "bad-user-name",
        )
    return value


def bsn(value: str | None) -> str | None:
    if value is None:
        return None
    if not bsn_rules.is_valid(value):
        # Never echo the number: it is personal data even when mistyped.
        raise BadInput("the BSN is not valid (9 digits passing the elfproef); check the number", "bad-bsn")
    return bsn_rules.compact(value)


def text(value: str | None, what: str, *, max_len: int = 200, required: bool = False) -> str | None:
    """A name or short text typed by a person: printable, one line, not too long; None when empty."""
    if value is None or not value.strip():
        if required:
            raise BadInput(f"{what} is empty; give it", "empty")
        return None
    if any(not c.isprintable() for c in value):
        raise BadInput(f"{what} holds control characters; type it as plain text", "control-characters")
    clean = " ".join(value.split())
    if len(clean) > max_len:
        raise BadInput(f"{what} is too long ({len(clean)} characters, at most {max_len})", "too-long")
    return clean


def document_id(value: str) -> str:
    """A document id or a unique prefix of one (at least 6 characters), any case."""
    clean = value.strip().lower()
    if not DOCUMENT_ID.match(clean):
        raise BadInput(
            f"'{shown(value)}' is not a document id; copy it (or its first 6 or more characters) from `dossier docs`",
            "bad-document-id",
        )
    return clean


def quarantine_id(value: str) -> str:
    clean = value.strip().upper()
    if not QUARANTINE_ID.match(clean):
        raise BadInput(
            f"'{shown(value)}' is not a quarantine item id; they look like Q1A2B3C4D (see `dossier quarantine list`)",
            "bad-item-id",
        )
    return clean


PURPOSE = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")


def purpose(value: str) -> str:
    """A purpose of processing as a short code: cv-to-employer, re-integration-report."""
    clean = value.strip().lower()
    if not PURPOSE.match(clean):
        raise BadInput(
            f"'{shown(value)}' is not a purpose code; use lower-case letters, digits and dashes, e.g. cv-to-employer",
            "bad-purpose",
        )
    return clean


def choice(value: str | None, allowed: tuple[str, ...], what: str, option: str) -> str | None:
    """One of a few fixed words (any case), with a close match suggested."""
    if value is None:
        return None
    clean = value.strip().lower()
    if clean not in allowed:
        raise BadInput(
            f"{what} '{shown(value)}' is not known{suggest(clean, allowed)}; give {option} as one of: "
            f"{', '.join(allowed)}",
            f"bad-{option.lstrip('-')}",
        )
    return clean


def moment(value: str | None, what: str, zone) -> dt.datetime | None:
    """A date and time in ISO 8601, with an offset (2026-03-27T22:15+01:00, ...Z) or without one,
    then local time in `zone` (2026-03-27 22:15). Returned in UTC. A local time that the clocks
    skip in spring does not exist and is refused; one they pass twice in autumn is the first."""
    if value is None:
        return None
    text = value.strip()
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        t = None
    if t is None or len(text) <= 10:  # a date alone: when in the day matters for a 72-hour deadline
        raise BadInput(
            f"{what} '{shown(value)}' is not a date and time; write it as YYYY-MM-DD HH:MM (local time) or with "
            "an offset, e.g. 2026-03-27T22:15+01:00",
            "bad-datetime",
        )
    if t.tzinfo is None:
        local = t.replace(tzinfo=zone)
        if local.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) != t:
            raise BadInput(
                f"{what} {t:%Y-%m-%d %H:%M} does not exist in local time (the clocks went forward); check the time",
                "bad-datetime",
            )
        t = local
    return t.astimezone(dt.UTC)


def not_later_than_now(t: dt.datetime | None, what: str, slack_minutes: int = 5) -> dt.datetime | None:
    """Something that happened is not in the future (a few minutes of clock difference allowed)."""
    now = dt.datetime.now(dt.UTC)
    if t is not None and t > now + dt.timedelta(minutes=slack_minutes):
        raise BadInput(f"{what} is in the future; give when it happened", "future-date")
    return t
