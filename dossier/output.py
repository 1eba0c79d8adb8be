"""Writing what a command hands out (a decrypted PDF, a cover sheet, an export) to the operator's
file system: `-o FILE`, `-o FOLDER` (a sensible name inside it) or `-o -` (standard output).

Never over an existing file without --force, never into a device, FIFO or link, always mode 0600,
written under a temporary name and renamed, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from archive.errors import BadInput, Conflict
from services.validate import shown


@dataclass(frozen=True)
class Target:
    path: Path | None  # None: standard output

    def __str__(self) -> str:
        return "standard output" if self.path is None else str(self.path)


def choose(output: Path, default_name: str, *, force: bool, json_out: bool = False) -> Target:
    """Check where `-o` points before anything is decrypted or recorded."""
    if str(output) == "-":
        if json_out:
            raise BadInput(
                "-o - writes the PDF to standard output, which --json needs for its answer; give a file name instead",
                "stdout-taken",
            )
        if sys.stdout.isatty():
            raise BadInput(
                "-o - would print a PDF on the terminal; redirect it (> file.pdf) or give a file name",
                "stdout-terminal",
            )
        return Target(None)
    path = output.expanduser()
    if path.is_dir() and not path.is_symlink():
        path = path / default_name
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise BadInput(
            f"cannot use {shown(str(path), 200)} ({e.strerror}); choose another file for -o", "bad-output"
        ) from None
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise BadInput(
                f"{shown(str(path), 200)} is not a regular file (a device, FIFO, folder or link); choose "
                "another file for -o",
                "bad-output",
            )
        if not force:
            raise Conflict(
                f"{shown(str(path), 200)} already exists; use --force to replace it or choose another name",
                "output-exists",
            )
    if not path.parent.is_dir():
        raise BadInput(
            f"folder {shown(str(path.parent), 200)} does not exist; choose an existing folder for -o", "bad-output"
        )
    return Target(path)


def write(target: Target, data: bytes) -> None:
    if target.path is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    tmp = target.path.with_name(f".{target.path.name}.part")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target.path)
    finally:
        tmp.unlink(missing_ok=True)
