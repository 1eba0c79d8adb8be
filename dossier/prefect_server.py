"""Which Prefect server a command that runs flows talks to.

PREFECT_API_URL if set; else the server of a `dossier watch` running on this data home (no second
server, no start-up wait); else (for a command that runs flows itself, not for `dossier deploy`
or `dossier worker`: see running_server) a temporary server of our own, bound to 127.0.0.1 with its
database under the data home, that dies with the command — also when the command is killed
(PR_SET_PDEATHSIG), so no orphan keeps running under init.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

from archive.errors import Unavailable

_PR_SET_PDEATHSIG = 1


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


def watcher_server(run_dir: Path) -> str | None:
    """The API URL of the Prefect server a live watcher on this home uses, if it answers."""
    from services.status import watcher_status

    st = watcher_status(run_dir)
    url = st["server"]["url"] if st["watcher"]["running"] else None
    return url if url and st["server"]["healthy"] else None


def flush_prefect(timeout: float = 10.0) -> None:
    """Send what Prefect still holds (log lines, events) while its server is there to take it.
    Left to the end of the process, its workers retry against a stopped temporary server for more
    than a minute and then print an error. What cannot be sent within `timeout` (its server went
    away: a watcher stopped mid-scan) is given up: Prefect's own exit hook would otherwise wait,
    without a limit, for every retry against the dead server (~90 s seen)."""
    import sys

    if "prefect" not in sys.modules:
        return
    try:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        for service in (APILogWorker, EventsWorker):
            _drain_or_give_up(service, timeout)
    except Exception:  # noqa: BLE001 - only logs and events: the scan's outcome is in the catalog
        pass


def _drain_or_give_up(service, timeout: float) -> None:
    import concurrent.futures

    # Prefect drops an instance's task handle when it is stopped, so take the handles first.
    with service._instance_lock:
        running = [(s._loop, s._task) for s in service._instances.values() if s._task is not None]
    _, not_sent = service.drain_all(timeout=timeout)
    if not not_sent:
        return
    for loop, task in running:
        loop.call_soon_threadsafe(task.cancel)  # its service ends and marks itself done
    concurrent.futures.wait(not_sent, timeout=2.0)


class Servers:
    """The Prefect server a command runs its flows against, and the way out when that server stops
    answering mid-way (a watcher stopped): `fallback()` starts a temporary server once and gives
    its URL, so the flows that failed resume there (services.scanning.process)."""

    def __init__(self, app, url: str, stack: ExitStack, *, temporary: bool):
        self.app, self.url, self._stack, self._switched = app, url, stack, temporary
        self._lock = threading.Lock()
        self._keeper: _Keeper | None = None

    def fallback(self) -> str | None:
        with self._lock:
            if not healthy(self.url):
                if self._switched:
                    return None  # the temporary server itself is gone: nothing left to try
                # Started from a thread that lives as long as the command: a server dies with the
                # thread that started it (PR_SET_PDEATHSIG), and scan threads end before the command.
                self._keeper = self._keeper or _Keeper()
                self.url = self._keeper.call(
                    lambda: self._stack.enter_context(temporary_server(self.app.home / "prefect", self.app.run_dir))
                )
                self._switched = True
            return self.url if self._switched else None


class _Keeper:
    """A thread that outlives the calls made on it (see Servers.fallback)."""

    def __init__(self):
        import queue

        self._calls: queue.Queue = queue.Queue()
        threading.Thread(target=self._serve, name="prefect-keeper", daemon=True).start()

    def _serve(self) -> None:
        while True:
            fn, done = self._calls.get()
            try:
                done.set_result(fn())
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                done.set_exception(e)

    def call(self, fn):
        from concurrent.futures import Future

        done: Future = Future()
        self._calls.put((fn, done))
        return done.result()


@contextmanager
def prefect_for(app):
    """Run the block against a Prefect server (see the module's doc); yields Servers. What Prefect
    still holds is sent before a temporary server stops. A command gives up on a server that does
    not answer after two retries and ten seconds a request (Prefect's defaults wait minutes)."""
    os.environ.setdefault("PREFECT_CLIENT_MAX_RETRIES", "2")
    os.environ.setdefault("PREFECT_API_REQUEST_TIMEOUT", "10")  # Prefect waits 60 s for a server going down
    with ExitStack() as stack:
        given = os.environ.get("PREFECT_API_URL")
        url = given or watcher_server(app.run_dir)
        temporary = url is None
        if url is None:
            url = stack.enter_context(temporary_server(app.home / "prefect", app.run_dir))
        if not given:
            os.environ["PREFECT_API_URL"] = url
            stack.callback(os.environ.pop, "PREFECT_API_URL", None)
        stack.callback(flush_prefect)  # runs first, while every server is still there
        yield Servers(app, url, stack, temporary=temporary)


@contextmanager
def running_server(app):
    """PREFECT_API_URL, or the server of the watcher on this data home; never a temporary one:
    what is registered there, or served from there, must outlive the command."""
    url = os.environ.get("PREFECT_API_URL") or watcher_server(app.run_dir)
    if not url:
        raise Unavailable(
            "no Prefect server to work with: set PREFECT_API_URL to the server the workers share, or start "
            "`dossier watch` on this machine",
            "prefect-unavailable",
        )
    if not healthy(url):
        raise Unavailable(
            f"the Prefect server at {url} does not answer; start it, or fix PREFECT_API_URL", "prefect-unavailable"
        )
    before = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    try:
        yield url
    finally:
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the command (its parent) dies, however it dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def temporary_server(prefect_home: Path, run_dir: Path, timeout: float = 90.0):
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    }
    env.pop("PREFECT_API_URL", None)
    log_path = run_dir / "prefect-temporary.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-services",
                "--no-ui",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + timeout
        while not healthy(url, 1.0):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise Unavailable(
                    f"the temporary Prefect server did not start; see {log_path}, or run `dossier "
                    "watch` (its server is used) or set PREFECT_API_URL",
                    "prefect-unavailable",
                )
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
