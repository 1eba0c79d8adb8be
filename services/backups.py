"""Backup and restore (DESIGN.md §12): a consistent copy while the archive works, and putting one
back into a new home without bringing back anything destroyed since it was taken."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from archive import audit, backup, destructions, pgtools
from archive.catalog import User
from archive.errors import BadInput, Conflict, DossierError
from archive.keys import key_id_of, read_key_file, shred_key_file, write_key_file

from .context import App, Context

log = logging.getLogger(__name__)

NO_REPLAY_WARNING = (
    "NO DESTRUCTIONS WERE RE-APPLIED: every dossier destroyed after this backup was taken is readable again. "
    "Run the restore again into an empty home with --replay-from the live data home (or a later backup), or "
    "destroy those dossiers again by hand now"
)


def make_backup(ctx: Context, target: Path) -> dict:
    """Back the archive up into `target` (a new or empty folder) while it works. Never the master key."""
    with ctx.reading("backup.make") as uow:
        uow.allow()
    manifest = backup.make(ctx.vault, target)
    a = ctx.actor
    audit.record_now(
        ctx.vault.writer,
        actor=a.name,
        role=a.role,
        action="backup.make",
        channel=a.channel,
        detail=f"{manifest['documents']} documents, {len(manifest['files'])} files, {manifest['bytes']} bytes; "
        f"needs master key {manifest['key_id']}",
    )
    return {
        "path": str(target),
        "documents": manifest["documents"],
        "bytes": manifest["bytes"],
        "key_id": manifest["key_id"],
        "created_at": manifest["created_at"],
    }


def restore(
    app: App, user_name: str, source: Path, *, key_file: Path | None = None, replay_from: Path | None = None
) -> dict:
    """Put the backup in `source` into this app's home (which must be new or empty, as must a
    PostgreSQL catalog), opened with the master key of `key_file` or the configured key file;
    then re-apply every destruction recorded after the backup was taken: its own journal's and,
    with `replay_from`, those of the live home or a later backup. Everything is checked before
    anything is written."""
    vault = app.vault
    manifest = backup.read_manifest(source)
    backup.empty_folder(app.home, "the data home")
    kind = manifest["catalog"]["kind"]
    if kind != vault.engine.dialect.name:
        raise BadInput(
            f"the backup holds a catalog on {kind}, but this home's catalog is on {vault.engine.dialect.name}; "
            "set DOSSIER_DATABASE_URL to match",
            "catalog-kind",
        )
    if kind == "postgresql" and inspect(vault.engine).get_table_names():
        raise Conflict("the catalog database is not empty; restore only into a new, empty database", "not-empty")
    if kind == "sqlite" and backup.sqlite_path(vault.db_url).exists():
        raise Conflict(f"a catalog already exists at {vault.db_url}; restore only into a new home", "not-empty")
    master = _master_key(vault.key_file, key_file)
    if key_id_of(master) != manifest["key_id"]:
        raise BadInput(
            f"this backup needs master key {manifest['key_id']}, but the key given is {key_id_of(master)}; a backup "
            "taken before a key rotation needs the key from before it",
            "wrong-key",
        )
    journal = backup.replay_source(replay_from) if replay_from is not None else destructions.Journal()
    backup.verify(source, manifest)
    placed_key = not vault.key_file.exists()
    # What the empty PostgreSQL database holds before (its own functions, say): a failure drops the rest.
    before = pgtools.schema_objects(vault.engine) if kind == "postgresql" else None
    try:
        backup.place(source, manifest, app.home, vault.db_url)
        if placed_key:
            vault.key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_key_file(vault.key_file, master)
        vault.initialise()  # migrations for an older backup; binds and checks the key
        for d in (app.inbox_dir, app.work_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        # The backup's own journal too: it was copied last, with what was destroyed while it ran.
        journal.merge(destructions.read(source / backup.JOURNAL))
        undone = destructions.replay(vault, journal, policy=app.policy, today=app.today())
    except BaseException as failure:
        if placed_key:
            shred_key_file(vault.key_file)
        backup.remove_partial(app.home)
        if before is not None:
            vault.engine.dispose()  # the failed run's connections hold locks on what is dropped
            try:
                pgtools.drop_objects_since(vault.engine, before)
            except SQLAlchemyError as e:  # the first error is the one to report; this one goes with it
                note = (
                    "the catalog database still holds what the restore loaded "
                    f"({type(e).__name__}); drop its tables before trying again"
                )
                failure.add_note(note)
                log.warning("restore: %s", note)
        raise
    with vault.sessions() as s:
        user = s.get(User, user_name)
        role = user.role if user is not None else None
    audit.record_now(
        vault.writer,
        actor=user_name,
        role=role,
        action="archive.restore",
        channel="cli",
        detail=f"backup of {manifest['created_at']} (key {manifest['key_id']}): {manifest['documents']} documents; "
        + (f"{len(undone)} destructions re-applied" if replay_from else "no later destructions given"),
    )
    out = {
        "restored": str(app.home),
        "reshredded": undone,
        "documents": manifest["documents"],
        "backup_taken": manifest["created_at"],
        "key_id": manifest["key_id"],
    }
    if replay_from is None:
        out["warning"] = NO_REPLAY_WARNING
    return out


def _master_key(configured: Path, given: Path | None) -> bytes:
    if given is None and not configured.exists():
        raise BadInput(
            "give the master key the backup needs with --key-file FILE (or DOSSIER_KEY_FILE); the backup holds none",
            "key-missing",
        )
    try:
        master = read_key_file(given or configured)
    except DossierError as e:
        raise BadInput(str(e), e.code) from None
    if given is not None and configured.exists() and read_key_file(configured) != master:
        raise BadInput(f"--key-file and {configured} hold different keys; give one of them", "key-conflict")
    return master
