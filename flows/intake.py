"""Unattended intake (DESIGN.md §3.1–3.2): claim a settled file, dispatch it through Prefect, and
put things right after a crash.

Exactly-once comes from the catalog, not from luck: a scan is known by its hash; a resumed scan
skips what it already filed; a per-scan lock keeps two runs of one scan apart; the inbox file is
moved into the work area (an atomic rename) and the work copy is deleted only after the flow
verified and committed everything.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from archive import audit
from archive.catalog import Scan, utcnow
from archive.crypto import sha256_file
from archive.store import fsync_dir
from scanners import intake

from . import runtime

log = logging.getLogger(__name__)
SYSTEM_ACTOR = "system:watch"


@dataclass
class Claimed:
    scan_id: str
    duplicate: bool = False


def claim(path: Path, actor: str = SYSTEM_ACTOR) -> Claimed:
    """Take a settled inbox file into the work area under its scan id (or drop an exact duplicate)."""
    rt = runtime.current()
    vault = rt.vault
    sha = sha256_file(path)
    with vault.sessions() as s:
        earlier = vault.previous_scan(s, sha)
        if earlier is not None:
            dup = vault.record_duplicate(s, sha, actor, earlier)
            audit.record(s, actor=actor, role="system", action="scan.duplicate", outcome="duplicate",
                         detail=f"scan {dup.id} same as scan {earlier.id}")
            s.commit()
            path.unlink(missing_ok=True)  # the same bytes are already in the archive or the quarantine
            return Claimed(dup.id, duplicate=True)
        scan = vault.register_scan(s, sha, actor, path.name)
        audit.record(s, actor=actor, role="system", action="scan.receive", detail=f"scan {scan.id}")
        s.commit()
        scan_id = scan.id
    _move_into_work(path, rt.work_dir, scan_id)
    return Claimed(scan_id)


def _move_into_work(path: Path, work_root: Path, scan_id: str) -> None:
    d = intake.job_dir(work_root, scan_id)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.replace(path, d / "source")  # atomic on one file system: the file is in the inbox or here, never lost
    except OSError:
        # Inbox on another file system (a share): a fsynced copy first, then the inbox file goes.
        intake.place_copy(path, work_root, scan_id)
        path.unlink()
    fsync_dir(d)


def dispatch(scan_id: str, attempt: int = 0):
    """Ask Prefect to run process-scan for this scan; the key makes a repeated request a no-op."""
    from prefect.deployments import run_deployment

    return run_deployment(f"process-scan/{runtime.current().deployment}", parameters={"scan_id": scan_id},
                          timeout=0, as_subflow=False,
                          idempotency_key=f"scan-{scan_id}-{attempt}", tags=[f"scan:{scan_id}"])


def reconcile(min_age_seconds: float = 0.0) -> dict:
    """Put right what a stopped or killed process left: close runs whose process is gone, resume
    unfinished scans, remove work folders of finished ones. Safe at any time and repeatable.

    Liveness comes from the scan lock: a run holds it for as long as its process lives, and the
    kernel drops it when that process dies, SIGKILL included. A run Prefect still shows as Running
    while nobody holds its scan's lock is dead.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.states import Crashed

    rt = runtime.current()
    counts = {"resumed": 0, "crashed_runs": 0, "cleaned": 0}
    # At start-up (min_age 0) nothing of ours runs yet; the periodic repair leaves young work alone.
    cutoff = utcnow() - dt.timedelta(seconds=min_age_seconds)
    with rt.vault.sessions() as s:
        scans = [(sc.id, sc.status) for sc in s.execute(select(Scan).where(
            Scan.status.in_(("received", "archived", "quarantined")))).scalars()
            if intake.job_dir(rt.work_dir, sc.id).exists()
            and (sc.status != "received" or _aware(sc.received_at) <= cutoff)]
    with get_client(sync_client=True) as client:
        for scan_id, status in scans:
            if intake.lock_held(rt.work_dir, scan_id):
                continue  # a live run is working on it
            if status != "received":
                intake.release(rt.work_dir, scan_id)  # finished; only the clean-up was interrupted
                counts["cleaned"] += 1
                continue
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"scan:{scan_id}"])))
            waiting = False
            for run in runs:
                state = run.state.type.value if run.state else "UNKNOWN"
                # Pending means a runner was starting its process: normally seconds. Older than that
                # (or any, at start-up, when no runner of ours is alive) it died on the way.
                stuck_pending = state == "PENDING" and _aware(run.state.timestamp) <= cutoff
                if state == "RUNNING" or stuck_pending:
                    client.set_flow_run_state(run.id, Crashed(message="its process stopped; the scan is resumed"),
                                              force=True)
                    counts["crashed_runs"] += 1
                elif state in ("SCHEDULED", "PENDING"):
                    waiting = True
            if waiting or not (intake.job_dir(rt.work_dir, scan_id) / "source").exists():
                continue
            intake.scrub(rt.work_dir, scan_id)  # no page images of the dead run stay behind
            dispatch(scan_id, attempt=len(runs))
            counts["resumed"] += 1
    return counts


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)
