"""Putting right what a killed command left behind, at the start of the next one.

A `dossier scan` killed mid-run leaves its work folder: page images and OCR text (plaintext) and
perhaps an encrypted file written but never catalogued. Every command tidies the work folders no
run is working on (no live lease in the catalog, archive/leases.py): uncommitted archive files
are removed, everything but the scan's own source is scrubbed (the source stays: the scan
resumes from it), and folders of finished scans go.
"""

from __future__ import annotations

from sqlalchemy import select

from archive import leases
from archive.catalog import Scan
from scanners import intake

from .context import App


def tidy(app: App) -> dict:
    from flows.leftovers import remove_uncommitted_files

    counts = {"scrubbed": 0, "released": 0, "orphans_removed": 0}
    jobs = intake.job_ids(app.work_dir)
    if not jobs:
        return counts
    with app.vault.sessions() as s:
        status = dict(s.execute(select(Scan.id, Scan.status).where(Scan.id.in_(jobs))).all())
        busy = leases.live(s, list(status))
    for scan_id in status.keys() - busy:  # a job folder not in the catalog is not ours: left alone
        if status[scan_id] == "received" and _only_source(intake.job_dir(app.work_dir, scan_id)):
            continue  # waiting for its run: nothing to put right
        try:
            with leases.Held(app.vault.writer, scan_id, heartbeat=False):
                counts["orphans_removed"] += remove_uncommitted_files(app.vault, intake.job_dir(app.work_dir, scan_id))
                if status[scan_id] == "received":
                    intake.scrub(app.work_dir, scan_id)
                    counts["scrubbed"] += 1
                else:
                    intake.release(app.work_dir, scan_id)
                    counts["released"] += 1
        except leases.LeaseBusy:
            continue  # a run started on it just now
    return counts


def _only_source(job_dir) -> bool:
    try:
        return {p.name for p in job_dir.iterdir()} <= {"source"}
    except FileNotFoundError:
        return True
