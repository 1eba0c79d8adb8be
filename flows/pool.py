"""Deployment wiring (DESIGN.md §6): the one list of deployments that `dossier watch` serves on one
machine and `dossier deploy` registers on a Prefect work pool (prefect.yaml describes the same),
the pool itself, a process worker for it, and what the pool looks like (workers, queue).

A deployment's entry point is a module path (flows.process_scan.process_scan): a worker imports it
from the installed package and finds the application's wiring through the `dossier.runtime`
entry point, with the settings of the machine it runs on (DOSSIER_OCR_JOBS, DOSSIER_HOME, …).
Parameters stay ids; nothing of a machine's environment is stored in a deployment.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable

POOL_TYPE = "process"
RETENTION_CRON = "30 1 * * *"  # 01:30 exists exactly once every night, daylight saving changes included
INTEGRITY_CRON = "0 3 * * *"
MAIL_CRON = "*/15 * * * *"


def deployments(deployment: str = "process-scan", timezone: str = "Europe/Amsterdam", mail: bool = False) -> list:
    """process-scan (named `deployment`), the nightly retention run and integrity check and, with
    an intake mailbox, the mail sweep. A deployment name other than process-scan (several archives on one server)
    gives the scheduled ones the same suffix."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from .integrity import integrity_check
    from .mail_sweep import mail_sweep
    from .process_scan import process_scan
    from .retention import retention_run

    suffix = deployment.removeprefix("process-scan")
    found = [
        process_scan.to_deployment(name=deployment, entrypoint_type=EntrypointType.MODULE_PATH),
        # Destruction of what is due, every night.
        retention_run.to_deployment(
            name=f"retention-nightly{suffix}",
            schedules=[Cron(RETENTION_CRON, timezone=timezone)],
            concurrency_limit=1,
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
        # Every stored file re-read and the audit chain witnessed, every night.
        integrity_check.to_deployment(
            name=f"integrity-nightly{suffix}",
            schedules=[Cron(INTEGRITY_CRON, timezone=timezone)],
            concurrency_limit=1,
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
    ]
    if mail:
        # The intake mailbox: new mail into the quarantine, due mail deleted (DESIGN.md §11).
        found.append(
            mail_sweep.to_deployment(
                name=f"mail-sweep{suffix}",
                schedules=[Cron(MAIL_CRON, timezone=timezone)],
                concurrency_limit=1,
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
    return found


def ensure_pool(pool: str) -> bool:
    """The work pool, a `process` pool made now if there is none; True when it was made."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            found = client.read_work_pool(pool)
        except ObjectNotFound:
            client.create_work_pool(
                WorkPoolCreate(
                    name=pool,
                    type=POOL_TYPE,
                    base_job_template=ProcessWorker.get_default_base_job_template(),
                    description="The dossier scan archive: scans, retention and the intake mailbox.",
                )
            )
            return True
    if found.type != POOL_TYPE:
        raise PoolProblem(f"the work pool {pool} is a {found.type} pool, not a process pool; choose another name")
    return False


class PoolProblem(Exception):
    """The pool or its deployments are not as this program needs them. The message is safe to show."""


def register(pool: str, found: list) -> list[str]:
    """Create or update the deployments on the pool (see ensure_pool); their names."""
    for d in found:
        d.apply(work_pool_name=pool)
    return [f"{d.flow_name}/{d.name}" for d in found]


def check_registered(pool: str, deployment: str) -> None:
    """Raise PoolProblem unless process-scan/`deployment` is registered on `pool`."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            d = client.read_deployment_by_name(f"process-scan/{deployment}")
        except ObjectNotFound:
            raise PoolProblem(
                f"the deployment process-scan/{deployment} is not registered; run `dossier deploy` first"
            ) from None
    if d.work_pool_name != pool:
        raise PoolProblem(
            f"the deployment process-scan/{deployment} is not on the work pool {pool}; run `dossier deploy`"
        )


def run_worker(pool: str, limit: int, name: str, printer: Callable[[str], None]) -> None:
    """A Prefect process worker for the pool in this process, until SIGTERM or Ctrl-C: at most
    `limit` flow runs at once, each in a process of its own with this process's environment."""
    import asyncio
    import signal

    from prefect.workers.process import ProcessWorker

    async def work() -> None:
        # SIGTERM or Ctrl-C cancels the worker (a second one kills). Prefect's own handlers (as in
        # `prefect worker start`) turn SIGTERM into a KeyboardInterrupt that its 3.9 worker can
        # swallow, and then it never stops. A scan it leaves unfinished is taken over once its
        # lease has run out (flows/intake.reconcile).
        main, loop, signals = asyncio.current_task(), asyncio.get_running_loop(), []

        def stop(signum: int) -> None:
            signals.append(signum)
            if len(signals) > 1:
                os.kill(os.getpid(), signal.SIGKILL)
            printer(f"Stopping the worker ({signal.Signals(signum).name}); again to kill it.")
            main.cancel()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop, signum)
        worker = ProcessWorker(work_pool_name=pool, name=name, limit=limit, create_pool_if_not_found=False)
        try:
            await worker.start(printer=printer)
        except asyncio.CancelledError:
            if not signals:
                raise

    ensure_pool(pool)
    asyncio.run(work())


def pool_status(pool: str, api_url: str) -> dict:
    """The pool's workers (online or not, last heartbeat) and its queue on the server at
    `api_url`: runs due but not started (scheduled, late included), starting (pending) and running."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}):
        return _pool_status(pool)


def _pool_status(pool: str) -> dict:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
        WorkPoolFilter,
        WorkPoolFilterName,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            found = client.read_work_pool(pool)
        except ObjectNotFound:
            return {"pool": pool, "exists": False, "paused": False, "workers": [], "queue": None}
        workers = client.read_workers_for_work_pool(pool)
        in_pool = WorkPoolFilter(name=WorkPoolFilterName(any_=[pool]))
        now = dt.datetime.now(dt.UTC)

        def count(state: StateType, due: bool = False) -> int:
            return client.count_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[state])),
                    expected_start_time=FlowRunFilterExpectedStartTime(before_=now) if due else None,
                ),
                work_pool_filter=in_pool,
            )

        queue = {
            "scheduled": count(StateType.SCHEDULED, due=True),
            "pending": count(StateType.PENDING),
            "running": count(StateType.RUNNING),
        }
    return {
        "pool": pool,
        "exists": True,
        "paused": found.is_paused,
        "workers": sorted(
            (
                {
                    "name": w.name,
                    "online": w.status.value == "ONLINE",
                    "last_heartbeat": w.last_heartbeat_time.isoformat(timespec="seconds")
                    if w.last_heartbeat_time
                    else None,
                }
                for w in workers
            ),
            key=lambda w: (not w["online"], w["name"]),
        ),
        "queue": queue,
    }
