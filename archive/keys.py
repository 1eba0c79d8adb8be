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

MASTER_KEY_BYTES = 32


class KeyError_(Exception):
    pass


class MasterKeyMissing(KeyError_):
    pass


class KeyProvider(Protocol):
    """Seam for a KMS later: wraps and unwraps data keys without exposing the master key."""

    def derive(self, purpose: str) -> bytes: ...
    def wrap(self, data_key: bytes, associated: bytes) -> bytes: ...
    def unwrap(self, wrapped: bytes, associated: bytes) -> bytes: ...


def create_master_key(path: Path) -> bool:
    """Create the key file if absent (mode 0600). Returns True when a new key was made."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        return False
    key = base64.b64encode(os.urandom(MASTER_KEY_BYTES))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


@dataclass(frozen=True)
class FileKeyProvider:
    path: Path

    def _master(self) -> bytes:
        try:
            raw = self.path.read_bytes().strip()
        except FileNotFoundError:
            raise MasterKeyMissing(f"master key file {self.path} is missing; run `dossier init` or restore it from backup") from None
        key = base64.b64decode(raw)
        if len(key) != MASTER_KEY_BYTES:
            raise MasterKeyMissing(f"master key file {self.path} is damaged; restore it from backup")
        return key

    def derive(self, purpose: str) -> bytes:
        return crypto.derive(self._master(), purpose)

    def wrap(self, data_key: bytes, associated: bytes) -> bytes:
        return crypto.seal(self.derive("wrap-data-keys"), data_key, associated)

    def unwrap(self, wrapped: bytes, associated: bytes) -> bytes:
        return crypto.open_sealed(self.derive("wrap-data-keys"), wrapped, associated)


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
