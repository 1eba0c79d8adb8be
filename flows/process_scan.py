"""process_scan: one claimed scan from source file to filed documents and quarantine items.

Reads like DESIGN.md §3: prepare the source, read the pages (barcodes, blank check, OCR started
as soon as a page is known to belong to a document), split, archive each document, quarantine
the rest, finish. Parameters are ids; the flow returns counts only; nothing is persisted.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import select

from archive import audit, leases, pdf
from archive.catalog import Document, QuarantineItem, Scan, User, utcnow
from archive.store import new_name
from archive.vault import PageRecord
from classify.coversheet import reads_like_cover
from classify.pages import PageRole, SheetFacts, classify_cover, cover_payload, page_ink
from classify.reasons import Reason
from classify.split import Segment, SplitResult, hold_at, split
from scanners import intake, pdfpages
from scanners.barcodes import read_barcodes
from scanners.ocr import OcrResult, ocr_page_at
from scanners.pages import SourceProblem, normalise_to_pdf, read_ahead, sniff

from . import leftovers, runtime
from .safety import StepFailed, content_safe

STEP = dict(cache_policy=NO_CACHE, persist_result=False, retries=0)


@dataclass
class Job:
    scan_id: str
    dir: Path
    actor: str
    role: str | None
    assign_dossier: str | None = None
    assign_type: str | None = None
    pages: int = 0
    problem: SourceProblem | None = None
    finished: str | None = None  # the scan's final status when an earlier run completed it
    ocr: dict[int, Future] = field(default_factory=dict)
    lease: leases.Held | None = None  # this run's hold on the scan; every commit confirms it

    def confirm(self, session) -> None:
        """Inside a commit: raise leases.LeaseLost unless this run still holds the scan."""
        if self.lease is not None:
            self.lease.confirm(session)

    @property
    def source(self) -> Path:
        return self.dir / "source"

    @property
    def pdf(self) -> Path:
        return self.dir / "pages.pdf"

    @property
    def forced(self) -> bool:
        return self.assign_dossier is not None


@task(name="prepare-source", **STEP)
@content_safe("prepare-source")
def prepare_source(job: Job) -> None:
    rt = runtime.current()
    try:
        job.pages = normalise_to_pdf(job.source, job.pdf, rt.limits)
    except SourceProblem as problem:
        job.problem = problem
    get_run_logger().info("scan %s: %d pages, problem=%s", job.scan_id, job.pages, job.problem and job.problem.code)


@task(name="read-pages", **STEP)
@content_safe("read-pages")
def read_pages(job: Job, pool: ThreadPoolExecutor) -> list[PageRole]:
    """Render each page once, read its barcodes, and start OCR for pages that belong to a document.
    A page that cannot be decoded is never taken for blank: it stops the reading and holds the
    whole scan (job.problem)."""
    rt = runtime.current()
    key = rt.vault.cover_key()
    roles: list[PageRole] = []
    in_document = job.forced
    pages = read_ahead(job.pdf, job.pages, rt.limits, _inspect, workers=rt.ocr_jobs)
    while True:
        try:
            n, image, (value, blank) = next(pages)
        except StopIteration:
            break
        except SourceProblem as problem:
            job.problem = problem
            get_run_logger().info("scan %s: page %d cannot be read (%s)", job.scan_id, len(roles) + 1, problem.code)
            break
        if value is not None and job.forced:
            role = PageRole(n, "blank")  # a sheet assigned by hand: its cover pages are dropped
        elif value is not None:
            role = classify_cover(n, value, key, _sheet_facts)
            in_document = role.kind == "cover"
        elif blank:
            role = PageRole(n, "blank")
        else:
            role = PageRole(n, "content")
            if in_document:
                image_path = job.dir / f"p{n:05d}.pgm"
                image.save(image_path)
                job.ocr[n] = pool.submit(_ocr, image_path, image.info["dpi"][0], rt)
        image.close()
        roles.append(role)
        if rt.on_page:
            rt.on_page(job.scan_id, n, job.pages)
    get_run_logger().info("scan %s: %d pages read, %d sent to OCR", job.scan_id, len(roles), len(job.ocr))
    return roles


def _inspect(image) -> tuple[str | None, bool]:
    """What a page is made of, computed on a reader thread: our cover barcode, or blank or not.
    The barcode reader's slow rescue passes run only on pages with a block of ink like our cover
    QR; a cover sheet missed even so still reads as one to OCR and is held (_hold_unread_cover)."""
    ink = page_ink(image)
    value = cover_payload(read_barcodes(image, thorough=ink.code_like))
    return value, value is None and ink.blank


def _ocr(image_path: Path, dpi: int, rt: runtime.Runtime) -> OcrResult:
    try:
        return ocr_page_at(
            image_path,
            image_path.with_suffix(""),
            image_dpi=dpi,
            ocr_dpi=rt.ocr_dpi,
            languages=rt.languages,
            timeout=rt.tesseract_timeout,
            handwriting_below=rt.low_confidence,
        )
    finally:
        image_path.unlink(missing_ok=True)


def _sheet_facts(payload) -> SheetFacts:
    from archive.catalog import CoverSheet, Dossier

    vault = runtime.current().vault
    with vault.sessions() as s:
        d = s.get(Dossier, payload.dossier)
        sheet = s.get(CoverSheet, payload.serial)
        return SheetFacts(d.status if d else None, sheet.dossier if sheet else None, sheet.doc_type if sheet else None)


def _uncertain_pages(job: Job, segment: Segment) -> dict[int, str]:
    """Pages of a document that make the rest of it uncertain (see classify.split.hold_at): a
    cover sheet whose barcode no pass read still has its printed words read by OCR; a page OCR
    could not read might be such a sheet. Waits for the document's OCR."""
    marks = {}
    for n in segment.pages:
        ocr = job.ocr[n]
        if ocr.exception() is not None:
            marks[n] = Reason.PROCESSING_FAILED
        elif reads_like_cover(ocr.result().text):
            marks[n] = Reason.UNREAD_COVER
    return marks


