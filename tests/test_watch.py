"""Unattended intake through `dossier watch`: the settle rule, sub-folders, temp names, files
present at start, bursts, duplicates, broken files, a SIGKILL in the middle of a burst, and no
content in Prefect."""

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

from scanners.watch import SettleTracker, is_ignored

from . import scanmaker as sm
from .conftest import BIN, files_containing, make_archive

WATCH_ENV = {"DOSSIER_SETTLE_SECONDS": "1", "DOSSIER_SWEEP_SECONDS": "2", "DOSSIER_OCR_JOBS": "1"}


# ---- pure rules ----------------------------------------------------------------------------------


def test_settle_rule():
    t = SettleTracker(settle_seconds=2)
    p = Path("/inbox/a.pdf")
    assert not t.observe(p, 100, 1, now=0)
    assert not t.observe(p, 100, 1, now=1.5)
    assert not t.observe(p, 200, 2, now=1.9)  # grew: the clock starts again
    assert not t.observe(p, 200, 2, now=3.0)
    assert t.observe(p, 200, 2, now=4.0)


@pytest.mark.parametrize(
    "name,ignored",
    [
        ("scan.pdf", False),
        ("sub/scan.pdf", False),
        ("scan.pdf.tmp", True),
        ("scan.part", True),
        ("~scan.pdf", True),
        (".scan.pdf", True),
        (".hidden/scan.pdf", True),
    ],
)
def test_temp_names_are_ignored(name, ignored):
    assert is_ignored(Path("/inbox") / name, Path("/inbox")) is ignored


# ---- the real watcher ----------------------------------------------------------------------------


class Watch:
    def __init__(self, archive, log: Path):
        self.archive, self.log = archive, log
        self.proc: subprocess.Popen | None = None

    def start(self):
        env = {**self.archive.env("olaf"), **WATCH_ENV, "DOSSIER_DEPLOYMENT": self.archive.deployment}
        # Its own session, so the test can kill it with every process it started, as a power cut would.
        self.proc = subprocess.Popen(
            [str(BIN / "dossier"), "watch"],
            env=env,
            stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: "Watching" in self.log.read_text(), 90, "watcher start", self)
        return self

    def kill(self):
        """SIGKILL the watcher and every process below it (flow runs included), as a power cut would."""
        tree = descendants(self.proc.pid)
        for pid in [self.proc.pid, *tree]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)
        return tree

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


