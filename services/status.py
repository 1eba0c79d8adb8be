"""What the office needs to know at a glance: inbox, work in progress, quarantine, last filed,
and whether the watcher and its Prefect server are alive (and actually working)."""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.request

from sqlalchemy import func, select

from archive import access
from archive.catalog import QuarantineItem, Scan
from scanners import intake

from .breach import open_count
from .context import Context
from .rights import due_soon
from .scanning import inbox_entries

# The watcher's loop notes the time after every pass; a loop that has not come round for this long
# is stuck (a file that blocks, a hung claim), even though the process is alive.
STUCK_AFTER_SECONDS = 60


def system_status(ctx: Context) -> dict:
    app = ctx.app
    with ctx.reading("status.view") as uow:
        uow.allow()
        s = uow.session
        in_progress = s.scalar(select(func.count()).select_from(Scan).where(Scan.status == "received"))
        quarantined = s.scalar(select(func.count()).select_from(QuarantineItem).where(QuarantineItem.status == "open"))
        last = s.scalar(select(func.max(Scan.finished_at)).where(Scan.status == "archived"))
        # Clients' requests due within a week and breaches not yet reported: the privacy officer's to see.
        privacy = access.role_may(ctx.actor.role, "requests.manage")
        requests_due = due_soon(s, ctx.today) if privacy else None
        breaches_unreported = open_count(s) if privacy else None
    waiting, refused = 0, 0
    for p in inbox_entries(app.inbox_dir):
        try:
            problem = intake.refusal(os.lstat(p).st_mode)
        except FileNotFoundError:
            continue
        if problem is None:
            waiting += 1
        else:
            refused += 1
    from .integrity import last_check
    from .mail import mailbox_status
    from .workers import pool_status

    health = watcher_status(app.run_dir)
    return {
        "inbox": waiting,
        "inbox_refused": refused,
        "in_progress": in_progress,
        "quarantined": quarantined,
        "last_archived": last.isoformat() if last else None,
        "mailbox": mailbox_status(ctx),
        "requests_due": requests_due,
        "breaches_unreported": breaches_unreported,
        "integrity": last_check(ctx),
        **health,
        "pool": pool_status(ctx, health["server"]),
    }


def watcher_status(run_dir) -> dict:
    watcher = {"running": False, "stuck": False, "pid": None, "heartbeat": None, "loop_at": None, "mode": None}
    server = {"url": os.environ.get("PREFECT_API_URL"), "healthy": False}
    beat_file = run_dir / "watch.json"
    try:
        beat = json.loads(beat_file.read_text())
    except (OSError, ValueError):
        beat = None
    if beat:
        now = dt.datetime.now(dt.UTC)
        age = (now - dt.datetime.fromisoformat(beat["heartbeat"])).total_seconds()
        loop_at = beat.get("loop_at")
        loop_age = (now - dt.datetime.fromisoformat(loop_at)).total_seconds() if loop_at else None
        try:
            os.kill(beat["pid"], 0)
            alive = True
        except (ProcessLookupError, PermissionError):
            alive = False
        running = alive and age < 30 and beat.get("watcher_alive", False)
        stuck = running and (loop_age is None or loop_age > STUCK_AFTER_SECONDS)
        watcher = {
            "running": running and not stuck,
            "stuck": stuck,
            "pid": beat["pid"],
            "heartbeat": beat["heartbeat"],
            "loop_at": loop_at,
            "mode": beat.get("mode"),
        }
        server["url"] = server["url"] or beat.get("api_url")
    if server["url"]:
        try:
            with urllib.request.urlopen(f"{server['url'].rstrip('/')}/health", timeout=2) as r:
                server["healthy"] = r.status == 200
        except OSError:
            pass
    return {"watcher": watcher, "server": server}
