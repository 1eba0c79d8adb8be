"""Scanning use cases: take a file in (the one claim, for `dossier scan`, `run-inbox` and the
watcher), run the process-scan flow on it, report what became of it; file a quarantined item.

Claiming happens here, before Prefect: the flow only ever sees the opaque scan id. A scan is
known by its hash, so the same bytes are never filed twice; the copy in the work folder is made
durable before anything is removed from the inbox, so a crash at any point leaves the scan in
the inbox or in its work folder (or both: then the same scan is resumed, not doubled).
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy import select

from archive import destructions
from archive.catalog import Document, QuarantineItem, Scan, utcnow
from archive.errors import BadInput, Conflict, DossierError, NotFound, Unavailable
from classify.reasons import UNFILEABLE, Reason
from scanners import intake
from scanners.watch import is_ignored

from . import validate
from .context import Context

SCAN_SUFFIXES = {".pdf", ".tif", ".tiff", ".png", ".jpg", ".jpeg"}
# Seconds to wait before running a scan again whose run the Prefect server refused as busy.
BUSY_PAUSES = (2.0, 5.0, 15.0)


class Progress(Protocol):
    """What a person watching a long scan is told (the CLI draws bars); every method is optional work."""

    def started(self, source: Path, scan_id: str) -> None: ...
    def page(self, scan_id: str, done: int, total: int) -> None: ...
    def finished(self, source: Path) -> None: ...


@dataclass
class Claims:
    """The claims of one call's files: made one at a time and in the order the files were given
    (the first of two identical files is the one filed), remembering the scans in hand, so two
    copies of the same file processed side by side are filed once."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    in_hand: set[str] = field(default_factory=set)
    _turn: int = 0
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @contextmanager
    def turn(self, index: int | None):
        """Hold the claim lock once the files before `index` have had theirs (None: no order)."""
        if index is not None:
            with self._changed:
                self._changed.wait_for(lambda: self._turn >= index)
        try:
            with self.lock:
                yield
        finally:
            if index is not None:
                with self._changed:
                    self._turn = max(self._turn, index + 1)
                    self._changed.notify_all()


@dataclass
class Claimed:
    scan_id: str
    resumed: bool = False  # an unfinished scan of the same bytes: resumed, not doubled


# ---- taking a file in ---------------------------------------------------------------------------


def may_scan(ctx: Context) -> None:
    """Refuse (audited) before any file is touched when the actor may not scan."""
    with ctx.reading("scan") as uow:
        uow.allow()


def watcher_started(ctx: Context, stopped: bool = False) -> None:
    """Record who started (or that they stopped) the unattended watcher."""
    with ctx.uow("scan") as uow:
        uow.audit("watch.stop" if stopped else "watch.start", detail=None if stopped else "inbox watcher started")
        uow.commit()


def claim(
    ctx: Context, source: Path, *, from_inbox: bool, claims: Claims | None = None, index: int | None = None
) -> Claimed | dict:
    """Take `source` in: a new (or resumed) scan with its bytes safely in the work folder, or the
    report of a duplicate. From the inbox, only a regular file inside it is taken (never a link,
    FIFO or device) and the inbox entry is removed once its copy is durable; `dossier scan`
    leaves the operator's file where it is. Raises intake.NotAScan for an entry that is refused."""
    claims = claims or Claims()
    app = ctx.app
    with claims.turn(index):
        fd, st = intake.open_scan(source, app.inbox_dir if from_inbox else None)
        try:
            done, report = _claim_open(ctx, source, fd, claims)
            if done is not None:
                intake.place_from(fd, app.work_dir, done.scan_id)
        finally:
            os.close(fd)
    if from_inbox:  # the bytes are in the archive, the quarantine or the work folder now
        intake.remove_if_unchanged(source, st)
    return done if done is not None else report


