"""mail_sweep: intake mail into the encrypted quarantine, and out of the mailbox by the fifth
working day (DESIGN.md §11).

Reads like the rule: open the mailbox, store every message not stored yet (one quarantine item
each, committed one by one), delete the stored messages whose deletion day has come, and record
what was done. A message is deleted only once its item is committed; a message that could not be
stored stays for the next sweep. Parameters: a date; the log lines and the audit events carry
IMAP UIDs, item ids, counts and keyed message hashes only; nothing is persisted.

Runs act as the system user `system:mail` (audit role `system`).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from archive import audit, intake_mail
from archive.retention import local_today
from archive.workdays import deletion_day
from scanners import mailbox as imap
from scanners.mailbox import Listed, Mailbox, MailboxError
from scanners.message import attachment_pages, message_id, remove_leftovers

from . import runtime

STEP = dict(cache_policy=NO_CACHE, persist_result=False, retries=0)
SYSTEM_ACTOR, SYSTEM_ROLE = "system:mail", "system"


class MailSweepIncomplete(Exception):
    """Some messages could not be stored; they stay in the mailbox and the next sweep tries again."""

    def __init__(self, summary: dict):
        n = len(summary["failed"])
        super().__init__(
            f"{n} message{'' if n == 1 else 's'} could not be stored and stay{'s' if n == 1 else ''} "
            f"in the mailbox (UID {', '.join(str(f['uid']) for f in summary['failed'])}: "
            f"{', '.join(sorted({f['error'] for f in summary['failed']}))}); the next sweep tries again"
        )
        self.summary = summary

    def __reduce__(self):
        return (MailSweepIncomplete, (self.summary,))


@contextmanager
def _one_sweep_at_a_time(rt: runtime.Runtime):
    """A sweep by hand and a scheduled one never work the mailbox side by side; the kernel drops
    the lock when a sweep dies."""
    rt.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(rt.work_dir / "mail-sweep.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _scratch(rt: runtime.Runtime):
    """Where attachments are turned into pages, for a moment (emptied at the start of each sweep)."""
    return rt.work_dir / "mail"


def arrival_day(listed: Listed, timezone: str) -> dt.date:
    return listed.arrived.astimezone(ZoneInfo(timezone)).date()


@task(name="release-resolved-messages", **STEP)
def release_resolved() -> int:
    rt = runtime.current()
    leftovers = remove_leftovers(_scratch(rt))
    released = intake_mail.release_resolved(rt.vault)
    if released:
        audit.record_now(
            rt.vault.writer,
            actor=SYSTEM_ACTOR,
            role=SYSTEM_ROLE,
            action="mail.release",
            detail=f"sealed messages of {len(released)} resolved items destroyed: {', '.join(released)}",
        )
    get_run_logger().info(
        "mail: %d sealed messages of resolved items destroyed, %d leftover folders removed", len(released), leftovers
    )
    return len(released)


@task(name="capture-message", **STEP)
def capture(box: Mailbox, listed: Listed) -> dict:
    """Store one message as a quarantine item, in its own transaction. A failure is reduced to an
    error class (a library's message may quote the mail); the message then stays in the mailbox."""
    rt = runtime.current()
    vault, log = rt.vault, get_run_logger()
    raw = box.fetch(listed.uid)  # a lost connection ends the sweep (MailboxError)
    if raw is None:
        log.info("message uid %d: gone from the mailbox before it was read", listed.uid)
        return {"uid": listed.uid, "gone": True}
    arrived = arrival_day(listed, rt.local_timezone)
    local = listed.arrived.astimezone(ZoneInfo(rt.local_timezone))
    try:
        pages = attachment_pages(raw, _scratch(rt), rt.limits)
        sealed = intake_mail.seal(vault, raw, pages.pdf)  # written and read back before the writer opens
        try:
            with vault.writer() as s:
                copy, new = intake_mail.record(
                    vault,
                    s,
                    sealed,
                    raw=raw,
                    message_id=message_id(raw),
                    mailbox=str(box.address),
                    uidvalidity=box.uidvalidity,
                    uid=listed.uid,
                    arrived_at=listed.arrived,
                    delete_on=deletion_day(arrived),
                    pages=pages.pages,
                    reason=intake_mail.reason_for(pages.pages, pages.attachments, pages.unusable),
                    label=f"e-mail, {local:%Y-%m-%d %H:%M}",  # reads the same in Dutch and English
                )
                audit.record(
                    s,
                    actor=SYSTEM_ACTOR,
                    role=SYSTEM_ROLE,
                    action="mail.capture" if new else "mail.copy",
                    detail=f"message {copy.capture_key[:16]} (uid {listed.uid}) as item {copy.item_id}: "
                    f"{pages.pages} pages, delete on {copy.delete_on}",
                )
                s.commit()
        except BaseException:
            # Unless the catalog has them after all (a commit whose answer was lost): then the mail
            # counts as stored, so its sealed copy must stay.
            for name in sealed.names():
                vault.discard_uncommitted(blob=name)
            raise
        if not new:
            vault.delete_quarantine_blobs(sealed.names())  # an earlier copy holds this message
    except Exception as e:  # noqa: BLE001 - never let a library message (which may quote content) reach Prefect
        if os.environ.get("DOSSIER_DEBUG"):
            raise
        code = getattr(e, "code", None) or type(e).__name__
        log.error("message uid %d: not stored (%s); it stays in the mailbox", listed.uid, code)
        return {"uid": listed.uid, "error": code}
    log.info(
        "message uid %d %s item %s, %d pages, delete on %s",
        listed.uid,
        "stored as" if new else "already stored as",
        copy.item_id,
        pages.pages,
        copy.delete_on,
    )
    return {"uid": listed.uid, "item": copy.item_id, "new": new}


@task(name="delete-due-mail", **STEP)
def delete_due(box: Mailbox, uids: list[int]) -> int:
    """\\Deleted + UID EXPUNGE, checked gone, then recorded (with the keyed message hashes)."""
    if not uids:
        return 0
    rt = runtime.current()
    box.delete(uids)
    with rt.vault.writer() as s:
        keys = intake_mail.mark_deleted(s, str(box.address), box.uidvalidity, uids)
        audit.record(
            s,
            actor=SYSTEM_ACTOR,
            role=SYSTEM_ROLE,
            action="mail.delete",
            detail=f"{len(uids)} messages deleted from the mailbox: {', '.join(k[:16] for k in keys)}",
        )
        s.commit()
    get_run_logger().info("mail: %d messages deleted (uid %s)", len(uids), ", ".join(map(str, uids)))
    return len(uids)


@task(name="record-sweep", **STEP)
def record_sweep(summary: dict, mailbox: str, uidvalidity: int, present: set[int]) -> None:
    rt = runtime.current()
    with rt.vault.writer() as s:
        gone = intake_mail.mark_gone(s, mailbox, uidvalidity, present)
        audit.record(
            s,
            actor=SYSTEM_ACTOR,
            role=SYSTEM_ROLE,
            action="mail.sweep",
            outcome="failed" if summary["failed"] else "ok",
            detail=f"dated {summary['today']}: {summary['captured']} captured, {summary['deleted']} deleted, "
            f"{summary['kept']} kept, {len(summary['failed'])} not stored"
            + (f", {gone} removed by others" if gone else ""),
        )
        s.commit()


def _record_failure(rt: runtime.Runtime, day: dt.date, e: MailboxError) -> None:
    audit.record_now(
        rt.vault.writer,
        actor=SYSTEM_ACTOR,
        role=SYSTEM_ROLE,
        action="mail.sweep",
        outcome="failed",
        detail=f"dated {day}: mailbox {e.code} error",
    )


@flow(name="mail-sweep", persist_result=False, validate_parameters=False, log_prints=False)
def mail_sweep(today: str | dt.date | None = None) -> dict:
    """Store new intake mail and delete what is due on `today` (ISO date; default: today in the
    firm's time zone). Returns {"today", "captured", "deleted", "kept", "failed"}; raises
    MailboxError when the mailbox cannot be used (nothing deleted) and MailSweepIncomplete
    (carrying the summary) when a message could not be stored."""
    rt = runtime.current()
    day = (
        (today if isinstance(today, dt.date) else dt.date.fromisoformat(today))
        if today
        else local_today(rt.local_timezone)
    )
    log = get_run_logger()
    with _one_sweep_at_a_time(rt):
        release_resolved()
        try:
            box = imap.connect(rt.imap_url, rt.imap_password_file)
        except MailboxError as e:
            _record_failure(rt, day, e)
            raise
        with box:
            try:
                listing = box.messages()
                with rt.vault.sessions() as s:
                    stored = intake_mail.stored_uids(s, str(box.address), box.uidvalidity)
                results = [capture(box, m) for m in listing if m.uid not in stored]
                with rt.vault.sessions() as s:
                    stored = intake_mail.stored_uids(s, str(box.address), box.uidvalidity)
                due = [
                    m.uid for m in listing if m.uid in stored and deletion_day(arrival_day(m, rt.local_timezone)) <= day
                ]
                deleted = delete_due(box, due)
            except MailboxError as e:
                _record_failure(rt, day, e)
                raise
        gone = {r["uid"] for r in results if r.get("gone")}
        present = {m.uid for m in listing} - set(due) - gone
        summary = {
            "today": day.isoformat(),
            "captured": sum(bool(r.get("new")) for r in results),
            "deleted": deleted,
            "kept": len(present),
            "failed": [r for r in results if "error" in r],
        }
        record_sweep(summary, str(box.address), box.uidvalidity, present)
    log.info(
        "mail sweep %s: %d captured, %d deleted, %d kept, %d not stored",
        day,
        summary["captured"],
        summary["deleted"],
        summary["kept"],
        len(summary["failed"]),
    )
    if summary["failed"]:
        raise MailSweepIncomplete(summary)
    return summary
