"""Backups taken while the archive works, and putting one back (DESIGN.md §12).

A backup folder holds:
- the catalog as of one moment: `catalog.db` (SQLite's online backup API) or `catalog.dump`
  (pg_dump, custom format, run on a snapshot exported by the transaction that also lists the files);
- exactly the archive and quarantine files that catalog knows, under the same relative paths;
- the witness file (copied before the catalog, so every head in it is in the catalog copy) and the
  destruction journal (copied last, so it also holds what was destroyed while the backup ran);
- `manifest.json`, written last: the SHA-256 and size of every file, the id of the master key the
  backup needs, counts. Never the master key itself.

Every dossier's data key is in the catalog copy, wrapped: a backup restored as it is brings back
what was destroyed after it. `restore` therefore re-applies the destruction journal of the live
archive or of a later backup (archive/destructions.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from . import destructions, pgtools, witness
from .catalog import ArchiveKey, AuditEvent, Document, QuarantineItem
from .errors import BadInput, Conflict, IntegrityFailure
from .store import BlobStore

MANIFEST = "manifest.json"
FORMAT = "dossier-backup/1"
SQLITE_FILE, PG_FILE = "catalog.db", "catalog.dump"
WITNESS = f"{witness.FOLDER}/{witness.HEAD_FILE}"
JOURNAL = f"{witness.FOLDER}/{destructions.FILE}"


def empty_folder(path: Path, what: str) -> None:
    """Refuse a folder that exists and holds anything (nothing is overwritten or mixed in)."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise Conflict(f"{what} {path} is not empty; give a new or empty folder", "not-empty")


def _copy(src: Path, dst: Path) -> dict:
    """Copy one file (mode 0600, fsynced), hashing it on the way: its manifest entry."""
    dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    h, size = hashlib.sha256(), 0
    with open(src, "rb") as fin, open(dst, "wb", opener=lambda p, f: os.open(p, f, 0o600)) as fout:
        while block := fin.read(1 << 20):
            h.update(block)
            fout.write(block)
            size += len(block)
        fout.flush()
        os.fsync(fout.fileno())
    return {"sha256": h.hexdigest(), "bytes": size}


def _entry(path: Path) -> dict:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return {"sha256": h.hexdigest(), "bytes": size}


def _known(conn, vault) -> dict:
    """What one catalog state holds: the files it knows (relative to the home), its key id, counts."""
    home = vault.home
    files = [
        str(vault.archive.path(name).relative_to(home))
        for name in conn.execute(select(Document.file_name).where(Document.destroyed_at.is_(None))).scalars()
    ]
    sealed = BlobStore(vault.quarantine_root, ".bin")  # paths only: nothing is opened here
    blobs = set()
    for status, blob, message in conn.execute(
        select(QuarantineItem.status, QuarantineItem.blob_name, QuarantineItem.message_blob)
    ):
        if status == "open":
            blobs.add(blob)
        if message:
            blobs.add(message)
    files += [str(sealed.path(b).relative_to(home)) for b in sorted(blobs)]
    return {
        "files": files,
        "key_id": conn.execute(select(ArchiveKey.key_id).where(ArchiveKey.purpose == "master")).scalar_one_or_none(),
        "documents": len(files) - len(blobs),
        "quarantine_items": conn.execute(
            select(func.count()).select_from(QuarantineItem).where(QuarantineItem.status == "open")
        ).scalar_one(),
        "audit_events": conn.execute(select(func.coalesce(func.max(AuditEvent.seq), 0))).scalar_one(),
    }


def sqlite_path(url: str) -> Path:
    return Path(make_url(url).database)


def _snapshot_sqlite(vault, target: Path) -> dict:
    """SQLite's online backup API: one consistent copy while others read and write."""
    src = sqlite3.connect(sqlite_path(vault.db_url), timeout=30)
    dst = sqlite3.connect(target / SQLITE_FILE)
    try:
        src.backup(dst)  # all pages in one step: one read transaction, one moment
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, readable read-only
    finally:
        dst.close()
        src.close()
    os.chmod(target / SQLITE_FILE, 0o600)
    copy = create_engine(f"sqlite:///file:{target / SQLITE_FILE}?mode=ro&uri=true")
    try:
        with copy.connect() as conn:
            return _known(conn, vault)
    finally:
        copy.dispose()


def _snapshot_postgresql(vault, target: Path) -> dict:
    """pg_dump on the snapshot of the transaction that lists the files: the same moment for both."""
    with vault.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        with conn.begin():
            snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            known = _known(conn, vault)
            pgtools.dump(vault.db_url, target / PG_FILE, snapshot)
    os.chmod(target / PG_FILE, 0o600)
    return known


