"""`dossier watch`: the unattended system on one machine (DESIGN.md §6).

Starts (or joins, with PREFECT_API_URL) a Prefect server bound to 127.0.0.1 with its database
under DOSSIER_HOME, puts right what a previous run left behind, serves the deployments with a
concurrency limit, and watches the inbox. Stops cleanly on SIGTERM or Ctrl-C; what was in
flight is resumed at the next start.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from .settings import Settings
from .wiring import prepare_prefect_env


class WatchError(Exception):
    pass


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _our_server(pid_file: Path) -> int | None:
    """The pid of a server this data home started earlier, if it still runs."""
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


class _Started:
    def __init__(self, proc: subprocess.Popen, pid_file: Path):
        self.proc, self.pid_file = proc, pid_file

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.pid_file.unlink(missing_ok=True)


class _Adopted:
    def __init__(self, pid: int, pid_file: Path):
        self.pid, self.pid_file = pid, pid_file

    def stop(self) -> None:
        import signal

        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.pid_file.unlink(missing_ok=True)


def start_server(settings: Settings, log):
    """The server in PREFECT_API_URL, or our own on 127.0.0.1 with its database under the data home."""
    if os.environ.get("PREFECT_API_URL"):
        url = os.environ["PREFECT_API_URL"].rstrip("/")
        if not _healthy(url):
            raise WatchError(f"the Prefect server at {url} does not answer; start it or unset PREFECT_API_URL")
        return url, None
    url = f"http://127.0.0.1:{settings.prefect_port}/api"
    pid_file = settings.run_dir / "prefect-server.pid"
    if _healthy(url):
        left = _our_server(pid_file)
        if left is None:
            raise WatchError(f"something else already answers on port {settings.prefect_port}; stop it or set "
                             "DOSSIER_PREFECT_PORT to a free port")
        log(f"Re-using the Prefect server (pid {left}) a previous watcher left running.")
        return url, _Adopted(left, pid_file)
    settings.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    server_log = open(settings.run_dir / "prefect-server.log", "ab")
    env = {**os.environ, "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(settings.prefect_port)}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
                             "--port", str(settings.prefect_port)], env=env, stdout=server_log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise WatchError(f"the Prefect server did not start; see {settings.run_dir / 'prefect-server.log'}")
        if _healthy(url):
            pid_file.write_text(str(proc.pid))
            return url, _Started(proc, pid_file)
        time.sleep(0.5)
    proc.terminate()
    raise WatchError(f"the Prefect server did not answer within 90 s; see {settings.run_dir / 'prefect-server.log'}")


class Heartbeat:
    """A small status file `dossier status` reads: who is watching, since when, is it alive."""

    def __init__(self, path: Path, info: dict, watcher):
        self.path, self.info, self.watcher = path, info, watcher
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            data = {**self.info, "heartbeat": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "watcher_alive": self.watcher.alive, "mode": self.watcher.mode}
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self.path)
            self._stop.wait(5)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.path.unlink(missing_ok=True)


class _Periodic:
    """Runs a repair job now and then (a scan whose run died while the watcher kept going)."""

    def __init__(self, job, every: float):
        self.job, self.every = job, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reconcile", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.job()
            except Exception:  # noqa: BLE001 - retried at the next round
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def single_instance(settings: Settings):
    """Only one watcher per data home: a second would claim the same files."""
    import fcntl

    settings.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(settings.run_dir / "watch.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise WatchError(f"a watcher is already running for {settings.home}; see `dossier status`") from None
    return fd


def run_watch(settings: Settings, started_by: str, log) -> None:
    lock_fd = single_instance(settings)
    prepare_prefect_env(settings)
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "2")
    api_url, server = start_server(settings, log)
    os.environ["PREFECT_API_URL"] = api_url
    try:
        _serve(settings, api_url, started_by, log)
    finally:
        if server is not None:
            server.stop()
        os.close(lock_fd)


def _serve(settings: Settings, api_url: str, started_by: str, log) -> None:
    # Prefect reads its settings at import: import it only now that the environment is final.
    from prefect import serve
    from prefect.deployments.runner import EntrypointType

    from archive import audit
    from flows import intake
    from scanners.pages import opens
    from scanners.watch import InboxWatcher

    from . import deployments
    from .wiring import build_vault

    vault = build_vault(settings)
    audit.record_now(vault.sessions, actor=started_by, role=None, action="watch.start", detail=f"inbox watcher started")
    from prefect.schedules import Cron

    served = [
        deployments.process_scan.to_deployment(name=settings.deployment, entrypoint_type=EntrypointType.MODULE_PATH),
        # Destruction of what is due, every night (the same schedule as in prefect.yaml).
        deployments.retention_run.to_deployment(
            name=f"retention-nightly{settings.deployment.removeprefix('process-scan')}",
            schedules=[Cron("30 1 * * *", timezone=settings.local_timezone)], concurrency_limit=1,
            entrypoint_type=EntrypointType.MODULE_PATH),
    ]
    for d in served:
        d.apply()
    counts = intake.reconcile()
    log(f"Recovered after the last stop: {counts['resumed']} scans resumed, {counts['crashed_runs']} stale runs "
        f"closed, {counts['cleaned']} work folders cleaned.")

    def take_in(path: Path) -> None:
        claimed = intake.claim(path)
        if not claimed.duplicate:
            intake.dispatch(claimed.scan_id)

    watcher = InboxWatcher(settings.inbox_dir, take_in, opens, settle_seconds=settings.settle_seconds,
                           sweep_seconds=settings.sweep_seconds, polling=settings.watch_polling)
    watcher.start()
    mender = _Periodic(lambda: intake.reconcile(min_age_seconds=120), every=max(60.0, settings.sweep_seconds * 5))
    mender.start()
    ui = api_url[:-4] if api_url.endswith("/api") else api_url
    heartbeat = Heartbeat(settings.run_dir / "watch.json",
                          {"pid": os.getpid(), "api_url": api_url, "ui_url": ui, "inbox": str(settings.inbox_dir),
                           "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}, watcher)
    heartbeat.start()
    log(f"Watching {settings.inbox_dir} ({watcher.mode}). Prefect UI: {ui}  — stop with Ctrl-C.")
    try:
        serve(*served, limit=settings.watch_concurrency, pause_on_shutdown=False, print_starting_message=False,
              query_seconds=2)
    finally:
        mender.stop()
        watcher.stop()
        heartbeat.stop()
        audit.record_now(vault.sessions, actor=started_by, role=None, action="watch.stop")
        log("Stopped. Scans in progress are resumed at the next start.")
