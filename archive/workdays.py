"""Dutch working days, as the Algemene termijnenwet counts them, and the intake-mail deletion day.

Art. 3 Atw: not a Saturday, a Sunday or a generally recognised holiday: New Year's Day, Easter
Monday, Ascension Day, Whit Monday, both Christmas days, the King's birthday as celebrated
(27 April, the 26th when the 27th is a Sunday) and 5 May; Good Friday is put on a par with them by
decree. `holidays.NL` (public category) has all of these except 5 May outside lustrum years (it
files those under "optional") and, in older releases, Good Friday: both are added here by rule,
so the answer does not depend on the library's version. Its Easter Sunday and Whit Sunday are
Sundays anyway. Pure functions: no clock, no I/O.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import holidays
from dateutil.easter import easter

# The privacy regulation: intake mail is deleted within 5 working days of its arrival.
MAIL_RETENTION_WORKING_DAYS = 5


@lru_cache(maxsize=64)
def general_holidays(year: int) -> frozenset[dt.date]:
    """The general holidays of the Atw in `year` (some fall on a weekend)."""
    days = set(holidays.NL(years=year, categories=(holidays.PUBLIC,)).keys())
    days.add(easter(year) - dt.timedelta(days=2))  # Good Friday
    days.add(dt.date(year, 5, 5))  # Liberation Day, every year (not only every fifth)
    return frozenset(days)


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in general_holidays(day.year)


def add_working_days(start: dt.date, n: int) -> dt.date:
    """The n-th working day after `start` (`start` itself never counts, as in the Atw)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    day = start
    while n:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            n -= 1
    return day


def deletion_day(arrival: dt.date) -> dt.date:
    """The day by which intake mail that arrived on `arrival` (local date) must be deleted:
    the fifth working day after it. A message is deleted on or after this day."""
    return add_working_days(arrival, MAIL_RETENTION_WORKING_DAYS)
