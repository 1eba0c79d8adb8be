"""retention_run: destroy what is due, list the paper files to shred (DESIGN.md §5).

Reads like the rule: find the dossiers due today, crypto-shred each one that is not on hold (one
transaction per dossier), remove their files and empty the catalog's write-ahead log, then put
the paper files of destroyed dossiers on the worklist and publish the result as an artifact.
Parameters are a date and the acting user's name; the artifact and the log lines carry dossier
numbers, counts and cabinet locations only; nothing is persisted.

Scheduled runs act as the system user `system:retention` (audit role `system`).
"""

from __future__ import annotations

import datetime as dt
import os

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from archive import audit, lifecycle, shredding
from archive.errors import NotPermitted
from archive.lifecycle import SYSTEM_ACTOR, SYSTEM_ROLE
from archive.retention import local_today

from . import runtime

STEP = dict(cache_policy=NO_CACHE, persist_result=False, retries=0)
ARTIFACT_KEY = "retention-run"


class RetentionIncomplete(Exception):
    """Some due dossiers could not be destroyed; they are retried by the next run. Carries the summary."""

    def __init__(self, summary: dict):
        failed = [s["dossier"] for s in summary.get("failed", [])]
        super().__init__(
            f"{len(failed)} due dossier{'' if len(failed) == 1 else 's'} could not be destroyed: {', '.join(failed)}"
        )
        self.summary = summary

    def __reduce__(self):
        return (RetentionIncomplete, (self.summary,))


def _role_of(actor: str) -> str:
    from archive.catalog import User

    with runtime.current().vault.sessions() as s:
        u = s.get(User, actor)
        return u.role if u is not None else SYSTEM_ROLE


@task(name="find-due-dossiers", **STEP)
def find_due(today: dt.date) -> lifecycle.RunPlan:
    vault, policy = runtime.current().vault, runtime.current().policy
    with vault.sessions() as s:
        plan = lifecycle.plan_run(s, today, policy)
    get_run_logger().info("retention %s: %d dossiers due, %d on hold", today, len(plan.destroy), len(plan.skipped))
    return plan


@task(name="shred-dossier", **STEP)
def shred(number: str, today: dt.date, actor: str, role: str, note: str | None) -> dict:
    """Crypto-shred one dossier in its own transaction. Failures are reduced to an error class."""
    vault, policy = runtime.current().vault, runtime.current().policy
    try:
        with vault.writer() as s:
            record = shredding.shred_dossier(
                s, number, rule="retention", today=today, policy=policy, actor=actor, role=role, note=note
            )
            s.commit()
    except NotPermitted as e:  # a hold placed (or the end date changed) since the dossier was found due
        get_run_logger().info("dossier %s: not destroyed (%s)", number, e.code)
        return {"dossier": number, "refused": e.code}
    except Exception as e:  # noqa: BLE001 - never let a library message (which may quote content) reach Prefect
        if os.environ.get("DOSSIER_DEBUG"):
            raise
        code = getattr(e, "code", None) or type(e).__name__
        get_run_logger().error("dossier %s: destruction failed (%s)", number, code)
        return {"dossier": number, "error": code}
    if record is None:
        return {"dossier": number, "already": True}
    get_run_logger().info(
        "dossier %s destroyed: data key %s shredded, %d documents", number, record.key_id, record.documents
    )
    return {"dossier": number, "documents": record.documents}


@task(name="remove-files-and-scrub", **STEP)
def finish_shredding() -> dict:
    result = shredding.finish(runtime.current().vault)
    get_run_logger().info(
        "retention: %d archive files removed, catalog log emptied: %s",
        result["files_removed"],
        result["catalog_scrubbed"],
    )
    return result


@task(name="paper-worklist", **STEP)
def worklist(today: dt.date) -> list[dict]:
    vault, policy = runtime.current().vault, runtime.current().policy
    with vault.sessions() as s:
        items = lifecycle.paper_worklist(s, today, policy)
    get_run_logger().info("retention: %d paper files to destroy", len(items))
    return items


