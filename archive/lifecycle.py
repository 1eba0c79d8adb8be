"""A dossier's lifecycle (DESIGN.md §5): open → closed (end date) → due → destroyed, and holds.

Functions take the caller's session and add the audit event of what they change, so both commit
together. Dates come from the caller (`today`), the rules from archive.retention.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from . import audit
from .catalog import Document, Dossier, utcnow
from .errors import BadInput, Conflict, NotFound, NotPermitted, RuleForbids
from .records import DestructionRecord, LegalHold, PaperFile
from .retention import ONE_YEAR, UPCOMING_DAYS, Period, assess, destroy_on, personal_data_problem

SYSTEM_ACTOR = "system:retention"
SYSTEM_ROLE = "system"


@dataclass(frozen=True)
class RetentionPolicy:
    period: Period = ONE_YEAR
    upcoming_days: int = UPCOMING_DAYS
    timezone: str = "Europe/Amsterdam"

    def describe(self) -> str:
        return f"retention: {self.period.describe()} after the trajectory end ({self.period})"


# ---- holds --------------------------------------------------------------------------------------


def active_hold(session, number: str) -> LegalHold | None:
    return session.execute(
        select(LegalHold)
        .where(LegalHold.dossier == number, LegalHold.released_at.is_(None))
        .order_by(LegalHold.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def hold_summary(hold: LegalHold | None) -> dict | None:
    if hold is None:
        return None
    return {"reason": hold.reason, "since": hold.placed_at.isoformat(), "by": hold.placed_by}


@dataclass(frozen=True)
class ClientNames:
    """The names free text must not hold: this dossier's client's, and every other client's."""

    own: str | None = None
    others: tuple[str, ...] = ()


def check_free_text(
    text: str | None,
    what: str,
    *,
    names: ClientNames | None = None,
    max_len: int = 500,
    required: bool = True,
) -> str | None:
    """Free text that will outlive the dossier: one line, not too long, no personal data."""
    if text is None or not text.strip():
        if required:
            raise BadInput(f"{what} is empty; give a short description", "empty")
        return None
    clean = " ".join(text.split())
    if len(clean) > max_len:
        raise BadInput(f"{what} is too long ({len(clean)} characters, at most {max_len})", "too-long")
    names = names or ClientNames()
    problem = personal_data_problem(clean, names.own, names.others)
    if problem:
        raise BadInput(
            f"{what} may not hold personal data and {problem}; it is kept after the dossier is "
            "destroyed, so describe it without name, BSN or contact details",
            "personal-data",
        )
    return clean


def client_name_of(vault, session, d: Dossier) -> str | None:
    """The client's name, only to keep it out of free text; None once the key is gone."""
    if d.status == "destroyed" or d.client_name_sealed is None:
        return None
    try:
        return vault.dossier_keys(session, d.number).open_field(d.client_name_sealed, "client_name")
    except Exception:  # noqa: BLE001 - a damaged key must not block a hold; the BSN check still runs
        return None


def client_names(vault, session, d: Dossier | None = None) -> ClientNames:
    """The client's name and every other living dossier's client name, only to keep them out of
    free text that outlives the data."""
    others = []
    for other in session.execute(
        select(Dossier).where(Dossier.status != "destroyed", Dossier.client_name_sealed.is_not(None))
    ).scalars():
        if d is None or other.number != d.number:
            name = client_name_of(vault, session, other)
            if name:
                others.append(name)
    return ClientNames(client_name_of(vault, session, d) if d is not None else None, tuple(others))


def place_hold(vault, session, d: Dossier, reason: str, *, actor: str, role: str) -> LegalHold:
    if d.status == "destroyed":
        raise NotFound(
            f"dossier {d.number} was destroyed on {d.destroyed_at:%Y-%m-%d}; there is nothing left to hold", "destroyed"
        )
    current = active_hold(session, d.number)
    if current is not None:
        raise Conflict(
            f"dossier {d.number} is already on hold since {current.placed_at:%Y-%m-%d} (placed by "
            f"{current.placed_by}); release it first to change the reason",
            "already-held",
        )
    clean = check_free_text(reason, "the hold reason", names=client_names(vault, session, d))
    hold = LegalHold(dossier=d.number, reason=clean, placed_by=actor)
    session.add(hold)
    session.flush()
    audit.record(session, actor=actor, role=role, action="dossier.hold", dossier=d.number, detail=f"hold {hold.id}")
    return hold


