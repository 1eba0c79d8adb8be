"""Integrity and keys over the years (issue 14, DESIGN.md §12): the integrity check, the keyed audit
chain and its witness, key rotation (killed at every step, too), backup and restore that honour
destruction. Documents are filed through the archive's own store (encrypt, re-read, HMAC); one
test scans real paper through Prefect to show that cover sheets printed before a rotation still work.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import selectors
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pikepdf
import pytest
from sqlalchemy import select

from archive import audit, crypto, destructions, witness
from archive.catalog import (
    ArchiveKey,
    AuditEvent,
    DataKey,
    Document,
    QuarantineItem,
    User,
    make_engine,
    migrate,
    session_factory,
)
from archive.errors import NotFound, NotReady
from archive.keys import create_master_key, key_id_of, read_key_file, unwrap_under, wrap_under
from archive.store import SealedStore
from archive.vault import PageRecord
from classify.coversheet import make_payload, verify_payload
from dossier.settings import Settings
from dossier.wiring import build_app
from services import audit_log, backups, documents, dossiers, integrity, quarantine, setup, users
from services.context import act_as

from . import scanmaker as sm
from .conftest import BIN, catalog, catalog_rows

# ---- an archive with documents, filed through the archive's own store --------------------------


def _app(home: Path, database_url: str | None = None):
    a = build_app(Settings(home=home, database_url=database_url))
    setup.initialise(a, "petra")
    for name, role in (("anna", "coach"), ("olaf", "office")):
        users.add_user(act_as(a, "petra"), name, role)
    return a


def _file(app, number: str, words: str = "werkhervatting na rugklachten") -> str:
    """One encrypted, verified document in dossier `number` (no OCR: the text is given)."""
    vault = app.vault
    doc = pikepdf.new()
    doc.add_blank_page(page_size=(595, 842))
    with vault.sessions() as s:
        keys = vault.dossier_keys(s, number)
    stored = vault.store_document(keys, doc, 1)
    with vault.writer() as s:
        vault.record_document(
            s,
            stored,
            doc_type="aantekeningen",
            pages=[PageRecord(words, 91.0, len(words.split()), False)],
            scan_id=None,
            cover_serial=None,
        )
        s.commit()
    return stored.id


def _quarantine(app, data: bytes, label: str = "scan.pdf") -> str:
    with app.vault.writer() as s:
        item = app.vault.quarantine(
            s,
            data=data,
            kind="pdf",
            reason_code="no-cover",
            reason="pages before the first cover sheet",
            scan_id=None,
            source_label=label,
            pages=1,
        )
        s.commit()
        return item.id


@pytest.fixture
def world(tmp_path):
    app = _app(tmp_path / "home")
    office = act_as(app, "olaf")
    d1 = dossiers.open_dossier(office, coach="anna", client_name="Jolanda Vreeswijk", bsn="111222333")["dossier"]
    d2 = dossiers.open_dossier(office, coach="anna")["dossier"]
    docs = {d1: [_file(app, d1), _file(app, d1)], d2: [_file(app, d2)]}
    items = [_quarantine(app, b"%PDF-1.4 first quarantined scan"), _quarantine(app, b"%PDF-1.4 second")]
    return dict(app=app, home=app.home, d1=d1, d2=d2, docs=docs, items=items)


def _env(home: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOSSIER_", "PREFECT_"))}
    return {**env, "DOSSIER_HOME": str(home), "DOSSIER_USER": "petra", **extra}


def _cli(home: Path, *args, **env) -> tuple[int, dict | None, str]:
    p = subprocess.run(
        [str(BIN / "dossier"), *map(str, args), "--json"],
        env=_env(home, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else None), p.stderr


def _nothing_in(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


def _readable(app, doc_id: str) -> int:
    return documents.read_document(act_as(app, "petra"), doc_id).pages


@contextmanager
def _append_only_dropped(home: Path):
    """Whoever can write the catalog file can drop its triggers: the attacker of these tests."""
    with catalog(home) as db:
        db.execute("DROP TRIGGER audit_no_update")
        db.execute("DROP TRIGGER audit_no_delete")
        yield db


# ---- the integrity check -----------------------------------------------------------------------


def test_integrity_check_names_each_damaged_missing_and_unexpected_file(world):
    home, (doc_a, doc_b), item = world["home"], world["docs"][world["d1"]], world["items"][0]
    rc, clean, _ = _cli(home, "integrity", "check")
    assert rc == 0 and clean["files_checked"] == 5 and clean["audit_ok"]
    assert clean["damaged"] == clean["missing"] == clean["unexpected"] == []

    app = world["app"]
    with app.vault.sessions() as s:
        names = dict(s.execute(select(Document.id, Document.file_name)).all())
        blob = s.get(QuarantineItem, item).blob_name
    flipped = app.vault.archive.path(names[doc_a])
    raw = bytearray(flipped.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    flipped.write_bytes(bytes(raw))
    app.vault.archive.path(names[doc_b]).unlink()
    sealed = app.vault.quarantine_store().path(blob)
    sealed.write_bytes(sealed.read_bytes()[:-1] + bytes([sealed.read_bytes()[-1] ^ 0x80]))
    (home / "archive" / "zz").mkdir()
    (home / "archive" / "zz" / "stray.pdf").write_bytes(b"%PDF-1.4 not ours")
    (home / "quarantine" / "leftover.bin").write_bytes(b"?")

    rc, out, err = _cli(home, "integrity", "check")
    assert rc == 5, err
    d1 = world["d1"]
    assert {(e["document"], e["dossier"]) for e in out["damaged"] if e.get("document")} == {(doc_a, d1)}
    assert [e["file"] for e in out["damaged"] if not e.get("document")] == [str(sealed.relative_to(home))]
    assert [(e["document"], e["dossier"], e["file"]) for e in out["missing"]] == [
        (doc_b, d1, str(app.vault.archive.path(names[doc_b]).relative_to(home)))
    ]
    assert sorted(e["file"] for e in out["unexpected"]) == ["archive/zz/stray.pdf", "quarantine/leftover.bin"]
    assert out["audit_ok"] and "2 unexpected" in err

    # The outcome is in the audit log and in `dossier status`, with counts only.
    rc, status, _ = _cli(home, "status")
    assert status["integrity"]["outcome"] == "failed"
    assert "2 damaged, 1 missing, 2 unexpected" in status["integrity"]["detail"]


def test_a_file_of_a_destroyed_dossier_left_behind_is_unexpected_and_named(world):
    app, d2 = world["app"], world["d2"]
    [doc] = world["docs"][d2]
    with app.vault.sessions() as s:
        path = app.vault.archive.path(s.get(Document, doc).file_name)
    kept = path.read_bytes()
    dossiers.erase_dossier(act_as(app, "petra"), d2, "verzoek tot verwijdering")
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(kept)  # as if the process died between the commit and the file's removal
    report = integrity.check(act_as(app, "petra"))
    assert not report["ok"]
    assert [(e["document"], e["dossier"]) for e in report["unexpected"]] == [(doc, d2)]
    assert report["missing"] == report["damaged"] == []


# ---- the keyed audit chain and its witness ------------------------------------------------------


def _rechain_plainly(db: sqlite3.Connection, first: int) -> None:
    """Recompute every link from `first` on with plain SHA-256, as whoever lacks the audit key can."""
    engine = make_engine(f"sqlite:///{db.execute('PRAGMA database_list').fetchone()[2]}")
    try:
        with session_factory(engine)() as s:
            events = s.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
            prev = events[first - 2].hash if first > 1 else audit.GENESIS
            links = []
            for e in events[first - 1 :]:
                link = audit._digest(prev, audit._fields(e))  # no ChainKey: SHA-256
                links.append((prev, link, e.seq))
                prev = link
    finally:
        engine.dispose()  # no connection left for the garbage collector (see conftest.catalog)
    db.executemany("UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?", links)
    db.commit()


def test_an_edited_event_rechained_with_plain_sha256_is_found(world):
    app = world["app"]
    petra = act_as(app, "petra")
    assert audit_log.verify(petra).ok
    with _append_only_dropped(world["home"]) as db:
        db.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
        db.commit()
        _rechain_plainly(db, 3)
    report = audit_log.verify(petra)
    assert not report.ok and report.first_bad == 3
    assert "re-chained without the audit key" in report.problem


def test_removing_the_newest_events_is_found_against_the_witness(world):
    home, app = world["home"], world["app"]
    petra = act_as(app, "petra")
    assert integrity.check(petra)["ok"]  # witnesses the head
    for _ in range(3):
        dossiers.list_dossiers(petra)
    witnessed = max(e.seq for e in witness.read(home))
    with _append_only_dropped(home) as db:
        db.execute("DELETE FROM audit_events WHERE seq >= ?", (witnessed - 1,))
    with app.vault.sessions() as s:  # link by link, what is left is a valid chain
        assert audit.verify(s, app.vault.audit_chain()).ok
    rc, out, err = _cli(home, "audit", "verify")
    assert rc == 5 and not out["ok"]
    assert f"event {witnessed} was witnessed" in out["problem"] and "removed" in out["problem"]
    assert "tampered" in err


def test_an_older_plain_chain_and_derived_keys_are_taken_over_and_survive_rotation(tmp_path):
    """An archive from before this change: events with plain SHA-256 links, cover-sheet and quarantine
    keys derived from the master key. Opening it keys the chain and stores the derived values wrapped."""
    home = tmp_path / "home"
    for d in (home, home / "archive", home / "quarantine"):
        d.mkdir(mode=0o700)
    key_file = home / "keys" / "master.key"
    url = f"sqlite:///{home / 'catalog.db'}"
    create_master_key(key_file)
    migrate(url)
    master = read_key_file(key_file)
    blob = SealedStore(home / "quarantine", crypto.derive(master, "quarantine")).put(b"%PDF-1.4 old scan")
    with session_factory(make_engine(url))() as s:  # no audit key: links as the old code made them
        s.add(ArchiveKey(purpose="master", key_id=key_id_of(master)))
        s.add(
            ArchiveKey(
                purpose="bsn-lookup", key_id="b1", wrapped=wrap_under(master, os.urandom(32), b"archive-key:bsn-lookup")
            )
        )
        s.add(User(name="petra", role="privacy"))
        label = crypto.seal(crypto.derive(master, "quarantine-labels"), b"pdf|oude scan.pdf", blob.encode())
        s.add(QuarantineItem(id="Q0000AAAA", reason_code="no-cover", reason="r", blob_name=blob, source_sealed=label))
        for i in range(4):
            audit.record(s, actor="petra", role="privacy", action="test", detail=str(i))
        s.commit()
    printed = make_payload(crypto.derive(master, "cover-sheets"), "D-2026-0001", "cv", 1)

    app = build_app(Settings(home=home))
    setup.ready(app)
    petra = act_as(app, "petra")
    report = audit_log.verify(petra)
    assert report.ok and report.keyed_from == 5
    with app.vault.sessions() as s:
        assert s.get(AuditEvent, 5).action == "audit.keyed"

    integrity.rotate_keys(petra)
    app = build_app(Settings(home=home))  # a fresh process's view: only the new key file
    setup.ready(app)
    petra = act_as(app, "petra")
    assert key_id_of(read_key_file(key_file)) != key_id_of(master)
    assert verify_payload(app.vault.cover_key(), printed)  # sheets printed long ago still verify
    assert quarantine.read_item(petra, "Q0000AAAA").data == b"%PDF-1.4 old scan"
    assert quarantine.list_items(petra)["items"][0]["source"] == "oude scan.pdf"
    assert audit_log.verify(petra).ok

    # The plain links are covered by the first keyed one: re-chaining them plainly is found there.
    with _append_only_dropped(home) as db:
        db.execute("UPDATE audit_events SET detail = 'edited' WHERE seq = 2")
        db.commit()
        _rechain_plainly(db, 2)
    report = audit_log.verify(petra)
    assert not report.ok and report.first_bad == 5


# ---- key rotation -------------------------------------------------------------------------------


@pytest.mark.prefect
def test_rotation_keeps_documents_cover_sheets_and_quarantine_usable_and_the_old_key_useless(archive, tmp_path):
    a = archive
    d = a.new_dossier("anna")
    cover = sm.pdf_page_image(a.cover(d, "aantekeningen", tmp_path / "voorblad.pdf"))  # printed before
    first = sm.write_pdf(tmp_path / "eerste.pdf", [cover, sm.text_page(sm.dutch_lines(40, seed=1))])
    stray = sm.write_pdf(tmp_path / "los.pdf", [sm.text_page(sm.dutch_lines(30, seed=2))])
    filed = a.ok("scan", first, stray, user="olaf")["results"]
    assert [r["status"] for r in filed] == ["archived", "quarantined"]
    old_master = read_key_file(a.home / "keys" / "master.key")

    out = a.ok("keys", "rotate")
    assert out["key_id"] != key_id_of(old_master) and out["rewrapped"] >= 8  # data key + the archive's keys
    assert sorted(p.name for p in (a.home / "keys").iterdir()) == ["master.key", "master.key.lock"]
    assert key_id_of(read_key_file(a.home / "keys" / "master.key")) == out["key_id"]
    [event] = [e for e in a.ok("audit", "show")["events"] if e["action"] == "keys.rotate"]
    assert event["detail"].startswith(f"master key {key_id_of(old_master)} replaced by {out['key_id']}")

    second = sm.write_pdf(tmp_path / "tweede.pdf", [cover, sm.text_page(sm.dutch_lines(40, seed=3))])
    again = a.ok("scan", second, user="olaf")["results"][0]
    assert again["status"] == "archived" and again["documents"][0]["dossier"] == d
    for doc in a.ok("docs", d, user="anna")["documents"]:
        assert a.ok("get", doc["id"], "-o", tmp_path / f"{doc['id']}.pdf", user="anna")["pages"] == 1
    [item] = a.ok("quarantine", "list", user="olaf")["items"]
    assert a.ok("quarantine", "get", item["id"], "-o", tmp_path / "q.pdf", user="olaf")["id"] == item["id"]
    assert a.ok("integrity", "check")["audit_ok"]

    # The old key opens nothing, and the archive refuses to work with it.
    old_file = tmp_path / "old.key"
    old_file.write_bytes(base64.b64encode(old_master) + b"\n")
    old_file.chmod(0o600)
    p = subprocess.run(
        [str(BIN / "dossier"), "docs", d, "--json"],
        env={**a.env("anna"), "DOSSIER_KEY_FILE": str(old_file)},
        capture_output=True,
        text=True,
    )
    assert p.returncode == 1 and "not this archive's key" in p.stderr
    engine = make_engine(f"sqlite:///{a.home / 'catalog.db'}")
    with session_factory(engine)() as s:
        wrapped = [(r.wrapped, r.dossier.encode()) for r in s.execute(select(DataKey)).scalars()]
        wrapped += [
            (r.wrapped, f"archive-key:{r.purpose}".encode())
            for r in s.execute(select(ArchiveKey)).scalars()
            if r.wrapped
        ]
    assert len(wrapped) >= 8
    for blob, associated in wrapped:
        with pytest.raises(crypto.DecryptionFailed):
            unwrap_under(old_master, blob, associated)


STEPS = ("new-key-written", "before-commit", "committed", "old-key-overwritten")


def _rotate_until_killed(home: Path, step: str) -> None:
    proc = subprocess.Popen(
        [str(BIN / "dossier"), "keys", "rotate", "--json"],
        env=_env(home, DOSSIER_TEST_ROTATION_PAUSE_AT=step),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    seen = ""
    try:
        while f"paused at {step}" not in seen:
            assert sel.select(timeout=60), f"rotation never reached {step}: {seen}"
            line = proc.stderr.readline()
            assert line, f"rotation ended before {step} (rc {proc.wait()}): {seen}"
            seen += line
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def _key_ids_present(key_file: Path) -> set[str]:
    ids = set()
    for path in (key_file, key_file.with_name(key_file.name + ".new")):
        try:
            ids.add(key_id_of(read_key_file(path)))
        except NotReady:
            pass
    return ids


def test_a_rotation_killed_at_any_step_leaves_everything_readable(world):
    home, app = world["home"], world["app"]
    key_file = app.vault.key_file
    cover_key, quarantine_key = app.vault.cover_key(), app.vault.archive_key("quarantine")
    used = {key_id_of(read_key_file(key_file))}
    for step in STEPS:
        _rotate_until_killed(home, step)
        ((bound,),) = catalog_rows(home, "SELECT key_id FROM archive_keys WHERE purpose = 'master'")
        assert bound in _key_ids_present(key_file), step  # the catalog always matches a key file present
        used |= _key_ids_present(key_file)
        fresh = build_app(Settings(home=home))  # any command after the kill finishes or undoes it
        setup.ready(fresh)
        assert not key_file.with_name("master.key.new").exists()
        assert key_id_of(read_key_file(key_file)) == bound
        for doc in [*world["docs"][world["d1"]], *world["docs"][world["d2"]]]:
            assert _readable(fresh, doc) == 1, step
        assert quarantine.read_item(act_as(fresh, "olaf"), world["items"][0]).data.startswith(b"%PDF-1.4 first")
        assert (fresh.vault.cover_key(), fresh.vault.archive_key("quarantine")) == (cover_key, quarantine_key)
    rc, out, err = _cli(home, "keys", "rotate")
    assert rc == 0, err
    assert out["key_id"] not in used and sorted(p.name for p in key_file.parent.iterdir()) == [
        "master.key",
        "master.key.lock",
    ]
    rc, report, err = _cli(home, "integrity", "check")
    assert rc == 0 and report["files_checked"] == 5, err


# ---- backup and restore --------------------------------------------------------------------------


def test_backup_erase_restore_with_replay_keeps_the_erased_dossier_destroyed(world, tmp_path):
    app, home, d1, d2 = world["app"], world["home"], world["d1"], world["d2"]
    petra = act_as(app, "petra")
    integrity.check(petra)  # a witness to carry over
    made = backups.make_backup(petra, tmp_path / "backup")
    assert made["documents"] == 3 and made["bytes"] > 0
    # Never the master key, in any form, in any file of the backup.
    master = read_key_file(app.vault.key_file)
    secret = {master, base64.b64encode(master), master.hex().encode()}
    for f in (tmp_path / "backup").rglob("*"):
        if f.is_file():
            assert not any(x in f.read_bytes() for x in secret), f

    # After the backup: d1 erased, one quarantine item discarded, one filed later.
    dossiers.erase_dossier(petra, d1, "verzoek tot verwijdering")
    quarantine.discard_item(act_as(app, "olaf"), world["items"][0])
    later = _file(app, d2, "na de back-up")

    key = tmp_path / "master.key"
    key.write_bytes(app.vault.key_file.read_bytes())
    key.chmod(0o600)
    target = tmp_path / "restored"
    rc, out, err = _cli(target, "restore", tmp_path / "backup", "--replay-from", home, "--key-file", key)
    assert rc == 0, err
    assert sorted(out["reshredded"]) == sorted([d1, world["items"][0]]) and "WARNING" not in err

    restored = build_app(Settings(home=target))
    setup.ready(restored)
    for doc in world["docs"][d1]:
        with pytest.raises(NotFound, match="destroyed"):
            documents.read_document(act_as(restored, "petra"), doc)
    with restored.vault.sessions() as s:
        assert s.execute(select(DataKey).where(DataKey.dossier == d1)).first() is None
    assert [_readable(restored, doc) for doc in world["docs"][d2]] == [1]
    with pytest.raises(NotFound):  # filed after the backup: not in it
        documents.read_document(act_as(restored, "petra"), later)
    assert [i["id"] for i in quarantine.list_items(act_as(restored, "olaf"))["items"]] == [world["items"][1]]
    rc, report, err = _cli(target, "integrity", "check")
    assert rc == 0 and report["files_checked"] == 2 and report["unexpected"] == [], err
    rc, verified, _ = _cli(target, "audit", "verify")
    assert rc == 0 and verified["witnessed"] >= 1


def test_restore_refuses_a_home_that_is_not_empty_and_a_wrong_key_and_warns_without_replay(world, tmp_path):
    app = world["app"]
    backups.make_backup(act_as(app, "petra"), tmp_path / "backup")
    key = tmp_path / "master.key"
    key.write_bytes(app.vault.key_file.read_bytes())
    key.chmod(0o600)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("iets")
    rc, out, err = _cli(busy, "restore", tmp_path / "backup", "--key-file", key)
    assert rc == 1 and "not empty" in out["error"]
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]

    other = tmp_path / "other.key"
    create_master_key(other)
    rc, out, _ = _cli(tmp_path / "fresh", "restore", tmp_path / "backup", "--key-file", other)
    assert rc == 2 and "needs master key" in out["error"] and _nothing_in(tmp_path / "fresh")

    rc, out, err = _cli(tmp_path / "fresh", "restore", tmp_path / "backup", "--key-file", key)
    assert rc == 0 and "WARNING: NO DESTRUCTIONS WERE RE-APPLIED" in err and out["warning"]


@pytest.mark.postgres
def test_backup_and_restore_on_postgresql(postgres_cluster, tmp_path):
    stamp = os.getpid()
    url = postgres_cluster.create_database(f"integrity_live_{stamp}")
    app = _app(tmp_path / "live", url)
    number = dossiers.open_dossier(act_as(app, "olaf"), coach="anna", client_name="J. Vreeswijk")["dossier"]
    doc = _file(app, number)
    made = backups.make_backup(act_as(app, "petra"), tmp_path / "backup")
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["catalog"] == {"kind": "postgresql", "file": "catalog.dump"} and made["documents"] == 1

    target_url = postgres_cluster.create_database(f"integrity_restored_{stamp}")
    key = tmp_path / "master.key"
    key.write_bytes(app.vault.key_file.read_bytes())
    key.chmod(0o600)
    rc, out, err = _cli(
        tmp_path / "restored",
        "restore",
        tmp_path / "backup",
        "--replay-from",
        app.home,
        "--key-file",
        key,
        DOSSIER_DATABASE_URL=target_url,
    )
    assert rc == 0 and out["reshredded"] == [], err
    restored = build_app(Settings(home=tmp_path / "restored", database_url=target_url))
    setup.ready(restored)
    assert _readable(restored, doc) == 1
    rc, report, err = _cli(tmp_path / "restored", "integrity", "check", DOSSIER_DATABASE_URL=target_url)
    assert rc == 0 and report["files_checked"] == 1, err


@pytest.mark.postgres
def test_a_restore_that_fails_after_the_catalog_was_loaded_leaves_the_database_empty(
    postgres_cluster, tmp_path, monkeypatch
):
    """pg_restore committed, then a later step failed: the tables, sequences and trigger function it
    loaded are dropped again (a function the database held before stays), so the next try can run."""
    from sqlalchemy import create_engine, inspect, text

    stamp = os.getpid()
    app = _app(tmp_path / "live", postgres_cluster.create_database(f"failed_live_{stamp}"))
    doc = _file(app, dossiers.open_dossier(act_as(app, "olaf"), coach="anna")["dossier"])
    backups.make_backup(act_as(app, "petra"), tmp_path / "backup")
    target_url = postgres_cluster.create_database(f"failed_restored_{stamp}")
    engine = create_engine(target_url)
    with engine.begin() as c:  # the database's own, there before the restore
        c.execute(text("CREATE FUNCTION site_helper() RETURNS int LANGUAGE sql AS 'SELECT 1'"))
    key = tmp_path / "master.key"
    key.write_bytes(app.vault.key_file.read_bytes())
    key.chmod(0o600)

    def disk_gone(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(destructions, "replay", disk_gone)
    target = build_app(Settings(home=tmp_path / "restored", database_url=target_url))
    with pytest.raises(OSError):
        backups.restore(target, "petra", tmp_path / "backup", key_file=key)
    assert inspect(engine).get_table_names() == []
    with engine.connect() as c:
        functions = c.execute(text("SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace")).all()
        sequences = c.execute(text("SELECT relname FROM pg_class WHERE relkind = 'S'")).all()
    assert [f for (f,) in functions] == ["site_helper"] and sequences == []
    assert _nothing_in(tmp_path / "restored")

    monkeypatch.undo()
    target = build_app(Settings(home=tmp_path / "restored", database_url=target_url))
    backups.restore(target, "petra", tmp_path / "backup", key_file=key)
    assert _readable(target, doc) == 1
    engine.dispose()


def test_the_manifest_hashes_every_file_and_a_damaged_backup_is_refused(world, tmp_path):
    app = world["app"]
    backups.make_backup(act_as(app, "petra"), tmp_path / "backup")
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    for rel, entry in manifest["files"].items():
        assert hashlib.sha256((tmp_path / "backup" / rel).read_bytes()).hexdigest() == entry["sha256"]
    assert manifest["key_id"] == app.vault.key_id()
    victim = next(p for p in (tmp_path / "backup" / "archive").rglob("*.pdf"))
    victim.write_bytes(victim.read_bytes()[:-1])
    key = tmp_path / "master.key"
    key.write_bytes(app.vault.key_file.read_bytes())
    key.chmod(0o600)
    rc, out, _ = _cli(tmp_path / "fresh", "restore", tmp_path / "backup", "--key-file", key)
    assert rc == 5 and "altered or damaged" in out["error"] and _nothing_in(tmp_path / "fresh")


@pytest.mark.prefect
def test_the_nightly_flow_records_its_outcome_and_publishes_counts_only(archive, prefect_server):
    a = archive
    d = a.new_dossier("anna")
    (a.home / "quarantine" / "zz").mkdir()
    (a.home / "quarantine" / "zz" / "stray.bin").write_bytes(b"?")
    p = subprocess.run(
        [sys.executable, "-c", "from dossier.deployments import integrity_check; integrity_check()"],
        env=a.env("nobody-in-particular"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode != 0 and "IntegrityProblems" in p.stderr
    status = a.ok("status", user="olaf")["integrity"]
    assert (status["by"], status["outcome"]) == ("system:integrity", "failed") and "1 unexpected" in status["detail"]
    body = json.dumps({"artifacts": {"key": {"any_": ["integrity-check"]}}, "sort": "CREATED_DESC"}).encode()
    req = urllib.request.Request(
        f"{prefect_server.url}/artifacts/filter", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        texts = [x["data"] for x in json.loads(resp.read())]
    assert any("| 0 | 0 | 0 | 1 | intact" in t for t in texts)
    assert not any(needle in t for t in texts for needle in ("stray", "quarantine/", d))
    assert witness.read(a.home)  # the chain head was witnessed
