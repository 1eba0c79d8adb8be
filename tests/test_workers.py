"""Scale-out (issue 13, DESIGN.md §6): a Prefect server on PostgreSQL, the catalog on PostgreSQL,
`dossier deploy`, two `dossier worker` processes and `dossier watch` dispatching to the work pool.
A burst of scans, one worker SIGKILLed mid-run: every document filed exactly once, nothing lost,
both workers did work, the killed worker's scan taken over once its lease ran out; no name or
BSN in Prefect's database. Each worker runs in a UTS namespace of its own where that is allowed
(root): it has a host name of its own, so its leases are another machine's to the watcher and
are taken over by expiry, as across machines.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

from . import scanmaker as sm
from .conftest import BIN, make_archive, running_prefect
from .test_watch import descendants, wait_for

ROOT = Path(__file__).resolve().parents[1]
CLIENT_NAME, BSN, MARKER = "Wilhelmina Zonneveld", "123456782", "Grutto7marker"
LEASE_SECONDS = 20


def test_prefect_yaml_describes_the_deployments_dossier_deploy_registers():
    from flows import pool

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    listed = {d["name"]: d for d in spec["deployments"]}
    registered = {d.name: d for d in pool.deployments(mail=True)}
    assert listed.keys() == registered.keys()
    exports = (ROOT / "dossier" / "deployments.py").read_text()
    for name, d in registered.items():
        y = listed[name]
        module, function = d.entrypoint.rsplit(".", 1)
        assert y["entrypoint"] == f"dossier/deployments.py:{function}"
        assert f"from {module} import {function}" in exports
        assert y["work_pool"]["name"] == "dossier"
        assert y.get("concurrency_limit") == d.concurrency_limit
        schedules = [(s.schedule.cron, s.schedule.timezone) for s in d.schedules]
        assert [(s["cron"], s["timezone"]) for s in y.get("schedules", [])] == schedules


@pytest.mark.prefect
def test_without_deployments_or_a_server_the_commands_say_what_to_do(tmp_path, prefect_server):
    a = make_archive(tmp_path / "home", prefect_server)
    env = {
        **a.env("olaf"),
        "DOSSIER_WORK_POOL": "nowhere",
        "DOSSIER_DEPLOYMENT": f"process-scan-{uuid.uuid4().hex[:8]}",
    }
    watch = subprocess.run([str(BIN / "dossier"), "watch"], env=env, capture_output=True, text=True, timeout=120)
    assert watch.returncode == 1 and "run `dossier deploy` first" in watch.stderr
    del env["PREFECT_API_URL"]  # and no watcher on this home whose server could be used
    for command in ("deploy", "worker"):
        r = subprocess.run([str(BIN / "dossier"), command], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and "set PREFECT_API_URL" in r.stderr, r.stderr


# ---- the real thing -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prefect_on_postgres(postgres_cluster, tmp_path_factory):
    """`prefect server start` with its database in the session's PostgreSQL cluster (it needs
    the pg_trgm extension, which Debian's postgresql package ships)."""
    database = f"prefect_{uuid.uuid4().hex[:8]}"
    url = postgres_cluster.create_database(database).replace("+psycopg", "+asyncpg")
    home = tmp_path_factory.mktemp("prefect-on-postgres")
    with running_prefect(home, PREFECT_SERVER_DATABASE_CONNECTION_URL=url) as server:
        server.database = database
        yield server


def _own_host_names() -> bool:
    return os.geteuid() == 0 and subprocess.run(["unshare", "--uts", "true"], capture_output=True).returncode == 0


class Process:
    def __init__(self, args: list[str], env: dict, log: Path, host: str | None = None):
        self.log = log
        if host:  # a machine of its own, as far as host names go
            args = ["unshare", "--uts", "sh", "-c", f'hostname {host} && exec "$@"', "sh", *args]
        self.proc = subprocess.Popen(
            args, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_for_line(self, text: str, timeout: float = 120) -> None:
        wait_for(lambda: text in self.log.read_text(), timeout, f"{text!r} in {self.log.name}", self)

    def kill_tree(self) -> list[int]:
        """SIGKILL the process and everything it started, as a machine dying would."""
        tree = descendants(self.proc.pid)
        for pid in [self.proc.pid, *tree]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)
        return tree

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def flow_runs(server, deployment_id=None) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: server.url}), get_client(sync_client=True) as client:
        f = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])) if deployment_id else None
        return client.read_flow_runs(deployment_filter=f)


