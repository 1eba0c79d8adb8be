"""Scale-out (DESIGN.md §6), registered on the main app:

dossier deploy     register the deployments on the work pool DOSSIER_WORK_POOL (default `dossier`)
dossier worker     run a Prefect process worker for that pool on this machine until stopped

Both talk to the Prefect server in PREFECT_API_URL (or that of a watcher on this data home).
`dossier watch` with DOSSIER_WORK_POOL set dispatches scans to the pool; `dossier status` shows
the pool's workers and queue.
"""

from __future__ import annotations

import os

import typer

from .cli import JsonOpt, app, command, context, emit, log_line, when


@app.command()
def deploy(json_out: bool = JsonOpt):
    """Register process-scan, the nightly retention run and the mail sweep on the work pool (made if missing)."""
    from services import workers

    from .prefect_server import running_server

    with command(json_out):
        ctx = context()
        with running_server(ctx.app) as url:
            data = workers.deploy(ctx)
        made = " (made now, a process pool)" if data["pool_created"] else ""
        emit(
            json_out,
            {**data, "server": url},
            f"Work pool {data['pool']}{made} on {url}: " + ", ".join(data["deployments"]) + ".\n"
            "Start `dossier worker` on every machine that is to process scans.",
        )


@app.command()
def worker(
    name: str | None = typer.Option(None, "--name", help="the worker's name in Prefect (default: host-pid)"),
):
    """Run a worker for the work pool on this machine until stopped (Ctrl-C or SIGTERM): at most
    DOSSIER_WATCH_CONCURRENCY scans at once, each with DOSSIER_OCR_JOBS tesseract processes."""
    from services import workers

    from .prefect_server import running_server

    with command(False):
        for level in ("LEVEL", "FLOW_RUNS_LEVEL", "TASK_RUNS_LEVEL"):  # Prefect's warnings, as the watcher shows
            os.environ.setdefault(f"PREFECT_LOGGING_HANDLERS_CONSOLE_{level}", "WARNING")
        os.environ.setdefault("PREFECT_WORKER_QUERY_SECONDS", "5")  # a scan waits at most this long for a worker
        ctx = context()
        with running_server(ctx.app) as url:
            print(f"Worker for work pool {ctx.app.pool_name} on {url}; stop with Ctrl-C.", flush=True)
            done = workers.run_worker(ctx, log=log_line, name=name)
        print(f"Stopped worker {done['worker']}. Scans in progress are taken over by another worker.", flush=True)


def pool_lines(p: dict | None) -> list[str]:
    """`dossier status` lines for the work pool (none without one)."""
    if p is None:
        return []
    if p.get("problem"):
        return [f"Work pool:    {p['pool']}: {p['problem']}"]
    if not p["exists"]:
        return [f"Work pool:    {p['pool']} does not exist: run `dossier deploy`"]
    online = [w for w in p["workers"] if w["online"]]
    q = p["queue"]
    lines = [
        f"Work pool:    {p['pool']}{' (PAUSED)' if p['paused'] else ''}: {len(online)} worker(s) online; "
        f"queue {q['scheduled']} waiting, {q['pending']} starting, {q['running']} running"
    ]
    for w in p["workers"]:
        beat = when(w["last_heartbeat"]) if w["last_heartbeat"] else "never"
        lines.append(f"  {w['name']}: {'online' if w['online'] else 'offline'}, last heartbeat {beat}")
    if not online:
        lines.append("  no worker is online: start `dossier worker` on a machine that processes scans")
    return lines
