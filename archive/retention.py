"""Retention rules as pure functions (DESIGN.md §5): when a dossier becomes due for destruction.

A dossier's destruction date is its trajectory end plus the retention period (one year unless
configured otherwise). It is due ON that date, never a day earlier. An open dossier (no end date)
is never due; a legal hold blocks destruction whatever the date.

Adding a period never lands early: a date that does not exist in the target month (29 February
plus one year, 31 January plus one month) rolls over to the first day of the next month, so
"one year after 29-02-2024" is 01-03-2025, not 28-02-2025.

Also here: the check that keeps personal data out of the free text that records outlive the data
(hold and erasure reasons, people and locations in the paper log).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from zoneinfo import ZoneInfo

UPCOMING_DAYS = 30


@dataclass(frozen=True)
class Period:
    years: int = 0
    months: int = 0
    days: int = 0

    def __post_init__(self):
        if min(self.years, self.months, self.days) < 0:
            raise ValueError("a retention period cannot be negative")
        if self.years == self.months == self.days == 0:
            raise ValueError("a retention period cannot be zero")

    def __str__(self) -> str:
        parts = [f"{n}{unit}" for n, unit in ((self.years, "Y"), (self.months, "M"), (self.days, "D")) if n]
        return "P" + "".join(parts)

    def describe(self) -> str:
        """For people: '1 year', '18 months', '1 year 6 months'."""
        words = []
        for n, one, many in (
            (self.years, "year", "years"),
            (self.months, "month", "months"),
            (self.days, "day", "days"),
        ):
            if n:
                words.append(f"{n} {one if n == 1 else many}")
        return " ".join(words)


ONE_YEAR = Period(years=1)
_PERIOD = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?$")


def parse_period(text: str) -> Period:
    """An ISO 8601 period of years, months and days: P1Y (the default), P18M, P1Y6M, P400D."""
    m = _PERIOD.match(text.strip().upper())
    if not m or not any(m.groups()):
        raise ValueError(f"'{text}' is not a retention period; write it like P1Y, P18M or P400D")
    years, months, days = (int(g) if g else 0 for g in m.groups())
    return Period(years, months, days)


def add_period(start: dt.date, period: Period) -> dt.date:
    """start + period, rolling a date that does not exist forward (never earlier than a full period)."""
    month_index = start.month - 1 + period.months
    year = start.year + period.years + month_index // 12
    month = month_index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    if start.day <= last:
        landed = dt.date(year, month, start.day)
    else:  # 29 Feb / 31st of a short month: the next day that does exist
        landed = dt.date(year, month, last) + dt.timedelta(days=1)
    return landed + dt.timedelta(days=period.days)


def destroy_on(end: dt.date, period: Period = ONE_YEAR) -> dt.date:
    """The date a dossier whose trajectory ended on `end` becomes due for destruction."""
    return add_period(end, period)


def is_due(today: dt.date, end: dt.date | None, period: Period = ONE_YEAR, *, on_hold: bool = False) -> bool:
    """Due on the destruction date and after it; never while open (no end) or under a hold."""
    if end is None or on_hold:
        return False
    return today >= destroy_on(end, period)


def is_upcoming(
    today: dt.date, end: dt.date | None, period: Period = ONE_YEAR, window_days: int = UPCOMING_DAYS
) -> bool:
    """Not due yet, but due within the next `window_days` days."""
    if end is None:
        return False
    when = destroy_on(end, period)
    return today < when <= today + dt.timedelta(days=window_days)


@dataclass(frozen=True)
class Assessment:
    state: str  # open | retained | upcoming | due | held | destroyed
    destroy_on: dt.date | None


def assess(
    today: dt.date,
    *,
    status: str,
    end: dt.date | None,
    period: Period = ONE_YEAR,
    on_hold: bool = False,
    window_days: int = UPCOMING_DAYS,
) -> Assessment:
    """Where a dossier stands in its lifecycle on `today`."""
    when = destroy_on(end, period) if end is not None else None
    if status == "destroyed":
        return Assessment("destroyed", when)
    if end is None:
        return Assessment("open", None)
    if today >= when:
        return Assessment("held" if on_hold else "due", when)
    if is_upcoming(today, end, period, window_days):
        return Assessment("upcoming", when)
    return Assessment("retained", when)


def local_today(timezone: str = "Europe/Amsterdam") -> dt.date:
    """Today's date where the firm is (a run just after midnight belongs to the new day)."""
    return dt.datetime.now(ZoneInfo(timezone)).date()


