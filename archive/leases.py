"""Who works on a scan: a lease in the catalog, so that exactly one run on any machine does (DESIGN.md §6).

A run takes its scan's lease before it touches the scan and holds it until it ends: one row per
scan (scan id, holder, expires_at), taken in one atomic statement (INSERT … ON CONFLICT DO UPDATE
… WHERE the lease is free), renewed by a heartbeat thread while the run works, and deleted at
the end. A file lock (flock) would not do: it is not reliable across machines on NFS or SMB.

A lease is free when it has expired (its holder stopped renewing: the machine died, the process
was killed, the network went) or, sooner, when its holder ran on this machine and that process
is gone: a restarted watcher resumes a killed run at once instead of waiting out the lease.
Every commit of a run confirms, in its own transaction, that the run still holds the lease
(`confirm`, a row lock on PostgreSQL), so a run that stalled past its lease and woke up again
can never file what its successor files.

Times are the database's clock (PostgreSQL's clock_timestamp()), so machines whose clocks
differ agree on when a lease expires; SQLite runs on one machine and uses its clock.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from collections.abc import Iterable

from sqlalchemy import DateTime, ForeignKey, String, delete, or_, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from .catalog import Base

LEASE_SECONDS = 60.0


class ScanLease(Base):
    __tablename__ = "scan_leases"
    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id"), primary_key=True)
    # "<host> <boot id>:<pid>:<process start> <flow run id or ->": which process of which machine.
    holder: Mapped[str] = mapped_column(String(255))
    taken_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class LeaseBusy(Exception):
    """Another run holds this scan."""

    def __init__(self, scan_id: str):
        super().__init__(f"scan {scan_id} is being processed by another run")
        self.scan_id = scan_id

    def __reduce__(self):
        return (LeaseBusy, (self.scan_id,))


class LeaseLost(Exception):
    """This run's lease was taken over (it stalled for longer than the lease): it must stop."""

    def __init__(self, scan_id: str):
        super().__init__(f"scan {scan_id} was taken over by another run; this run stops without filing more")
        self.scan_id = scan_id

    def __reduce__(self):
        return (LeaseLost, (self.scan_id,))


# ---- who holds ---------------------------------------------------------------------------------


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()[:8]
    except OSError:
        return "-"


