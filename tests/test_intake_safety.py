"""Faults and hostile entries at intake (issue 16): links, FIFOs and devices in the scan folder,
a watcher whose loop is stuck, a `dossier scan` killed mid-run, a full disk.

Each test first makes the fault happen for real (a symlink to the master key, a FIFO, a device
node, SIGKILL, a small tmpfs), then checks that nothing leaked, hung, was lost or filed twice.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from scanners.pages import opens
from scanners.watch import InboxWatcher

from . import scanmaker as sm
from .conftest import BIN, make_archive
from .test_watch import Watch, _prefect_servers_of, catalog, descendants, one_doc_scan, wait_for

pytestmark = pytest.mark.prefect


def _plant_hostile_entries(a, outside: Path) -> dict[str, Path]:
    """What anyone who can write to the scan share could put there."""
    inbox = a.home / "inbox"
    secret = outside / "secret.pdf"
    secret.write_bytes(b"%PDF-1.4 not for the archive")
    entries = {
        "key": inbox / "scan.pdf",
        "outside": inbox / "rapport.pdf",
        "fifo": inbox / "pipe.pdf",
        "device": inbox / "nul.pdf",
        "folder": inbox / "elders",
    }
    entries["key"].symlink_to(a.home / "keys" / "master.key")
    entries["outside"].symlink_to(secret)
    os.mkfifo(entries["fifo"])
    os.mknod(entries["device"], stat.S_IFCHR | 0o600, os.makedev(1, 3))
    entries["folder"].symlink_to(outside, target_is_directory=True)  # a folder link out of the inbox
    return entries


def _quarantined(a) -> int:
    return catalog(a, "SELECT count(*) FROM quarantine_items")[0][0]


def test_run_inbox_takes_in_regular_files_only_and_reports_the_rest(tmp_path, prefect_server):
    a = make_archive(tmp_path / "home", prefect_server)
    d = a.new_dossier("anna")
    outside = tmp_path / "outside"
    outside.mkdir()
    entries = _plant_hostile_entries(a, outside)
    good = one_doc_scan(a, tmp_path, d, "goed.pdf", seed=3)
    (a.home / "inbox" / "goed.pdf").write_bytes(good.read_bytes())

    p = subprocess.run(
        [str(BIN / "dossier"), "run-inbox", "--json"], env=a.env("olaf"), capture_output=True, text=True, timeout=300
    )
    assert p.returncode == 0, p.stderr
    results = {Path(r["source"]).name: r for r in json.loads(p.stdout)["results"]}
    assert results["goed.pdf"]["status"] == "archived"
    refused = {name: r["reason"] for name, r in results.items() if r["status"] == "refused"}
    assert set(refused) == {"scan.pdf", "rapport.pdf", "pipe.pdf", "nul.pdf", "elders"}
    assert "symbolic link" in refused["scan.pdf"] and "FIFO" in refused["pipe.pdf"] and "device" in refused["nul.pdf"]
    # Nothing was taken in: the key never reached the quarantine, every entry is left where it was.
    assert _quarantined(a) == 0
    assert all(os.path.lexists(e) for e in entries.values()) and (outside / "secret.pdf").exists()
    assert not (a.home / "inbox" / "goed.pdf").exists()
    refusals = catalog(a, "SELECT detail FROM audit_events WHERE action = 'scan.refuse' AND outcome = 'refused'")
    assert sorted(r[0] for r in refusals) == ["device", "fifo", "symlink", "symlink", "symlink"]
    st = a.ok("status", user="olaf")
    assert st["inbox"] == 0 and st["inbox_refused"] == 5
    key = (a.home / "keys" / "master.key").read_bytes().strip()
    assert not [p for p in (a.home / "quarantine").rglob("*") if p.is_file() and key in p.read_bytes()]


def test_the_watcher_is_not_fooled_or_hung_by_links_fifos_and_devices(tmp_path, prefect_server):
    a = make_archive(tmp_path / "home", prefect_server)
    a.deployment = "process-scan-safety"
    d = a.new_dossier("anna")
    outside = tmp_path / "outside"
    outside.mkdir()
    _plant_hostile_entries(a, outside)
    watch = Watch(a, tmp_path / "watch.log").start()
    try:
        good = one_doc_scan(a, tmp_path, d, "later.pdf", seed=4)
        (a.home / "inbox" / "later.pdf").write_bytes(good.read_bytes())
        wait_for(lambda: catalog(a, "SELECT count(*) FROM documents")[0][0] == 1, 300, "the good scan", watch)
        st = a.ok("status", user="olaf")
        assert st["watcher"]["running"] and not st["watcher"]["stuck"] and st["inbox_refused"] == 5
        wait_for(lambda: "\nfiled " in (tmp_path / "watch.log").read_text(), 30, "the watcher's line", watch)
        # Counted anywhere in a line: Prefect's own log lines share the file and may run into ours.
        assert (tmp_path / "watch.log").read_text().count("refused     an inbox entry (") == 5
        assert _quarantined(a) == 0
    finally:
        watch.stop()


def test_a_watcher_stuck_in_its_loop_shows_as_stuck(tmp_path):
    """The heartbeat comes from the loop that does the work: a pass that never ends (here a claim
    that blocks) makes `status` say stuck although the process and its heartbeat thread live on."""
    from dossier.watch import Heartbeat
    from services.status import watcher_status

    inbox, run = tmp_path / "inbox", tmp_path / "run"
    inbox.mkdir()
    run.mkdir()
    release = threading.Event()
    watcher = InboxWatcher(inbox, lambda path: release.wait(), opens, settle_seconds=0.2, sweep_seconds=0.5)
    watcher.start()
    beat = Heartbeat(run / "watch.json", {"pid": os.getpid(), "api_url": None}, watcher)
    beat.start()
    try:
        time.sleep(1)
        assert watcher_status(run)["watcher"]["running"]
        sm.write_pdf(inbox / "hangs.pdf", [sm.text_page(["een regel"])])
        import services.status as status_module

        status_module.STUCK_AFTER_SECONDS = 3  # a short leash for the test
        wait_for(lambda: watcher_status(run)["watcher"]["stuck"], 30, "the watcher to show as stuck")
        assert not watcher_status(run)["watcher"]["running"]
    finally:
        release.set()
        watcher.stop()
        beat.stop()


def test_a_killed_scan_leaves_no_server_no_plaintext_and_no_orphan(tmp_path):
    """`dossier scan` without PREFECT_API_URL runs its own temporary server: SIGKILL the command in
    the middle of OCR; the server dies with it, the next command scrubs the page images, and
    scanning again files every document once."""
    a = make_archive(tmp_path / "home", None)
    d = a.new_dossier("anna")
    cover = sm.pdf_page_image(a.cover(d, "aantekeningen", tmp_path / "cover.pdf"))
    pages = [cover] + [sm.text_page(sm.dutch_lines(60, seed=40 + i)) for i in range(8)]
    batch = sm.write_pdf(tmp_path / "lang.pdf", pages)
    env = {**a.env("olaf"), "DOSSIER_OCR_JOBS": "1"}
    proc = subprocess.Popen(
        [str(BIN / "dossier"), "scan", str(batch), "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    work = a.home / "work"
    try:
        wait_for(lambda: any(work.rglob("p*.pgm")) or any(work.rglob("p*.txt")), 180, "OCR to start")
    finally:
        tree = descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # the command only: its children must not outlive it
        proc.wait(timeout=30)
    for pid in tree:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        wait_for(lambda p=pid: not Path(f"/proc/{p}").exists(), 30, f"process {pid} to end with its parent")
    assert _prefect_servers_of(a.home) == []

    a.ok("status", user="olaf")  # any command tidies what the killed one left
    leftovers = [p.name for p in work.rglob("*") if p.is_file() and p.suffix != ".lock"]
    assert leftovers in ([], ["source"]), leftovers
    known = {r[0] for r in catalog(a, "SELECT file_name FROM documents")}
    on_disk = {p.stem for p in (a.home / "archive").rglob("*.pdf")}
    assert on_disk == known  # no encrypted file the catalog does not know

    result = a.ok("scan", batch, user="olaf", timeout=600)["results"][0]
    assert result["status"] == "archived" and [x["pages"] for x in result["documents"]] == [8]
    assert catalog(a, "SELECT count(*) FROM documents")[0][0] == 1
    assert _prefect_servers_of(a.home) == []


@pytest.fixture
def small_disk(tmp_path):
    """A 64 MB tmpfs as the data home's file system (needs root, as CI runs)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_said_plainly_and_loses_nothing(tmp_path, small_disk, prefect_server):
    a = make_archive(small_disk / "home", prefect_server)
    d = a.new_dossier("anna")
    cover = sm.pdf_page_image(a.cover(d, "aantekeningen", tmp_path / "cover.pdf"))
    pages = [cover] + [sm.add_noise(sm.text_page(sm.dutch_lines(60, seed=i)), seed=i) for i in range(3)]
    scan = sm.write_pdf(tmp_path / "groot.pdf", pages)  # noisy, losslessly stored: a few MB
    filler = small_disk / "filler"
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    with open(filler, "wb") as f:  # leave less room than the scan needs
        f.write(b"\0" * max(0, free - scan.stat().st_size // 2))
    r = a.run("scan", scan, user="olaf")
    assert r.rc == 1 and "disk is full" in r.stderr and "nothing was lost" in r.stderr
    assert r.stderr.count("\n") == 1
    assert not list((a.home / "work").rglob(".source.tmp")) and scan.exists()
    filler.unlink()
    result = a.ok("scan", scan, user="olaf", timeout=300)["results"][0]
    assert result["status"] == "archived"
    assert a.sql("SELECT count(*) FROM documents") == [(1,)]