def make(vault, target: Path) -> dict:
    """Back the archive up into `target` (new or empty). Returns the manifest."""
    empty_folder(target, "the backup folder")
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    destructions.sync(vault)
    files: dict[str, dict] = {}
    if witness.path(vault.home).exists():
        files[WITNESS] = _copy(witness.path(vault.home), target / WITNESS)
    dialect = vault.engine.dialect.name
    if dialect == "sqlite":
        known, catalog = _snapshot_sqlite(vault, target), SQLITE_FILE
    elif dialect == "postgresql":
        known, catalog = _snapshot_postgresql(vault, target), PG_FILE
    else:
        raise BadInput(f"no backup for a catalog on {dialect}", "dialect")
    files[catalog] = _entry(target / catalog)
    gone = []
    for rel in known["files"]:
        try:
            files[rel] = _copy(vault.home / rel, target / rel)
        except FileNotFoundError:  # destroyed or discarded since the catalog copy: the journal says so
            gone.append(rel)
    destructions.sync(vault)
    files[JOURNAL] = _copy(destructions.path(vault.home), target / JOURNAL)
    manifest = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "key_id": known["key_id"],
        "catalog": {"kind": dialect, "file": catalog},
        "documents": known["documents"],
        "quarantine_items": known["quarantine_items"],
        "audit_events": known["audit_events"],
        "gone_during_backup": gone,
        "files": files,
    }
    tmp = target / (MANIFEST + ".tmp")
    with open(tmp, "w", opener=lambda p, f: os.open(p, f, 0o600)) as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target / MANIFEST)
    manifest["bytes"] = sum(e["bytes"] for e in files.values()) + (target / MANIFEST).stat().st_size
    return manifest


def read_manifest(source: Path) -> dict:
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except FileNotFoundError:
        raise BadInput(
            f"{source} is not a complete backup (it has no {MANIFEST}); give the folder `dossier backup` wrote",
            "not-a-backup",
        ) from None
    except (OSError, ValueError):
        raise BadInput(f"the manifest of the backup in {source} cannot be read", "bad-manifest") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BadInput(f"{source} holds no backup this version can restore", "bad-manifest")
    return manifest


def verify(source: Path, manifest: dict) -> None:
    """Every file of the backup against its SHA-256 in the manifest (IntegrityFailure otherwise)."""
    for rel, expected in sorted(manifest["files"].items()):
        path = source / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise IntegrityFailure(f"the backup's manifest names a file outside it ({rel})", "bad-manifest")
        try:
            actual = _entry(path)
        except FileNotFoundError:
            raise IntegrityFailure(
                f"the backup in {source} lacks {rel}; it cannot be restored", "backup-damaged"
            ) from None
        if actual != expected:
            raise IntegrityFailure(
                f"{rel} in the backup in {source} was altered or damaged; it cannot be restored", "backup-damaged"
            )


def place(source: Path, manifest: dict, home: Path, db_url: str) -> None:
    """The backup's files into the (empty) home and its catalog into the (empty) catalog."""
    catalog = manifest["catalog"]
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    home.chmod(0o700)
    for rel in manifest["files"]:
        if rel == catalog["file"]:
            continue
        _copy(source / rel, home / rel)
    if catalog["kind"] == "sqlite":
        _copy(source / catalog["file"], sqlite_path(db_url))
    else:
        pgtools.restore(db_url, source / catalog["file"])


def replay_source(path: Path) -> destructions.Journal:
    """The destructions recorded in a data home or a backup folder: its journal and, where it has
    one, its SQLite catalog (which holds what a crash kept out of the journal)."""
    if not path.is_dir():
        raise BadInput(f"--replay-from {path} is not a folder; give a data home or a later backup", "replay-source")
    journal_file = path / JOURNAL
    catalog = path / SQLITE_FILE
    if not journal_file.exists() and not catalog.exists():
        raise BadInput(
            f"--replay-from {path} holds no destruction journal or catalog; give the live data home or a backup "
            "taken later",
            "replay-source",
        )
    journal = destructions.read(journal_file)
    if catalog.exists():
        try:
            journal.merge(destructions.from_catalog_file(catalog))
        except SQLAlchemyError as e:  # a damaged catalog: say so rather than replay less than there is
            raise BadInput(
                f"the catalog in --replay-from {path} cannot be read ({type(e).__name__}); give a folder whose "
                "witness/destructions holds its journal, without the catalog",
                "replay-source",
            ) from None
    return journal


def remove_partial(home: Path) -> None:
    """After a failed restore: the home as empty as it was (it was new or empty)."""
    if home.is_dir():
        for child in home.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