def _started(pid: int) -> str | None:
    """When the process started (clock ticks since boot), to tell it from a later one with its pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name in parentheses may hold spaces


def holder(run: str | None = None, pid: int | None = None) -> str:
    """This process (or `pid` on this machine) as a lease holder, with the flow run it works for."""
    pid = pid or os.getpid()
    return f"{socket.gethostname()} {_boot_id()}:{pid}:{_started(pid) or '-'} {run or '-'}"


def gone(holder_: str) -> bool:
    """True when the holder ran on this machine and its process is no longer there (or the
    machine rebooted since). Of a holder on another machine nothing is known here: its lease
    ends when it expires."""
    try:
        host, process, _run = holder_.split(" ", 2)
        boot, pid, started = process.split(":")
    except ValueError:
        return False
    if host != socket.gethostname() or boot == "-" or started == "-":
        return False
    if boot != _boot_id():
        return True
    return _started(int(pid)) != started


# ---- the row -----------------------------------------------------------------------------------


def db_now(session: Session) -> dt.datetime:
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(text("SELECT clock_timestamp()")).scalar_one()
    return dt.datetime.now(dt.UTC)


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _insert(session: Session):
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise NotImplementedError(f"no leases for the {dialect} dialect")
    return insert(ScanLease)


def take(session: Session, scan_id: str, holder_: str, seconds: float, *, stale: str | None = None) -> bool:
    """Take the lease if it is free (or already ours, or held by `stale`, a holder known to be
    gone), in one statement: on PostgreSQL the conflicting row is locked and the condition is
    checked on its newest version, so of two machines taking at once exactly one gets it."""
    now = db_now(session)
    free = [ScanLease.expires_at < now, ScanLease.holder == holder_]
    if stale:
        free.append(ScanLease.holder == stale)
    ins = _insert(session).values(
        scan_id=scan_id, holder=holder_, taken_at=now, expires_at=now + dt.timedelta(seconds=seconds)
    )
    stmt = ins.on_conflict_do_update(
        index_elements=[ScanLease.scan_id],
        set_={"holder": ins.excluded.holder, "taken_at": ins.excluded.taken_at, "expires_at": ins.excluded.expires_at},
        where=or_(*free),
    ).returning(ScanLease.holder)
    return session.execute(stmt).scalar() == holder_


def renew(session: Session, scan_id: str, holder_: str, seconds: float) -> bool:
    """Push the lease's end on; False when it is no longer ours."""
    now = db_now(session)
    result = session.execute(
        update(ScanLease)
        .where(ScanLease.scan_id == scan_id, ScanLease.holder == holder_)
        .values(expires_at=now + dt.timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def release(session: Session, scan_id: str, holder_: str) -> None:
    session.execute(
        delete(ScanLease)
        .where(ScanLease.scan_id == scan_id, ScanLease.holder == holder_)
        .execution_options(synchronize_session=False)
    )


def confirm(session: Session, scan_id: str, holder_: str) -> None:
    """Inside a writing transaction: raise LeaseLost unless the lease is still ours. On PostgreSQL
    the row stays locked until that transaction ends, so nobody takes it over in between; on
    SQLite the writer holds the database's write lock already."""
    q = select(ScanLease.holder).where(ScanLease.scan_id == scan_id)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    if session.execute(q).scalar() != holder_:
        raise LeaseLost(scan_id)


def live(session: Session, scan_ids: Iterable[str] | None = None) -> set[str]:
    """The scans (of `scan_ids`, or all) a run is working on now."""
    return {lease.scan_id for lease, alive in _leases(session, scan_ids) if alive}


def abandoned(session: Session, scan_ids: Iterable[str] | None = None) -> set[str]:
    """The scans whose run stopped without releasing its lease: it expired, or its process is gone."""
    return {lease.scan_id for lease, alive in _leases(session, scan_ids) if not alive}


def _leases(session: Session, scan_ids: Iterable[str] | None) -> list[tuple[ScanLease, bool]]:
    q = select(ScanLease)
    if scan_ids is not None:
        q = q.where(ScanLease.scan_id.in_(list(scan_ids)))
    now = db_now(session)
    return [
        (lease, _aware(lease.expires_at) >= now and not gone(lease.holder)) for lease in session.execute(q).scalars()
    ]


def acquire(writer: sessionmaker, scan_id: str, holder_: str, seconds: float) -> bool:
    with writer() as s:
        current = s.get(ScanLease, scan_id)
        stale = current.holder if current is not None and current.holder != holder_ and gone(current.holder) else None
        taken = take(s, scan_id, holder_, seconds, stale=stale)
        s.commit()
    return taken


# ---- a run's lease -----------------------------------------------------------------------------


class Held:
    """A scan's lease for the length of a run: taken on entry (LeaseBusy when another run holds
    it), renewed every quarter of its length by a heartbeat thread, released on exit. A lease
    found taken over is `lost`; `confirm` inside each commit raises LeaseLost from then on."""

    def __init__(
        self,
        writer: sessionmaker,
        scan_id: str,
        seconds: float = LEASE_SECONDS,
        *,
        run: str | None = None,
        heartbeat: bool = True,
    ):
        self.writer, self.scan_id, self.seconds = writer, scan_id, seconds
        self.holder = holder(run)
        self.lost = False
        self._heartbeat = heartbeat
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Held:
        if not acquire(self.writer, self.scan_id, self.holder, self.seconds):
            raise LeaseBusy(self.scan_id)
        if self._heartbeat:
            self._thread = threading.Thread(target=self._beat, name=f"lease-{self.scan_id[:8]}", daemon=True)
            self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(max(1.0, self.seconds / 4)):
            try:
                with self.writer() as s:
                    ours = renew(s, self.scan_id, self.holder, self.seconds)
                    s.commit()
            except Exception:  # noqa: BLE001 - the database may answer at the next beat; else the lease ends
                continue
            if not ours:
                self.lost = True
                return

    def confirm(self, session: Session) -> None:
        if self.lost:
            raise LeaseLost(self.scan_id)
        try:
            confirm(session, self.scan_id, self.holder)
        except LeaseLost:
            self.lost = True
            raise

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            with self.writer() as s:
                release(s, self.scan_id, self.holder)
                s.commit()
        except Exception:  # noqa: BLE001 - an unreleased lease expires by itself
            pass
