"""Who acts, on which archive, on what day; and the unit of work every use case runs in.

A use case opens `ctx.uow(action)`: the unit of work owns the catalog session (a writer: the
write lock is taken before anything is read), checks the actor's permission for `action`, records
audit events with the actor, role and channel, and commits the change and its events once. Any
DossierError that leaves the block (a refusal by role, a rule such as a legal hold, an unknown
dossier, a damaged file) is recorded as a refused or failed event of that action in a transaction
of its own, after the change was rolled back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from archive import access, audit
from archive.catalog import Dossier, User
from archive.errors import DossierError, IntegrityFailure, NotFound, NotPermitted
from archive.lifecycle import RetentionPolicy
from archive.retention import local_today
from archive.vault import Vault

from . import validate

SYSTEM_ROLE = "system"


@dataclass(frozen=True)
class Actor:
    name: str
    role: str  # office | coach | privacy | system
    channel: str = "cli"  # cli | web | watch | system
    address: str | None = None  # the web client's address


@dataclass
class App:
    """The archive and what the use cases need to know of the configuration (built by dossier/wiring)."""

    vault: Vault
    home: Path
    inbox_dir: Path
    work_dir: Path
    run_dir: Path
    policy: RetentionPolicy = field(default_factory=RetentionPolicy)
    paper_checkout_days: int = 14
    concurrency: int = 2  # scans processed side by side
    settle_seconds: float = 5.0
    imap_url: str | None = None  # the intake mailbox, if any (its password stays in its file)
    # Web sessions (services/auth.py): ended after this long without a request, and after this long at all.
    session_idle: dt.timedelta = dt.timedelta(minutes=15)
    session_max: dt.timedelta = dt.timedelta(hours=10)
    # Scale-out (DESIGN.md §6): with a work pool, scans are dispatched to workers on any machine.
    work_pool: str | None = None
    deployment: str = "process-scan"  # the process-scan deployment's name

    @property
    def pool_name(self) -> str:
        """The work pool `dossier deploy` registers on and `dossier worker` serves: the one set, else `dossier`."""
        return self.work_pool or "dossier"

    def today(self) -> dt.date:
        return local_today(self.policy.timezone)

    def local_zone(self):
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.policy.timezone)


@dataclass
class Context:
    app: App
    actor: Actor
    today: dt.date

    @property
    def vault(self) -> Vault:
        return self.app.vault

    def uow(self, action: str | None = None, dossier: str | None = None) -> UnitOfWork:
        """A unit of work that changes the catalog: the write lock is taken up front, so what it
        reads is current when it writes (claims, counters, state checks)."""
        return UnitOfWork(self, action, dossier)

    def reading(self, action: str | None = None, dossier: str | None = None) -> UnitOfWork:
        """A unit of work that only reads, then records the read: no lock while it reads (files,
        keys, search), the write lock only from its audit event to the commit."""
        return UnitOfWork(self, action, dossier, write=False)

    def record_now(
        self,
        action: str,
        outcome: str,
        *,
        dossier: str | None = None,
        document: str | None = None,
        detail: str | None = None,
    ) -> None:
        """An event of this actor in a transaction of its own: for what goes wrong after the unit of
        work ended (a failure met once the data had left the vault, or outside the catalog)."""
        a = self.actor
        audit.record_now(
            self.vault.writer,
            actor=a.name,
            role=a.role,
            action=action,
            outcome=outcome,
            dossier=dossier,
            document=document,
            detail=detail,
            channel=a.channel,
            address=a.address,
        )


def act_as(
    app: App, name: str, *, channel: str = "cli", address: str | None = None, today: dt.date | None = None
) -> Context:
    """The context of a user the archive knows; anyone else may do nothing (NotPermitted)."""
    with app.vault.sessions() as s:
        user = s.get(User, name)
        role = user.role if user is not None else None
        disabled = getattr(user, "disabled_at", None) is not None if user is not None else False
    if role is None or disabled:
        # Said the same way for unknown and disabled users; the advice is the privacy officer's job.
        raise NotPermitted(
            f"user {name} is not known to the archive (or was disabled); ask the privacy officer to add you",
            "unknown-user",
        )
    return Context(app, Actor(name, role, channel, address), today or app.today())


def as_system(app: App, name: str, *, channel: str = "system", today: dt.date | None = None) -> Context:
    """The context of the system itself (the watcher, a scheduled run): names start with 'system:'."""
    return Context(app, Actor(name, SYSTEM_ROLE, channel), today or app.today())


class UnitOfWork:
    def __init__(self, ctx: Context, action: str | None, dossier: str | None = None, *, write: bool = True):
        self.ctx = ctx
        self.write = write
        self.action = action
        self.dossier_number = dossier  # what a refusal is recorded against, once known
        self.document_id: str | None = None
        self.session: Session | None = None
        self._done = False

    # ---- the transaction ------------------------------------------------------------------------
    def __enter__(self) -> UnitOfWork:
        self.session = self.ctx.vault.writer() if self.write else self.ctx.vault.sessions()
        # Events recorded by archive functions in this session carry the channel too.
        self.session.info.update(audit_channel=self.ctx.actor.channel, audit_address=self.ctx.actor.address)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._done:
                return
            self.session.rollback()
            if isinstance(exc, DossierError) and self.action:
                outcome = "failed" if isinstance(exc, IntegrityFailure) else "refused"
                self.audit(outcome=outcome, dossier=self.dossier_number, document=self.document_id, detail=exc.code)
                self.session.commit()
        finally:
            self.session.close()

    def commit(self) -> None:
        self.session.commit()
        self._done = True

    # ---- audit ----------------------------------------------------------------------------------
    def audit(
        self,
        action: str | None = None,
        *,
        outcome: str = "ok",
        dossier: str | None = None,
        document: str | None = None,
        detail: str | None = None,
        purpose: str | None = None,
    ) -> None:
        a = self.ctx.actor
        audit.record(
            self.session,
            actor=a.name,
            role=a.role,
            action=action or self.action,
            outcome=outcome,
            dossier=dossier,
            document=document,
            detail=detail,
            purpose=purpose,
            channel=a.channel,
            address=a.address,
        )

    # ---- loading and permission -----------------------------------------------------------------
    def dossier(self, number: str) -> Dossier:
        """The dossier with this number; a malformed or unknown number is refused (and audited)."""
        number = validate.dossier_number(number)
        self.dossier_number = number
        d = self.session.get(Dossier, number)
        if d is None:
            raise NotFound(f"dossier {number} does not exist; check the number on the paper file", "unknown-dossier")
        return d

    def allow(self, dossier: Dossier | None = None, action: str | None = None) -> None:
        """Refuse (NotPermitted, audited on the way out) unless the actor may take `action`."""
        action = action or self.action
        a = self.ctx.actor
        ok = (
            access.may_on_dossier(a.name, a.role, action, dossier.coach)
            if dossier is not None
            else access.role_may(a.role, action)
        )
        if not ok:
            where = f" on dossier {dossier.number}" if dossier is not None else ""
            raise NotPermitted(f"{a.name} ({a.role}) may not {access.describe(action)}{where}", "role")
