"""Scale-out (DESIGN.md §6): register the deployments on the work pool, run a worker for it on
this machine, and say how the pool is doing. The caller has pointed PREFECT_API_URL at the
Prefect server the workers share."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from archive.errors import Conflict

from .context import Context


def deploy(ctx: Context) -> dict:
    """process-scan, the nightly retention run and (with an intake mailbox) the mail sweep, on
    the work pool, which is made (a process pool) if there is none."""
    from flows import pool

    app = ctx.app
    with ctx.uow("scan") as uow:
        uow.allow()
    found = pool.deployments(app.deployment, app.policy.timezone, mail=bool(app.imap_url))
    try:
        created = pool.ensure_pool(app.pool_name)
        names = pool.register(app.pool_name, found)
    except pool.PoolProblem as e:
        raise Conflict(str(e), "work-pool") from None
    with ctx.uow("scan") as uow:
        uow.audit("workers.deploy", detail=f"{len(names)} deployments on work pool {app.pool_name}")
        uow.commit()
    return {"pool": app.pool_name, "pool_created": created, "deployments": names}


def run_worker(ctx: Context, log: Callable[[str], None], name: str | None = None) -> dict:
    """A Prefect process worker for the work pool on this machine until it is stopped: at most
    `concurrency` scans at once, each with this machine's OCR slots (DOSSIER_OCR_JOBS)."""
    from flows import pool

    app = ctx.app
    with ctx.uow("scan") as uow:
        uow.allow()
    name = name or f"{socket.gethostname()}-{os.getpid()}"
    with ctx.uow("scan") as uow:
        uow.audit("worker.start", detail=f"worker {name} on work pool {app.pool_name}, {app.concurrency} at once")
        uow.commit()
    try:
        pool.run_worker(app.pool_name, app.concurrency, name, log)
    except pool.PoolProblem as e:
        raise Conflict(str(e), "work-pool") from None
    finally:
        with ctx.uow("scan") as uow:
            uow.audit("worker.stop", detail=f"worker {name}")
            uow.commit()
    return {"worker": name, "pool": app.pool_name}


def pool_status(ctx: Context, server: dict) -> dict | None:
    """The work pool's workers and queue when scans go through one (None otherwise), from the
    Prefect server `server` ({"url", "healthy"}, as services.status finds it)."""
    from flows import pool

    app = ctx.app
    if not app.work_pool:
        return None
    if not server["url"]:
        return {"pool": app.pool_name, "problem": "no Prefect server is known: set PREFECT_API_URL"}
    if not server["healthy"]:
        return {"pool": app.pool_name, "problem": f"the Prefect server at {server['url']} does not answer"}
    try:
        return pool.pool_status(app.pool_name, server["url"])
    except Exception:  # noqa: BLE001 - status must answer even when the server does not
        return {"pool": app.pool_name, "problem": "the Prefect server does not answer"}
