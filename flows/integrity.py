"""integrity_check: the nightly look at everything stored (DESIGN.md §12).

Reads like the check: re-read every archived and quarantined file against its HMAC or seal,
compare catalog and folders both ways, verify the audit chain against its witness, write the
chain head to the witness file, record the outcome, publish the counts. The artifact, the log
lines and the flow's result carry counts only (the audit event names ids, inside the catalog);
nothing is persisted. Scheduled runs act as the system user `system:integrity` (role `system`).
`dossier integrity check` runs the same check by hand (services/integrity.py).
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from archive import integrity

from . import runtime

STEP = dict(cache_policy=NO_CACHE, persist_result=False, retries=0)
ARTIFACT_KEY = "integrity-check"
SYSTEM_ACTOR, SYSTEM_ROLE = "system:integrity", "system"


class IntegrityProblems(Exception):
    """Something stored is not what it should be; carries the counts."""

    def __init__(self, counts: dict):
        super().__init__(
            f"integrity check: {counts['damaged']} damaged, {counts['missing']} missing, "
            f"{counts['unexpected']} unexpected files; audit chain {'intact' if counts['audit_ok'] else 'BROKEN'}: "
            "run `dossier integrity check` for the details"
        )
        self.counts = counts

    def __reduce__(self):
        return (IntegrityProblems, (self.counts,))


def counts(report: integrity.Report) -> dict:
    return {
        "files_checked": report.files_checked,
        "damaged": len(report.damaged),
        "missing": len(report.missing),
        "unexpected": len(report.unexpected),
        "audit_ok": report.audit_ok,
        "audit_events": report.audit.events if report.audit else 0,
    }


@task(name="check-files", **STEP)
def check_files() -> integrity.Report:
    report = integrity.check_files(runtime.current().vault)
    get_run_logger().info(
        "integrity: %d files checked, %d damaged, %d missing, %d unexpected",
        report.files_checked,
        len(report.damaged),
        len(report.missing),
        len(report.unexpected),
    )
    return report


@task(name="verify-audit-chain", **STEP)
def verify_chain(report: integrity.Report) -> integrity.Report:
    report.audit = integrity.check_audit(runtime.current().vault)
    get_run_logger().info("integrity: audit chain of %d events %s", report.audit.events, report.audit.ok)
    return report


@task(name="record-result", **STEP)
def record(report: integrity.Report, actor: str) -> None:
    integrity.record(runtime.current().vault, report, actor=actor, role=SYSTEM_ROLE, channel="watch")


@task(name="publish-artifact", **STEP)
def publish(c: dict) -> None:
    """Counts only: which files are named by `dossier integrity check` and the audit event."""
    lines = [
        "# Integrity check",
        "",
        "| files checked | damaged | missing | unexpected | audit chain |",
        "|---|---|---|---|---|",
        f"| {c['files_checked']} | {c['damaged']} | {c['missing']} | {c['unexpected']} | "
        f"{'intact' if c['audit_ok'] else 'BROKEN'} ({c['audit_events']} events) |",
    ]
    create_markdown_artifact("\n".join(lines), key=ARTIFACT_KEY, description="Integrity check: counts only")


@flow(name="integrity-check", persist_result=False, validate_parameters=False, log_prints=False)
def integrity_check(actor: str = SYSTEM_ACTOR) -> dict:
    """Returns the counts; raises IntegrityProblems (with them) when anything is wrong, so the run
    shows as failed."""
    report = verify_chain(check_files())
    record(report, actor)
    c = counts(report)
    publish(c)
    if not report.ok:
        raise IntegrityProblems(c)
    return c