def _claim_open(ctx: Context, source: Path, fd: int, claims: Claims) -> tuple[Claimed | None, dict | None]:
    sha = intake.sha256_fd(fd)
    with ctx.uow("scan") as uow:
        uow.allow()
        vault, s = ctx.vault, uow.session
        earlier = vault.previous_scan(s, sha) or (
            claims.in_hand
            and s.execute(select(Scan).where(Scan.sha256 == sha, Scan.id.in_(claims.in_hand))).scalars().first()
        )
        if earlier:
            dup = vault.record_duplicate(s, sha, ctx.actor.name, earlier)
            uow.audit("scan.duplicate", outcome="duplicate", detail=f"scan {dup.id} same as scan {earlier.id}")
            uow.commit()
            return None, {
                **outcome(ctx, earlier.id, str(source)),
                "status": "duplicate",
                "reason": f"the same file was {_status_words(earlier.status)} on "
                f"{earlier.received_at:%Y-%m-%d %H:%M} (scan {earlier.id[:8]}); it was not filed "
                "again",
            }
        scan, resumed = vault.register_scan(s, sha, ctx.actor.name, source.name)
        uow.audit("scan.receive", detail=f"scan {scan.id}" + (" (resumed)" if resumed else ""))
        uow.commit()
        claims.in_hand.add(scan.id)
        return Claimed(scan.id, resumed), None


def refuse_entry(ctx: Context, source: Path, problem: intake.NotAScan) -> dict:
    """Record an inbox entry that is not taken in (a link, FIFO, device): audited, left where it is."""
    with ctx.uow("scan") as uow:
        uow.audit("scan.refuse", outcome="refused", detail=problem.code)
        uow.commit()
    return {
        "source": str(source),
        "status": "refused",
        "scan": None,
        "documents": [],
        "quarantine": [],
        "reason": str(problem),
    }


def _status_words(status: str) -> str:
    return {"archived": "archived", "quarantined": "put in the quarantine", "received": "taken in"}.get(status, status)


# ---- running the flow ---------------------------------------------------------------------------


# Told that the Prefect server in use stopped answering; returns the API URL of another one to
# finish on (the entry point knows which servers there are), or None.
Fallback = Callable[[], "str | None"]


def process(ctx: Context, scan_id: str, source: str, fallback: Fallback | None = None, **assign) -> dict:
    """Run process-scan on a claimed scan in this process and report its outcome from the catalog.

    The catalog is the truth: if Prefect fails after the documents were committed (its server
    went away), the scan is still reported as filed. If it failed before, and `fallback` gives
    another server, the scan is run again there: it resumes, skipping what it already filed."""
    from flows.process_scan import run_here

    for pause in (*BUSY_PAUSES, None):
        try:
            run_here(scan_id, **assign)
            return outcome(ctx, scan_id, source)
        except Exception as first:  # noqa: BLE001 - reported from the catalog below; the message may quote content
            if os.environ.get("DOSSIER_DEBUG"):
                raise
            failure = first
            result = outcome(ctx, scan_id, source)
            if result["status"] in ("archived", "quarantined"):
                return {
                    **result,
                    "note": "Prefect could not record the end of the run; the scan was filed all the same",
                }
            if pause is None or not _server_busy(first):
                break
            time.sleep(pause)  # the server is there but busy: the scan resumes where it stopped
    other = fallback() if fallback else None
    if other:
        try:
            run_here(scan_id, api_url=other, **assign)
            return outcome(ctx, scan_id, source)
        except Exception as again:  # noqa: BLE001 - as above
            failure = again
    raise Unavailable(
        f"the scan of {source} could not be completed ({_failure(failure)}); nothing was lost: the file "
        "is still where it was and the scan resumes when you run it again",
        "scan-incomplete",
    ) from None


def _server_busy(e: BaseException) -> bool:
    """Prefect's server answered 'busy' (503, 429): on SQLite it does so when two of its writes
    collide, and its client's own few retries can run out. Unlike a server that is gone, it is
    worth waiting for."""
    from prefect.exceptions import PrefectHTTPStatusError

    while e is not None:
        if isinstance(e, PrefectHTTPStatusError) and e.response.status_code in (429, 503):
            return True
        e = e.__cause__ or e.__context__
    return False


def _failure(e: Exception) -> str:
    from flows.safety import StepFailed

    if isinstance(e, StepFailed) and e.code.endswith(":ENOSPC") or isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return "the disk is full: free some space"
    if isinstance(e, StepFailed):
        return f"step {e.step}: {e.code}"
    return type(e).__name__


def outcome(ctx: Context, scan_id: str, source: str) -> dict:
    with ctx.vault.sessions() as s:
        scan = s.get(Scan, scan_id)
        docs = (
            s.execute(select(Document).where(Document.scan_id == scan_id).order_by(Document.scan_page)).scalars().all()
        )
        items = (
            s.execute(
                select(QuarantineItem).where(QuarantineItem.scan_id == scan_id).order_by(QuarantineItem.scan_page)
            )
            .scalars()
            .all()
        )
    reasons: list[str] = []
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