def forced_split(job: Job, roles: list[PageRole]) -> SplitResult:
    pages = [r.number for r in roles if r.kind == "content"]
    docs = [Segment(pages=pages)] if pages else []
    return SplitResult(docs, [], [], sum(r.kind == "blank" for r in roles))


@task(name="archive-document", **STEP)
@content_safe("archive-document")
def archive_document(job: Job, segment: Segment) -> str | None:
    """OCR text layer, encrypt, store, verify, record: one transaction per document."""
    rt = runtime.current()
    vault = rt.vault
    dossier = segment.cover.dossier if segment.cover else job.assign_dossier
    doc_type = segment.cover.doc_type if segment.cover else job.assign_type
    first = segment.pages[0]
    with vault.sessions() as s:
        if s.execute(select(Document.id).where(Document.scan_id == job.scan_id, Document.scan_page == first)).first():
            return None  # filed by an earlier, interrupted run of this scan
    records: list[PageRecord] = []
    with vault.sessions() as s:
        keys = vault.dossier_keys(s, dossier)
    with pdfpages.open_source(job.pdf) as src, pdf.subset(src, [p - 1 for p in segment.pages]) as document:
        for i, n in enumerate(segment.pages):
            result = job.ocr[n].result()
            pdf.text_layer_graft(document, i, result.text_pdf)
            low = result.words < rt.low_text_words or result.confidence < rt.low_confidence
            records.append(PageRecord(result.text, result.confidence, result.words, low))
        # Noted first, so a run killed before the commit leaves no uncatalogued file behind (leftovers.py).
        name = new_name()
        marker = leftovers.note(job.dir, name)
        stored = vault.store_document(keys, document, len(records), name)
    try:
        with vault.writer() as s:
            job.confirm(s)
            doc = vault.record_document(
                s,
                stored,
                doc_type=doc_type,
                pages=records,
                scan_id=job.scan_id,
                cover_serial=segment.cover.serial if segment.cover else None,
                scan_page=first,
            )
            audit.record(
                s,
                actor=job.actor,
                role=job.role,
                action="document.archive",
                dossier=dossier,
                document=doc.id,
                detail=f"{len(records)} pages from scan {job.scan_id}",
            )
            s.commit()
    except BaseException:
        vault.discard_uncommitted(file_name=name)  # unless the catalog has it after all
        raise  # the note stays if the file does: whoever holds the scan next removes it (leftovers.py)
    marker.unlink(missing_ok=True)
    get_run_logger().info(
        "scan %s: document %s filed, %d pages, %d low-text",
        job.scan_id,
        doc.id,
        len(records),
        sum(r.low_text for r in records),
    )
    return doc.id


