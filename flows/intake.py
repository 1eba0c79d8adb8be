"""Unattended intake (DESIGN.md §3.1–3.2), the Prefect side: dispatch a claimed scan as a
process-scan run, and put things right after a crash. (The claim itself is services/scanning.py.)

Exactly-once comes from the catalog, not from luck: a scan is known by its hash; a resumed scan
skips what it already filed; the scan's lease in the catalog (archive/leases.py) keeps two runs
of one scan apart, on one machine or several; the work copy is deleted only after the flow
verified and committed everything.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from archive import leases
from archive.catalog import Scan, utcnow
from scanners import intake

from . import leftovers, runtime

log = logging.getLogger(__name__)


def dispatch(scan_id: str, attempt: int = 0):
    """Ask Prefect to run process-scan for this scan; the key makes a repeated request a no-op."""
    from prefect.deployments import run_deployment

    return run_deployment(
        f"process-scan/{runtime.current().deployment}",
        parameters={"scan_id": scan_id},
        timeout=0,
        as_subflow=False,
        idempotency_key=f"scan-{scan_id}-{attempt}",
        tags=[f"scan:{scan_id}"],
    )


def reconcile(min_age_seconds: float = 0.0, starting_seconds: float | None = None) -> dict:
    """Put right what a stopped or killed process left: close runs whose process is gone, resume
    unfinished scans, remove work folders of finished ones. Safe at any time, from any machine,
    and repeatable.

    Liveness comes from the scan's lease: a run takes it first thing and renews it while it
    works. A scan whose lease ran out, or whose holder on this machine is gone (SIGKILL
    included), lost its run; a run Prefect still shows as Running or Pending without a live
    lease is dead once it had `starting_seconds` (default: `min_age_seconds`) to take one. At
    start-up of the embedded watcher (0) nothing of ours runs yet; the periodic repair leaves
    young work alone, and with a work pool runs elsewhere may be starting.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.states import Crashed

    rt = runtime.current()
    counts = {"resumed": 0, "crashed_runs": 0, "cleaned": 0}
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=min_age_seconds)
    started_before = now - dt.timedelta(seconds=min_age_seconds if starting_seconds is None else starting_seconds)
    with rt.vault.sessions() as s:
        scans = [
            (sc.id, sc.status, _aware(sc.received_at))
            for sc in s.execute(select(Scan).where(Scan.status.in_(("received", "archived", "quarantined")))).scalars()
            if intake.job_dir(rt.work_dir, sc.id).exists()
        ]
        busy = leases.live(s, [sc[0] for sc in scans])
        abandoned = leases.abandoned(s, [sc[0] for sc in scans])
    with get_client(sync_client=True) as client:
        for scan_id, status, received_at in scans:
            if scan_id in busy:
                continue  # a live run is working on it
            if status != "received":
                # Finished; only the clean-up was interrupted.
                counts["cleaned"] += _under_lease(rt, scan_id, lambda sid: intake.release(rt.work_dir, sid))
                continue
            if scan_id not in abandoned and received_at > cutoff:
                continue  # taken in just now: its run is on its way
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"scan:{scan_id}"]))
            )
            waiting = False
            for run in runs:
                state = run.state.type.value if run.state else "UNKNOWN"
                if state in ("RUNNING", "PENDING"):
                    # Pending means a worker or runner was starting its process, and a run takes its
                    # lease first thing: with the lease abandoned, or none after so long, it died.
                    if scan_id in abandoned or _aware(run.state.timestamp) <= started_before:
                        client.set_flow_run_state(
                            run.id, Crashed(message="its process stopped; the scan is resumed"), force=True
                        )
                        counts["crashed_runs"] += 1
                    else:
                        waiting = True
                elif state == "SCHEDULED":
                    waiting = True
            if waiting or not (intake.job_dir(rt.work_dir, scan_id) / "source").exists():
                continue
            if _under_lease(rt, scan_id, _clear_dead_run):
                dispatch(scan_id, attempt=len(runs))
                counts["resumed"] += 1
    return counts


def _clear_dead_run(scan_id: str) -> None:
    rt = runtime.current()
    leftovers.remove_uncommitted_files(rt.vault, intake.job_dir(rt.work_dir, scan_id))
    intake.scrub(rt.work_dir, scan_id)  # no page images of the dead run stay behind


def _under_lease(rt: runtime.Runtime, scan_id: str, work) -> int:
    """Do `work` on a scan's folder holding its lease for a moment (a dead run's lease is taken
    over); 0 when a run took the scan meanwhile."""
    try:
        with leases.Held(rt.vault.writer, scan_id, rt.lease_seconds, heartbeat=False):
            work(scan_id)
    except leases.LeaseBusy:
        return 0
    return 1


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)
