"""`dossier watch`: the unattended system on one machine (DESIGN.md §6).

Starts (or joins, with PREFECT_API_URL) a Prefect server bound to 127.0.0.1 with its database
under DOSSIER_HOME, puts right what a previous run left behind, serves the deployments with a
concurrency limit, and watches the inbox. Stops cleanly on SIGTERM or Ctrl-C; what was in
flight is resumed at the next start. With DOSSIER_WORK_POOL set it serves nothing: it watches,
claims and dispatches each scan to the work pool, whose workers (`dossier worker`, on any
machine) run it, and it takes over the scans of workers that died.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from archive.errors import DossierError

from .prefect_server import healthy
from .settings import Settings
from .wiring import prepare_prefect_env


class WatchError(DossierError):
    default_code = "watch"


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
        if not healthy(url):
            raise WatchError(f"the Prefect server at {url} does not answer; start it or unset PREFECT_API_URL")
        return url, None
    url = f"http://127.0.0.1:{settings.prefect_port}/api"
    pid_file = settings.run_dir / "prefect-server.pid"
    if healthy(url):
        left = _our_server(pid_file)
        if left is None:
            raise WatchError(
                f"something else already answers on port {settings.prefect_port}; stop it or set "
                "DOSSIER_PREFECT_PORT to a free port"
            )
        log(f"Re-using the Prefect server (pid {left}) a previous watcher left running.")
        return url, _Adopted(left, pid_file)
    settings.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    server_log = open(settings.run_dir / "prefect-server.log", "ab")
    env = {**os.environ, "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(settings.prefect_port)}
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(settings.prefect_port),
        ],
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise WatchError(f"the Prefect server did not start; see {settings.run_dir / 'prefect-server.log'}")
        if healthy(url):
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
            # loop_at comes from the loop that does the work: a watcher stuck in a pass shows as stuck.
            loop_at = dt.datetime.fromtimestamp(self.watcher.loop_at, dt.UTC)
            data = {
                **self.info,
                "heartbeat": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "loop_at": loop_at.isoformat(timespec="seconds"),
                "watcher_alive": self.watcher.alive,
                "mode": self.watcher.mode,
            }
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


def run_watch(settings: Settings, ctx, log) -> None:
    """Run until stopped; `ctx` is the context of the person who started the watcher."""
    from .web import serving

    serving.check_binding(
        settings.web_host, settings
    )  # plain HTTP on a network address: refused before anything starts
    lock_fd = single_instance(settings)
    for name in ("LEVEL", "FLOW_RUNS_LEVEL", "TASK_RUNS_LEVEL"):  # before Prefect reads its settings
        os.environ.setdefault(f"PREFECT_LOGGING_HANDLERS_CONSOLE_{name}", "WARNING")
    prepare_prefect_env(settings)
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "2")
    api_url, server = start_server(settings, log)
    os.environ["PREFECT_API_URL"] = api_url
    web = _start_web(settings, ctx.app, log)
    try:
        _serve(settings, api_url, ctx, log)
    finally:
        if web is not None:
            web.stop()
        if server is not None:
            server.stop()
        os.close(lock_fd)


def _start_web(settings: Settings, app, log):
    """The web app in a thread beside the watcher. If its port is taken the watcher still runs (the
    inbox must not wait for the web), and says so."""
    from .web import serving

    web = serving.InThread(serving.server(app, settings))
    try:
        web.start()
    except DossierError as e:
        log(f"Web app NOT started: {e}")
        return None
    log(f"Web app on {serving.url(settings)}")
    return web


def _serve(settings: Settings, api_url: str, started_by, log) -> None:
    # Prefect reads its settings at import: import it only now that the environment is final.
    from prefect import serve

    from flows import intake, pool
    from scanners.intake import NotAScan
    from scanners.pages import opens
    from scanners.watch import InboxWatcher
    from services import scanning
    from services.context import as_system

    app = started_by.app
    pooled = app.work_pool is not None  # dispatch to the work pool's workers instead of serving
    served = pool.deployments(settings.deployment, settings.local_timezone, mail=bool(settings.imap_url))
    if pooled:
        try:
            pool.check_registered(app.pool_name, settings.deployment)
        except pool.PoolProblem as e:
            raise WatchError(str(e)) from None
    system = as_system(app, "system:watch", channel="watch")
    scanning.watcher_started(started_by)
    if not pooled:
        for d in served:
            d.apply()
    # With a pool, runs of other machines may be starting just now: they get a moment to take their lease.
    counts = intake.reconcile(min_age_seconds=30) if pooled else intake.reconcile()
    log(
        f"Recovered after the last stop: {counts['resumed']} scans resumed, {counts['crashed_runs']} stale runs "
        f"closed, {counts['cleaned']} work folders cleaned."
    )

    def take_in(path: Path) -> None:
        try:
            claimed = scanning.claim(system, path, from_inbox=True)
        except NotAScan as problem:
            refused(path, problem.code, problem)
            return
        if isinstance(claimed, dict):
            log(f"duplicate   scan {claimed['scan'][:8]}: {claimed['reason']}")
            return
        intake.dispatch(claimed.scan_id)
        log(f"taken in    scan {claimed.scan_id[:8]}" + (" (resumed)" if claimed.resumed else ""))

    def refused(path: Path, code: str, problem=None) -> None:
        problem = problem or NotAScan(code, f"a {code}, not a scanned file: it is left where it is")
        scanning.refuse_entry(system, path, problem)
        log(f"refused     an inbox entry ({code}): it is not a regular file and is left where it is; remove it")

    watcher = InboxWatcher(
        settings.inbox_dir,
        take_in,
        opens,
        settle_seconds=settings.settle_seconds,
        sweep_seconds=settings.sweep_seconds,
        polling=settings.watch_polling,
        on_refused=lambda path, code: refused(path, code),
    )
    watcher.start()
    # A scan whose worker died is taken over once its lease has run out (DESIGN.md §6: within 2 minutes).
    every = settings.lease_seconds / 2 if pooled else max(60.0, settings.sweep_seconds * 5)
    mender = _Periodic(lambda: intake.reconcile(min_age_seconds=120), every=every)
    mender.start()
    reporter = _Periodic(_Outcomes(app, log), every=2.0)
    reporter.start()
    ui = api_url[:-4] if api_url.endswith("/api") else api_url
    heartbeat = Heartbeat(
        settings.run_dir / "watch.json",
        {
            "pid": os.getpid(),
            "api_url": api_url,
            "ui_url": ui,
            "inbox": str(settings.inbox_dir),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
        watcher,
    )
    heartbeat.start()
    to = f", dispatching to work pool {app.pool_name}" if pooled else ""
    log(f"Watching {settings.inbox_dir} ({watcher.mode}){to}. Prefect UI: {ui}  — stop with Ctrl-C.")
    try:
        if pooled:
            _until_stopped()
        else:
            serve(
                *served,
                limit=settings.watch_concurrency,
                pause_on_shutdown=False,
                print_starting_message=False,
                query_seconds=2,
            )
    finally:
        # Prefect's runner exits from its SIGTERM handler while its background tasks wind down;
        # asyncio then reports those tasks' SystemExit as an error: noise after a clean stop.
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        reporter.stop()
        mender.stop()
        watcher.stop()
        heartbeat.stop()
        scanning.watcher_started(started_by, stopped=True)
        if pooled:
            log("Stopped. Scans dispatched to the work pool go on; new files wait in the inbox for the next start.")
        else:
            log("Stopped. Scans in progress are resumed at the next start.")


def _until_stopped() -> None:
    """Wait for SIGTERM or Ctrl-C (the watcher's threads do the work)."""
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass


class _Outcomes:
    """One line per scan the watcher's runs finished: what was filed where, or why it waits in the
    quarantine. Ids, dossier numbers and counts only: the console may end up in a system log."""

    def __init__(self, app, log):
        import datetime as dt

        self.app, self.log, self.since = app, log, dt.datetime.now(dt.UTC)

    def __call__(self) -> None:
        from services.scanning import finished_since

        for scan in finished_since(self.app, self.since):
            filed = ", ".join(f"{d['dossier']} {d['type']} ({d['pages']} p.)" for d in scan["documents"])
            if scan["status"] == "archived":
                self.log(f"filed       scan {scan['scan'][:8]}: {filed}")
            else:
                self.log(
                    f"quarantined scan {scan['scan'][:8]}: {', '.join(scan['codes'])}"
                    + (f"; filed {filed}" if filed else "")
                    + " (see `dossier quarantine list`)"
                )
            self.since = max(self.since, scan["finished_at"])