def deployment_id(server, name: str):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: server.url}), get_client(sync_client=True) as client:
        return client.read_deployment_by_name(f"process-scan/{name}").id


def completed_by(runs) -> dict[str, set[str]]:
    """Scan ids whose run each worker completed (Prefect labels a run with the worker that ran it)."""
    done: dict[str, set[str]] = {}
    for r in runs:
        if r.state and r.state.type.value == "COMPLETED":
            done.setdefault(r.labels.get("prefect.worker.name"), set()).add(r.parameters["scan_id"])
    return done


@pytest.mark.postgres
@pytest.mark.prefect
def test_two_workers_file_a_burst_exactly_once_and_take_over_a_killed_workers_scan(
    tmp_path, postgres_cluster, postgres_url, prefect_on_postgres
):
    server = prefect_on_postgres
    a = make_archive(tmp_path / "home", server, postgres_url)
    name = f"process-scan-{uuid.uuid4().hex[:8]}"
    env = {
        **a.env("olaf"),
        "DOSSIER_WORK_POOL": f"pool-{uuid.uuid4().hex[:8]}",
        "DOSSIER_DEPLOYMENT": name,
        "DOSSIER_LEASE_SECONDS": str(LEASE_SECONDS),
        "DOSSIER_OCR_JOBS": "1",
        "DOSSIER_WATCH_CONCURRENCY": "1",
        "DOSSIER_SETTLE_SECONDS": "1",
        "DOSSIER_SWEEP_SECONDS": "2",
    }
    dossiers = [a.new_dossier("anna", client_name=CLIENT_NAME, bsn=BSN)] + [a.new_dossier("anna") for _ in range(5)]
    made = tmp_path / "made"
    made.mkdir()
    scans = []
    for i, d in enumerate(dossiers):
        cover = sm.pdf_page_image(a.cover(d, "aantekeningen", made / f"cover-{i}.pdf"))
        pages = [
            sm.text_page(sm.dutch_lines(40, seed=60 + 3 * i + k, marker=MARKER if i == k == 0 else None))
            for k in range(3)
        ]
        scans.append(sm.write_pdf(made / f"scan-{i}.pdf", [cover, *pages]))

    deployed = subprocess.run([str(BIN / "dossier"), "deploy", "--json"], env=env, capture_output=True, text=True)
    assert deployed.returncode == 0, deployed.stderr
    dep_id = deployment_id(server, name)
    own = _own_host_names()
    workers = {
        w: Process(
            [str(BIN / "dossier"), "worker", "--name", w],
            env,
            tmp_path / f"{w}.log",
            host=f"machine-{w}" if own else None,
        )
        for w in ("worker-a", "worker-b")
    }
    watch = Process([str(BIN / "dossier"), "watch"], env, tmp_path / "watch.log")
    try:
        for w in workers.values():
            w.wait_for_line("started")
        watch.wait_for_line("dispatching to work pool")
        shutil.copy(scans[0], a.home / "inbox" / f"{CLIENT_NAME}.pdf")  # scanners name files after the client
        for s in scans[1:]:
            shutil.copy(s, a.home / "inbox" / s.name)

        # Kill a worker that has filed a scan and is in the middle of its next one.
        victim = killed_scan = killed_at = None
        deadline = time.time() + 400
        while victim is None and time.time() < deadline:
            done = completed_by(flow_runs(server, dep_id))
            held = postgres_cluster.execute("SELECT scan_id, holder FROM scan_leases", postgres_url.rsplit("/", 1)[1])
            for w, proc in workers.items():
                tree = descendants(proc.proc.pid)
                mine = [scan for scan, holder in held if int(holder.split()[1].split(":")[1]) in tree]
                if done.get(w) and mine:
                    victim, killed_scan = w, mine[0]
                    workers[w].kill_tree()
                    killed_at = time.time()
                    break
            time.sleep(0.3)
        assert victim is not None, "no worker was caught in the middle of a scan"
        database = postgres_url.rsplit("/", 1)[1]
        [(holder,)] = postgres_cluster.execute(
            "SELECT holder FROM scan_leases WHERE scan_id = %s", database, (killed_scan,)
        )
        assert holder.split()[0] == (f"machine-{victim}" if own else os.uname().nodename)  # it died holding the scan
        wait_for(
            lambda: (
                postgres_cluster.execute("SELECT count(*) FROM scans WHERE status <> 'archived'", database)[0][0] == 0
                and len(postgres_cluster.execute("SELECT id FROM scans", database)) == len(scans)
            ),
            400,
            "the burst to be filed",
            watch,
        )
        survivor = next(w for w in workers if w != victim)
        runs = flow_runs(server, dep_id)
        done = completed_by(runs)
        # Both workers did work; the survivor finished the killed worker's scan, after its lease ran out.
        assert done.get(victim) and done.get(survivor), done
        assert killed_scan in done[survivor] and killed_scan not in done.get(victim, set())
        states = sorted(r.state.type.value for r in runs if r.parameters["scan_id"] == killed_scan)
        assert states == ["COMPLETED", "CRASHED"], states
        takeover = max(r.start_time for r in runs if r.parameters["scan_id"] == killed_scan)
        assert takeover.timestamp() - killed_at < 120  # DESIGN.md §6: within 2 minutes
        if own:
            # Not before the lease ran out: renewed every quarter of its length, it ran out 3/4 of
            # its length after the kill at the earliest.
            assert takeover.timestamp() - killed_at >= LEASE_SECONDS * 0.75 - 1

        # Every document filed exactly once; nothing lost, nothing left behind.
        per_dossier = dict(
            postgres_cluster.execute("SELECT dossier, count(*) FROM documents GROUP BY dossier", database)
        )
        assert per_dossier == {d: 1 for d in dossiers}
        assert [d["pages"] for d in a.ok("docs", dossiers[0], user="anna")["documents"]] == [3]
        assert postgres_cluster.execute("SELECT count(*) FROM quarantine_items", database)[0][0] == 0
        assert len(list((a.home / "archive").rglob("*.pdf"))) == len(scans)  # no orphan of the killed run
        assert [p for p in (a.home / "work").rglob("*") if p.is_file()] == []
        assert [p for p in (a.home / "inbox").rglob("*") if p.is_file()] == []
        assert postgres_cluster.execute("SELECT count(*) FROM scan_leases", database)[0][0] == 0
        assert MARKER in a.ok("search", MARKER, user="anna")["hits"][0]["snippet"]
        assert a.ok("audit", "verify")["ok"]

        status = subprocess.run([str(BIN / "dossier"), "status", "--json"], env=env, capture_output=True, text=True)
        pool = json.loads(status.stdout)["pool"]
        seen = {w["name"]: w["online"] for w in pool["workers"]}
        assert seen.keys() == {victim, survivor} and seen[survivor]  # the victim goes offline after missed heartbeats
        assert pool["queue"] == {"scheduled": 0, "pending": 0, "running": 0}
    finally:
        stopped = {"watch": watch.stop(), **{w: proc.stop() for w, proc in workers.items()}}
    assert stopped["watch"] == 0 and stopped[survivor] == 0  # SIGTERM stops both cleanly
    assert "Stopped worker" in workers[survivor].log.read_text()

    # No name, BSN or page text in Prefect's PostgreSQL database, nor in what the processes printed.
    needles = [CLIENT_NAME.encode(), b"Zonneveld", BSN.encode(), MARKER.encode(), MARKER.lower().encode()]
    dump = postgres_cluster.dump(server.database)
    assert b"process-scan" in dump and killed_scan.encode() in dump  # the dump holds the runs
    assert [n for n in needles if n in dump] == []
    for log in tmp_path.glob("*.log"):
        assert [n for n in needles if n in log.read_bytes()] == [], log.name
