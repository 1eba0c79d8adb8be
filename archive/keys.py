"""Master key (KEK) and per-dossier data keys (DEK), DESIGN.md §4.

The master key sits in a 0600 file outside the archive folder. Each dossier gets a random
data key, stored only wrapped (AES-256-GCM under the master key, dossier number as associated
data). Everything derived from a dossier's content is keyed from its DEK, so deleting the
wrapped DEK destroys the dossier for good (crypto-shredding).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from . import crypto
from .errors import NotReady

MASTER_KEY_BYTES = 32


class KeyProvider(Protocol):
    """Seam for a KMS later: wraps and unwraps data keys without exposing the master key.

    `wrap` wraps under the key with id `key_id` (the one the catalog is bound to; default: the
    configured key); `unwrap` tries the configured key, then a rotation's new key, if any."""

    def key_id(self) -> str: ...
    def derive(self, purpose: str) -> bytes: ...
    def wrap(self, data_key: bytes, associated: bytes, key_id: str | None = None) -> bytes: ...
    def unwrap(self, wrapped: bytes, associated: bytes) -> bytes: ...


def create_master_key(path: Path) -> bool:
    """Create the key file if absent (mode 0600). Returns True when a new key was made."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        return False
    write_key_file(path, os.urandom(MASTER_KEY_BYTES))
    return True


def write_key_file(path: Path, master: bytes) -> None:
    """A key file that did not exist (mode 0600, fsynced)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, base64.b64encode(master) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def pending_key_path(path: Path) -> Path:
    """Where a rotation puts the new master key until the catalog is bound to it (archive/rotation.py)."""
    return path.with_name(path.name + ".new")


def write_pending_key(path: Path) -> bytes:
    """A new master key in the pending file, durable before anything is wrapped under it: written
    to a temporary name, fsynced, renamed, the folder fsynced. Returns the key."""
    pending = pending_key_path(path)
    tmp = pending.with_name(pending.name + ".tmp")
    shred_key_file(tmp)
    master = os.urandom(MASTER_KEY_BYTES)
    write_key_file(tmp, master)
    os.replace(tmp, pending)
    _fsync_dir(path.parent)
    return master


def overwrite_key_file(path: Path) -> None:
    """Overwrite a key file in place with random bytes, fsynced, so the old key's bytes are not
    simply left in a free block once it is removed. (On SSDs and copy-on-write file systems the
    device may still keep an old copy: keep key files on storage you can destroy, see README.)"""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        size = os.fstat(fd).st_size
        os.write(fd, os.urandom(max(size, MASTER_KEY_BYTES * 2)))
        os.fsync(fd)
    finally:
        os.close(fd)


def shred_key_file(path: Path) -> None:
    """Overwrite a key file in place, then remove it."""
    if not path.exists():
        return
    overwrite_key_file(path)
    path.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_key_file(path: Path) -> bytes:
    """The master key in `path`; NotReady (missing, unreadable, exposed, damaged) otherwise."""
    return FileKeyProvider(path)._read()


