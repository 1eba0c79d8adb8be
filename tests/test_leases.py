"""The scan lease (archive/leases.py): one holder at a time, renewal, expiry and takeover, a holder
on this machine whose process is gone, and the housekeeping that respects leases. On SQLite and
on a real PostgreSQL (the catalog of several machines)."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from archive import leases
from dossier.settings import Settings
from dossier.wiring import build_app
from scanners import intake
from services import housekeeping, setup

ELSEWHERE = "scanner-room-2 0000abcd:4242:777 run-of-another-machine"  # a holder on another machine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def app(request, tmp_path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    a = build_app(Settings(home=tmp_path / "home", database_url=url))
    setup.initialise(a, "petra")
    return a


def new_scan(app, n: int = 0) -> str:
    with app.vault.writer() as s:
        scan, _ = app.vault.register_scan(s, f"{n:064x}", "olaf", None)
        s.commit()
        return scan.id


def take(app, scan_id: str, holder: str, seconds: float) -> bool:
    with app.vault.writer() as s:
        taken = leases.take(s, scan_id, holder, seconds)
        s.commit()
    return taken


def held_by(app, scan_id: str) -> set[str]:
    with app.vault.sessions() as s:
        return leases.live(s, [scan_id])


def test_one_holder_at_a_time_and_the_next_after_release(app):
    scan = new_scan(app)
    with leases.Held(app.vault.writer, scan, 30, run="run-a") as a:
        assert held_by(app, scan) == {scan}
        with pytest.raises(leases.LeaseBusy):
            with leases.Held(app.vault.writer, scan, 30, run="run-b"):
                pass
        with app.vault.writer() as s:
            a.confirm(s)  # still ours
    assert held_by(app, scan) == set()
    with leases.Held(app.vault.writer, scan, 30, run="run-b"):
        assert held_by(app, scan) == {scan}


def test_a_lease_of_another_machine_is_taken_over_only_once_it_expired(app):
    scan = new_scan(app)
    assert take(app, scan, ELSEWHERE, seconds=2)
    with pytest.raises(leases.LeaseBusy):
        leases.Held(app.vault.writer, scan, 30).__enter__()
    with app.vault.sessions() as s:
        assert leases.abandoned(s, [scan]) == set()
    time.sleep(2.2)  # the other machine stopped renewing
    with app.vault.sessions() as s:
        assert leases.abandoned(s, [scan]) == {scan} and leases.live(s) == set()
    with leases.Held(app.vault.writer, scan, 30, run="takeover") as mine:
        # The stalled holder wakes up: it cannot renew, and no commit of it gets through.
        with app.vault.writer() as s:
            assert not leases.renew(s, scan, ELSEWHERE, 30)
            with pytest.raises(leases.LeaseLost):
                leases.confirm(s, scan, ELSEWHERE)
            leases.release(s, scan, ELSEWHERE)  # releases nothing of ours
            s.commit()
        assert held_by(app, scan) == {scan}
        with app.vault.writer() as s:
            mine.confirm(s)


def test_the_heartbeat_keeps_the_lease_and_notices_a_takeover(app):
    scan = new_scan(app)
    with leases.Held(app.vault.writer, scan, 2) as lease:  # renewed every second
        time.sleep(3.5)
        assert held_by(app, scan) == {scan} and not take(app, scan, ELSEWHERE, 60)
        # Someone takes the row from under it (what a takeover after a long stall looks like).
        with app.vault.writer() as s:
            s.execute(leases.ScanLease.__table__.update().values(holder=ELSEWHERE))
            s.commit()
        deadline = time.time() + 5
        while not lease.lost and time.time() < deadline:
            time.sleep(0.2)
        assert lease.lost
        with app.vault.writer() as s, pytest.raises(leases.LeaseLost):
            lease.confirm(s)


def test_a_holder_on_this_machine_whose_process_is_gone_is_taken_over_at_once(app):
    scan = new_scan(app)
    proc = subprocess.Popen(["sleep", "30"])
    dead = leases.holder("killed-run", pid=proc.pid)
    assert not leases.gone(dead)
    assert take(app, scan, dead, seconds=600)
    assert held_by(app, scan) == {scan}
    proc.kill()
    proc.wait()
    assert leases.gone(dead) and not leases.gone(ELSEWHERE) and not leases.gone(leases.holder())
    with app.vault.sessions() as s:
        assert leases.abandoned(s) == {scan}
    with leases.Held(app.vault.writer, scan, 30, run="resumed"):
        assert held_by(app, scan) == {scan}


def test_of_many_taking_at_once_exactly_one_gets_it(app):
    scan = new_scan(app)
    start = threading.Barrier(6)
    won = []

    def contender(i: int) -> None:
        start.wait()
        if leases.acquire(app.vault.writer, scan, f"host-{i} 0:{i}:0 run-{i}", 30):
            won.append(i)

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1


def test_housekeeping_leaves_a_held_scan_alone_and_tidies_one_whose_run_died(app):
    busy, dead = new_scan(app, 1), new_scan(app, 2)
    for scan in (busy, dead):
        d = intake.job_dir(app.work_dir, scan)
        d.mkdir(parents=True)
        (d / "source").write_bytes(b"%PDF-1.7 scan")
        (d / "p00001.pgm").write_bytes(b"page image")
    proc = subprocess.Popen(["sleep", "30"])
    take(app, dead, leases.holder(pid=proc.pid), seconds=600)
    proc.kill()
    proc.wait()
    with leases.Held(app.vault.writer, busy, 30):
        counts = housekeeping.tidy(app)
        assert counts["scrubbed"] == 1
        assert (intake.job_dir(app.work_dir, busy) / "p00001.pgm").exists()  # its run's page: untouched
    assert sorted(p.name for p in intake.job_dir(app.work_dir, dead).iterdir()) == ["source"]
    with app.vault.sessions() as s:
        assert leases.live(s) == set() and leases.abandoned(s) == set()  # tidy released what it took