@task(name="quarantine-pages", **STEP)
@content_safe("quarantine-pages")
def quarantine_pages(job: Job, segment: Segment) -> str | None:
    vault = runtime.current().vault
    first = segment.pages[0]
    with vault.sessions() as s:
        if s.execute(
            select(QuarantineItem.id).where(QuarantineItem.scan_id == job.scan_id, QuarantineItem.scan_page == first)
        ).first():
            return None
    import io

    with pdfpages.open_source(job.pdf) as src, pdf.subset(src, [p - 1 for p in segment.pages]) as part:
        buf = io.BytesIO()
        part.save(buf)
    return _quarantine(job, buf.getvalue(), "pdf", segment.reason_code, segment.reason, len(segment.pages), first)


@task(name="quarantine-file", **STEP)
@content_safe("quarantine-file")
def quarantine_file(job: Job, code: str, reason: str) -> str | None:
    vault = runtime.current().vault
    with vault.sessions() as s:
        if s.execute(
            select(QuarantineItem.id).where(QuarantineItem.scan_id == job.scan_id, QuarantineItem.scan_page.is_(None))
        ).first():
            return None
    try:
        kind = sniff(job.source)
    except SourceProblem:
        kind = "file"
    return _quarantine(job, job.source.read_bytes(), kind, code, reason, job.pages or None, None)


def _quarantine(job: Job, data: bytes, kind: str, code: str, reason: str, pages: int | None, first: int | None) -> str:
    vault = runtime.current().vault
    with vault.sessions() as s:
        scan = s.get(Scan, job.scan_id)
        label = vault.open_label(scan.source_sealed) if scan else None
    blob = vault.seal_quarantine_blob(data)  # sealed and written before the writer opens
    try:
        with vault.writer() as s:
            job.confirm(s)
            item = vault.add_quarantine_item(
                s,
                blob=blob,
                kind=kind,
                reason_code=code,
                reason=reason,
                scan_id=job.scan_id,
                source_label=label,
                pages=pages,
                scan_page=first,
            )
            audit.record(s, actor=job.actor, role=job.role, action="scan.quarantine", detail=f"item {item.id}: {code}")
            s.commit()
    except BaseException:
        vault.discard_uncommitted(blob=blob)
        raise
    get_run_logger().info("scan %s: quarantined as %s (%s)", job.scan_id, item.id, code)
    return item.id


@task(name="finish-scan", **STEP)
@content_safe("finish-scan")
def finish_scan(job: Job) -> dict:
    vault = runtime.current().vault
    with vault.writer() as s:
        job.confirm(s)
        scan = s.get(Scan, job.scan_id)
        docs = s.execute(select(Document.id).where(Document.scan_id == job.scan_id)).all()
        items = s.execute(select(QuarantineItem.id).where(QuarantineItem.scan_id == job.scan_id)).all()
        scan.status = "quarantined" if items else "archived"
        scan.pages = job.pages
        scan.finished_at = utcnow()
        scan.source_sealed = None  # the scanner's file name (it may hold a client's name) is not needed any more
        audit.record(
            s,
            actor=job.actor,
            role=job.role,
            action="scan.finish",
            outcome=scan.status,
            detail=f"scan {job.scan_id}: {len(docs)} documents, {len(items)} quarantined",
        )
        s.commit()
        return {
            "scan": job.scan_id,
            "status": scan.status,
            "documents": len(docs),
            "quarantined": len(items),
            "pages": job.pages,
        }


def open_job(scan_id: str, assign_dossier: str | None, assign_type: str | None) -> Job:
    rt = runtime.current()
    with rt.vault.sessions() as s:
        scan = s.get(Scan, scan_id)
        if scan is None:
            raise ValueError(f"unknown scan {scan_id}")
        user = s.get(User, scan.received_by)
        role = user.role if user else ("system" if scan.received_by.startswith("system:") else None)
        return Job(
            scan_id,
            intake.job_dir(rt.work_dir, scan_id),
            scan.received_by,
            role,
            assign_dossier or scan.assign_dossier,  # a resumed assignment files where it was assigned
            assign_type or scan.assign_type,
            finished=scan.status if scan.status != "received" else None,
        )