class FileKeyProvider:
    """The master key in a file. It is re-read whenever the file changes (a rotation, a restore)."""

    def __init__(self, path: Path):
        self.path = path
        self._cached: tuple[tuple, bytes] | None = None

    def _master(self) -> bytes:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode) if st else None
        if stamp is not None and self._cached is not None and self._cached[0] == stamp:
            return self._cached[1]
        key = self._read()
        self._cached = (stamp, key)
        return key

    def _read(self) -> bytes:
        try:
            st = os.stat(self.path)
            raw = self.path.read_bytes().strip()
        except FileNotFoundError:
            raise NotReady(
                f"the master key file {self.path} is missing; restore it from your key backup "
                "(without it nothing in the archive can be read)",
                "key-missing",
            ) from None
        except OSError as e:
            raise NotReady(
                f"the master key file {self.path} cannot be read ({e.strerror}); check the path and its permissions",
                "key-unreadable",
            ) from None
        if st.st_mode & 0o077:
            raise NotReady(
                f"the master key file {self.path} can be read by other accounts (mode "
                f"{st.st_mode & 0o777:04o}); make it private with `chmod 600 {self.path}`",
                "key-exposed",
            )
        try:
            key = base64.b64decode(raw, validate=True)
        except ValueError:
            key = b""
        if len(key) != MASTER_KEY_BYTES:
            raise NotReady(
                f"the master key file {self.path} is damaged (not a key made by `dossier init`); "
                "restore it from your key backup",
                "key-damaged",
            )
        return key

    def key_id(self) -> str:
        return key_id_of(self._master())

    def derive(self, purpose: str) -> bytes:
        return crypto.derive(self._master(), purpose)

    def candidates(self) -> list[bytes]:
        """The configured key, then the pending key of a rotation under way (either may be
        unreadable for a moment while a rotation swaps them)."""
        keys = []
        try:
            keys.append(self._master())
        except NotReady:
            pass
        pending = pending_key_path(self.path)
        if pending.exists():
            try:
                keys.append(read_key_file(pending))
            except NotReady:
                pass
        return keys

    def wrap(self, data_key: bytes, associated: bytes, key_id: str | None = None) -> bytes:
        if key_id is None:
            return wrap_under(self._master(), data_key, associated)
        for master in self.candidates():
            if key_id_of(master) == key_id:
                return wrap_under(master, data_key, associated)
        raise NotReady(
            f"the catalog is bound to master key {key_id}, which is not in {self.path}; point DOSSIER_KEY_FILE "
            "at the right key file",
            "key-mismatch",
        )

    def unwrap(self, wrapped: bytes, associated: bytes) -> bytes:
        candidates = self.candidates() or [self._master()]  # none readable: say why
        for master in candidates:
            try:
                return unwrap_under(master, wrapped, associated)
            except crypto.DecryptionFailed:
                continue
        raise crypto.DecryptionFailed()


def wrap_under(master: bytes, data_key: bytes, associated: bytes) -> bytes:
    return crypto.seal(crypto.derive(master, "wrap-data-keys"), data_key, associated)


def unwrap_under(master: bytes, wrapped: bytes, associated: bytes) -> bytes:
    return crypto.open_sealed(crypto.derive(master, "wrap-data-keys"), wrapped, associated)


def archive_key_label(purpose: str) -> bytes:
    """The associated data an archive key is wrapped with: a key unwraps only as what it is for."""
    return f"archive-key:{purpose}".encode()


def key_id_of(master: bytes) -> str:
    """A short public name for a master key: says which key a catalog or backup needs, reveals nothing."""
    return crypto.derive(master, "key-id", 8).hex()


def new_data_key() -> bytes:
    return os.urandom(32)


@dataclass(frozen=True)
class DossierKeys:
    """The keys one dossier's data key gives, each for one purpose."""

    dossier: str
    data_key: bytes

    def field_key(self) -> bytes:
        return crypto.derive(self.data_key, "catalog-fields")

    def file_mac_key(self) -> bytes:
        return crypto.derive(self.data_key, "file-mac")

    def text_key(self) -> bytes:
        return crypto.derive(self.data_key, "page-text")

    def token_key(self) -> bytes:
        return crypto.derive(self.data_key, "search-tokens")

    def pdf_password(self, document_id: str) -> str:
        return crypto.derive(self.data_key, f"pdf-password:{document_id}").hex()

    def seal_field(self, value: str | None, field: str) -> bytes | None:
        if value is None:
            return None
        return crypto.seal(self.field_key(), value.encode(), f"{self.dossier}:{field}".encode())

    def open_field(self, sealed: bytes | None, field: str) -> str | None:
        if sealed is None:
            return None
        return crypto.open_sealed(self.field_key(), sealed, f"{self.dossier}:{field}".encode()).decode()