def release_hold(session, d: Dossier, *, actor: str, role: str) -> LegalHold:
    current = active_hold(session, d.number)
    if current is None:
        raise Conflict(f"dossier {d.number} is not on hold", "not-held")
    current.released_at, current.released_by = utcnow(), actor
    audit.record(
        session, actor=actor, role=role, action="dossier.release", dossier=d.number, detail=f"hold {current.id}"
    )
    return current


# ---- closing ------------------------------------------------------------------------------------


def close(
    session, d: Dossier, end: dt.date, *, today: dt.date, policy: RetentionPolicy, actor: str, role: str
) -> dt.date | None:
    """Set the trajectory end (or correct it). Returns the previous end date, if any."""
    if d.status == "destroyed":
        raise NotFound(f"dossier {d.number} was destroyed on {d.destroyed_at:%Y-%m-%d}", "destroyed")
    if end < d.start_date:
        raise BadInput(
            f"the end date {end} is before the trajectory start {d.start_date}; check the date", "before-start"
        )
    if end > today + dt.timedelta(days=366):
        raise BadInput(f"the end date {end} is more than a year ahead; check the date", "far-future")
    previous = d.end_date
    d.end_date, d.status = end, "closed"
    detail = f"end {end}, destroy on {destroy_on(end, policy.period)}"
    if previous is not None and previous != end:
        detail += f" (end was {previous})"
    audit.record(session, actor=actor, role=role, action="dossier.close", dossier=d.number, detail=detail)
    return previous


# ---- what is due --------------------------------------------------------------------------------


def digital_record(session, number: str) -> DestructionRecord | None:
    return session.execute(
        select(DestructionRecord)
        .where(DestructionRecord.dossier == number, DestructionRecord.scope == "digital")
        .order_by(DestructionRecord.id)
        .limit(1)
    ).scalar_one_or_none()


def destroy_date(session, d: Dossier, policy: RetentionPolicy) -> dt.date | None:
    """The date the dossier is (or was) due: end + period, or the day it was erased."""
    if d.status == "destroyed":
        rec = digital_record(session, d.number)
        if rec is not None:
            return rec.trigger_date
        if d.end_date is None and d.destroyed_at is not None:
            return d.destroyed_at.date()
    return destroy_on(d.end_date, policy.period) if d.end_date is not None else None


def location(p: PaperFile | None) -> dict | None:
    if p is None:
        return None
    return {"room": p.room, "cabinet": p.cabinet, "shelf": p.shelf}


def paper_summary(p: PaperFile | None) -> dict | None:
    if p is None:
        return None
    return {**location(p), "status": p.status, "holder": p.holder, "due": p.due.isoformat() if p.due else None}


def live_documents(session) -> dict[str, int]:
    rows = session.execute(
        select(Document.dossier, func.count()).where(Document.destroyed_at.is_(None)).group_by(Document.dossier)
    ).all()
    return {n: c for n, c in rows}


def _candidates(session):
    """Dossiers with an end date or already destroyed: the only ones that can be or have been due."""
    return (
        session.execute(
            select(Dossier)
            .where((Dossier.end_date.is_not(None)) | (Dossier.status == "destroyed"))
            .order_by(Dossier.number)
        )
        .scalars()
        .all()
    )


def overview(session, today: dt.date, policy: RetentionPolicy) -> dict:
    """Due dossiers (digital and/or paper still to destroy), upcoming ones, overdue check-outs."""
    docs = live_documents(session)
    papers = {p.dossier: p for p in session.execute(select(PaperFile)).scalars()}
    due, upcoming = [], []
    for d in _candidates(session):
        paper = papers.get(d.number)
        hold = active_hold(session, d.number)
        state = assess(
            today,
            status=d.status,
            end=d.end_date,
            period=policy.period,
            on_hold=hold is not None,
            window_days=policy.upcoming_days,
        )
        when = destroy_date(session, d, policy)
        entry = {
            "dossier": d.number,
            "destroy_on": when.isoformat() if when else None,
            "digital": "destroyed" if d.status == "destroyed" else "pending",
            "documents": docs.get(d.number, 0),
            "paper": paper_summary(paper),
            "hold": hold_summary(hold),
        }
        if state.state == "destroyed":
            if paper is not None and paper.status != "destroyed":
                due.append(entry)  # the paper file is still waiting for the shredder
        elif state.state in ("due", "held"):
            due.append(entry)
        elif state.state == "upcoming":
            upcoming.append(entry)
    return {
        "today": today.isoformat(),
        "due": due,
        "upcoming": upcoming,
        "overdue_checkouts": overdue_checkouts(session, today),
    }


