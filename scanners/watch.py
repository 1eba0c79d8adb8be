"""Watching the scan folder (DESIGN.md §3.1): which files are ready to be claimed.

Watchdog events only say "look at this path again"; readiness is decided by the settle rule
(size and mtime unchanged for a settle period and the file opens). Events get lost on network
shares, so a periodic full sweep looks at every file anyway, and files already there at start
are found by the first sweep. Polling can be forced, and is used automatically on network
file systems or when inotify cannot be set up.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

log = logging.getLogger(__name__)

IGNORED = ("*.tmp", "*.part", "~*", ".*", "*.crdownload", "*.partial")
NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "9p", "afs", "davfs", "fuse.rclone"}


def is_ignored(path: Path, root: Path) -> bool:
    """Temp names and hidden files (at any depth below the inbox) are not scans yet."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return True
    return any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in IGNORED)


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    stable_since: float


class SettleTracker:
    """Pure bookkeeping of the settle rule; `now` is passed in so it is testable without sleeping."""

    def __init__(self, settle_seconds: float):
        self.settle_seconds = settle_seconds
        self._seen: dict[Path, _Seen] = {}

    def observe(self, path: Path, size: int, mtime_ns: int, now: float) -> bool:
        """Record the file's state; True once it has not changed for the settle period."""
        seen = self._seen.get(path)
        if seen is None or (seen.size, seen.mtime_ns) != (size, mtime_ns):
            self._seen[path] = _Seen(size, mtime_ns, now)
            return False
        return now - seen.stable_since >= self.settle_seconds

    def stable_for(self, path: Path, now: float) -> float:
        seen = self._seen.get(path)
        return now - seen.stable_since if seen else 0.0

    def forget(self, path: Path) -> None:
        self._seen.pop(path, None)

    def pending(self) -> list[Path]:
        return list(self._seen)


