"""Encrypted files a killed run wrote but never catalogued.

Before a document is encrypted into the archive, its run notes the file's (opaque) name in the
scan's work folder; the note goes once the catalog row is committed or the file removed. A run
killed in between leaves the note, and whoever next holds the scan's lease (the resumed run, or
the housekeeping of the next command) removes the file unless the catalog knows it.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from archive.catalog import Document
from archive.vault import Vault

NOTES = "archiving"


def note(job_dir: Path, file_name: str) -> Path:
    d = job_dir / NOTES
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    marker = d / file_name
    marker.touch(mode=0o600)
    return marker


def remove_uncommitted_files(vault: Vault, job_dir: Path) -> int:
    """Remove archive files noted in `job_dir` that no catalog row refers to. Returns how many."""
    notes = job_dir / NOTES
    if not notes.is_dir():
        return 0
    removed = 0
    with vault.sessions() as s:
        for marker in notes.iterdir():
            name = marker.name
            known = s.execute(select(Document.id).where(Document.file_name == name)).first()
            if not known and vault.archive.exists(name):
                vault.archive.delete(name)
                removed += 1
            vault.archive.delete_temp(name)
            marker.unlink(missing_ok=True)
    return removed
