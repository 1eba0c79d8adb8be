"""Files on disk under opaque names: encrypted archive PDFs and sealed quarantine blobs.

Names are random ids, spread over two-character folders; no name, BSN or dossier number in a path.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from . import crypto


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename in this folder durable (the directory entry itself is data)."""
    fsync_file(path)


def new_name() -> str:
    return secrets.token_hex(16)


class BlobStore:
    def __init__(self, root: Path, suffix: str):
        self.root = root
        self.suffix = suffix

    def path(self, name: str) -> Path:
        return self.root / name[:2] / f"{name}{self.suffix}"

    def prepare(self, name: str) -> Path:
        p = self.path(name)
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return p

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Temp name + fsync + rename, so a crash never leaves a half-written blob under the real name."""
        p = self.prepare(name)
        tmp = p.with_name("." + p.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
        fsync_dir(p.parent)
        return p

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def delete_temp(self, name: str) -> None:
        """A half-written file under its temporary name (a writer killed before the rename)."""
        p = self.path(name)
        p.with_name("." + p.name + ".tmp").unlink(missing_ok=True)

    def exists(self, name: str) -> bool:
        return self.path(name).exists()


class SealedStore(BlobStore):
    """Quarantine blobs: AES-256-GCM under the quarantine key, the blob name bound as associated data."""

    def __init__(self, root: Path, key: bytes):
        super().__init__(root, ".bin")
        self._key = key

    def put(self, data: bytes) -> str:
        name = new_name()
        self.write_bytes(name, crypto.seal(self._key, data, name.encode()))
        return name

    def get(self, name: str) -> bytes:
        return crypto.open_sealed(self._key, self.path(name).read_bytes(), name.encode())