def finished_since(app, since) -> list[dict]:
    """Scans finished (filed or quarantined) after `since`, oldest first: ids, dossier numbers,
    types, counts and reason codes only."""
    import datetime as dt

    with app.vault.sessions() as s:
        done = (
            s.execute(
                select(Scan)
                .where(Scan.finished_at > since, Scan.status.in_(("archived", "quarantined")))
                .order_by(Scan.finished_at)
            )
            .scalars()
            .all()
        )
        out = []
        for scan in done:
            docs = s.execute(select(Document).where(Document.scan_id == scan.id)).scalars().all()
            codes = s.execute(select(QuarantineItem.reason_code).where(QuarantineItem.scan_id == scan.id)).scalars()
            finished = scan.finished_at if scan.finished_at.tzinfo else scan.finished_at.replace(tzinfo=dt.UTC)
            out.append(
                {
                    "scan": scan.id,
                    "status": scan.status,
                    "finished_at": finished,
                    "documents": [{"dossier": d.dossier, "type": d.doc_type, "pages": d.pages} for d in docs],
                    "codes": sorted(set(codes)),
                }
            )
    return out


def claim_and_process(
    ctx: Context,
    source: Path,
    *,
    from_inbox: bool,
    claims: Claims,
    progress: Progress | None = None,
    index: int | None = None,
    fallback: Fallback | None = None,
) -> dict:
    try:
        claimed = claim(ctx, source, from_inbox=from_inbox, claims=claims, index=index)
    except intake.NotAScan as problem:
        if not from_inbox:
            raise BadInput(f"{validate.shown(str(source), 200)} is {problem}", problem.code) from None
        return refuse_entry(ctx, source, problem)
    if isinstance(claimed, dict):
        return claimed  # a duplicate
    if progress:
        progress.started(source, claimed.scan_id)
    try:
        return process(ctx, claimed.scan_id, str(source), fallback)
    finally:
        if progress:
            progress.finished(source)


def scan_files(
    ctx: Context,
    files: list[Path],
    *,
    from_inbox: bool = False,
    progress: Progress | None = None,
    fallback: Fallback | None = None,
) -> list[dict]:
    """Claim and process files, `ctx.app.concurrency` at a time over one shared pool of OCR slots:
    while one file's last pages are in OCR and its documents are being encrypted, the next file is
    already being read, so no core waits at file boundaries. Results come in the order given."""
    from flows import runtime

    claims = Claims()
    rt = runtime.current()
    rt.on_page = progress.page if progress else None
    at_once = min(len(files), max(1, ctx.app.concurrency))
    one = dict(from_inbox=from_inbox, claims=claims, progress=progress, fallback=fallback)
    try:
        if at_once <= 1:
            return [claim_and_process(ctx, f, **one) for f in files]
        pool = ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="scan")
        try:
            running = [pool.submit(claim_and_process, ctx, f, index=n, **one) for n, f in enumerate(files)]
            wait(running)
        finally:  # on Ctrl-C: files not started stay where they are; the ones in hand finish
            pool.shutdown(wait=True, cancel_futures=True)
        return [r.result() for r in running]  # the first failure is raised
    finally:
        rt.on_page = None


def check_scan_files(files: list[Path]) -> None:
    """`dossier scan` takes scanner output only: anything else is refused at once, nothing written.
    (A file dropped in the inbox is never refused this way: it reaches the quarantine instead.)"""
    for f in files:
        shown = validate.shown(str(f), 200)
        if not f.exists():
            raise BadInput(f"not a file: {shown}; check the path (nothing was scanned)", "missing-file")
        if not f.is_file():
            raise BadInput(
                f"not a regular file: {shown}; give the scanned PDF, TIFF, PNG or JPEG (nothing was scanned)",
                "not-a-file",
            )
        if f.suffix.lower() not in SCAN_SUFFIXES and not _looks_like_a_scan(f):
            raise BadInput(
                f"{shown} is not a scan (PDF, TIFF, PNG or JPEG); save the scan in one of those formats "
                "(nothing was scanned)",
                "not-a-scan",
            )


def _looks_like_a_scan(path: Path) -> bool:
    from scanners.pages import SourceProblem, sniff

    try:
        sniff(path)
        return True
    except (SourceProblem, OSError):
        return False


