"""Destroying a digital dossier for good by crypto-shredding (DESIGN.md §4–§5).

Everything derived from a dossier's content sits under its data key (DEK): the PDFs' passwords,
the file MACs, the sealed page text, the search-token key, the sealed name and BSN. Deleting the
wrapped DEK therefore makes every copy unreadable, backups of the archive folder included. Then
the rest goes too: search tokens and page texts in the same transaction as the key, the files
right after the commit (a crash in between leaves only undecryptable files, which the next run
removes). The catalog keeps a destruction record with numbers, dates, names of staff and counts,
never the client's name or BSN.

SQLite runs with secure_delete, so the deleted key's bytes are overwritten in the database file;
a TRUNCATE checkpoint afterwards moves the change into the database and empties the write-ahead
log, so no older copy of the page with the wrapped key is left in `catalog.db-wal`.

PostgreSQL keeps a deleted row in the table file until it is vacuumed, and a plain VACUUM only
marks its space free: the bytes stay when no later row is moved over them (the last row on a
page). VACUUM FULL writes the key table anew and drops the old file. What it cannot reach: the
server's write-ahead log until its segments are reused, WAL archives and base backups (README).
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import OperationalError

from . import audit
from .catalog import DataKey, Document, Dossier, PageText, QuarantineItem, Scan, SearchToken, utcnow
from .errors import NotFound, RuleForbids
from .lifecycle import RetentionPolicy, active_hold
from .records import DestructionRecord
from .retention import destroy_on, is_due
from .rights import forget_client_data

log = logging.getLogger(__name__)


def shred_dossier(
    session,
    number: str,
    *,
    rule: str,
    today: dt.date,
    policy: RetentionPolicy,
    actor: str,
    role: str,
    reason: str | None = None,
    note: str | None = None,
) -> DestructionRecord | None:
    """Destroy dossier `number` in the caller's transaction; None if it was already destroyed.

    rule 'retention' re-checks that the dossier is due on `today`; rule 'erasure' destroys now.
    Both refuse a dossier on legal hold. Rule 'replay' re-applies, after a restore from backup, a
    destruction the live archive carried out after the backup was taken (archive/destructions.py):
    it happened already, so no hold stops it. The caller commits, then calls finish().
    """
    d = session.get(Dossier, number)
    if d is None:
        raise NotFound(f"dossier {number} does not exist", "unknown")
    if d.status == "destroyed":
        return None
    hold = active_hold(session, number) if rule != "replay" else None
    if hold is not None:
        raise RuleForbids(
            f"dossier {number} is on legal hold since {hold.placed_at:%Y-%m-%d}; the privacy officer must "
            "release the hold before it can be destroyed",
            "on-hold",
        )
    if rule == "retention":
        if not is_due(today, d.end_date, policy.period):
            raise RuleForbids(f"dossier {number} is not due for destruction on {today}", "not-due")
        trigger = destroy_on(d.end_date, policy.period)
        rule_text = policy.describe()
    elif rule == "erasure":
        trigger = today
        rule_text = "erasure on request (right to erasure, AVG art. 17)"
    elif rule == "replay":
        trigger = today
        rule_text = "re-applied after a restore from backup"
    else:
        raise ValueError(f"unknown destruction rule {rule}")
    if note:
        rule_text = f"{rule_text}; {note}"

    # Claim the dossier first: a concurrent run that gets here second changes nothing.
    now = utcnow()
    claimed = session.execute(
        update(Dossier)
        .where(Dossier.number == number, Dossier.status != "destroyed")
        .values(status="destroyed", destroyed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        return None

    live = select(Document.id).where(Document.dossier == number, Document.destroyed_at.is_(None))
    doc_ids = list(session.execute(live).scalars())
    pages = session.execute(
        select(func.coalesce(func.sum(Document.pages), 0)).where(Document.id.in_(doc_ids))
    ).scalar_one()
    all_docs = select(Document.id).where(Document.dossier == number)
    n_texts = session.execute(
        select(func.count()).select_from(PageText).where(PageText.document_id.in_(all_docs))
    ).scalar_one()
    n_tokens = session.execute(
        select(func.count()).select_from(SearchToken).where(SearchToken.document_id.in_(all_docs))
    ).scalar_one()
    key = session.execute(select(DataKey).where(DataKey.dossier == number)).scalar_one_or_none()
    key_id = key.key_id if key is not None else None

    # 1. The shred: the only copy of the wrapped data key.
    session.execute(delete(DataKey).where(DataKey.dossier == number).execution_options(synchronize_session=False))
    # 2. What hung off it in the catalog: search tokens, sealed page text.
    session.execute(
        delete(SearchToken).where(SearchToken.document_id.in_(all_docs)).execution_options(synchronize_session=False)
    )
    session.execute(
        delete(PageText).where(PageText.document_id.in_(all_docs)).execution_options(synchronize_session=False)
    )
    session.execute(
        update(Document)
        .where(Document.dossier == number, Document.destroyed_at.is_(None))
        .values(destroyed_at=now)
        .execution_options(synchronize_session=False)
    )
    # 3. Identifying fields: sealed name and BSN (unreadable now, but gone is better), commissioner.
    session.execute(
        update(Dossier)
        .where(Dossier.number == number)
        .values(client_name_sealed=None, bsn_sealed=None, bsn_lookup=None, commissioner=None)
        .execution_options(synchronize_session=False)
    )
    # The old values a rectification replaced and correction notes: sealed under the shredded key; gone is better.
    forget_client_data(session, number)
    # 4. Scanner file names may carry the client's name: forget them for scans that held this dossier.
    scans = select(Document.scan_id).where(Document.dossier == number, Document.scan_id.is_not(None))
    session.execute(
        update(Scan).where(Scan.id.in_(scans)).values(source_sealed=None).execution_options(synchronize_session=False)
    )
    session.execute(
        update(QuarantineItem)
        .where(QuarantineItem.scan_id.in_(scans), QuarantineItem.status != "open")
        .values(source_sealed=None)
        .execution_options(synchronize_session=False)
    )

    record = DestructionRecord(
        dossier=number,
        scope="digital",
        rule=rule,
        rule_text=rule_text,
        reason=reason,
        end_date=d.end_date,
        trigger_date=trigger,
        authorised_by=actor,
        performed_by=actor,
        recorded_by=actor,
        performed_on=today,
        key_id=key_id,
        documents=len(doc_ids),
        pages=int(pages),
        files=len(doc_ids),
        page_texts=n_texts,
        search_tokens=n_tokens,
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        actor=actor,
        role=role,
        action="dossier.destroy",
        dossier=number,
        detail=f"{rule}: data key {key_id} shredded; {len(doc_ids)} documents, {pages} pages, "
        f"{n_texts} page texts, {n_tokens} search tokens; destruction record {record.id}",
    )
    session.expire(d)
    return record


def remove_files(vault) -> int:
    """Delete the archive files of destroyed documents that are still on disk (safe to repeat)."""
    removed = 0
    with vault.sessions() as session:
        names = list(session.execute(select(Document.file_name).where(Document.destroyed_at.is_not(None))).scalars())
    for name in names:
        if vault.archive.exists(name):
            vault.archive.delete(name)
            removed += 1
    return removed


def scrub_catalog(vault, attempts: int = 20) -> bool:
    """After the commit of a shred: leave no old copy of a deleted key in the catalog's files.

    SQLite: PRAGMA wal_checkpoint(TRUNCATE) (secure_delete is on for every connection), retried
    while readers hold the log. PostgreSQL: VACUUM FULL of the key table, retried while other
    transactions hold it. Returns True when done; False means the next destruction or retention
    run finishes it (the key is already deleted, only its bytes linger).
    """
    dialect = vault.engine.dialect.name
    if dialect == "sqlite":
        return _checkpoint_sqlite(vault, attempts)
    if dialect == "postgresql":
        return _vacuum_postgresql(vault, attempts)
    log.warning("no scrubbing for the %s catalog: deleted keys may stay in its files", dialect)
    return False


def _checkpoint_sqlite(vault, attempts: int) -> bool:
    for _ in range(attempts):
        with vault.engine.connect() as conn:
            busy, _log, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if not busy:
            return True
        time.sleep(0.25)
    log.warning("catalog write-ahead log still in use after %d checkpoint attempts; it will be emptied later", attempts)
    return False


def _vacuum_postgresql(vault, attempts: int) -> bool:
    # VACUUM cannot run in a transaction; the short lock timeout keeps readers from queueing
    # behind a VACUUM that waits for a long transaction.
    # VACUUM FULL writes the table to a new file: an unchanged file node means it was skipped
    # (PostgreSQL only warns when the role may not vacuum the table).
    table = DataKey.__tablename__
    with vault.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("SET lock_timeout = '2s'")
        node = f"SELECT pg_relation_filenode('{table}')"
        for _ in range(attempts):
            before = conn.exec_driver_sql(node).scalar()
            try:
                conn.exec_driver_sql(f"VACUUM FULL {table}")
            except OperationalError:  # lock_timeout: someone holds the table
                time.sleep(0.25)
                continue
            if conn.exec_driver_sql(node).scalar() != before:
                return True
            log.warning("VACUUM FULL of %s was skipped: the catalog's role must own the table", table)
            return False
    log.warning("key table still in use after %d VACUUM FULL attempts; it will be vacuumed later", attempts)
    return False


def finish(vault) -> dict:
    """After the commit of one or more shreds: remove their files, empty the WAL, and write the
    destructions into the journal outside the catalog (archive/destructions.py)."""
    from . import destructions

    result = {"files_removed": remove_files(vault), "catalog_scrubbed": scrub_catalog(vault)}
    destructions.note(vault)
    return result
