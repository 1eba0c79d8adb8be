"""Running scans from the command line: claim each file, run the process-scan flow, report.

Claiming happens here, before Prefect: the flow only ever sees the opaque scan id.
"""
from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from sqlalchemy import select

from archive import audit
from archive.catalog import Document, QuarantineItem, Scan, utcnow
from archive.crypto import sha256_file
from scanners import intake


def _run_flow(scan_id: str, **assign) -> None:
    from .deployments import process_scan

    process_scan(scan_id=scan_id, **assign)


class Claims:
    """The claims of one call's files: made one at a time, remembering the scans in hand, so two
    copies of the same file processed side by side are filed once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_hand: set[str] = set()


def claim_and_process(ctx, source: Path, actor: str, role: str | None, *, move: bool,
                      claims: Claims | None = None, started=None) -> dict:
    """Claim `source` (a duplicate is reported, not filed again), run the flow, report the outcome.
    `started(scan_id)` is told the scan id before the flow runs."""
    claims = claims or Claims()
    with claims.lock:
        claimed = _claim(ctx, source, actor, role, claims.in_hand)
        if isinstance(claimed, str):
            claims.in_hand.add(claimed)
    if isinstance(claimed, dict):  # a duplicate
        if move:  # the same bytes are already in the archive, the quarantine or in hand
            source.unlink(missing_ok=True)
        return claimed
    if started:
        started(claimed)
    _run_flow(claimed)
    if move:
        # The archived copy was verified and the catalog committed inside the flow.
        source.unlink(missing_ok=True)
    return outcome(ctx, claimed, str(source))


def _claim(ctx, source: Path, actor: str, role: str | None, in_hand: set[str]) -> str | dict:
    """The new scan's id, with the file copied into its work folder; or the report of a duplicate."""
    vault = ctx.vault
    sha = sha256_file(source)
    with vault.sessions() as session:
        earlier = vault.previous_scan(session, sha) or (in_hand and session.execute(
            select(Scan).where(Scan.sha256 == sha, Scan.id.in_(in_hand))).scalars().first())
        if earlier:
            audit.record(session, actor=actor, role=role, action="scan.duplicate", outcome="duplicate",
                         detail=f"same as scan {earlier.id}")
            session.commit()
            return {**outcome(ctx, earlier.id, str(source)), "status": "duplicate",
                    "reason": f"the same file was {earlier.status} on {earlier.received_at:%Y-%m-%d %H:%M} "
                              f"(scan {earlier.id[:8]}); it was not filed again"}
        scan = vault.register_scan(session, sha, actor, source.name)
        audit.record(session, actor=actor, role=role, action="scan.receive", detail=f"scan {scan.id}")
        session.commit()
        scan_id = scan.id
    intake.place_copy(source, ctx.settings.work_dir, scan_id)
    return scan_id


def outcome(ctx, scan_id: str, source: str) -> dict:
    with ctx.vault.sessions() as session:
        scan = session.get(Scan, scan_id)
        docs = session.execute(select(Document).where(Document.scan_id == scan_id)
                               .order_by(Document.scan_page)).scalars().all()
        items = session.execute(select(QuarantineItem).where(QuarantineItem.scan_id == scan_id)
                                .order_by(QuarantineItem.scan_page)).scalars().all()
        reasons = []
        for i in items:
            if i.reason not in reasons:
                reasons.append(i.reason)
        return {
            "source": source,
            "status": scan.status,
            "scan": scan_id,
            "documents": [{"id": d.id, "dossier": d.dossier, "type": d.doc_type, "pages": d.pages} for d in docs],
            "quarantine": [i.id for i in items],
            "reason": "; ".join(reasons) or None,
        }


def _process_all(ctx, files: list[Path], actor: str, progress: bool, move: bool) -> list[dict]:
    """Scan files one after another, with a page progress bar on stderr for people watching."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from flows import runtime

    from .deployments import process_scan  # noqa: F401  (installs the runtime)

    with ctx.vault.sessions() as session:
        role = ctx.vault.user(session, actor).role
    # Files are processed a few at a time (watch_concurrency), sharing one pool of ocr_jobs
    # tesseract processes: while one file's last pages are in OCR and its documents are being
    # encrypted, the next file is already being read, so no core waits at file boundaries.
    claims = Claims()
    bars: dict[str, object] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("pages"),
                  console=Console(stderr=True), disable=not progress, transient=True) as bar:

        def one(n: int, f: Path) -> dict:
            task = bar.add_task(f"{f.name} ({n} of {len(files)})", total=None)
            try:
                return claim_and_process(ctx, f, actor, role, move=move, claims=claims,
                                         started=lambda scan_id: bars.__setitem__(scan_id, task))
            finally:
                bar.remove_task(task)

        runtime.current().on_page = lambda scan_id, done, total: (
            bar.update(bars[scan_id], completed=done, total=total) if scan_id in bars else None)
        at_once = min(len(files), max(1, ctx.settings.watch_concurrency))
        try:
            if at_once <= 1:
                return [one(n, f) for n, f in enumerate(files, start=1)]
            _prefect_ready()
            scans = ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="scan")
            try:
                running = [scans.submit(one, n, f) for n, f in enumerate(files, start=1)]
                wait(running)
            finally:  # on Ctrl-C: files not started stay where they are; the ones in hand finish
                scans.shutdown(wait=True, cancel_futures=True)
        finally:
            runtime.current().on_page = None
    return [r.result() for r in running]  # in the order given; the first failure is raised


def _prefect_ready() -> None:
    """Without PREFECT_API_URL, Prefect starts a temporary server on first use. Start it here, on
    the main thread, before flows run side by side on worker threads: started from a worker it
    outlives the command, and two workers starting it at once fail (measured, Prefect 3.9)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.api_healthcheck()


