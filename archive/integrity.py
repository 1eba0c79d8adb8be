"""The integrity check (DESIGN.md §12): every stored file re-read, catalog and disk compared both
ways, the audit chain verified against the witness.

- Every live document's encrypted file is read whole and its HMAC (under its dossier's key)
  compared with the catalog's: `damaged` when it differs, `missing` when there is no file.
- Every sealed quarantine file the catalog knows (the pages of an open item; an intake item's
  message) is opened: AES-GCM authenticates, so a changed byte fails to open.
- Every file under the archive and quarantine folders that the catalog does not know is
  `unexpected`, named by its path, and by its document or item where the catalog knows them as
  destroyed or resolved (a file left behind, which should be gone).
- The audit chain, link by link, and against every head witnessed before.

The check runs while the system works: a file that is written (or removed) while it looks, and
whose catalog row commits (or goes) meanwhile, is looked at again at the end before it counts.
Entries carry paths under the data home, document and item ids, dossier numbers: no content.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from . import audit, crypto, witness
from .catalog import Document, QuarantineItem
from .errors import DossierError
from .keys import DossierKeys

ARCHIVE, QUARANTINE = "archive", "quarantine"


@dataclass
class Report:
    files_checked: int = 0
    damaged: list[dict] = field(default_factory=list)
    missing: list[dict] = field(default_factory=list)
    unexpected: list[dict] = field(default_factory=list)
    audit: audit.ChainReport | None = None

    @property
    def audit_ok(self) -> bool:
        return self.audit is not None and self.audit.ok

    @property
    def ok(self) -> bool:
        return self.audit_ok and not (self.damaged or self.missing or self.unexpected)

    def as_dict(self) -> dict:
        return {
            "files_checked": self.files_checked,
            "damaged": self.damaged,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "audit_ok": self.audit_ok,
            "audit_problem": self.audit.problem if self.audit else None,
            "audit_events": self.audit.events if self.audit else 0,
            "ok": self.ok,
        }

    def summary(self) -> str:
        """Counts only: for the audit event, the log and Prefect."""
        return (
            f"{self.files_checked} files checked: {len(self.damaged)} damaged, {len(self.missing)} missing, "
            f"{len(self.unexpected)} unexpected; audit chain {'intact' if self.audit_ok else 'BROKEN'}"
        )


def _files_under(root: Path, home: Path) -> set[str]:
    found = set()
    for base, _dirs, names in os.walk(root):
        for name in names:
            found.add(str((Path(base) / name).relative_to(home)))
    return found


def _rel(path: Path, home: Path) -> str:
    return str(path.relative_to(home))


def check_files(vault) -> Report:
    """Every stored file against the catalog, and the catalog against the folders."""
    home = vault.home
    on_disk = _files_under(vault.archive.root, home) | _files_under(vault.quarantine_root, home)
    report = Report()
    known: set[str] = set()
    left_behind: dict[str, dict] = {}  # files of destroyed documents and resolved items
    qstore = vault.quarantine_store()
    with vault.sessions() as s:
        docs = s.execute(
            select(Document.id, Document.dossier, Document.file_name, Document.file_mac, Document.destroyed_at)
        ).all()
        items = s.execute(
            select(QuarantineItem.id, QuarantineItem.status, QuarantineItem.blob_name, QuarantineItem.message_blob)
        ).all()
        keys: dict[str, DossierKeys | DossierError] = {}
        for doc in docs:
            rel = _rel(vault.archive.path(doc.file_name), home)
            if doc.destroyed_at is not None:
                left_behind[rel] = {"document": doc.id, "dossier": doc.dossier, "why": "the document was destroyed"}
                continue
            known.add(rel)
            entry = {"file": rel, "document": doc.id, "dossier": doc.dossier}
            if doc.dossier not in keys:
                try:
                    keys[doc.dossier] = vault.dossier_keys(s, doc.dossier)
                except DossierError as e:
                    keys[doc.dossier] = e
            dk = keys[doc.dossier]
            if isinstance(dk, DossierError):  # no usable data key: the file cannot be vouched for
                report.damaged.append({**entry, "why": f"the dossier's data key cannot be used ({dk.code})"})
                continue
            try:
                mac = crypto.mac_file(dk.file_mac_key(), vault.archive.path(doc.file_name))
            except FileNotFoundError:
                report.missing.append(entry)
                continue
            report.files_checked += 1
            if not crypto.same(mac, doc.file_mac):
                report.damaged.append(entry)
    for item in items:
        blobs = []
        if item.status == "open":
            blobs.append(item.blob_name)
        else:
            rel = _rel(qstore.path(item.blob_name), home)
            left_behind[rel] = {"item": item.id, "why": f"the item was {item.status}"}
        if item.message_blob:
            blobs.append(item.message_blob)
        for blob in dict.fromkeys(blobs):
            rel = _rel(qstore.path(blob), home)
            known.add(rel)
            left_behind.pop(rel, None)
            entry = {"file": rel, "item": item.id, "document": None, "dossier": None}
            try:
                qstore.get(blob)
            except FileNotFoundError:
                report.missing.append(entry)
                continue
            except crypto.DecryptionFailed:
                report.damaged.append(entry)
            report.files_checked += 1
    for rel in sorted(on_disk - known):
        report.unexpected.append({"file": rel, "document": None, "dossier": None, **left_behind.get(rel, {})})
    _look_again(vault, report)
    return report


def _look_again(vault, report: Report) -> None:
    """Drop what changed under the check: a damaged or missing file whose row went meanwhile (a
    destruction, a discard), an unexpected file whose row committed meanwhile (a scan) or that is gone."""
    if not (report.damaged or report.missing or report.unexpected):
        return
    home = vault.home
    with vault.sessions() as s:
        live_docs = {
            _rel(vault.archive.path(name), home)
            for name in s.execute(select(Document.file_name).where(Document.destroyed_at.is_(None))).scalars()
        }
        qstore = vault.quarantine_store()
        live_blobs = set()
        for item in s.execute(select(QuarantineItem)).scalars():
            if item.status == "open":
                live_blobs.add(_rel(qstore.path(item.blob_name), home))
            if item.message_blob:
                live_blobs.add(_rel(qstore.path(item.message_blob), home))
    live = live_docs | live_blobs
    report.damaged = [d for d in report.damaged if d["file"] in live]
    report.missing = [m for m in report.missing if m["file"] in live and not (home / m["file"]).exists()]
    report.unexpected = [u for u in report.unexpected if u["file"] not in live and (home / u["file"]).exists()]


def check_audit(vault) -> audit.ChainReport:
    """The chain, link by link, against every witnessed head. A witness file that cannot be read,
    or that is gone although integrity checks were recorded, is a broken chain too."""
    try:
        entries = witness.read(vault.home)
    except witness.WitnessDamaged as e:
        return audit.ChainReport(False, 0, None, str(e))
    with vault.sessions() as s:
        report = audit.verify(s, vault.audit_chain(), entries)
        if report.ok and entries is None:
            from .catalog import AuditEvent

            checked = s.execute(
                select(AuditEvent.seq).where(AuditEvent.action == "integrity.check").limit(1)
            ).scalar_one_or_none()
            if checked is not None:
                report = audit.ChainReport(
                    False,
                    report.events,
                    checked,
                    f"the witness file {witness.path(vault.home)} is missing, although integrity checks wrote to it "
                    f"(from event {checked} on); restore it from backup",
                    report.keyed_from,
                )
    return report


def check(vault) -> Report:
    """The whole check; nothing is recorded (see `record`)."""
    report = check_files(vault)
    report.audit = check_audit(vault)
    return report


def record(vault, report: Report, *, actor: str, role: str, channel: str) -> None:
    """Write the verified chain head to the witness file (before the event, so a witness exists
    for every recorded check), then the check's audit event, outcome 'failed' when anything is
    wrong. Also brings the destruction journal up to date."""
    from . import destructions

    destructions.note(vault)
    if report.audit_ok and report.audit.head is not None:
        witness.append(vault.home, *report.audit.head)
    audit.record_now(
        vault.writer,
        actor=actor,
        role=role,
        action="integrity.check",
        outcome="ok" if report.ok else "failed",
        channel=channel,
        detail=report.summary(),
    )
