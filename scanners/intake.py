"""Taking a scan in: open it safely, hash it, copy it into a per-job work folder under an opaque
name; scrubbing what a job leaves behind. (Which run works on a job is the catalog's lease:
archive/leases.py.)

Scanner file names can hold client names, so nothing downstream sees the original name. Anyone
who can write to the scan share can put a symbolic link, a FIFO or a device node there: an inbox
entry is opened component by component without following links (O_NOFOLLOW on every folder and
the file, relative to the inbox's own descriptor), without blocking (O_NONBLOCK), and taken in only
when the opened descriptor is a regular file. The bytes hashed and copied are read from that one
descriptor, so what was checked is what is archived.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from pathlib import Path

_READ = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class NotAScan(Exception):
    """An entry that is not a regular file inside the inbox. `code` is stable; the message is safe."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


_KINDS = {
    stat.S_IFLNK: ("symlink", "a symbolic link"),
    stat.S_IFIFO: ("fifo", "a named pipe (FIFO)"),
    stat.S_IFCHR: ("device", "a device"),
    stat.S_IFBLK: ("device", "a device"),
    stat.S_IFSOCK: ("socket", "a socket"),
    stat.S_IFDIR: ("folder", "a folder"),
}


def refusal(mode: int) -> NotAScan | None:
    """Why an entry of this st_mode is not taken in, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    code, what = _KINDS.get(stat.S_IFMT(mode), ("special", "not a regular file"))
    return NotAScan(
        code, f"{what}, not a scanned file: it is not taken in and is left where it is; remove it from the scan folder"
    )


def open_scan(path: Path, inbox: Path | None = None) -> tuple[int, os.stat_result]:
    """A read-only descriptor of a regular file and its stat. With `inbox`, `path` must lie inside it
    and no link is followed on the way; without, the operator named the file (links are followed),
    but it must still be a regular file. Never blocks."""
    if inbox is None:
        try:
            fd = os.open(path, _READ)
        except FileNotFoundError:
            raise NotAScan("missing", "the file does not exist (any more)") from None
    else:
        fd = _open_beneath(inbox, path)
    st = os.fstat(fd)
    problem = refusal(st.st_mode)
    if problem is not None:
        os.close(fd)
        raise problem
    return fd, st


def _open_beneath(root: Path, path: Path) -> int:
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise NotAScan("outside-inbox", "the file is not inside the scan folder") from None
    if not parts or ".." in parts:
        raise NotAScan("outside-inbox", "the file is not inside the scan folder")
    dir_fd = os.open(root, os.O_RDONLY | _DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        for part in parts[:-1]:
            try:
                next_fd = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=dir_fd)
            except OSError as e:
                raise _as_refusal(e, "a folder on the way is a symbolic link or gone") from None
            os.close(dir_fd)
            dir_fd = next_fd
        try:
            return os.open(parts[-1], _READ | _NOFOLLOW, dir_fd=dir_fd)
        except OSError as e:
            raise _as_refusal(e, "it is a symbolic link") from None
    finally:
        os.close(dir_fd)


def _as_refusal(e: OSError, link_text: str) -> NotAScan:
    if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return NotAScan(
            "symlink", f"{link_text}: links are never followed out of the scan folder; it is left where it is"
        )
    if e.errno == errno.ENOENT:
        return NotAScan("missing", "the file does not exist (any more)")
    return NotAScan("unreadable", f"the file cannot be opened ({e.strerror})")


def sha256_fd(fd: int, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    offset = 0
    while block := os.pread(fd, chunk, offset):
        h.update(block)
        offset += len(block)
    return h.hexdigest()


def job_dir(work_root: Path, scan_id: str) -> Path:
    return work_root / scan_id


def place_from(fd: int, work_root: Path, scan_id: str) -> Path:
    """Copy the opened scan into its job folder as `source` (temp name, fsync, rename, fsync of the
    folder). A failure (a full disk) leaves no partial copy behind."""
    d = job_dir(work_root, scan_id)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    target, tmp = d / "source", d / ".source.tmp"
    try:
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o600)
        try:
            offset = 0
            while block := os.pread(fd, 1 << 20, offset):
                view = memoryview(block)
                while view:
                    written = os.write(out, view)
                    view = view[written:]
                offset += len(block)
            os.fsync(out)
        finally:
            os.close(out)
        os.replace(tmp, target)
        fsync_dir(d)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def remove_if_unchanged(path: Path, st: os.stat_result) -> bool:
    """Remove an inbox entry after its bytes are safely in the work area, unless it was replaced
    meanwhile. The entry is first renamed to a hidden name (which the watcher ignores) and that very
    entry compared, so a scanner writing a new file under the same name at that moment loses nothing:
    a different file is renamed back."""
    aside = path.with_name(f".{path.name}.{os.getpid()}.taken")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    now = os.lstat(aside)
    if (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns) != (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns):
        os.rename(aside, path)  # a new file under the same name: the next sweep takes it in
        return False
    aside.unlink()
    fsync_dir(path.parent)
    return True


def fsync_dir(path: Path) -> None:
    """Make a rename or removal in this folder durable (the directory entry itself is data)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def release(work_root: Path, scan_id: str) -> None:
    """Remove the job folder: its plaintext pages and copies must not outlive the job."""
    shutil.rmtree(job_dir(work_root, scan_id), ignore_errors=True)
    (work_root / f"{scan_id}.lock").unlink(missing_ok=True)  # left by versions that locked scans with flock


def scrub(work_root: Path, scan_id: str, keep: tuple[str, ...] = ("source",)) -> None:
    """Remove everything from a job folder but the claimed source (and what else `keep` names), so
    a failed run can be resumed and no page image or OCR text outlives it."""
    d = job_dir(work_root, scan_id)
    if not d.is_dir():
        return
    for p in d.iterdir():
        if p.name not in keep:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def job_ids(work_root: Path) -> list[str]:
    """Scan ids of the job folders in the work area (who works on them is the catalog's to say)."""
    if not work_root.is_dir():
        return []
    return [d.name for d in work_root.iterdir() if d.is_dir()]
