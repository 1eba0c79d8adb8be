"""The archive's operations over catalog, keys and stores. Callers pass ids; content stays inside.

Every function that changes state takes the SQLAlchemy session of the caller's transaction,
so the catalog rows, the audit event and what they describe commit together.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from . import audit, crypto, pdf, search
from .catalog import (
    CoverSheet, Counter, DataKey, Document, Dossier, PageText, QuarantineItem, Scan, SearchToken, User,
    make_engine, migrate, session_factory, utcnow,
)
from .keys import DossierKeys, FileKeyProvider, KeyProvider, create_master_key, new_data_key
from .store import BlobStore, SealedStore, new_name


class VaultError(Exception):
    """An expected refusal or failure; the message is one line, safe to show, and says what to do."""

    exit_code = 1

    def __init__(self, message: str, code: str = "error"):
        super().__init__(message)
        self.code = code


class NotFound(VaultError):
    exit_code = 4


class IntegrityFailure(VaultError):
    exit_code = 5


@dataclass(frozen=True)
class PageRecord:
    """What OCR learned about one archived page."""

    text: str
    confidence: float
    words: int
    low_text: bool


class Vault:
    def __init__(self, home: Path, db_url: str, key_file: Path, provider: KeyProvider | None = None):
        self.home = home
        self.db_url = db_url
        self.key_file = key_file
        self.keys: KeyProvider = provider or FileKeyProvider(key_file)
        self.archive = BlobStore(home / "archive", ".pdf")
        self.quarantine_root = home / "quarantine"
        self.engine = make_engine(db_url)
        self.sessions: sessionmaker = session_factory(self.engine)

    # ---- set-up -----------------------------------------------------------------------------
    def initialise(self) -> bool:
        """Create folders, master key and catalog schema. Safe to repeat. True when the key is new."""
        for d in (self.home, self.archive.root, self.quarantine_root):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        created = create_master_key(self.key_file)
        migrate(self.db_url)
        return created

    def quarantine_store(self) -> SealedStore:
        return SealedStore(self.quarantine_root, self.keys.derive("quarantine"))

    def cover_key(self) -> bytes:
        return self.keys.derive("cover-sheets")

    # ---- users ------------------------------------------------------------------------------
    def user(self, session: Session, name: str) -> User | None:
        return session.get(User, name)

    def add_user(self, session: Session, name: str, role: str, by: str | None) -> User:
        if session.get(User, name) is not None:
            raise VaultError(f"user {name} already exists", "user-exists")
        u = User(name=name, role=role, created_by=by)
        session.add(u)
        return u

    # ---- dossiers and keys ------------------------------------------------------------------
    def create_dossier(self, session: Session, *, number: str, coach: str, commissioner: str | None,
                       start: dt.date, client_name: str | None, bsn: str | None, by: str) -> Dossier:
        d = Dossier(number=number, coach=coach, commissioner=commissioner, start_date=start, created_by=by)
        session.add(d)
        session.flush()
        data_key = new_data_key()
        session.add(DataKey(key_id=secrets.token_hex(8), dossier=number,
                            wrapped=self.keys.wrap(data_key, number.encode())))
        dk = DossierKeys(number, data_key)
        d.client_name_sealed = dk.seal_field(client_name, "client_name")
        d.bsn_sealed = dk.seal_field(bsn, "bsn")
        return d

    def dossier_keys(self, session: Session, number: str) -> DossierKeys:
        row = session.execute(select(DataKey).where(DataKey.dossier == number)).scalar_one_or_none()
        if row is None:
            raise NotFound(f"dossier {number} has no data key: it was destroyed", "destroyed")
        try:
            return DossierKeys(number, self.keys.unwrap(row.wrapped, number.encode()))
        except crypto.DecryptionFailed:
            raise IntegrityFailure(f"the data key of dossier {number} does not match the master key; "
                                   "check that the right key file is configured", "key-mismatch") from None

    def allocate_number(self, session: Session, year: int) -> str:
        name = f"dossier-{year}"
        counter = session.get(Counter, name)
        if counter is None:
            counter = Counter(name=name, value=0)
            session.add(counter)
        counter.value += 1
        session.flush()
        return f"D-{year:04d}-{counter.value:04d}"

    # ---- cover sheets -----------------------------------------------------------------------
    def issue_cover(self, session: Session, dossier: str, doc_type: str, by: str) -> CoverSheet:
        sheet = CoverSheet(dossier=dossier, doc_type=doc_type, issued_by=by)
        session.add(sheet)
        session.flush()
        return sheet

    # ---- scans ------------------------------------------------------------------------------
    def previous_scan(self, session: Session, sha256: str) -> Scan | None:
        """An earlier scan of the same bytes that was filed, or whose quarantined parts were not all discarded."""
        for s in session.execute(select(Scan).where(Scan.sha256 == sha256, Scan.status.in_(("archived", "quarantined")))
                                 .order_by(Scan.received_at)).scalars():
            if s.status == "archived":
                return s
            kept = session.execute(select(QuarantineItem.id).where(
                QuarantineItem.scan_id == s.id, QuarantineItem.status != "discarded")).first()
            filed = session.execute(select(Document.id).where(Document.scan_id == s.id)).first()
            if kept or filed:
                return s
        return None

    def register_scan(self, session: Session, sha256: str, by: str, source_label: str | None) -> Scan:
        """A new scan row, or the unfinished one for the same bytes (a crashed run is resumed, not doubled)."""
        unfinished = session.execute(select(Scan).where(Scan.sha256 == sha256, Scan.status == "received")).scalars().first()
        if unfinished is not None:
            return unfinished
        scan = Scan(id=secrets.token_hex(16), sha256=sha256, received_by=by,
                    source_sealed=self.seal_label(source_label))
        session.add(scan)
        session.flush()
        return scan

    def record_duplicate(self, session: Session, sha256: str, by: str, earlier: Scan) -> Scan:
        """A scan row that says these bytes arrived again and were not filed a second time."""
        dup = Scan(id=secrets.token_hex(16), sha256=sha256, received_by=by, status="duplicate",
                   pages=earlier.pages, finished_at=utcnow())
        session.add(dup)
        session.flush()
        return dup

    def seal_label(self, label: str | None) -> bytes | None:
        if label is None:
            return None
        return crypto.seal(self.keys.derive("scan-labels"), label.encode())

    def open_label(self, sealed: bytes | None) -> str | None:
        if sealed is None:
            return None
        return crypto.open_sealed(self.keys.derive("scan-labels"), sealed).decode()

    # ---- archiving --------------------------------------------------------------------------
    def write_document(self, session: Session, *, dossier: str, doc_type: str, document_pdf: pikepdf.Pdf,
                       pages: list[PageRecord], scan_id: str | None, cover_serial: int | None,
                       scan_page: int | None = None) -> Document:
        """Encrypt, store, re-read and verify, then add the catalog rows (caller commits).

        Returns the Document; if the caller's commit fails, the caller must call discard_file().
        """
        keys = self.dossier_keys(session, dossier)
        doc_id = secrets.token_hex(16)
        file_name = new_name()
        password = keys.pdf_password(doc_id)
        path = self.archive.prepare(file_name)
        pdf.clear_metadata(document_pdf)
        pdf.encrypt_to(document_pdf, path, password)
        try:
            # Re-open and decrypt what is on disk before anything is recorded as archived.
            if pdf.page_count(path, password) != len(pages):
                raise IntegrityFailure("the archived copy does not have the expected pages", "verify-failed")
            file_mac = crypto.mac_file(keys.file_mac_key(), path)
        except Exception:
            self.archive.delete(file_name)
            raise
        doc = Document(id=doc_id, dossier=dossier, doc_type=doc_type, pages=len(pages), scan_id=scan_id,
                       cover_serial=cover_serial, scan_page=scan_page, file_name=file_name, file_mac=file_mac,
                       size=path.stat().st_size, low_text_pages=sum(p.low_text for p in pages))
        session.add(doc)
        session.flush()
        tkey, xkey = keys.token_key(), keys.text_key()
        for n, page in enumerate(pages, start=1):
            session.add(PageText(document_id=doc_id, page=n, confidence=round(page.confidence, 1), words=page.words,
                                 low_text=page.low_text,
                                 text_sealed=crypto.seal(xkey, page.text.encode(), f"{doc_id}:{n}".encode())))
            for t in search.page_tokens(tkey, page.text):
                session.add(SearchToken(token=t, document_id=doc_id, page=n))
        if cover_serial is not None:
            session.execute(update(CoverSheet).where(CoverSheet.serial == cover_serial).values(
                times_used=CoverSheet.times_used + 1,
                first_used_at=func.coalesce(CoverSheet.first_used_at, utcnow())))
        return doc

    def discard_file(self, doc: Document) -> None:
        self.archive.delete(doc.file_name)

    def open_document(self, session: Session, doc: Document) -> pikepdf.Pdf:
        """Decrypt an archived document after checking its HMAC (PDF encryption alone has no integrity)."""
        if doc.destroyed_at is not None:
            raise NotFound(f"document {doc.id} was destroyed on {doc.destroyed_at:%Y-%m-%d}", "destroyed")
        keys = self.dossier_keys(session, doc.dossier)
        path = self.archive.path(doc.file_name)
        if not path.exists():
            raise IntegrityFailure(f"the archived file of document {doc.id} is missing; restore it from backup", "missing")
        if not crypto.same(crypto.mac_file(keys.file_mac_key(), path), doc.file_mac):
            raise IntegrityFailure(f"the archived file of document {doc.id} was altered or damaged; "
                                   "restore it from backup and tell the privacy officer", "tampered")
        return pdf.open_encrypted(path, keys.pdf_password(doc.id))

    def page_texts(self, session: Session, doc: Document) -> list[str]:
        keys = self.dossier_keys(session, doc.dossier)
        rows = session.execute(select(PageText).where(PageText.document_id == doc.id).order_by(PageText.page)).scalars()
        return [crypto.open_sealed(keys.text_key(), r.text_sealed, f"{doc.id}:{r.page}".encode()).decode() for r in rows]

    def search(self, session: Session, dossiers: list[str], query: str, limit: int = 50) -> list[dict]:
        """Pages holding every word of the query, within the given dossiers."""
        qwords = search.words(query)
        if not qwords:
            return []
        hits: list[dict] = []
        for number in dossiers:
            try:
                keys = self.dossier_keys(session, number)
            except NotFound:
                continue
            tkey = keys.token_key()
            pages: set[tuple[str, int]] | None = None
            for w in set(qwords):
                found = set(session.execute(select(SearchToken.document_id, SearchToken.page)
                                            .where(SearchToken.token == search.token(tkey, w))).all())
                pages = found if pages is None else pages & found
                if not pages:
                    break
            for doc_id, page in sorted(pages or ()):
                row = session.get(PageText, (doc_id, page))
                text = crypto.open_sealed(keys.text_key(), row.text_sealed, f"{doc_id}:{page}".encode()).decode()
                hits.append({"document": doc_id, "dossier": number, "page": page,
                             "snippet": search.snippet(text, qwords)})
                if len(hits) >= limit:
                    return hits
        return hits

    # ---- quarantine -------------------------------------------------------------------------
    def quarantine(self, session: Session, *, data: bytes, kind: str, reason_code: str, reason: str,
                   scan_id: str | None, source_label: str | None, pages: int | None,
                   scan_page: int | None = None) -> QuarantineItem:
        """Seal the bytes into the quarantine and add the item (caller commits)."""
        store = self.quarantine_store()
        blob = store.put(data)
        label = f"{kind}|{source_label or ''}"
        item = QuarantineItem(id="Q" + secrets.token_hex(4).upper(), scan_id=scan_id, scan_page=scan_page,
                              reason_code=reason_code,
                              reason=reason, pages=pages, blob_name=blob,
                              source_sealed=crypto.seal(self.keys.derive("quarantine-labels"), label.encode(), blob.encode()))
        session.add(item)
        session.flush()
        return item

    def quarantine_source(self, item: QuarantineItem) -> tuple[str, str]:
        """(kind of blob, label for people) of an item: the label may hold the scanner's file name."""
        raw = crypto.open_sealed(self.keys.derive("quarantine-labels"), item.source_sealed, item.blob_name.encode())
        kind, _, label = raw.decode().partition("|")
        return kind, label

    def quarantine_bytes(self, item: QuarantineItem) -> bytes:
        try:
            return self.quarantine_store().get(item.blob_name)
        except FileNotFoundError:
            raise IntegrityFailure(f"the quarantined file of item {item.id} is missing; restore it from backup", "missing") from None
        except crypto.DecryptionFailed:
            raise IntegrityFailure(f"the quarantined file of item {item.id} was altered or damaged", "tampered") from None

    def audit(self, session: Session, **kw) -> None:
        audit.record(session, **kw)
