"""The command's edges: bad input gets one clear line and a non-zero exit, nothing half-written;
roles are enforced; the audit chain can be verified from the command line."""

from __future__ import annotations

import pytest

from .conftest import catalog


@pytest.fixture(scope="module")
def cli(shared_archive):
    a = shared_archive
    a.d1 = a.new_dossier("anna")
    return a


@pytest.mark.parametrize(
    "args,code,words",
    [
        (("new", "--coach", "anna", "--bsn", "123456789"), 2, "elfproef"),
        (("new", "--coach", "anna", "--start", "01-03-2026"), 2, "YYYY-MM-DD"),
        (("new", "--coach", "olaf"), 2, "is not a coach"),
        (("cover", "D-2026-0001", "--type", "recept", "-o", "/tmp/x.pdf"), 2, "unknown document type"),
        (("cover", "2026-1", "--type", "cv", "-o", "/tmp/x.pdf"), 2, "not a dossier number"),
        (("cover", "D-2026-0999", "--type", "cv", "-o", "/tmp/x.pdf"), 4, "does not exist"),
        (("cover", "D-2026-0001", "--type", "cv", "-o", "/nonexistent/dir/x.pdf"), 2, "does not exist"),
        (("scan", "/nonexistent/scan.pdf"), 2, "not a file"),
        (("get", "nothex", "-o", "/tmp/x.pdf"), 2, "not a document id"),
    ],
)
def test_bad_input_is_one_clear_line(cli, args, code, words):
    r = cli.run(*args, user="olaf")
    assert r.rc == code, r.stderr
    assert words in r.data["error"]
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ")


def test_bsn_is_never_echoed(cli):
    r = cli.run("new", "--coach", "anna", "--bsn", "123456789", user="olaf")
    assert "123456789" not in r.stderr + r.stdout


def test_failed_cover_leaves_nothing_behind(cli):
    before = cli.sql("SELECT count(*) FROM cover_sheets")
    assert cli.run("cover", cli.d1, "--type", "cv", "-o", "/nonexistent/dir/x.pdf", user="olaf").rc == 2
    after = cli.sql("SELECT count(*) FROM cover_sheets")
    assert before == after


def test_unknown_user_may_do_nothing(cli):
    r = cli.run("docs", cli.d1, user="mallory")
    assert r.rc == 3 and "not known" in r.data["error"]


def test_only_the_privacy_officer_manages_users(cli):
    assert cli.run("user", "add", "eve", "--role", "privacy", user="olaf").rc == 3
    assert cli.run("user", "add", "eve", "--role", "boss").rc == 2


def test_init_is_safe_to_repeat(cli):
    key = (cli.home / "keys" / "master.key").read_bytes()
    out = cli.ok("init", user="someone-else")
    assert out["home"] == str(cli.home)
    assert (cli.home / "keys" / "master.key").read_bytes() == key
    assert cli.run("docs", cli.d1, user="someone-else").rc == 3  # repeating init made nobody privacy officer
    assert oct((cli.home / "keys" / "master.key").stat().st_mode & 0o777) == "0o600"


def test_human_output_without_json(cli):
    r = cli.run("docs", cli.d1, user="anna", json_out=False)
    assert r.rc == 0 and "no documents yet" in r.stdout


def test_audit_verify_detects_an_edited_event(archive):
    assert archive.ok("audit", "verify")["ok"]
    with catalog(archive.home) as con:
        con.execute("DROP TRIGGER audit_no_update")  # an attacker with file access
        con.execute("UPDATE audit_events SET actor='someone' WHERE seq=2")
    r = archive.run("audit", "verify")
    assert r.rc == 5 and r.data["ok"] is False and r.data["first_bad"] == 2
    assert "tampered" in r.stderr