def uses_network_filesystem(path: Path) -> bool:
    """True when the folder is on a mount type where inotify misses changes made by other machines."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    best, best_type = "", ""
    target = str(path.resolve())
    for line in mounts:
        fields = line.split()
        if len(fields) >= 3 and (target == fields[1] or target.startswith(fields[1].rstrip("/") + "/")):
            if len(fields[1]) > len(best):
                best, best_type = fields[1], fields[2]
    return best_type in NETWORK_FILESYSTEMS


class _Nudge(FileSystemEventHandler):
    def __init__(self, wake: Callable[[Path], None]):
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        for p in (getattr(event, "dest_path", None), event.src_path):
            if p:
                self.wake(Path(os.fsdecode(p)))


class InboxWatcher:
    """Calls `on_ready(path)` once per settled file; `opens(path)` says whether it can be read yet.

    A file that stays unreadable after `give_up_factor` settle periods is handed over anyway, so a
    broken scan reaches the quarantine instead of waiting in the inbox forever. An entry that is not
    a regular file (a symbolic link, a FIFO, a device) is never opened: `on_refused(path, code)` is
    told once and the entry is left where it is. `loop_at` is the wall time of the last pass of the
    loop that does the work, so a watcher stuck in a pass shows as stuck, not as alive.
    """

    def __init__(
        self,
        inbox: Path,
        on_ready: Callable[[Path], None],
        opens: Callable[[Path], bool],
        *,
        settle_seconds: float = 5.0,
        sweep_seconds: float = 60.0,
        polling: bool | None = None,
        poll_seconds: float = 2.0,
        give_up_factor: float = 6.0,
        on_refused: Callable[[Path, str], None] | None = None,
    ):
        self.inbox = inbox
        self.on_ready = on_ready
        self.opens = opens
        self.on_refused = on_refused
        self._refused: dict[Path, tuple[int, int]] = {}
        self.loop_at = time.time()
        self.tracker = SettleTracker(settle_seconds)
        self.sweep_seconds = sweep_seconds
        self.poll_seconds = poll_seconds
        self.give_up_after = settle_seconds * give_up_factor
        self.polling = uses_network_filesystem(inbox) if polling is None else polling
        self._candidates: set[Path] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._observer = None
        self._thread: threading.Thread | None = None
        self.mode = "polling" if self.polling else "events"

    # ---- lifecycle ----
    def start(self) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)
        self._observer = self._start_observer()
        self._thread = threading.Thread(target=self._loop, name="inbox-watcher", daemon=True)
        self._thread.start()

    def _start_observer(self):
        handler = _Nudge(self._wake)
        if not self.polling:
            try:
                obs = Observer()
                obs.schedule(handler, str(self.inbox), recursive=True)
                obs.start()
                return obs
            except OSError as e:  # inotify limits, unsupported file system
                log.warning("file events unavailable (%s); falling back to polling", type(e).__name__)
                self.polling, self.mode = True, "polling (fallback)"
        obs = PollingObserver(timeout=self.poll_seconds)
        obs.schedule(handler, str(self.inbox), recursive=True)
        obs.start()
        return obs

    def stop(self) -> None:
        self._stop.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
        if self._thread is not None:
            self._thread.join(timeout=30)

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    # ---- work ----
    def _wake(self, path: Path) -> None:
        if not is_ignored(path, self.inbox):
            with self._lock:
                self._candidates.add(path)

    def sweep(self) -> None:
        """Look at every entry in the inbox: the safety net for lost events, and the start-up scan.
        Symbolic links to folders are not entered (they are reported like any other link)."""
        for root, dirs, names in os.walk(self.inbox, followlinks=False):
            base = Path(root)
            for name in names + [d for d in dirs if (base / d).is_symlink()]:
                self._wake(base / name)

    def _loop(self) -> None:
        next_sweep = 0.0
        while not self._stop.is_set():
            self.loop_at = time.time()
            now = time.monotonic()
            if now >= next_sweep:
                try:
                    self.sweep()
                except OSError as e:
                    log.warning("inbox sweep failed: %s", type(e).__name__)
                next_sweep = now + self.sweep_seconds
            self.check_candidates(now)
            self._stop.wait(min(1.0, self.tracker.settle_seconds / 2 or 0.2))

    def check_candidates(self, now: float) -> None:
        with self._lock:
            candidates = list(self._candidates | set(self.tracker.pending()))
        for path in candidates:
            if self._stop.is_set():
                return
            self.loop_at = time.time()
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                self._drop(path)
                self._refused.pop(path, None)
                continue
            if not stat.S_ISREG(st.st_mode):
                self._drop(path)
                self._refuse(path, st)
                continue
            if not self.tracker.observe(path, st.st_size, st.st_mtime_ns, now):
                continue
            if not self.opens(path) and self.tracker.stable_for(path, now) < self.give_up_after:
                continue  # still being written by a slow scanner, or broken: give it more time
            self._drop(path)
            try:
                self.on_ready(path)
            except Exception as e:  # noqa: BLE001 - one bad file must not stop the watcher
                log.error("could not take in a scan: %s", type(e).__name__)

    def _refuse(self, path: Path, st: os.stat_result) -> None:
        """Report a link, FIFO or device once (until it changes); the sweep keeps finding it."""
        seen = (st.st_ino, st.st_mode)
        if self._refused.get(path) == seen:
            return
        self._refused[path] = seen
        if self.on_refused is not None:
            kind = {
                stat.S_IFLNK: "symlink",
                stat.S_IFIFO: "fifo",
                stat.S_IFCHR: "device",
                stat.S_IFBLK: "device",
                stat.S_IFSOCK: "socket",
            }.get(stat.S_IFMT(st.st_mode), "special")
            try:
                self.on_refused(path, kind)
            except Exception as e:  # noqa: BLE001 - reporting must not stop the watcher
                log.error("could not report a refused inbox entry: %s", type(e).__name__)

    def _drop(self, path: Path) -> None:
        with self._lock:
            self._candidates.discard(path)
        self.tracker.forget(path)
