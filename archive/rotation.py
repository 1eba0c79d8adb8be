"""Rotating the master key (DESIGN.md §12): `dossier keys rotate`.

Everything the master key protects is a wrapped key in the catalog: each dossier's data key
(data_keys) and the archive's own keys (archive_keys: cover sheets, quarantine, labels, mail
capture, BSN lookup, audit chain). A rotation re-wraps them all under a new key and changes
nothing they protect, so archived files, printed cover sheets and quarantined items stay valid.

The steps, each safe to be killed after (run it again, or any command, to finish):
1. the new key is written next to the old one (`master.key.new`), durable;
2. one transaction re-wraps every key and binds the catalog to the new key id (`archive_keys`
   purpose 'master'), with the audit event (key ids only);
3. the old key file is overwritten in place, then the new one is renamed over it.
At every moment the catalog matches one of the key files present: before step 2's commit the old
one (an interrupted rotation is undone: the unused new key is destroyed), after it the new one (an
interrupted rotation is finished). While the files are swapped, unwrapping tries both.

Writers that wrap a new key (a new dossier) take the catalog's "master-key" lock and read which key
the catalog is bound to under it (Vault.wrap_key), as the rotation does: no key is wrapped under
the old master key after the rotation re-wrapped the rest. A file lock next to the key file keeps
rotations (and their finishing) one at a time.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select, update

from . import audit, crypto
from .catalog import ArchiveKey, DataKey, serialise, utcnow
from .errors import IntegrityFailure, NotReady
from .keys import (
    FileKeyProvider,
    archive_key_label,
    key_id_of,
    overwrite_key_file,
    pending_key_path,
    read_key_file,
    shred_key_file,
    unwrap_under,
    wrap_under,
    write_pending_key,
)

# Tests stop a rotation between two steps with this (and kill it there): the step's name.
PAUSE_ENV = "DOSSIER_TEST_ROTATION_PAUSE_AT"


def _pause(step: str) -> None:
    if os.environ.get(PAUSE_ENV) == step:
        print(f"rotation paused at {step}", file=sys.stderr, flush=True)
        while True:
            time.sleep(60)


@contextmanager
def _one_at_a_time(key_file: Path):
    """Released by the kernel when the process dies."""
    key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(key_file.with_name(key_file.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _bound_key_id(vault) -> str | None:
    with vault.sessions() as s:
        return s.execute(select(ArchiveKey.key_id).where(ArchiveKey.purpose == "master")).scalar_one_or_none()


def _key_id_in(path: Path) -> str | None:
    try:
        return key_id_of(read_key_file(path))
    except NotReady:
        return None


def finish_interrupted(vault) -> str | None:
    """Put right what a killed rotation left: 'finished' (the catalog was bound to the new key:
    the swap is completed), 'undone' (it was not: the new key, which wraps nothing, is destroyed),
    or None when no rotation was interrupted. Refuses (NotReady) when neither key file matches."""
    with _one_at_a_time(vault.key_file):
        return _finish(vault.key_file, _bound_key_id(vault))


def _finish(key_file: Path, bound: str | None) -> str | None:
    pending = pending_key_path(key_file)
    shred_key_file(pending.with_name(pending.name + ".tmp"))  # a new key that was never complete
    if not pending.exists():
        return None
    if bound is not None and _key_id_in(pending) == bound:
        _swap(key_file)
        return "finished"
    if bound is None or _key_id_in(key_file) == bound:
        shred_key_file(pending)
        return "undone"
    raise NotReady(
        f"an interrupted key rotation left {pending}, but neither it nor {key_file} is the key this archive is "
        f"bound to (key id {bound}); restore the right key file from your key backup. Nothing was changed",
        "key-mismatch",
    )


def _swap(key_file: Path) -> None:
    """The old key overwritten in place, then the new one renamed over it (one atomic step)."""
    pending = pending_key_path(key_file)
    overwrite_key_file(key_file)
    _pause("old-key-overwritten")
    os.replace(pending, key_file)
    fd = os.open(key_file.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rotate(vault, *, actor: str, role: str, channel: str) -> dict:
    """A new master key for everything; the old key file destroyed. Returns the new key id, the
    old one and how many wrapped keys were re-wrapped."""
    if not isinstance(vault.keys, FileKeyProvider):
        raise NotReady("the master key is not kept in a key file here; rotate it where it is kept", "not-file-key")
    key_file = vault.key_file
    with _one_at_a_time(key_file):
        _finish(key_file, _bound_key_id(vault))
        old = read_key_file(key_file)
        old_id = key_id_of(old)
        new = write_pending_key(key_file)
        new_id = key_id_of(new)
        _pause("new-key-written")
        try:
            rewrapped = _rewrap(vault, old, new, old_id, new_id, actor=actor, role=role, channel=channel)
        except BaseException:
            if _bound_key_id(vault) != new_id:  # not committed: the new key protects nothing
                shred_key_file(pending_key_path(key_file))
            raise
        _pause("committed")
        _swap(key_file)
    return {"key_id": new_id, "previous_key_id": old_id, "rewrapped": rewrapped}


def _rewrapped(old: bytes, new: bytes, wrapped: bytes, associated: bytes, what: str) -> bytes:
    try:
        return wrap_under(new, unwrap_under(old, wrapped, associated), associated)
    except crypto.DecryptionFailed:
        raise IntegrityFailure(
            f"{what} does not open with the master key (altered in the catalog?); nothing was changed. Run "
            "`dossier integrity check` and tell the privacy officer",
            "key-damaged",
        ) from None


def _rewrap(vault, old: bytes, new: bytes, old_id: str, new_id: str, *, actor, role, channel) -> int:
    """Every wrapped key under the new master key, and the catalog bound to it, in one transaction."""
    with vault.writer() as s:
        serialise(s, "master-key")
        bound = s.execute(select(ArchiveKey.key_id).where(ArchiveKey.purpose == "master")).scalar_one_or_none()
        if bound != old_id:
            raise NotReady(
                f"the catalog is bound to master key {bound}, not to {old_id} in {vault.key_file}; nothing was changed",
                "key-mismatch",
            )
        count = 0
        for key_id, dossier, wrapped in s.execute(select(DataKey.key_id, DataKey.dossier, DataKey.wrapped)).all():
            fresh = _rewrapped(old, new, wrapped, dossier.encode(), f"the data key of dossier {dossier}")
            s.execute(update(DataKey).where(DataKey.key_id == key_id).values(wrapped=fresh))
            count += 1
        rows = s.execute(select(ArchiveKey.purpose, ArchiveKey.wrapped).where(ArchiveKey.wrapped.is_not(None))).all()
        for purpose, wrapped in rows:
            fresh = _rewrapped(old, new, wrapped, archive_key_label(purpose), f"the archive's {purpose} key")
            s.execute(update(ArchiveKey).where(ArchiveKey.purpose == purpose).values(wrapped=fresh))
            count += 1
        s.execute(update(ArchiveKey).where(ArchiveKey.purpose == "master").values(key_id=new_id, bound_at=utcnow()))
        audit.record(
            s,
            actor=actor,
            role=role,
            action="keys.rotate",
            channel=channel,
            detail=f"master key {old_id} replaced by {new_id}; {count} wrapped keys re-wrapped",
        )
        _pause("before-commit")
        s.commit()
    return count
