"""Claiming a scan: copy or move it into a per-job work folder under an opaque name, hashed.

Scanner file names can hold client names, so nothing downstream sees the original name.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from archive.crypto import sha256_file


def job_dir(work_root: Path, scan_id: str) -> Path:
    return work_root / scan_id


def hash_file(path: Path) -> str:
    return sha256_file(path)


def place_copy(source: Path, work_root: Path, scan_id: str) -> Path:
    """Copy the scan into its job folder (fsynced); the original is left as it is."""
    d = job_dir(work_root, scan_id)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = d / "source"
    tmp = d / ".source.tmp"
    shutil.copyfile(source, tmp)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return target


def release(work_root: Path, scan_id: str) -> None:
    """Remove the job folder: its plaintext pages and copies must not outlive the job."""
    shutil.rmtree(job_dir(work_root, scan_id), ignore_errors=True)
    lock_path(work_root, scan_id).unlink(missing_ok=True)


def lock_path(work_root: Path, scan_id: str) -> Path:
    return work_root / f"{scan_id}.lock"


class ScanBusy(Exception):
    """Another run holds this scan."""


class ScanLock:
    """An exclusive lock on one scan for the length of a run. The kernel drops it when the process
    dies, even by SIGKILL, so a crashed run never blocks its own resumption."""

    def __init__(self, work_root: Path, scan_id: str):
        self.path = lock_path(work_root, scan_id)
        self._fd: int | None = None

    def __enter__(self) -> "ScanLock":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ScanBusy() from None
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        import fcntl

        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def scrub(work_root: Path, scan_id: str) -> None:
    """Remove everything from a job folder but the claimed source, so a failed run can be resumed."""
    d = job_dir(work_root, scan_id)
    if not d.is_dir():
        return
    for p in d.iterdir():
        if p.name != "source":
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def lock_held(work_root: Path, scan_id: str) -> bool:
    """True while some process (a run of this scan) holds the scan's lock."""
    try:
        with ScanLock(work_root, scan_id):
            return False
    except ScanBusy:
        return True
