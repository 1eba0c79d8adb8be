"""`dossier watch` for the throughput bench (issue 15): a watcher on an archive's home, and the
latency of one-page notes dropped into its inbox until they are filed."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import time
import urllib.request
from pathlib import Path

from bench import corpus
from bench.common import BIN
from bench.server import _free_port
from bench.workers import Proc, tiny_scans, tree_cpu, wait_until


def no_api_url(env: dict) -> dict:
    """The environment without PREFECT_API_URL: the command finds or starts its server itself."""
    return {k: v for k, v in env.items() if k != "PREFECT_API_URL"}


class Watcher(Proc):
    """`dossier watch` on the archive's home with no PREFECT_API_URL: it starts its own Prefect
    server and records its URL under the home's run dir, where `dossier scan` finds it."""

    def __init__(self, archive: corpus.Archive, log: Path):
        self.home = archive.home
        env = no_api_url(archive.env("olaf"))
        # Ports of its own for its Prefect server and web app (4200 and 8080 by default may be taken).
        env.update(DOSSIER_PREFECT_PORT=str(_free_port()), DOSSIER_WEB_PORT=str(_free_port()))
        super().__init__(BIN, ["watch"], env, log)
        try:
            self.wait_for_line("Watching", timeout=180)
            self.api_url = json.loads((self.home / "run" / "watch.json").read_text()).get("api_url")
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=5) as r:
                if r.status != 200:
                    raise RuntimeError(f"the watcher's Prefect server at {self.api_url} answers {r.status}")
        except Exception:
            self.stop()
            raise

    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    def cpu_seconds(self) -> float:
        """The watcher and its Prefect server (counted apart from the contender, as PrefectServer is)."""
        return tree_cpu([self.proc.pid])

    def stop(self) -> None:
        super().stop()  # SIGTERM, then wait for it


def settle_seconds() -> float:
    """The watcher's settle period: corpus.Archive drops DOSSIER_* from the environment, so the default."""
    from dossier.settings import Settings

    return float(Settings.model_fields["settle_seconds"].default)


def _scan_statuses(home: Path) -> dict[str, int]:
    con = sqlite3.connect(home / "catalog.db", timeout=30)
    try:
        return dict(con.execute("SELECT status, count(*) FROM scans GROUP BY status").fetchall())
    finally:
        con.close()


def _filed(home: Path) -> int:
    st = _scan_statuses(home)
    return st.get("archived", 0) + st.get("quarantined", 0)


def inbox_latency(server_url: str, work: Path, jobs: int, n: int) -> dict:
    """n one-page notes (a cover sheet and a note page), each dropped into the inbox of a running
    watcher only after the one before was filed; per file, the time from its rename into the inbox
    (complete from that moment) until the catalog has its scan archived or quarantined."""
    archive = corpus.Archive(work / "home-latency", BIN, server_url, jobs)
    archive.setup()
    dossier = archive.ok("new", "--coach", "anna", user="olaf")["dossier"]
    notes = tiny_scans(archive, {"dossiers": [dossier]}, work / "latency-notes", n)
    staging = work / "latency-staging"  # same file system as the inbox: the rename is atomic
    staging.mkdir(exist_ok=True)
    watcher = Watcher(archive, work / "latency-watch.log")
    latencies = []
    try:
        for i, note in enumerate(notes):
            tmp = staging / note.name
            shutil.copy(note, tmp)
            t0 = time.monotonic()
            os.rename(tmp, watcher.inbox / note.name)
            wait_until(lambda i=i: _filed(archive.home) >= i + 1, 300, f"note {i + 1} to be filed", every=0.05)
            latencies.append(time.monotonic() - t0)
    finally:
        watcher.stop()
    statuses = _scan_statuses(archive.home)
    docs = archive.ok("docs", dossier)["documents"]
    settle = settle_seconds()
    return {
        "files": n,
        "settle_s": settle,
        "latency_s": [round(x, 2) for x in latencies],
        "median_s": round(statistics.median(latencies), 2),
        "worst_s": round(max(latencies), 2),
        "median_beyond_settle_s": round(statistics.median(latencies) - settle, 2),
        "statuses": statuses,
        "filed_as_planned": statuses == {"archived": n}
        and len(docs) == n
        and all(d["type"] == "aantekeningen" and d["pages"] == 1 for d in docs),
        "watcher_api_url": watcher.api_url,
    }
