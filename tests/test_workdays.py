"""Working days per the Algemene termijnenwet and the intake-mail deletion day (DESIGN.md §11).

The expected dates are worked out by hand from a calendar, not computed by the code under test.
"""

from __future__ import annotations

import datetime as dt

import pytest

from archive.workdays import add_working_days, deletion_day, is_working_day

D = dt.date


def test_every_weekday_off_in_2026_and_nothing_else():
    """2026: the Atw holidays that fall on a weekday (Christmas' second day is a Saturday)."""
    off = {
        d
        for d in (D(2026, 1, 1) + dt.timedelta(days=n) for n in range(365))
        if d.weekday() < 5 and not is_working_day(d)
    }
    assert off == {
        D(2026, 1, 1),
        D(2026, 4, 3),
        D(2026, 4, 6),
        D(2026, 4, 27),
        D(2026, 5, 5),
        D(2026, 5, 14),
        D(2026, 5, 25),
        D(2026, 12, 25),
    }


@pytest.mark.parametrize(
    "arrival, expected, why",
    [
        # Easter 2026: Good Friday 3 April and Easter Monday 6 April are not counted.
        (D(2026, 4, 2), D(2026, 4, 13), "Thursday before Easter"),
        (D(2026, 4, 3), D(2026, 4, 13), "arrived on Good Friday"),
        (D(2026, 4, 6), D(2026, 4, 13), "arrived on Easter Monday"),
        # King's Day 2025: the 27th is a Sunday, so it is kept on Saturday the 26th: no Monday off.
        (D(2025, 4, 25), D(2025, 5, 2), "King's Day on a Saturday"),
        # King's Day 2026 on Monday the 27th, then 5 May in a year that is no lustrum (every year counts).
        (D(2026, 4, 24), D(2026, 5, 4), "King's Day on a Monday"),
        (D(2026, 4, 30), D(2026, 5, 8), "5 May 2026, no lustrum"),
        (D(2027, 4, 30), D(2027, 5, 11), "5 May 2027 (Wednesday, no lustrum), Ascension 6 May"),
        # Weekend arrivals count from Monday.
        (D(2026, 3, 5), D(2026, 3, 12), "Thursday"),
        (D(2026, 3, 6), D(2026, 3, 13), "Friday"),
        (D(2026, 3, 7), D(2026, 3, 13), "Saturday"),
        (D(2026, 3, 8), D(2026, 3, 13), "Sunday"),
        # Ascension and Whit Monday 2026.
        (D(2026, 5, 13), D(2026, 5, 21), "Ascension on Thursday 14 May"),
        (D(2026, 5, 20), D(2026, 5, 28), "Whit Monday 25 May"),
        # Christmas and New Year across the turn of the year.
        (D(2025, 12, 23), D(2026, 1, 2), "Christmas 2025 and New Year 2026"),
        (D(2026, 12, 24), D(2027, 1, 4), "Christmas 2026 (26th on a Saturday), New Year on a Friday"),
    ],
)
def test_deletion_day_is_the_fifth_working_day_after_arrival(arrival, expected, why):
    assert deletion_day(arrival) == expected, why


def test_add_working_days_counts_from_the_day_after():
    assert add_working_days(D(2026, 3, 9), 1) == D(2026, 3, 10)  # Monday -> Tuesday
    assert add_working_days(D(2026, 3, 13), 1) == D(2026, 3, 16)  # Friday -> Monday
    with pytest.raises(ValueError):
        add_working_days(D(2026, 3, 9), 0)