@flow(name="process-scan", persist_result=False, validate_parameters=False, log_prints=False)
def process_scan(scan_id: str, assign_dossier: str | None = None, assign_type: str | None = None) -> dict:
    rt = runtime.current()
    try:
        # The scan's lease in the catalog: one run on any machine works on it (archive/leases.py).
        with leases.Held(rt.vault.writer, scan_id, rt.lease_seconds, run=_run_id()) as lease:
            job = open_job(scan_id, assign_dossier, assign_type)  # read now that the scan is ours
            job.lease = lease
            if job.finished:
                intake.release(rt.work_dir, scan_id)  # filed by an earlier run; only clean-up was left
                return {"scan": scan_id, "status": job.finished}
            leftovers.remove_uncommitted_files(rt.vault, job.dir)  # what a killed run of this scan wrote
            if not job.source.exists():
                raise StepFailed("open", scan_id, "SourceMissing")
            summary = _process(job, rt)
            intake.release(rt.work_dir, scan_id)
    except leases.LeaseBusy:
        get_run_logger().info("scan %s is being processed by another run", scan_id)
        return {"scan": scan_id, "status": "busy"}
    return summary


def _run_id() -> str | None:
    from prefect.runtime import flow_run

    return flow_run.id


def _process(job: Job, rt: runtime.Runtime) -> dict:
    prepare_source(job)
    if job.problem is None:
        try:
            roles = read_pages(job, rt.ocr_pool())
            if job.problem is None:
                _file_pages(job, roles)
        finally:
            # The OCR pool is shared with other scans: stop this scan's pages, let running ones end.
            for f in job.ocr.values():
                f.cancel()
            wait(job.ocr.values())
            # Page images and OCR text must not outlive the run, even a failed one; notes of files that
            # might be uncatalogued stay for whoever holds the scan next (leftovers.py). A run whose
            # scan was taken over leaves the folder to the run that has it now.
            if not job.lease or not job.lease.lost:
                intake.scrub(rt.work_dir, job.scan_id, keep=("source", leftovers.NOTES))
    if job.problem is not None:  # the file, or one of its pages, cannot be used: the whole scan waits
        quarantine_file(job, job.problem.code, str(job.problem))
    return finish_scan(job)


def _file_pages(job: Job, roles: list[PageRole]) -> None:
    result = forced_split(job, roles) if job.forced else split(roles)
    for segment in result.documents:
        marks = _uncertain_pages(job, segment)
        if job.forced:  # assigned by hand: cover sheets are dropped, as when their barcode is read
            segment.pages = [n for n in segment.pages if marks.get(n) != Reason.UNREAD_COVER]
            kept, held = (segment if segment.pages else None), []
        else:
            kept, held = hold_at(segment, marks)
        # The held pages first: if this run dies in between, a resumed run that cuts
        # differently (an OCR timeout this time, none the next) still finds them in the quarantine.
        for segment_held in held:
            quarantine_pages(job, segment_held)
        if kept is not None:
            try:
                archive_document(job, kept)
            except StepFailed as failure:
                # Never lose pages to a failed step: they wait in the quarantine instead.
                kept.reason_code = Reason.PROCESSING_FAILED
                kept.reason = (
                    f"pages {kept.pages[0]}-{kept.pages[-1]} could not be archived "
                    f"({failure.code}); assign them again from the quarantine"
                )
                quarantine_pages(job, kept)
    for segment in result.quarantine:
        quarantine_pages(job, segment)
    if not result.documents and not result.quarantine:
        quarantine_file(
            job,
            Reason.NO_CONTENT,
            "the scan holds no pages to file (only blank pages or cover "
            "sheets); check the scanner settings and scan again",
        )


def run_here(
    scan_id: str, assign_dossier: str | None = None, assign_type: str | None = None, api_url: str | None = None
) -> dict:
    """process_scan in this process, for someone waiting for it (`dossier scan`, an assignment);
    against the Prefect server at `api_url` when given (another one than at the start).

    Without the flow-run heartbeat thread: it only serves Prefect's detection of crashed runs,
    which the scan lock does here, and ending it costs up to a second per run (it sleeps in
    one-second steps; measured 0.3-1.0 s between the last task and the flow's return, 0.03 s
    without)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    updates = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None, **({PREFECT_API_URL: api_url} if api_url else {})}
    with temporary_settings(updates=updates):
        return process_scan(scan_id=scan_id, assign_dossier=assign_dossier, assign_type=assign_type)
