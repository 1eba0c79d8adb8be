"""The pure rules of clients' rights (archive/rights.py): answer deadlines, consent coverage, 72 hours."""

from __future__ import annotations

import datetime as dt

import pytest

from archive.errors import BadInput
from archive.rights import (
    ConsentFacts,
    add_months_clamped,
    coverage,
    due_soon,
    extended_due,
    is_overdue,
    notify_by,
    parse_id,
    request_due,
    same_party,
)

D = dt.date


@pytest.mark.parametrize(
    "received, due",
    [
        (D(2026, 1, 15), D(2026, 2, 15)),  # an ordinary day
        (D(2026, 1, 31), D(2026, 2, 28)),  # clamped to the end of February
        (D(2024, 1, 31), D(2024, 2, 29)),  # ... of a leap year
        (D(2024, 1, 29), D(2024, 2, 29)),
        (D(2026, 1, 29), D(2026, 2, 28)),
        (D(2024, 2, 29), D(2024, 3, 29)),  # a leap day itself: the same day next month
        (D(2026, 3, 31), D(2026, 4, 30)),  # a 31st into a 30-day month
        (D(2026, 4, 30), D(2026, 5, 30)),  # a 30th into a 31-day month stays the 30th
        (D(2026, 12, 31), D(2027, 1, 31)),  # over the year end
        (D(2026, 12, 1), D(2027, 1, 1)),
        (D(2100, 1, 31), D(2100, 2, 28)),  # 2100 is not a leap year
        (D(2000, 1, 31), D(2000, 2, 29)),  # 2000 is
    ],
)
def test_a_request_is_due_one_calendar_month_after_receipt(received, due):
    assert request_due(received) == due


@pytest.mark.parametrize(
    "received, extended",
    [
        (D(2026, 1, 15), D(2026, 4, 15)),
        (D(2024, 1, 31), D(2024, 4, 30)),  # counted from receipt: not 29 Feb + 2 months = 29 April
        (D(2025, 11, 30), D(2026, 2, 28)),
        (D(2023, 11, 30), D(2024, 2, 29)),
        (D(2026, 10, 31), D(2027, 1, 31)),
    ],
)
def test_an_extension_gives_two_more_months(received, extended):
    assert extended_due(received) == extended
    assert extended > request_due(received)


def test_months_are_added_without_running_over():
    assert add_months_clamped(D(2026, 8, 31), 6) == D(2027, 2, 28)
    assert add_months_clamped(D(2026, 5, 31), 0) == D(2026, 5, 31)
    assert add_months_clamped(D(2026, 1, 31), 25) == D(2028, 2, 29)


def test_overdue_from_the_day_after_the_due_date_while_open():
    due = D(2026, 2, 28)
    assert not is_overdue(due, D(2026, 2, 28))
    assert is_overdue(due, D(2026, 3, 1))
    assert not is_overdue(due, D(2026, 3, 1), "done")
    assert due_soon(due, D(2026, 2, 21)) and not due_soon(due, D(2026, 2, 20))
    assert due_soon(due, D(2026, 3, 5))  # overdue is due soon too


def test_the_authority_must_be_told_within_72_hours():
    amsterdam = dt.timezone(dt.timedelta(hours=1))
    found = dt.datetime(2026, 3, 27, 22, 15, tzinfo=amsterdam)
    assert notify_by(found) == dt.datetime(2026, 3, 30, 22, 15, tzinfo=amsterdam)
    assert notify_by(found) - found == dt.timedelta(hours=72)


def _consent(ident="C-2026-0001", *, recipient="Bakkerij De Vries", purpose="cv-to-employer", types=("cv",), **kw):
    facts = dict(given=D(2026, 1, 10), until=None, withdrawn=None) | kw
    return ConsentFacts(ident, purpose, recipient, types, **facts)


FEB_1 = D(2026, 2, 1)


def _why(consents, *, recipient="Bakkerij De Vries", purpose="cv-to-employer", doc_type="cv", today=FEB_1):
    return coverage(consents, recipient=recipient, purpose=purpose, doc_type=doc_type, today=today).reason


def test_consent_covers_only_its_recipient_purpose_types_and_time():
    c = _consent(until=D(2026, 6, 30))
    assert coverage([c], recipient="bakkerij  de vries", purpose="cv-to-employer", doc_type="cv", today=D(2026, 2, 1))
    assert _why([c]) == "ok"
    assert _why([c], recipient="Slagerij Jansen") == "no-consent"
    assert _why([c], purpose="reintegratie-overleg") == "other-purpose"
    assert _why([c], doc_type="arbeidsdeskundig-rapport") == "other-type"
    assert _why([c], today=D(2026, 1, 9)) == "not-yet"
    assert _why([c], today=D(2026, 6, 30)) == "ok"  # the last day counts
    assert _why([c], today=D(2026, 7, 1)) == "expired"
    assert _why([]) == "no-consent"
    everything = _consent(types=None)
    assert _why([everything], doc_type="werkplan") == "ok"


def test_a_withdrawn_consent_is_inactive_from_that_day_on_and_another_may_still_cover():
    c = _consent(withdrawn=D(2026, 2, 1))
    assert _why([c], today=D(2026, 1, 31)) == "ok"
    assert _why([c], today=D(2026, 2, 1)) == "withdrawn"
    renewed = _consent("C-2026-0002", given=D(2026, 2, 1))
    found = coverage(
        [c, renewed], recipient="Bakkerij De Vries", purpose="cv-to-employer", doc_type="cv", today=D(2026, 2, 1)
    )
    assert found.consent.id == "C-2026-0002"


def test_recipients_compare_without_case_or_spacing():
    assert same_party("Bakkerij  De Vries", "bakkerij de vries")
    assert not same_party("Bakkerij De Vries", "Bakkerij De Vries BV")


def test_ids_are_checked():
    assert parse_id(" r-2026-0001 ", "request") == "R-2026-0001"
    with pytest.raises(BadInput, match="not a request id"):
        parse_id("C-2026-0001", "request")
    with pytest.raises(BadInput, match="B-2026-0001"):
        parse_id("breach-1", "breach")