# ---- free text that outlives the data -----------------------------------------------------------

_DIGIT_RUN = re.compile(r"(?<!\d)\d(?:[ .\-]?\d){8}(?!\d)")
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[a-z]{2,}", re.IGNORECASE)
_PARTICLES = {"van", "de", "der", "den", "het", "ten", "ter", "te", "von", "la", "le", "du", "da", "op", "in", "t"}


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _elfproef(digits: str) -> bool:
    if len(digits) != 9 or set(digits) == {"0"}:
        return False
    total = sum(int(d) * w for d, w in zip(digits, (9, 8, 7, 6, 5, 4, 3, 2, -1)))
    return total % 11 == 0


# Dutch phone numbers (06-12345678, 020 123 4567, +31 (0)6 1234 5678, 0031...) and other
# international ones (+44 20 7946 0958): a leading 0 or + and enough digits for a subscriber.
_PHONE = re.compile(r"(?<![\w+])(?:(?:\+|00)\d{1,3}[\s.-]?(?:\(0\)[\s.-]?)?|0)[1-9](?:[\s./-]?\d){7,11}(?!\d)")
# A full date: 12-03-1985, 12/3/85 is too ambiguous to matter; 1985-03-12; 12 maart 1985.
_MONTHS = (
    "januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november|december|"
    "jan|feb|mrt|apr|jun|jul|aug|sep|sept|okt|nov|dec|january|february|march|may|june|july|october"
)
_DATES = (
    re.compile(r"(?<!\d)(?P<d>[0-3]?\d)[-./](?P<m>[01]?\d)[-./](?P<y>(?:19|20)\d\d)(?!\d)"),
    re.compile(r"(?<!\d)(?P<y>(?:19|20)\d\d)[-./](?P<m>[01]?\d)[-./](?P<d>[0-3]?\d)(?!\d)"),
    re.compile(rf"(?<!\d)(?P<d>[0-3]?\d)\.?\s+(?:{_MONTHS})\.?\s+(?P<y>(?:19|20)\d\d)(?!\d)", re.IGNORECASE),
)
# Clients are adults or older teenagers: a full date at least this many years back reads as a birth date.
_BIRTH_YEARS_BACK = 14


def _looks_like_birth_date(text: str, today: dt.date) -> bool:
    for pattern in _DATES:
        for m in pattern.finditer(text):
            if int(m.group("y")) <= today.year - _BIRTH_YEARS_BACK:
                return True
    return False


def _name_parts(name: str) -> list[str]:
    return [p for p in re.findall(r"[0-9a-z]+", _fold(name)) if p not in _PARTICLES and len(p) >= 2]


def _surname(name: str) -> str:
    """The family name with its particles ('de vries' of 'Jan de Vries'), folded."""
    words = re.findall(r"[0-9a-z]+", _fold(name))
    for i, w in enumerate(words[1:], start=1):
        if w in _PARTICLES:
            return " ".join(words[i:])
    return words[-1] if words else ""


def personal_data_problem(
    text: str, client_name: str | None = None, other_names=(), today: dt.date | None = None
) -> str | None:
    """Why `text` must not be stored in a record that outlives the dossier, or None when it may.

    Finds numbers that pass the BSN elfproef (also written with dots, dashes or spaces), e-mail
    addresses, phone numbers, dates that read as a date of birth, the client's name or any
    distinctive part of it, and the name of any other client of the archive (their family name,
    or first and last name together). The message never repeats what it found.
    """
    for m in _DIGIT_RUN.finditer(text):
        if _elfproef(re.sub(r"\D", "", m.group())):
            return "it contains a number that looks like a BSN"
    if _EMAIL.search(text):
        return "it contains an e-mail address"
    if _PHONE.search(text):
        return "it contains a phone number"
    if _looks_like_birth_date(text, today or dt.date.today()):
        return "it contains a date that looks like a date of birth"
    folded = _fold(text)
    words = set(re.findall(r"[0-9a-z]+", folded))
    phrase = " " + " ".join(re.findall(r"[0-9a-z]+", folded)) + " "
    if client_name:
        parts = _name_parts(client_name)
        if parts and (any(p in words for p in parts) or _fold(client_name).strip() in folded):
            return "it contains the client's name"
    for other in other_names:
        parts = _name_parts(other or "")
        surname = _surname(other or "")
        if len(surname) >= 3 and f" {surname} " in phrase:
            return "it contains a client's name"
        if len(parts) >= 2 and all(p in words for p in parts):
            return "it contains a client's name"
    return None
