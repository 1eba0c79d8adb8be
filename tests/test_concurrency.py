"""Concurrent readers and writers through the real `dossier` command (issue 16, item 2).

Eight commands at a time, 64 in all: `get` and `docs` (reads, each audited) next to `new` (the
dossier counter) and `cover` (cover-sheet serials). None may fail, every one leaves its audit
event, dossier numbers and serials are handed out once each, and the audit chain verifies.
On SQLite (one machine) and on PostgreSQL (the scale-out catalog, where the processes stand in
for writers on several machines).
"""

from __future__ import annotations

import collections
import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from archive.catalog import AuditEvent, CoverSheet, Dossier
from dossier.settings import Settings
from dossier.wiring import build_vault

from .conftest import catalog, file_document, make_archive

PARALLEL = 8
EACH = 16  # commands of each kind


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request):
    return request.getfixturevalue("postgres_url") if request.param == "postgres" else None


def _counts(vault) -> collections.Counter:
    with vault.sessions() as s:
        return collections.Counter(
            dict(s.execute(select(AuditEvent.action, func.count()).group_by(AuditEvent.action)).all())
        )


def test_concurrent_readers_and_writers_never_fail_and_are_all_audited(tmp_path, database_url):
    a = make_archive(tmp_path / "home", None, database_url)
    vault = build_vault(Settings(home=a.home, database_url=database_url))
    own = a.new_dossier("anna")
    doc = file_document(vault, own)
    before = _counts(vault)
    with vault.sessions() as s:
        numbers_before = set(s.execute(select(Dossier.number)).scalars())

    out = tmp_path / "out"
    out.mkdir()
    commands = list(
        itertools.chain.from_iterable(
            zip(
                [(("get", doc, "-o", out / f"get-{i}.pdf"), "anna") for i in range(EACH)],
                [(("docs", own), "anna") for _ in range(EACH)],
                [(("new", "--coach", "anna"), "olaf") for _ in range(EACH)],
                [(("cover", own, "--type", "cv", "-o", out / f"cover-{i}.pdf"), "olaf") for i in range(EACH)],
            )
        )
    )
    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(lambda c: a.run(*c[0], user=c[1]), commands))

    failed = [(args[0], r.rc, r.stderr.strip()) for (args, _), r in zip(commands, results) if r.rc != 0]
    assert failed == []
    # Every command left its event: reads as well as writes.
    added = _counts(vault) - before
    assert added == {"document.read": EACH, "documents.list": EACH, "dossier.create": EACH, "cover.create": EACH}
    assert all(r.data["pages"] == 1 for (args, _), r in zip(commands, results) if args[0] == "get")
    # The counter hands out each number once, without gaps; serials likewise.
    new_numbers = [r.data["dossier"] for (args, _), r in zip(commands, results) if args[0] == "new"]
    with vault.sessions() as s:
        assert set(s.execute(select(Dossier.number)).scalars()) - numbers_before == set(new_numbers)
        serials = list(s.execute(select(CoverSheet.serial)).scalars())
    for year in {n[2:6] for n in new_numbers}:  # two years if the run spans New Year in Amsterdam
        had = max((int(n[7:]) for n in numbers_before if n[2:6] == year), default=0)
        got = sorted(int(n[7:]) for n in new_numbers if n[2:6] == year)
        assert got == list(range(had + 1, had + 1 + len(got)))
    assert len(serials) == len(set(serials)) == EACH
    report = a.ok("audit", "verify")
    # The check counts the chain, then records itself: one event more than it counted.
    assert report["ok"] and report["events"] == sum(_counts(vault).values()) - 1


# ---- the writer session itself ----------------------------------------------------------------------


def test_a_writer_holds_the_sqlite_write_lock_from_its_first_read_and_readers_go_on(tmp_path):
    import sqlite3

    from archive import audit
    from archive.catalog import User
    from archive.vault import Vault

    vault = Vault(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path / "keys" / "master.key")
    vault.initialise()
    with catalog(tmp_path, timeout=0) as other:
        with vault.writer() as w:
            assert w.get(User, "petra") is None  # a read only, yet the lock is held
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            with vault.sessions() as r:  # readers are not blocked
                assert r.execute(select(func.count()).select_from(AuditEvent)).scalar() == 0
            # A refusal met inside a writer is committed in it (a second transaction would wait in vain).
            audit.record_now(w, actor="petra", role="privacy", action="users.manage", outcome="refused")
        other.execute("BEGIN IMMEDIATE")  # released with the commit
        other.rollback()
    audit.record_now(vault.writer, actor="petra", role="privacy", action="audit.verify")
    with vault.sessions() as s:
        report = audit.verify(s)
        assert report.ok and report.events == 2
