"""Unattended intake (DESIGN.md §3.1–3.2): claim a settled file, dispatch it through Prefect, and
put things right after a crash.

Exactly-once comes from the catalog, not from luck: a scan is known by its hash; a resumed scan
skips what it already filed; a per-scan lock keeps two runs of one scan apart; the inbox file is
moved into the work area (an atomic rename) and the work copy is deleted only after the flow
verified and committed everything.
"""
from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from archive import audit
from archive.catalog import Scan
from archive.crypto import sha256_file
from scanners import intake

from . import runtime

log = logging.getLogger(__name__)
DEPLOYMENT = "process-scan/process-scan"
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
    target = d / "source"
    try:
        os.replace(path, target)  # atomic on one file system: the file is in the inbox or here, never lost
    except OSError:
        # Inbox on another file system (a share): copy, fsync, then remove the inbox file.
        tmp = d / ".source.tmp"
        shutil.copyfile(path, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
        path.unlink()
    dir_fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def dispatch(scan_id: str, attempt: int = 0):
    """Ask Prefect to run process-scan for this scan; the key makes a repeated request a no-op."""
    from prefect.deployments import run_deployment

    return run_deployment(DEPLOYMENT, parameters={"scan_id": scan_id}, timeout=0, as_subflow=False,
                          idempotency_key=f"scan-{scan_id}-{attempt}", tags=[f"scan:{scan_id}"])


ACTIVE = {"SCHEDULED", "PENDING", "RUNNING"}


def _pid_alive(infrastructure_pid: str | None) -> bool:
    if not infrastructure_pid:
        return False
    host, _, pid = infrastructure_pid.rpartition(":")
    try:
        os.kill(int(pid), 0)
        return True
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True


def reconcile() -> dict:
    """After a crash or restart: resolve runs a dead process left Running, resume unfinished
    scans, scrub or remove work folders. Safe to run at any time."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.states import Crashed

    rt = runtime.current()
    counts = {"resumed": 0, "crashed_runs": 0, "cleaned": 0}
    with rt.vault.sessions() as s:
        scans = {sc.id: sc.status for sc in s.execute(select(Scan).where(Scan.status.in_(("received", "archived",
                                                                                        "quarantined")))).scalars()
                 if intake.job_dir(rt.work_dir, sc.id).exists()}
    with get_client(sync_client=True) as client:
        for scan_id, status in scans.items():
            if status != "received":
                intake.release(rt.work_dir, scan_id)  # finished, only the clean-up was interrupted
                counts["cleaned"] += 1
                continue
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"scan:{scan_id}"])))
            active = False
            for run in runs:
                state = run.state.type.value if run.state else "UNKNOWN"
                if state in ("RUNNING", "PENDING") and not _pid_alive(run.infrastructure_pid):
                    client.set_flow_run_state(run.id, Crashed(message="its process stopped; the scan was resumed"),
                                              force=True)
                    counts["crashed_runs"] += 1
                elif state in ACTIVE:
                    active = True
            if active:
                continue
            if not (intake.job_dir(rt.work_dir, scan_id) / "source").exists():
                continue
            intake.scrub(rt.work_dir, scan_id)  # no page images from the dead run stay behind
            dispatch(scan_id, attempt=len(runs))
            counts["resumed"] += 1
    return counts