def scan_files(ctx, files: list[Path], actor: str, progress: bool) -> list[dict]:
    return _process_all(ctx, files, actor, progress, move=False)


def inbox_files(inbox: Path) -> list[Path]:
    """Scans waiting in the inbox, by the watcher's own rule for temp names and hidden files."""
    from scanners.watch import is_ignored

    return sorted(p for p in inbox.rglob("*") if p.is_file() and not is_ignored(p, inbox))


def process_inbox(ctx, actor: str, progress: bool) -> list[dict]:
    return _process_all(ctx, inbox_files(ctx.settings.inbox_dir), actor, progress, move=True)


def assign_item(ctx, item_id: str, dossier: str, doc_type: str) -> dict:
    from archive.catalog import QuarantineItem

    from .cli import CliError, load_dossier

    unfileable = {"empty-file", "unsupported-format", "unreadable-pdf", "incomplete-file", "encrypted-input",
                  "unreadable-image", "unrenderable-page", "page-too-large", "image-too-large", "no-pages"}
    vault = ctx.vault
    with vault.sessions() as session:
        actor, role = ctx.require(session, "quarantine.work", describe="work the quarantine")
        d = load_dossier(session, dossier)
        if d.status == "destroyed":
            raise CliError(f"dossier {dossier} was destroyed; nothing can be filed into it", 4)
        item = session.get(QuarantineItem, item_id)
        if item is None or item.status != "open":
            raise CliError(f"quarantine item {item_id} is not waiting; see `dossier quarantine list`", 4)
        if item.reason_code in unfileable:
            raise CliError(f"item {item_id} cannot be filed: {item.reason}. Scan the paper again, then "
                           f"`dossier quarantine discard {item_id}`", 2)
        data = vault.quarantine_bytes(item)
        scan = vault.register_scan(session, hashlib.sha256(data).hexdigest(), actor, None)
        audit.record(session, actor=actor, role=role, action="quarantine.assign.start", dossier=dossier,
                     detail=f"item {item_id} as scan {scan.id}")
        session.commit()
        scan_id = scan.id
    d_ = intake.job_dir(ctx.settings.work_dir, scan_id)
    d_.mkdir(parents=True, exist_ok=True, mode=0o700)
    (d_ / "source").write_bytes(data)
    _run_flow(scan_id, assign_dossier=dossier, assign_type=doc_type)
    result = outcome(ctx, scan_id, item_id)
    if result["status"] != "archived" or not result["documents"]:
        raise CliError(f"item {item_id} could not be filed ({result['reason'] or 'no pages with content'}); it stays "
                       "in the quarantine", 1)
    with vault.sessions() as session:
        item = session.get(QuarantineItem, item_id)
        item.status, item.resolved_at, item.resolved_by = "assigned", utcnow(), actor
        audit.record(session, actor=actor, role=role, action="quarantine.assign", dossier=dossier,
                     document=result["documents"][0]["id"], detail=f"item {item_id}")
        session.commit()
        vault.quarantine_store().delete(item.blob_name)
    return {"id": item_id, "status": "assigned", "documents": result["documents"]}


def system_status(ctx) -> dict:
    import datetime as dt
    import json as _json
    import os
    import urllib.request

    from sqlalchemy import func

    settings = ctx.settings
    with ctx.vault.sessions() as session:
        in_progress = session.scalar(select(func.count()).select_from(Scan).where(Scan.status == "received"))
        quarantined = session.scalar(select(func.count()).select_from(QuarantineItem)
                                     .where(QuarantineItem.status == "open"))
        last = session.scalar(select(func.max(Scan.finished_at)).where(Scan.status == "archived"))
    beat_file = settings.run_dir / "watch.json"
    watcher = {"running": False, "pid": None, "heartbeat": None, "mode": None}
    server = {"url": os.environ.get("PREFECT_API_URL"), "healthy": False}
    if beat_file.exists():
        beat = _json.loads(beat_file.read_text())
        age = (dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(beat["heartbeat"])).total_seconds()
        try:
            os.kill(beat["pid"], 0)
            alive = True
        except ProcessLookupError:
            alive = False
        watcher = {"running": alive and age < 30 and beat.get("watcher_alive", False), "pid": beat["pid"],
                   "heartbeat": beat["heartbeat"], "mode": beat.get("mode")}
        server["url"] = server["url"] or beat.get("api_url")
    if server["url"]:
        try:
            with urllib.request.urlopen(f"{server['url'].rstrip('/')}/health", timeout=2) as r:
                server["healthy"] = r.status == 200
        except OSError:
            pass
    return {"inbox": len(inbox_files(settings.inbox_dir)) if settings.inbox_dir.exists() else 0,
            "in_progress": in_progress, "quarantined": quarantined,
            "last_archived": last.isoformat() if last else None, "watcher": watcher, "server": server}
