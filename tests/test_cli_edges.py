"""The operator's console at its edges (issues 16 and 17): where `get -o` writes, what `scan`
refuses at once, the key the catalog belongs to, input that is not text, usage errors, ids.

No OCR and no Prefect here: documents are filed through the archive's own path directly.
"""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from dossier.settings import Settings
from dossier.wiring import build_vault

from .conftest import BIN, file_document, make_archive


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("edges")
    a = make_archive(tmp / "home", None)
    number = a.new_dossier("anna", client_name="Jolanda Vreeswijk")
    vault = build_vault(Settings(home=a.home))
    doc = file_document(vault, number, "gesprek over werkhervatting")
    return dict(a=a, tmp=tmp, number=number, doc=doc, vault=vault)


def _one_line(r) -> str:
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: "), r.stderr
    return r.stderr


def test_get_writes_into_a_folder_under_a_name_that_says_what_it_is(world):
    a, out = world["a"], world["tmp"] / "folder"
    out.mkdir()
    got = a.ok("get", world["doc"], "-o", out, user="anna")
    path = out / f"{world['number']}_aantekeningen_{world['doc'][:8]}.pdf"
    assert got["path"] == str(path) and path.read_bytes().startswith(b"%PDF")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_get_never_overwrites_without_force_and_never_writes_into_a_device(world):
    a, target = world["a"], world["tmp"] / "note.pdf"
    target.write_text("mijn eigen bestand")
    r = a.run("get", world["doc"], "-o", target, user="anna")
    assert r.rc == 1 and "already exists" in _one_line(r) and target.read_text() == "mijn eigen bestand"
    assert a.ok("get", world["doc"], "-o", target, "--force", user="anna")["pages"] == 1
    assert target.read_bytes().startswith(b"%PDF")
    device = world["tmp"] / "nul"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
    fifo = world["tmp"] / "fifo"
    os.mkfifo(fifo)
    for bad in (device, fifo):
        r = a.run("get", world["doc"], "-o", bad, "--force", user="anna")
        assert r.rc == 2 and "not a regular file" in _one_line(r)
    assert stat.S_ISCHR(device.stat().st_mode)  # still a device, not a PDF


def test_get_to_standard_output_and_by_a_unique_prefix_in_any_case(world):
    a = world["a"]
    p = subprocess.run(
        [str(BIN / "dossier"), "get", world["doc"][:8].upper(), "-o", "-"], env=a.env("anna"), capture_output=True
    )
    assert p.returncode == 0 and p.stdout.startswith(b"%PDF") and p.stderr == b""
    r = a.run("get", world["doc"][:8], "-o", "-", user="anna")  # --json needs stdout for itself
    assert r.rc == 2 and "standard output" in _one_line(r)
    r = a.run("get", "abc", "-o", world["tmp"] / "x.pdf", user="anna")
    assert r.rc == 2 and "6 or more" in _one_line(r)


def test_a_read_is_recorded_before_the_plaintext_leaves(world):
    a = world["a"]
    before = _events(a, "document.read")
    a.ok("get", world["doc"], "-o", world["tmp"] / "read-once.pdf", user="anna")
    assert _events(a, "document.read") == before + 1
    r = a.run("get", world["doc"], "-o", world["tmp"] / "bert.pdf", user="bert")
    assert r.rc == 3 and not (world["tmp"] / "bert.pdf").exists()


def _events(a, action: str) -> int:
    return a.sql("SELECT count(*) FROM audit_events WHERE action = ?", action)[0][0]


def test_scan_refuses_what_is_not_a_scan_at_once_and_writes_nothing(world):
    a = world["a"]
    notes = world["tmp"] / "notes.txt"
    notes.write_text("losse aantekeningen")
    scans_before = _count(a, "scans")
    for bad, words in ((notes, "not a scan"), (world["tmp"], "not a regular file")):
        r = a.run("scan", bad, user="olaf")
        assert r.rc == 2 and words in _one_line(r)
    assert _count(a, "scans") == scans_before and list((a.home / "work").iterdir()) == []


def _count(a, table: str) -> int:
    return a.sql(f"SELECT count(*) FROM {table}")[0][0]


@pytest.mark.parametrize("name", ["Jan\x1b[2J de Vries", "x" * 100_000])
def test_names_are_printable_text_of_bounded_length(world, name):
    r = world["a"].run("new", "--coach", "anna", "--client-name", name, user="olaf")
    assert r.rc == 2 and ("control characters" in r.stderr or "too long" in r.stderr)
    assert "\x1b" not in r.stderr and len(r.stderr) < 300


def test_a_typo_gets_a_suggestion_and_advice_the_role_can_follow(world):
    r = world["a"].run("new", "--coach", "anne", user="olaf")
    assert r.rc == 2 and "did you mean anna?" in _one_line(r)
    r = world["a"].run("new", "--coach", "de heer Jansen", user="olaf")
    assert r.rc == 2 and "ask the privacy officer" in r.stderr and "user add" not in r.stderr


def test_usage_is_one_line_and_help_speaks_plainly(world):
    a = world["a"]
    r = a.run("cover", world["number"], user="olaf")
    assert r.rc == 2 and "missing option '--type'" in _one_line(r) and r.data == {"error": "missing option '--type'"}
    bare = subprocess.run([str(BIN / "dossier")], env=a.env("olaf"), capture_output=True, text=True)
    assert bare.returncode == 0 and "Usage: dossier" in bare.stdout
    version = subprocess.run([str(BIN / "dossier"), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("dossier ")
    help_ = subprocess.run([str(BIN / "dossier"), "scan", "-h"], capture_output=True, text=True).stdout
    assert "FILE..." in help_ and "<" not in help_ and "{" not in help_


def test_the_catalog_knows_its_key(tmp_path):
    a = make_archive(tmp_path / "home", None)
    key = a.home / "keys" / "master.key"
    original = key.read_bytes()
    key_id = a.ok("init")["key_id"]
    key.rename(tmp_path / "away.key")
    r = a.run("docs", "D-2026-0001", user="anna")
    assert r.rc == 1 and key_id in _one_line(r) and "missing" in r.stderr
    r = a.run("init")
    assert r.rc == 1 and "will not make a new key" in _one_line(r) and not key.exists()
    other = make_archive(tmp_path / "other", None)
    key.write_bytes((other.home / "keys" / "master.key").read_bytes())
    key.chmod(0o600)
    r = a.run("new", "--coach", "anna", user="olaf")
    assert r.rc == 1 and f"key id {key_id}" in _one_line(r) and "Nothing was changed" in r.stderr
    key.write_bytes(original)
    key.chmod(0o640)
    r = a.run("list", user="olaf")
    assert r.rc == 1 and f"chmod 600 {key}" in _one_line(r)
    key.chmod(0o600)
    key.write_text("stuk")
    r = a.run("list", user="olaf")
    assert r.rc == 1 and "damaged" in _one_line(r)
    key.write_bytes(original)
    assert a.ok("list", user="olaf")["dossiers"] == []
