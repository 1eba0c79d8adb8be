"""The destruction journal, and re-applying it after a restore (DESIGN.md §12).

A backup holds every wrapped data key as it was: restored as it is, it would bring back each
dossier destroyed since. So every destruction is also written down outside the catalog, in
`$DOSSIER_HOME/witness/destructions` (one JSON line each, append-only, in every backup): each
dossier shred (from its destruction record) and each quarantine item that was discarded or
assigned (an assigned item's pages live on in a dossier that may be destroyed later). Lines hold
dossier numbers, item ids, dates, rules and key ids: no personal data.

The catalog is the source: `sync` appends what the catalog holds and the journal does not yet,
after each destruction and at every integrity check and backup, so a crash between a commit and
its line is made good. `replay` applies a journal (a live home's, a later backup's, the restored
backup's own) to a restored catalog: every dossier destroyed there is shredded again, and every
quarantine item discarded there (or assigned to a dossier destroyed since) is destroyed.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, select

from . import audit, shredding
from .catalog import AuditEvent, Dossier, QuarantineItem, utcnow
from .records import DestructionRecord
from .witness import folder

FILE = "destructions"
SYSTEM_ACTOR = "system:restore"
log = logging.getLogger(__name__)


@dataclass
class Journal:
    """What was destroyed: dossier → its shred line; quarantine item → its resolution line."""

    dossiers: dict[str, dict] = field(default_factory=dict)
    items: dict[str, dict] = field(default_factory=dict)

    def add(self, line: dict) -> bool:
        if line.get("kind") == "dossier" and line.get("dossier"):
            new = line["dossier"] not in self.dossiers
            self.dossiers.setdefault(line["dossier"], line)
            return new
        if line.get("kind") == "item" and line.get("item"):
            key = f"{line['item']}:{line.get('status')}"
            new = key not in self.items
            self.items.setdefault(key, line)
            return new
        return False

    def merge(self, other: Journal) -> None:
        for line in [*other.dossiers.values(), *other.items.values()]:
            self.add(line)


def path(home: Path) -> Path:
    return folder(home) / FILE


def read(file: Path) -> Journal:
    """A journal file (a missing one is empty; a line that cannot be read is skipped: the rest
    still counts, and the catalog the lines came from is read too where it is at hand)."""
    journal = Journal()
    try:
        text = file.read_text()
    except FileNotFoundError:
        return journal
    for line in text.splitlines():
        try:
            journal.add(json.loads(line))
        except (ValueError, AttributeError):
            continue
    return journal


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def from_catalog(engine) -> Journal:
    """The destructions a catalog holds: digital destruction records, resolved quarantine items
    (with the dossier an assigned item went to, from its audit event)."""
    journal = Journal()
    assigned_to = {}
    with engine.connect() as conn:
        for r in conn.execute(
            select(
                DestructionRecord.dossier,
                DestructionRecord.rule,
                DestructionRecord.performed_on,
                DestructionRecord.recorded_at,
                DestructionRecord.key_id,
            )
            .where(DestructionRecord.scope == "digital")
            .order_by(DestructionRecord.id)
        ):
            journal.add(
                {
                    "kind": "dossier",
                    "dossier": r.dossier,
                    "rule": r.rule,
                    "performed_on": _iso(r.performed_on),
                    "recorded_at": _iso(r.recorded_at),
                    "key_id": r.key_id,
                }
            )
        for dossier, detail in conn.execute(
            select(AuditEvent.dossier, AuditEvent.detail).where(
                AuditEvent.action == "quarantine.assign", AuditEvent.outcome == "ok"
            )
        ):
            m = re.fullmatch(r"item (Q[0-9A-F]+)", detail or "")
            if m:
                assigned_to[m.group(1)] = dossier
        for item_id, status, resolved_at in conn.execute(
            select(QuarantineItem.id, QuarantineItem.status, QuarantineItem.resolved_at)
            .where(QuarantineItem.status != "open")
            .order_by(QuarantineItem.resolved_at, QuarantineItem.id)
        ):
            journal.add(
                {
                    "kind": "item",
                    "item": item_id,
                    "status": status,
                    "dossier": assigned_to.get(item_id),
                    "at": _iso(resolved_at),
                }
            )
    return journal


def from_catalog_file(catalog: Path) -> Journal:
    """The destructions in a SQLite catalog file (a home's or a backup's), opened read-only."""
    engine = create_engine(f"sqlite:///file:{catalog}?mode=ro&uri=true")
    try:
        return from_catalog(engine)
    finally:
        engine.dispose()


def sync(vault) -> int:
    """Append to the home's journal what the catalog holds and the journal does not; returns how
    many lines were added. One process at a time (a file lock), each line fsynced."""
    target = path(vault.home)
    folder(vault.home).mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        have = read(target)
        added = [line for line in _lines(from_catalog(vault.engine)) if have.add(line)]
        if added:
            os.write(fd, "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in added).encode())
            os.fsync(fd)
        return len(added)
    finally:
        os.close(fd)


def note(vault) -> None:
    """After a destruction commits: its line in the journal. Best effort: the catalog holds the
    record, and the next integrity check or backup writes what could not be written now."""
    try:
        sync(vault)
    except OSError:
        log.warning("the destruction journal could not be written now; it is brought up to date later")


def _lines(journal: Journal) -> list[dict]:
    return [*journal.dossiers.values(), *journal.items.values()]


def replay(vault, journal: Journal, *, policy, today: dt.date, actor: str = SYSTEM_ACTOR) -> list[str]:
    """Destroy in this (restored) archive what `journal` says was destroyed: dossiers not yet
    destroyed here are shredded (rule 'replay', holds notwithstanding: it happened already), open
    quarantine items discarded there, or assigned to a dossier destroyed since, are destroyed.
    Returns the dossier numbers and item ids destroyed here."""
    done: list[str] = []
    for number, line in sorted(journal.dossiers.items()):
        with vault.writer() as s:
            d = s.get(Dossier, number)
            if d is None or d.status == "destroyed":
                continue
            record = shredding.shred_dossier(
                s,
                number,
                rule="replay",
                today=today,
                policy=policy,
                actor=actor,
                role="system",
                note=f"destroyed on {line.get('performed_on') or 'an unknown day'} after the backup was taken "
                f"(data key {line.get('key_id') or '-'})",
            )
            s.commit()
        if record is not None:
            done.append(number)
    with vault.sessions() as s:
        destroyed = set(s.execute(select(Dossier.number).where(Dossier.status == "destroyed")).scalars())
    destroyed |= set(journal.dossiers)
    gone = []
    for line in journal.items.values():
        if line.get("status") == "discarded" or (line.get("status") == "assigned" and line.get("dossier") in destroyed):
            gone.append(line)
    for line in sorted(gone, key=lambda x: x["item"]):
        with vault.writer() as s:
            item = s.get(QuarantineItem, line["item"])
            if item is None or item.status != "open":
                continue
            blobs = vault.quarantine_blob_names(item)
            item.status, item.resolved_at, item.resolved_by = "discarded", utcnow(), actor
            item.message_blob = item.source_sealed = None
            why = "discarded" if line["status"] == "discarded" else f"assigned to {line['dossier']}, destroyed since"
            audit.record(
                s,
                actor=actor,
                role="system",
                action="quarantine.discard",
                channel="system",
                detail=f"item {item.id}: {why} after the backup was taken",
            )
            s.commit()
        vault.delete_quarantine_blobs(blobs)
        done.append(item.id)
    if done:
        shredding.finish(vault)
    return done
