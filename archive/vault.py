"""The archive's operations over catalog, keys and stores. Callers pass ids; content stays inside.

Every function that changes state takes the SQLAlchemy session of the caller's transaction,
so the catalog rows, the audit event and what they describe commit together. Transactions that
write come from `Vault.writer()`; long work (encryption, file writes) happens before it opens,
so the catalog is locked only for the rows (see catalog.make_engine on SQLite's write lock).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from sqlalchemy import func, inspect, select, update
from sqlalchemy.orm import Session, sessionmaker

from . import audit, crypto, pdf, search
from .catalog import (
    ArchiveKey,
    AuditEvent,
    CoverSheet,
    DataKey,
    Document,
    Dossier,
    PageText,
    QuarantineItem,
    Scan,
    SearchToken,
    User,
    count_up,
    make_engine,
    migrate,
    schema_state,
    serialise,
    session_factory,
    utcnow,
)
from .errors import Conflict, IntegrityFailure, NotFound, NotReady
from .keys import (
    DossierKeys,
    FileKeyProvider,
    KeyProvider,
    archive_key_label,
    create_master_key,
    new_data_key,
    pending_key_path,
)
from .store import BlobStore, SealedStore, new_name


@dataclass(frozen=True)
class StoredFile:
    """An encrypted, verified document file in the archive that the catalog does not know yet."""

    id: str
    dossier: str
    file_name: str
    file_mac: str
    size: int


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
        # sessions(): reading, and writing in SQLite's default way (lock taken at the first write).
        # writer(): a transaction that will write, holding SQLite's write lock from its start, so
        # read-then-write (counters, the audit chain, claims) is never raced. Keep it short.
        self.sessions: sessionmaker = session_factory(self.engine)
        self.writer: sessionmaker = session_factory(self.engine, writer=True)
        # Every session appends audit events under this archive's audit key (archive/audit.py).
        for factory in (self.sessions, self.writer):
            factory.configure(info={"audit_chain": self.audit_chain})
        self._archive_keys: dict[str, bytes] = {}  # unwrapped once per process; a rotation re-wraps, never changes them

    # ---- set-up -----------------------------------------------------------------------------
    def catalog_exists(self) -> bool:
        if self.db_url.startswith("sqlite:///") and not Path(self.db_url.removeprefix("sqlite:///")).exists():
            return False  # connecting would create an empty file
        try:
            return inspect(self.engine).has_table("alembic_version")
        except Exception:  # noqa: BLE001 - no server, no database: not set up (ready() says so)
            return False

    def initialise(self) -> bool:
        """Create folders, master key and catalog schema, and bind the catalog to its key. Safe to
        repeat; never makes a new key for an existing catalog. True when the key is new."""
        existing = self.catalog_exists()
        for d in (self.home, self.archive.root, self.quarantine_root):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not existing:  # a new archive: its home is private from the start
            self.home.chmod(0o700)
        self._check_home()
        created = False
        if not self.key_file.exists():
            if existing:
                self._bind_key()  # raises: the archive's key is missing, with the id it needs
            created = create_master_key(self.key_file)
        if existing and schema_state(self.engine) == "newer":  # Alembic cannot go there, and must not go back
            raise self._newer_catalog()
        migrate(self.db_url)
        self._bind_key()
        return created

    def ready(self) -> None:
        """Refuse to work on an archive that is not set up, whose home others can read, or with a
        master key that is missing, exposed, damaged or not this archive's (nothing is written then)."""
        if not self.catalog_exists():
            raise NotReady(f"the archive at {self.home} is not set up; run `dossier init` first", "not-set-up")
        self._check_home()
        state = schema_state(self.engine)
        if state == "newer":
            raise self._newer_catalog()
        if state == "older":
            raise NotReady(
                f"the catalog at {self.home} is from an older version of this program; run `dossier init` "
                "to bring it up to date",
                "old-catalog",
            )
        self._bind_key()

    def _newer_catalog(self) -> NotReady:
        return NotReady(
            f"the catalog at {self.home} was written by a newer version of this program; upgrade this program "
            "(on every machine that uses the catalog) before using it",
            "newer-catalog",
        )

    def _check_home(self) -> None:
        mode = self.home.stat().st_mode
        if mode & 0o077:
            raise NotReady(
                f"the data home {self.home} can be read by other accounts (mode {mode & 0o777:04o}); make "
                f"it private with `chmod 700 {self.home}`",
                "home-exposed",
            )

    def key_id(self) -> str:
        return self.keys.key_id()

    def _bind_key(self) -> None:
        """Compare the configured master key with the one the catalog belongs to; an older catalog
        that does not know its key yet is bound to this one, after checking it opens its data keys.
        A key rotation that was interrupted is finished (or undone) first (archive/rotation.py)."""
        if isinstance(self.keys, FileKeyProvider) and pending_key_path(self.key_file).exists():
            from . import rotation

            rotation.finish_interrupted(self)
        with self.sessions() as s:
            row = s.get(ArchiveKey, "master")
            expected = row.key_id if row is not None else None
        try:
            actual = self.keys.key_id()
        except NotReady as e:
            if expected and e.code == "key-missing":
                raise NotReady(
                    f"the master key file {self.key_file} is missing; this archive needs the key with id "
                    f"{expected}: restore it from your key backup (`dossier init` will not make a new key "
                    "for an existing archive)",
                    "key-missing",
                ) from None
            raise
        if expected == actual:
            self._ensure_archive_keys()
            return
        if expected is not None:
            raise NotReady(
                f"the master key in {self.key_file} (key id {actual}) is not this archive's key (key id "
                f"{expected}); point DOSSIER_KEY_FILE at the right key file or restore it from your key "
                "backup. Nothing was changed",
                "key-mismatch",
            )
        with self.writer() as s:
            sample = s.execute(select(DataKey).limit(1)).scalar_one_or_none()
            if sample is not None:
                try:
                    self.keys.unwrap(sample.wrapped, sample.dossier.encode())
                except crypto.DecryptionFailed:
                    raise NotReady(
                        f"the master key in {self.key_file} (key id {actual}) does not open this archive's "
                        "dossier keys; point DOSSIER_KEY_FILE at the right key file",
                        "key-mismatch",
                    ) from None
            if s.get(ArchiveKey, "master") is None:
                s.add(ArchiveKey(purpose="master", key_id=actual))
                s.commit()
        self._ensure_archive_keys()

    AUDIT_CHAIN = "audit-chain"
    # Random keys of the archive itself, stored wrapped under the master key.
    ARCHIVE_KEYS = (
        "bsn-lookup",
        "cover-sheets",
        "quarantine",
        "quarantine-labels",
        "scan-labels",
        "mail-capture",
        AUDIT_CHAIN,
        "web-auth",
    )
    # These were derived from the master key before they were stored wrapped: an archive that
    # may have used them keeps their values, so printed cover sheets and sealed items stay valid.
    ONCE_DERIVED = ("cover-sheets", "quarantine", "quarantine-labels", "scan-labels", "mail-capture")

    def _ensure_archive_keys(self) -> None:
        """Random keys of the archive itself, one per purpose, stored wrapped under the master key
        (made here, at set-up and before any command works), so rotating the master key re-wraps
        them instead of changing them. Safe to repeat and to run side by side."""
        with self.sessions() as s:
            have = set(s.execute(select(ArchiveKey.purpose)).scalars())
        if have.issuperset(self.ARCHIVE_KEYS):
            return
        with self.writer() as s:
            serialise(s, "master-key")
            bound = self._bound_key_id(s)
            in_use = any(
                s.execute(select(model).limit(1)).first() is not None
                for model in (Dossier, Scan, QuarantineItem, CoverSheet)
            )
            for purpose in self.ARCHIVE_KEYS:
                if s.get(ArchiveKey, purpose) is not None:
                    continue
                if purpose == self.AUDIT_CHAIN:
                    self._key_the_audit_chain(s, bound)
                    continue
                value = self.keys.derive(purpose) if in_use and purpose in self.ONCE_DERIVED else new_data_key()
                s.add(
                    ArchiveKey(
                        purpose=purpose,
                        key_id=secrets.token_hex(8),
                        wrapped=self.keys.wrap(value, archive_key_label(purpose), bound),
                    )
                )
            s.commit()

    def _key_the_audit_chain(self, session: Session, bound: str | None) -> None:
        """Make the audit key: events from the next one on are linked by HMAC under it. The first
        event number is sealed with the key, so it cannot be moved without the master key. A log
        that has events already gets a first keyed event that says so, whose link covers theirs."""
        serialise(session, "audit-chain")
        head = session.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one_or_none()
        chain = audit.ChainKey(new_data_key(), head.seq + 1 if head else 1)
        key_id = secrets.token_hex(8)
        session.add(
            ArchiveKey(
                purpose=self.AUDIT_CHAIN,
                key_id=key_id,
                wrapped=self.keys.wrap(
                    chain.key + chain.starts_at.to_bytes(8, "big"), archive_key_label(self.AUDIT_CHAIN), bound
                ),
            )
        )
        if head is not None:
            audit.record(
                session,
                actor="system:archive",
                role="system",
                action="audit.keyed",
                channel="system",
                detail=f"events from {chain.starts_at} on are linked by HMAC under audit key {key_id}; events 1 to "
                f"{head.seq} keep their SHA-256 links, which this event's link covers",
                chain=chain,
            )

    def archive_key(self, purpose: str) -> bytes:
        cached = self._archive_keys.get(purpose)
        if cached is not None:
            return cached
        with self.sessions() as s:
            row = s.get(ArchiveKey, purpose)
        if row is None or row.wrapped is None:
            raise NotReady(f"the archive's {purpose} key is missing; run `dossier init`", "key-missing")
        try:
            value = self.keys.unwrap(row.wrapped, archive_key_label(purpose))
        except crypto.DecryptionFailed:
            raise IntegrityFailure(
                f"the archive's {purpose} key does not open with the master key: it was altered, or the wrong key "
                "file is configured",
                "key-mismatch",
            ) from None
        self._archive_keys[purpose] = value
        return value

    def audit_chain(self) -> audit.ChainKey | None:
        """The audit key and the first event linked under it; None before it is made (set-up)."""
        try:
            value = self.archive_key(self.AUDIT_CHAIN)
        except NotReady:
            return None
        return audit.ChainKey(value[:32], int.from_bytes(value[32:], "big"))

    def _bound_key_id(self, session: Session) -> str | None:
        return session.execute(select(ArchiveKey.key_id).where(ArchiveKey.purpose == "master")).scalar_one_or_none()

    def wrap_key(self, session: Session, key: bytes, associated: bytes) -> bytes:
        """Wrap a new key under the master key the catalog is bound to, read under the lock a
        rotation holds while it re-wraps (archive/rotation.py): a key wrapped while a rotation
        runs is either re-wrapped by it or wrapped under the new key, never left under the old one."""
        serialise(session, "master-key")
        return self.keys.wrap(key, associated, self._bound_key_id(session))

    def bsn_lookup(self, bsn: str) -> str:
        """Keyed hash of a BSN: equal BSNs match, nothing can be read back, no plaintext index."""
        return crypto.mac(self.archive_key("bsn-lookup"), bsn.encode())

    def quarantine_store(self) -> SealedStore:
        return SealedStore(self.quarantine_root, self.archive_key("quarantine"))

    def cover_key(self) -> bytes:
        return self.archive_key("cover-sheets")

    # ---- users ------------------------------------------------------------------------------
    def user(self, session: Session, name: str) -> User | None:
        return session.get(User, name)

    def add_user(self, session: Session, name: str, role: str, by: str | None) -> User:
        if session.get(User, name) is not None:
            raise Conflict(f"user {name} already exists", "user-exists")
        u = User(name=name, role=role, created_by=by)
        session.add(u)
        return u

    # ---- dossiers and keys ------------------------------------------------------------------
    def create_dossier(
        self,
        session: Session,
        *,
        number: str,
        coach: str,
        commissioner: str | None,
        start: dt.date,
        client_name: str | None,
        bsn: str | None,
        by: str,
    ) -> Dossier:
        d = Dossier(number=number, coach=coach, commissioner=commissioner, start_date=start, created_by=by)
        session.add(d)
        session.flush()
        data_key = new_data_key()
        wrapped = self.wrap_key(session, data_key, number.encode())
        session.add(DataKey(key_id=secrets.token_hex(8), dossier=number, wrapped=wrapped))
        dk = DossierKeys(number, data_key)
        d.client_name_sealed = dk.seal_field(client_name, "client_name")
        d.bsn_sealed = dk.seal_field(bsn, "bsn")
        d.bsn_lookup = self.bsn_lookup(bsn) if bsn else None
        return d

    def dossier_keys(self, session: Session, number: str) -> DossierKeys:
        row = session.execute(select(DataKey).where(DataKey.dossier == number)).scalar_one_or_none()
        if row is None:
            raise NotFound(f"dossier {number} has no data key: it was destroyed", "destroyed")
        try:
            return DossierKeys(number, self.keys.unwrap(row.wrapped, number.encode()))
        except crypto.DecryptionFailed:
            raise IntegrityFailure(
                f"the data key of dossier {number} does not match the master key; "
                "check that the right key file is configured",
                "key-mismatch",
            ) from None

    def allocate_number(self, session: Session, year: int) -> str:
        """The next dossier number of `year`: one atomic count-up, so concurrent callers never get
        the same number or fail (the UPDATE holds the row until the caller's transaction ends)."""
        return f"D-{year:04d}-{count_up(session, f'dossier-{year}'):04d}"

    # ---- cover sheets -----------------------------------------------------------------------
    def issue_cover(self, session: Session, dossier: str, doc_type: str, by: str) -> CoverSheet:
        sheet = CoverSheet(dossier=dossier, doc_type=doc_type, issued_by=by)
        session.add(sheet)
        session.flush()
        return sheet

    # ---- scans ------------------------------------------------------------------------------
    def previous_scan(self, session: Session, sha256: str) -> Scan | None:
        """An earlier scan of the same bytes that was filed, or whose quarantined parts were not all discarded."""
        for s in session.execute(
            select(Scan)
            .where(Scan.sha256 == sha256, Scan.status.in_(("archived", "quarantined")))
            .order_by(Scan.received_at)
        ).scalars():
            if s.status == "archived":
                return s
            kept = session.execute(
                select(QuarantineItem.id).where(QuarantineItem.scan_id == s.id, QuarantineItem.status != "discarded")
            ).first()
            filed = session.execute(select(Document.id).where(Document.scan_id == s.id)).first()
            if kept or filed:
                return s
        return None

    def register_scan(self, session: Session, sha256: str, by: str, source_label: str | None) -> tuple[Scan, bool]:
        """A new scan row, or the unfinished one for the same bytes (a crashed run is resumed, not
        doubled): (scan, resumed)."""
        unfinished = (
            session.execute(select(Scan).where(Scan.sha256 == sha256, Scan.status == "received")).scalars().first()
        )
        if unfinished is not None:
            return unfinished, True
        scan = Scan(
            id=secrets.token_hex(16), sha256=sha256, received_by=by, source_sealed=self.seal_label(source_label)
        )
        session.add(scan)
        session.flush()
        return scan, False

    def record_duplicate(self, session: Session, sha256: str, by: str, earlier: Scan) -> Scan:
        """A scan row that says these bytes arrived again and were not filed a second time."""
        dup = Scan(
            id=secrets.token_hex(16),
            sha256=sha256,
            received_by=by,
            status="duplicate",
            pages=earlier.pages,
            finished_at=utcnow(),
        )
        session.add(dup)
        session.flush()
        return dup

    def seal_label(self, label: str | None) -> bytes | None:
        if label is None:
            return None
        return crypto.seal(self.archive_key("scan-labels"), label.encode())

    def open_label(self, sealed: bytes | None) -> str | None:
        if sealed is None:
            return None
        return crypto.open_sealed(self.archive_key("scan-labels"), sealed).decode()

    # ---- archiving --------------------------------------------------------------------------
    def store_document(
        self, keys: DossierKeys, document_pdf: pikepdf.Pdf, pages: int, file_name: str | None = None
    ) -> StoredFile:
        """Encrypt the document into the archive, re-read and decrypt it, count its pages and take
        its HMAC; nothing is recorded yet (record_document does, in the caller's transaction).
        Done outside any catalog transaction: encryption takes time, the write lock must not wait."""
        doc_id = secrets.token_hex(16)
        file_name = file_name or new_name()
        password = keys.pdf_password(doc_id)
        path = self.archive.prepare(file_name)
        pdf.sanitise(document_pdf)  # page content, images, fonts, text layer: nothing that acts
        pdf.clear_metadata(document_pdf)
        try:
            pdf.encrypt_to(document_pdf, path, password)
            # Re-open and decrypt what is on disk before anything is recorded as archived.
            if pdf.page_count(path, password) != pages:
                raise IntegrityFailure("the archived copy does not have the expected pages", "verify-failed")
            file_mac = crypto.mac_file(keys.file_mac_key(), path)
        except BaseException:
            self.archive.delete(file_name)
            self.archive.delete_temp(file_name)
            raise
        return StoredFile(doc_id, keys.dossier, file_name, file_mac, path.stat().st_size)

    def record_document(
        self,
        session: Session,
        stored: StoredFile,
        *,
        doc_type: str,
        pages: list[PageRecord],
        scan_id: str | None,
        cover_serial: int | None,
        scan_page: int | None = None,
    ) -> Document:
        """The catalog rows of a stored document: the document, its sealed page texts and search
        tokens, the cover sheet's use (the caller commits, or deletes the file if that fails)."""
        keys = self.dossier_keys(session, stored.dossier)
        doc = Document(
            id=stored.id,
            dossier=stored.dossier,
            doc_type=doc_type,
            pages=len(pages),
            scan_id=scan_id,
            cover_serial=cover_serial,
            scan_page=scan_page,
            file_name=stored.file_name,
            file_mac=stored.file_mac,
            size=stored.size,
            low_text_pages=sum(p.low_text for p in pages),
        )
        session.add(doc)
        session.flush()
        tkey, xkey = keys.token_key(), keys.text_key()
        for n, page in enumerate(pages, start=1):
            session.add(
                PageText(
                    document_id=doc.id,
                    page=n,
                    confidence=round(page.confidence, 1),
                    words=page.words,
                    low_text=page.low_text,
                    text_sealed=crypto.seal(xkey, page.text.encode(), f"{doc.id}:{n}".encode()),
                )
            )
            for t in search.page_tokens(tkey, page.text):
                session.add(SearchToken(token=t, document_id=doc.id, page=n))
        if cover_serial is not None:
            session.execute(
                update(CoverSheet)
                .where(CoverSheet.serial == cover_serial)
                .values(
                    times_used=CoverSheet.times_used + 1,
                    first_used_at=func.coalesce(CoverSheet.first_used_at, utcnow()),
                )
            )
        return doc

    def discard_uncommitted(self, *, file_name: str | None = None, blob: str | None = None) -> None:
        """After a failed commit: delete the stored file (or quarantine blob) unless the catalog has
        it after all (a commit whose answer was lost). When the catalog cannot be asked, keep it:
        an orphan can be cleaned up later, a deleted archived file is lost."""
        try:
            with self.sessions() as s:
                if file_name is not None:
                    known = s.execute(select(Document.id).where(Document.file_name == file_name)).first()
                else:
                    known = s.execute(
                        select(QuarantineItem.id).where(
                            (QuarantineItem.blob_name == blob) | (QuarantineItem.message_blob == blob)
                        )
                    ).first()
        except Exception:  # noqa: BLE001 - no answer means: keep the file
            return
        if known is None:
            if file_name is not None:
                self.archive.delete(file_name)
            else:
                self.discard_quarantine_blob(blob)

    def verified_file(self, session: Session, doc: Document) -> bytes:
        """The encrypted file of a document, read once and checked against its HMAC (PDF encryption
        alone has no integrity protection). Decrypt these very bytes with decrypt()."""
        if doc.destroyed_at is not None:
            raise NotFound(f"document {doc.id} was destroyed on {doc.destroyed_at:%Y-%m-%d}", "destroyed")
        keys = self.dossier_keys(session, doc.dossier)
        try:
            data = self.archive.path(doc.file_name).read_bytes()
        except FileNotFoundError:
            raise IntegrityFailure(
                f"the archived file of document {doc.id} is missing; restore it from backup", "missing"
            ) from None
        if not crypto.same(crypto.mac(keys.file_mac_key(), data), doc.file_mac):
            raise IntegrityFailure(
                f"the archived file of document {doc.id} was altered or damaged; "
                "restore it from backup and tell the privacy officer",
                "tampered",
            )
        return data

    def decrypt(self, session: Session, doc: Document, encrypted: bytes) -> pikepdf.Pdf:
        keys = self.dossier_keys(session, doc.dossier)
        return pdf.open_encrypted_bytes(encrypted, keys.pdf_password(doc.id))

    def page_texts(self, session: Session, doc: Document) -> list[str]:
        keys = self.dossier_keys(session, doc.dossier)
        rows = session.execute(select(PageText).where(PageText.document_id == doc.id).order_by(PageText.page)).scalars()
        return [
            crypto.open_sealed(keys.text_key(), r.text_sealed, f"{doc.id}:{r.page}".encode()).decode() for r in rows
        ]

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
                tokens = [search.token(tkey, t) for t in search.query_terms(w)]
                found = set(
                    session.execute(
                        select(SearchToken.document_id, SearchToken.page)
                        .where(SearchToken.token.in_(tokens))
                        .distinct()
                    ).all()
                )
                pages = found if pages is None else pages & found
                if not pages:
                    break
            for doc_id, page in sorted(pages or ()):
                row = session.get(PageText, (doc_id, page))
                text = crypto.open_sealed(keys.text_key(), row.text_sealed, f"{doc_id}:{page}".encode()).decode()
                hits.append(
                    {"document": doc_id, "dossier": number, "page": page, "snippet": search.snippet(text, qwords)}
                )
                if len(hits) >= limit:
                    return hits
        return hits

    # ---- quarantine -------------------------------------------------------------------------
    def quarantine(
        self,
        session: Session,
        *,
        data: bytes,
        kind: str,
        reason_code: str,
        reason: str,
        scan_id: str | None,
        source_label: str | None,
        pages: int | None,
        scan_page: int | None = None,
    ) -> QuarantineItem:
        """Seal the bytes into the quarantine and add the item (caller commits): seal_quarantine_blob
        + add_quarantine_item, which flows call apart so the blob is written before the writer opens."""
        blob = self.seal_quarantine_blob(data)
        try:
            return self.add_quarantine_item(
                session,
                blob=blob,
                kind=kind,
                reason_code=reason_code,
                reason=reason,
                scan_id=scan_id,
                source_label=source_label,
                pages=pages,
                scan_page=scan_page,
            )
        except Exception:
            self.discard_quarantine_blob(blob)
            raise

    def seal_quarantine_blob(self, data: bytes) -> str:
        """Encrypt and write the bytes; the blob's name. An orphan until its item is committed."""
        return self.quarantine_store().put(data)

    def discard_quarantine_blob(self, blob: str) -> None:
        self.quarantine_store().delete(blob)

    def add_quarantine_item(
        self,
        session: Session,
        *,
        blob: str,
        kind: str,
        reason_code: str,
        reason: str,
        scan_id: str | None,
        source_label: str | None,
        pages: int | None,
        scan_page: int | None = None,
    ) -> QuarantineItem:
        label = f"{kind}|{source_label or ''}"
        item = QuarantineItem(
            id="Q" + secrets.token_hex(4).upper(),
            scan_id=scan_id,
            scan_page=scan_page,
            reason_code=str(reason_code),
            reason=reason,
            pages=pages,
            blob_name=blob,
            source_sealed=crypto.seal(self.archive_key("quarantine-labels"), label.encode(), blob.encode()),
        )
        session.add(item)
        session.flush()
        return item

    def quarantine_source(self, item: QuarantineItem) -> tuple[str, str]:
        """(kind of blob, label for people) of an item: the label may hold the scanner's file name."""
        try:
            raw = crypto.open_sealed(self.archive_key("quarantine-labels"), item.source_sealed, item.blob_name.encode())
        except (crypto.DecryptionFailed, TypeError):  # one damaged label must not hide the whole queue
            return "file", "(the original file name cannot be read)"
        kind, _, label = raw.decode().partition("|")
        return kind, label

    def quarantine_pages(self, item: QuarantineItem) -> bytes:
        """The bytes of an item that can become a document (the scan, or a mail's attachments)."""
        return self.quarantine_bytes(item)

    def quarantine_blob_names(self, item: QuarantineItem) -> list[str]:
        """Every sealed file of an item: its pages and, for intake mail, the message beside them."""
        return [name for name in (item.blob_name, item.message_blob) if name]

    def delete_quarantine_blobs(self, names: list[str]) -> None:
        store = self.quarantine_store()
        for name in names:
            store.delete(name)

    def quarantine_bytes(self, item: QuarantineItem) -> bytes:
        try:
            return self.quarantine_store().get(item.blob_name)
        except FileNotFoundError:
            raise IntegrityFailure(
                f"the quarantined file of item {item.id} is missing; restore it from backup", "missing"
            ) from None
        except crypto.DecryptionFailed:
            raise IntegrityFailure(
                f"the quarantined file of item {item.id} was altered or damaged", "tampered"
            ) from None
