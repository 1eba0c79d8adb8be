"""The intake mailbox (DESIGN.md §11): store new intake mail encrypted in the quarantine, delete
each message from the mailbox once its fifth working day has come (and it is stored)."""

from __future__ import annotations

import datetime as dt

from archive.errors import BadInput, DossierError

from . import validate
from .context import Context


def sweep(ctx: Context, day: dt.date | None = None) -> dict:
    """Run the mail-sweep flow dated `day` (today or earlier: a date ahead would delete mail
    early). Raises flows.mail_sweep.MailSweepIncomplete when a message could not be stored."""
    from flows.mail_sweep import mail_sweep
    from scanners.mailbox import MailboxError

    day = validate.not_in_future(day, ctx.today, "--today")
    with ctx.uow("quarantine.work") as uow:
        uow.allow()
    try:
        return mail_sweep(today=day.isoformat() if day else None)
    except MailboxError as e:  # a setting to fix is bad input; a server that fails is a conflict to retry
        raise (BadInput if e.code == "config" else DossierError)(str(e), f"mailbox-{e.code}") from None


def mailbox_status(ctx: Context) -> dict | None:
    """The last sweep and the oldest message still in the mailbox with its deletion day (None
    when no intake mailbox is configured)."""
    from archive import intake_mail
    from scanners.mailbox import MailboxError, parse_url

    url = ctx.app.imap_url
    if not url:
        return None
    try:
        address = str(parse_url(url))
    except MailboxError as e:
        return {"configured": True, "problem": str(e)}
    with ctx.vault.sessions() as s:
        return {"configured": True, **intake_mail.mailbox_status(s, address)}