def overdue_checkouts(session, today: dt.date) -> list[dict]:
    rows = (
        session.execute(
            select(PaperFile)
            .where(PaperFile.status == "checked-out", PaperFile.due < today)
            .order_by(PaperFile.due, PaperFile.dossier)
        )
        .scalars()
        .all()
    )
    return [
        {
            "dossier": p.dossier,
            "holder": p.holder,
            "due": p.due.isoformat(),
            "days_overdue": (today - p.due).days,
            "location": location(p),
        }
        for p in rows
    ]


@dataclass
class RunPlan:
    destroy: list[str]
    skipped: list[dict]


def plan_run(session, today: dt.date, policy: RetentionPolicy) -> RunPlan:
    """Which dossiers a retention run destroys on `today`, and which due ones it must leave."""
    destroy, skipped = [], []
    for d in _candidates(session):
        if d.status == "destroyed":
            continue
        hold = active_hold(session, d.number)
        state = assess(today, status=d.status, end=d.end_date, period=policy.period, on_hold=hold is not None)
        if state.state == "due":
            destroy.append(d.number)
        elif state.state == "held":
            skipped.append(
                {
                    "dossier": d.number,
                    "reason": f"on legal hold since {hold.placed_at:%Y-%m-%d}; release it to allow destruction",
                }
            )
    return RunPlan(destroy, skipped)


def paper_worklist(session, today: dt.date, policy: RetentionPolicy) -> list[dict]:
    """Paper files to destroy now: their dossier was destroyed, or is due and not on hold."""
    out = []
    for p in session.execute(
        select(PaperFile)
        .where(PaperFile.status != "destroyed")
        .order_by(PaperFile.room, PaperFile.cabinet, PaperFile.shelf, PaperFile.dossier)
    ).scalars():
        d = session.get(Dossier, p.dossier)
        hold = active_hold(session, d.number)
        if hold is not None:
            continue
        state = assess(today, status=d.status, end=d.end_date, period=policy.period)
        if state.state in ("destroyed", "due"):
            when = destroy_date(session, d, policy)
            out.append(
                {
                    "dossier": d.number,
                    "destroy_on": when.isoformat() if when else None,
                    "location": location(p),
                    "status": p.status,
                    "holder": p.holder,
                    "digital": "destroyed" if d.status == "destroyed" else "pending",
                }
            )
    return out


def paper_may_go(session, d: Dossier, today: dt.date, policy: RetentionPolicy) -> bool:
    """Whether the paper file of `d` is to be shredded now (what may_destroy_paper allows)."""
    try:
        may_destroy_paper(session, d, today, policy)
    except NotPermitted:
        return False
    return True


def may_destroy_paper(session, d: Dossier, today: dt.date, policy: RetentionPolicy) -> None:
    """Raise unless the paper file of `d` may be destroyed today (due, or erased, and no hold)."""
    hold = active_hold(session, d.number)
    if hold is not None:
        raise RuleForbids(
            f"dossier {d.number} is on legal hold since {hold.placed_at:%Y-%m-%d}; its paper file may not be "
            "destroyed until the privacy officer releases the hold",
            "on-hold",
        )
    if d.status == "destroyed":
        return
    if d.end_date is None:
        raise RuleForbids(
            f"dossier {d.number} is still open; its paper file becomes due for destruction "
            f"{policy.period.describe()} after the trajectory ends (close it with `dossier close`)",
            "open",
        )
    when = destroy_on(d.end_date, policy.period)
    if today < when:
        raise RuleForbids(
            f"dossier {d.number} is not due for destruction until {when:%Y-%m-%d}; keep the paper file "
            "until then (or the privacy officer erases the dossier on request)",
            "not-due",
        )