@task(name="record-run", **STEP)
def record_run(summary: dict, actor: str, role: str) -> None:
    vault = runtime.current().vault
    with vault.writer() as s:
        audit.record(
            s,
            actor=actor,
            role=role,
            action="retention.run",
            outcome="failed" if summary["failed"] else "ok",
            detail=f"dated {summary['today']}: {len(summary['destroyed'])} destroyed, "
            f"{len(summary['skipped'])} skipped, {len(summary['paper_worklist'])} paper files to destroy",
        )
        s.commit()


def _cell(value) -> str:
    return str(value if value is not None else "").replace("|", "/")


@task(name="publish-artifact", **STEP)
def publish(summary: dict) -> None:
    """Dossier numbers, counts and locations only: no hold reasons, no names."""
    lines = [f"# Retention run {summary['today']}", ""]
    lines += ["## Destroyed (crypto-shredded)", ""]
    if summary["destroyed"]:
        lines += ["| dossier | documents |", "|---|---|"]
        lines += [f"| {d['dossier']} | {d['documents']} |" for d in summary["destroyed"]]
    else:
        lines.append("Nothing was due.")
    lines += ["", "## Skipped", ""]
    if summary["skipped"]:
        lines += ["| dossier | why |", "|---|---|"]
        for s in summary["skipped"]:
            why = "failed, retried next run" if s.get("failed") else _cell(s["reason"].split(";")[0])
            lines.append(f"| {s['dossier']} | {why} |")
    else:
        lines.append("None.")
    lines += ["", "## Paper files to destroy", ""]
    if summary["paper_worklist"]:
        lines += ["| dossier | room | cabinet | shelf | status |", "|---|---|---|---|---|"]
        for p in summary["paper_worklist"]:
            loc = p["location"]
            lines.append(
                f"| {p['dossier']} | {_cell(loc['room'])} | {_cell(loc['cabinet'])} | {_cell(loc['shelf'])} "
                f"| {p['status']} |"
            )
    else:
        lines.append("None.")
    create_markdown_artifact(
        "\n".join(lines),
        key=ARTIFACT_KEY,
        description=f"Retention run dated {summary['today']}: dossier numbers and locations only",
    )


@flow(name="retention-run", persist_result=False, validate_parameters=False, log_prints=False)
def retention_run(today: str | dt.date | None = None, actor: str = SYSTEM_ACTOR) -> dict:
    """Destroy every dossier due on `today` (default: today in the firm's time zone) that is not on hold.

    `today` is an ISO date; a date after the real date is allowed but written into every
    destruction record and the audit log. Returns {"today", "destroyed", "skipped", "failed",
    "paper_worklist", "files_removed"}; raises RetentionIncomplete (carrying that summary) when a
    dossier could not be destroyed.
    """
    policy = runtime.current().policy
    real_today = local_today(policy.timezone)
    day = (today if isinstance(today, dt.date) else dt.date.fromisoformat(today)) if today else real_today
    note = (
        f"run dated {day}, {(day - real_today).days} days after the real date {real_today}"
        if day > real_today
        else None
    )
    role = _role_of(actor)
    plan = find_due(day)
    destroyed, skipped, failed = [], list(plan.skipped), []
    for number in plan.destroy:
        result = shred(number, day, actor, role, note)
        if "refused" in result:
            skipped.append(
                {
                    "dossier": number,
                    "reason": "on legal hold; release it to allow destruction"
                    if result["refused"] == "on-hold"
                    else "no longer due",
                }
            )
        elif "error" in result:
            failed.append(result)
            skipped.append(
                {
                    "dossier": number,
                    "reason": f"destruction failed ({result['error']}); it is retried in the next run",
                    "failed": True,
                }
            )
        elif "documents" in result:
            destroyed.append(result)
    finished = finish_shredding()
    summary = {
        "today": day.isoformat(),
        "destroyed": destroyed,
        "skipped": skipped,
        "failed": failed,
        "paper_worklist": worklist(day),
        "files_removed": finished["files_removed"],
    }
    if note:
        summary["note"] = note
    record_run(summary, actor, role)
    publish(summary)
    if failed:
        raise RetentionIncomplete(summary)
    return summary