def wait_for(predicate, timeout, what, watch=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    tail = watch.log.read_text()[-3000:] if watch else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def catalog(archive, sql, *args):
    return archive.sql(sql, *args)


def idle(archive) -> bool:
    """Nothing waiting in the inbox and no scan in progress."""
    waiting = [p for p in (archive.home / "inbox").rglob("*") if p.is_file()]
    busy = catalog(archive, "SELECT count(*) FROM scans WHERE status='received'")[0][0]
    return not waiting and busy == 0


def one_doc_scan(archive, tmp: Path, dossier: str, name: str, seed: int, marker: str | None = None) -> Path:
    cover = archive.cover(dossier, "aantekeningen", tmp / f"cover-{uuid.uuid4().hex[:6]}.pdf")
    pages = [sm.pdf_page_image(cover), sm.text_page(sm.dutch_lines(40, seed=seed, marker=marker))]
    return sm.write_pdf(tmp / name, pages)


CLIENT_NAME, BSN, MARKER = "Hendrika Molenbeek", "123456782", "Kwartelkoningmarker"


@pytest.fixture(scope="module")
def watched(tmp_path_factory, prefect_server):
    tmp = tmp_path_factory.mktemp("watch")
    a = make_archive(tmp / "home", prefect_server)
    a.deployment = f"process-scan-{uuid.uuid4().hex[:8]}"
    inbox = a.home / "inbox"
    d1 = a.new_dossier("anna", client_name=CLIENT_NAME, bsn=BSN)
    made = tmp / "made"
    made.mkdir()
    files = {
        k: one_doc_scan(a, made, d1, f"{k}.pdf", seed=i, marker=MARKER if k == "present" else None)
        for i, k in enumerate(["present", "slow", "sub", "temp", "b1", "b2", "b3", "b4"])
    }
    # A file present before the watcher starts, named after the client as scanners do.
    shutil.copy(files["present"], inbox / f"{CLIENT_NAME}.pdf")
    watch = Watch(a, tmp / "watch.log").start()
    try:
        # Written slowly in two parts with a pause longer than the settle period.
        data = files["slow"].read_bytes()
        with open(inbox / "slow.pdf", "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            time.sleep(3)
            f.write(data[len(data) // 2 :])
        (inbox / "scanner-2" / "2026").mkdir(parents=True)
        shutil.copy(files["sub"], inbox / "scanner-2" / "2026" / "sub.pdf")
        shutil.copy(files["temp"], inbox / "temp.pdf.part")
        time.sleep(3)  # the temp name sits there, settled, and must be left alone
        os.rename(inbox / "temp.pdf.part", inbox / "temp.pdf")
        for k in ("b1", "b2", "b3", "b4"):  # a burst
            shutil.copy(files[k], inbox / f"{k}.pdf")
        broken = files["b1"].read_bytes()
        (inbox / "broken.pdf").write_bytes(broken[: len(broken) // 3])
        wait_for(
            lambda: idle(a) and len(catalog(a, "SELECT id FROM scans")) >= 9, 400, "the inbox to be processed", watch
        )
        shutil.copy(files["present"], inbox / "again.pdf")  # an exact duplicate of an archived scan
        wait_for(
            lambda: idle(a) and catalog(a, "SELECT count(*) FROM scans WHERE status='duplicate'")[0][0] == 1,
            120,
            "the duplicate",
            watch,
        )
        status = a.ok("status", user="olaf")
        yield dict(a=a, d1=d1, watch=watch, status=status)
    finally:
        watch.stop()


def test_every_file_is_filed_once(watched):
    a = watched["a"]
    statuses = sorted(r[0] for r in catalog(a, "SELECT status FROM scans"))
    assert statuses == ["archived"] * 8 + ["duplicate", "quarantined"]
    docs = a.ok("docs", watched["d1"], user="anna")["documents"]
    assert len(docs) == 8 and all(d["pages"] == 1 for d in docs)


def test_broken_file_is_quarantined(watched):
    items = watched["a"].ok("quarantine", "list", user="olaf")["items"]
    assert [(i["code"], i["source"]) for i in items] == [("incomplete-file", "broken.pdf")]


def test_inbox_and_work_area_are_empty(watched):
    home = watched["a"].home
    assert [p for p in (home / "inbox").rglob("*") if p.is_file()] == []
    assert [p for p in (home / "work").rglob("*") if p.is_file()] == []


def test_status_for_office_staff(watched):
    st = watched["status"]
    assert st["inbox"] == 0 and st["in_progress"] == 0 and st["quarantined"] == 1
    assert st["last_archived"] and st["watcher"]["running"] and st["server"]["healthy"]


def test_no_content_in_prefect_or_the_data_home(watched, prefect_server):
    needles = [CLIENT_NAME.encode(), b"Molenbeek", BSN.encode(), MARKER.encode(), MARKER.lower().encode()]
    assert files_containing(needles, watched["a"].home, prefect_server.home) == []
    assert MARKER in watched["a"].ok("search", MARKER, user="anna")["hits"][0]["snippet"]


def test_sigkill_during_a_burst_then_restart(tmp_path, prefect_server):
    a = make_archive(tmp_path / "home", prefect_server)
    a.deployment = f"process-scan-{uuid.uuid4().hex[:8]}"
    dossiers = [a.new_dossier("anna") for _ in range(6)]
    made = tmp_path / "made"
    made.mkdir()
    scans = [one_doc_scan(a, made, d, f"burst-{i}.pdf", seed=20 + i) for i, d in enumerate(dossiers)]
    watch = Watch(a, tmp_path / "watch.log").start()
    for s in scans:
        shutil.copy(s, a.home / "inbox" / s.name)
    wait_for(lambda: catalog(a, "SELECT count(*) FROM documents")[0][0] >= 1, 300, "a first document", watch)
    killed = watch.kill()  # the watcher and every process it started, mid-burst
    assert killed, "no flow run was in flight"
    assert catalog(a, "SELECT count(*) FROM documents")[0][0] < 6, "too slow to catch the burst in flight"
    watch = Watch(a, tmp_path / "watch.log").start()
    try:
        wait_for(lambda: idle(a) and catalog(a, "SELECT count(*) FROM documents")[0][0] >= 6, 400, "the burst", watch)
        time.sleep(3)
        per_dossier = dict(catalog(a, "SELECT dossier, count(*) FROM documents GROUP BY dossier"))
        assert per_dossier == {d: 1 for d in dossiers}
        assert sorted(r[0] for r in catalog(a, "SELECT status FROM scans")) == ["archived"] * 6
        assert [p for p in (a.home / "work").rglob("*") if p.is_file() and p.suffix != ".lock"] == []
        assert len(list((a.home / "archive").rglob("*.pdf"))) >= 6
    finally:
        assert watch.stop() == 0
    log = (tmp_path / "watch.log").read_text()
    assert "Stopped" in log
    assert log.count("Recovered after the last stop") == 2


def test_embedded_default_starts_and_stops_its_own_server(tmp_path):
    """`make run` on a fresh machine: no PREFECT_API_URL, so the watcher runs its own server on
    127.0.0.1 with its database under the data home, says where the UI is, and takes it down on SIGTERM."""
    from .conftest import _free_port

    a = make_archive(tmp_path / "home", None)
    port = _free_port()
    log = tmp_path / "watch.log"
    env = {**a.env("petra"), **WATCH_ENV, "DOSSIER_PREFECT_PORT": str(port)}
    proc = subprocess.Popen(
        [str(BIN / "dossier"), "watch"],
        env=env,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(lambda: "Watching" in log.read_text(), 120, "the embedded server", None)
        assert f"Prefect UI: http://127.0.0.1:{port}" in log.read_text()
        assert (a.home / "prefect" / "prefect.db").exists()
        st = a.ok("status")
        assert st["watcher"]["running"] and st["server"]["healthy"]
        assert a.run("watch", json_out=False, timeout=60).rc != 0  # a second watcher is refused
        # The nightly retention run is scheduled on the served deployment.
        import json
        import urllib.request

        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/deployments/name/retention-run/retention-nightly", timeout=5
        ) as resp:
            deployment = json.loads(resp.read())
        assert [s["schedule"]["cron"] for s in deployment["schedules"]] == ["30 1 * * *"]
        assert deployment["schedules"][0]["active"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    import urllib.request

    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
    assert not a.ok("status")["watcher"]["running"]


def _prefect_servers_of(home: Path) -> list[int]:
    """Pids of Prefect servers started for this data home (Prefect's home lies under it)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes()
            env = (proc / "environ").read_bytes()
        except OSError:
            continue
        server = b"prefect.server.api.server:create_app" in cmd or b"server\x00start" in cmd
        if server and str(home).encode() in env:
            found.append(int(proc.name))
    return found


def test_scan_without_a_server_runs_files_side_by_side_on_a_temporary_one(tmp_path):
    """No PREFECT_API_URL: `dossier scan` of several files starts one temporary server, files them
    all, and leaves no server behind."""
    from . import scanmaker as sm

    a = make_archive(tmp_path / "home", None)
    d = a.new_dossier()
    cover = sm.pdf_page_image(a.cover(d, "cv", tmp_path / "cover.pdf"))
    files = [sm.write_pdf(tmp_path / f"f{i}.pdf", [cover, sm.text_page(sm.dutch_lines(30, seed=i))]) for i in range(3)]
    results = a.ok("scan", *files, user="olaf", timeout=300)["results"]
    assert [r["status"] for r in results] == ["archived"] * 3
    assert [d_["pages"] for r in results for d_ in r["documents"]] == [1, 1, 1]
    wait_for(lambda: not _prefect_servers_of(a.home), 20, "the temporary server to stop")


def test_scan_uses_the_watchers_server_and_falls_back_when_the_watcher_stops(tmp_path):
    """`dossier scan` on a home with a running watcher uses its Prefect server (no second one is
    started); when the watcher is stopped mid-scan, the scan finishes on a temporary server and
    files every document once."""
    from .conftest import _free_port

    a = make_archive(tmp_path / "home", None)
    d = a.new_dossier("anna")
    cover = sm.pdf_page_image(a.cover(d, "aantekeningen", tmp_path / "cover.pdf"))
    quick = sm.write_pdf(tmp_path / "kort.pdf", [cover, sm.text_page(sm.dutch_lines(30, seed=61))])
    longer = [
        sm.write_pdf(
            tmp_path / f"lang{n}.pdf",
            [cover] + [sm.text_page(sm.dutch_lines(60, seed=62 + 7 * n + i)) for i in range(pages)],
        )
        for n, pages in enumerate((3, 1))  # the first long enough to stop the watcher during its OCR
    ]
    env = {**a.env("petra"), **WATCH_ENV, "DOSSIER_PREFECT_PORT": str(_free_port())}
    log = tmp_path / "watch.log"
    proc = subprocess.Popen(
        [str(BIN / "dossier"), "watch"],
        env=env,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(lambda: "Watching" in log.read_text(), 120, "the watcher", None)
        (watchers_server,) = _prefect_servers_of(a.home)
        seen: set[int] = set()
        scan = subprocess.Popen(
            [str(BIN / "dossier"), "scan", str(quick), "--json"], env=a.env("olaf"), stdout=subprocess.PIPE, text=True
        )
        while scan.poll() is None:
            seen.update(_prefect_servers_of(a.home))
            time.sleep(0.2)
        assert json.loads(scan.stdout.read())["results"][0]["status"] == "archived"
        assert seen == {watchers_server}  # the watcher's, and no other
        assert not (a.home / "run" / "prefect-temporary.log").exists()

        # Two files one after the other; the watcher stops while the first is in OCR, so the second
        # cannot even start its flow run on the watcher's server.
        scan = subprocess.Popen(
            [str(BIN / "dossier"), "scan", *map(str, longer), "--json"],
            env={**a.env("olaf"), "DOSSIER_OCR_JOBS": "1", "DOSSIER_WATCH_CONCURRENCY": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: any((a.home / "work").rglob("p*.pgm")), 120, "OCR to start", None)
        proc.send_signal(signal.SIGTERM)  # the watcher goes, and its server with it
        assert proc.wait(timeout=60) == 0
        out, err = scan.communicate(timeout=600)
        assert scan.returncode == 0, err
        results = json.loads(out)["results"]
        assert [r["status"] for r in results] == ["archived", "archived"]
        assert [x["pages"] for r in results for x in r["documents"]] == [3, 1]
        assert catalog(a, "SELECT count(*) FROM documents")[0][0] == 3
        assert (a.home / "run" / "prefect-temporary.log").exists()  # it did fall back
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    wait_for(lambda: not _prefect_servers_of(a.home), 30, "every server of the home to stop")