def inbox_entries(inbox: Path) -> list[Path]:
    """Every entry waiting in the inbox (links and special files included, so they are reported),
    by the watcher's rule for temp names and hidden files; symlinked folders are not entered."""
    if not inbox.is_dir():
        return []
    found = []
    for root, dirs, names in os.walk(inbox, followlinks=False):
        base = Path(root)
        found += [base / n for n in names]
        found += [base / d for d in dirs if (base / d).is_symlink()]
    return sorted(p for p in found if not is_ignored(p, inbox))


def run_inbox(ctx: Context, progress: Progress | None = None, fallback: Fallback | None = None) -> list[dict]:
    return scan_files(ctx, inbox_entries(ctx.app.inbox_dir), from_inbox=True, progress=progress, fallback=fallback)


# ---- filing a quarantined item by hand -----------------------------------------------------------


def assign_item(ctx: Context, item_id: str, dossier: str, doc_type: str, fallback: Fallback | None = None) -> dict:
    """File a quarantined item into a dossier as one document of the given type: its bytes go
    through process-scan again (OCR, encryption, verification), cover sheets dropped."""
    import hashlib

    item_id, doc_type = validate.quarantine_id(item_id), validate.doc_type(doc_type)
    vault = ctx.vault
    with ctx.uow("quarantine.work", dossier=dossier) as uow:
        uow.allow()
        d = uow.dossier(dossier)
        if d.status == "destroyed":
            raise NotFound(f"dossier {d.number} was destroyed; nothing can be filed into it", "destroyed")
        item = _open_item(uow.session, item_id)
        if item.reason_code == Reason.MAIL_INTAKE and not item.pages:
            raise BadInput(
                f"item {item_id} is an e-mail without attachments to file; read it and discard it once it is handled",
                "nothing-to-file",
            )
        if Reason(item.reason_code) in UNFILEABLE:
            raise BadInput(
                f"item {item_id} cannot be filed: {item.reason}. Scan the paper again, then "
                f"`dossier quarantine discard {item_id}`",
                "unfileable",
            )
        data = vault.quarantine_pages(item)
        s = uow.session
        earlier = s.execute(select(Scan).where(Scan.assign_item == item.id).order_by(Scan.received_at)).scalars().all()
        filed = next((x for x in earlier if x.status == "archived"), None)
        resumed = next((x for x in earlier if x.status == "received"), None)
        if filed is None and resumed is None:
            scan, _ = vault.register_scan(s, hashlib.sha256(data).hexdigest(), ctx.actor.name, None)
            scan.assign_item, scan.assign_dossier, scan.assign_type = item.id, d.number, doc_type
            uow.audit("quarantine.assign.start", dossier=d.number, detail=f"item {item_id} as scan {scan.id}")
        scan = filed or resumed or scan
        uow.commit()
        scan_id, number, doc_type = scan.id, scan.assign_dossier, scan.assign_type
    if filed is None:
        # An assignment that was interrupted resumes where it was assigned: the same scan, skipping
        # what it filed already (a retry never files the pages twice).
        job = intake.job_dir(ctx.app.work_dir, scan_id)
        job.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private(job / "source", data)
    result = process(ctx, scan_id, item_id, fallback, assign_dossier=number, assign_type=doc_type)
    if result["status"] != "archived" or not result["documents"]:
        raise DossierError(
            f"item {item_id} could not be filed ({result['reason'] or 'no pages with content'}); it "
            "stays in the quarantine",
            "assign-failed",
        )
    with ctx.uow("quarantine.work", dossier=number) as uow:
        item = uow.session.get(QuarantineItem, item_id)
        if item.status != "open":
            raise Conflict(f"item {item_id} was {item.status} meanwhile; its pages were filed all the same", "resolved")
        blobs = vault.quarantine_blob_names(item)
        item.status, item.resolved_at, item.resolved_by = "assigned", utcnow(), ctx.actor.name
        item.message_blob = item.source_sealed = None  # the sealed e-mail and the file name go with it
        uow.audit("quarantine.assign", dossier=number, document=result["documents"][0]["id"], detail=f"item {item_id}")
        uow.commit()
    vault.delete_quarantine_blobs(blobs)
    destructions.note(vault)  # a restored backup must not bring the item back once its dossier is destroyed
    return {"id": item_id, "status": "assigned", "documents": result["documents"]}


def _open_item(session, item_id: str) -> QuarantineItem:
    item = session.get(QuarantineItem, item_id)
    if item is None or item.status != "open":
        raise NotFound(f"quarantine item {item_id} is not waiting; see `dossier quarantine list`", "unknown-item")
    return item


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    try:
        with open(tmp, "wb", opener=lambda p, f: os.open(p, f, 0o600)) as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
