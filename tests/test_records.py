"""Paper dossiers, lifecycle and retention through the real `dossier` command and Prefect.

One module-wide archive gets three real scanned documents (one per dossier). Then one dossier is
closed so that it becomes due on 2026-03-10, one is closed long ago but put on legal hold, and one
is kept; retention runs dated the day before, the day itself, and the day itself again. The tests
then look at what was destroyed, that it cannot be read back by any means left, what was left
alone, the paper files, the refusals, the destruction log, the Prefect artifact and the audit log.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request

import pikepdf
import pytest

from archive import crypto
from archive.keys import DossierKeys, FileKeyProvider
from archive.retention import destroy_on, local_today

from . import scanmaker as sm
from .conftest import files_containing

CLIENT = "Jolanda Vreeswijk"
BSN = "111222333"
EMPLOYER = "Bakkerij Zwanenburg"
MARKER_GONE, MARKER_KEPT = "Kraaienhorstmarker", "Meeuwenduinmarker"
HOLD_REASON = "Klacht bij de geschillencommissie, zaak 2026-17"
DUE = "2026-03-10"  # the due date of the dossier that ended on 2025-03-10
# The kept dossier ends today (the app's today, in Amsterdam): not due for a year, whenever this runs.
KEPT_END = local_today()


def _sql(a, query: str, *args):
    return a.sql(query, *args)


@pytest.fixture(scope="module")
def world(shared_archive, tmp_path_factory):
    a = shared_archive
    tmp = tmp_path_factory.mktemp("records")
    gone = a.new_dossier("anna", client_name=CLIENT, bsn=BSN, commissioner=EMPLOYER, start="2024-01-01")
    kept = a.new_dossier("anna", start="2024-01-01")
    held = a.new_dossier("bert", start="2024-01-01")

    def cover_image(dossier, doc_type):
        return sm.pdf_page_image(a.cover(dossier, doc_type, tmp / f"cover-{dossier}-{doc_type}.pdf"))

    pages = [
        cover_image(gone, "aantekeningen"),
        sm.text_page(sm.dutch_lines(60, seed=11, marker=MARKER_GONE)),
        cover_image(kept, "werkplan"),
        sm.text_page(sm.dutch_lines(60, seed=12, marker=MARKER_KEPT)),
        cover_image(held, "cv"),
        sm.text_page(sm.dutch_lines(60, seed=13)),
    ]
    result = a.ok("scan", sm.write_pdf(tmp / "batch.pdf", pages), user="olaf")["results"][0]
    assert result["status"] == "archived", result["reason"]
    docs = {d["dossier"]: d["id"] for d in result["documents"]}
    assert set(docs) == {gone, kept, held}

    # Before destruction: a copy of the archived file (as a backup would hold it) and its wrapped key.
    (file_name,) = _sql(a, "SELECT file_name FROM documents WHERE id=?", docs[gone])[0]
    archived = a.home / "archive" / file_name[:2] / f"{file_name}.pdf"
    backup = tmp / "backup-copy.pdf"
    backup.write_bytes(archived.read_bytes())
    ((key_id, wrapped),) = _sql(a, "SELECT key_id, wrapped FROM data_keys WHERE dossier=?", gone)

    a.ok("paper", "register", gone, "--room", "Archief 1.12", "--cabinet", "K1", "--shelf", "2", user="olaf")
    a.ok("paper", "register", kept, "--room", "Archief 1.12", "--cabinet", "K1", "--shelf", "3", user="olaf")
    a.ok("paper", "checkout", gone, "--to", "anna", "--due", "2099-01-31", user="olaf")  # out when it falls due
    a.ok("close", gone, "--end", "2025-03-10", user="olaf")
    a.ok("close", held, "--end", "2025-01-01", user="olaf")
    a.ok("close", kept, "--end", KEPT_END.isoformat(), user="olaf")
    a.ok("hold", held, "--reason", HOLD_REASON)

    w = dict(
        a=a,
        tmp=tmp,
        gone=gone,
        kept=kept,
        held=held,
        docs=docs,
        archived=archived,
        backup=backup,
        key_id=key_id,
        wrapped=wrapped,
    )
    w["due_before"] = a.ok("retention", "due", "--today", "2026-03-09", user="olaf")
    w["due_on"] = a.ok("retention", "due", "--today", DUE, user="olaf")
    w["run_before"] = a.ok("retention", "run", "--today", "2026-03-09")
    w["run_on"] = a.ok("retention", "run", "--today", DUE)
    w["run_again"] = a.ok("retention", "run", "--today", DUE)
    return w


# ---- dates and holds ----------------------------------------------------------------------------


def test_due_exactly_on_end_plus_one_year_not_the_day_before(world):
    gone, held = world["gone"], world["held"]
    before, on = world["due_before"], world["due_on"]
    assert [e["dossier"] for e in before["due"]] == [held]  # held is long due, but on hold
    assert [(e["dossier"], e["destroy_on"]) for e in before["upcoming"]] == [(gone, DUE)]
    due = {e["dossier"]: e for e in on["due"]}
    assert set(due) == {gone, held}
    assert due[gone]["destroy_on"] == DUE and due[gone]["digital"] == "pending" and due[gone]["documents"] == 1
    assert due[gone]["paper"] == {
        "room": "Archief 1.12",
        "cabinet": "K1",
        "shelf": "2",
        "status": "checked-out",
        "holder": "anna",
        "due": "2099-01-31",
    }
    assert due[held]["hold"]["reason"] == HOLD_REASON and due[held]["paper"] is None
    assert due[gone]["hold"] is None


def test_open_dossiers_are_never_due(world):
    a = world["a"]
    still_open = a.new_dossier("anna", start="2024-01-01")
    far = a.ok("retention", "due", "--today", "2099-12-31", user="olaf")
    listed = {e["dossier"] for e in far["due"] + far["upcoming"]}
    assert still_open not in listed and world["kept"] in listed


def test_the_run_destroys_on_the_day_and_respects_the_hold(world):
    gone, held = world["gone"], world["held"]
    before, on = world["run_before"], world["run_on"]
    assert before["destroyed"] == [] and [s["dossier"] for s in before["skipped"]] == [held]
    assert on["destroyed"] == [{"dossier": gone, "documents": 1}]
    assert [s["dossier"] for s in on["skipped"]] == [held] and "legal hold" in on["skipped"][0]["reason"]
    assert HOLD_REASON not in json.dumps(on)
    assert on["paper_worklist"][0]["dossier"] == gone
    assert on["paper_worklist"][0]["location"] == {"room": "Archief 1.12", "cabinet": "K1", "shelf": "2"}
    status = dict(_sql(world["a"], "SELECT number, status FROM dossiers"))
    assert status[gone] == "destroyed" and status[held] == "closed" and status[world["kept"]] == "closed"


def test_a_repeated_run_is_harmless(world):
    again = world["run_again"]
    assert again["destroyed"] == [] and [s["dossier"] for s in again["skipped"]] == [world["held"]]
    assert again["paper_worklist"] == world["run_on"]["paper_worklist"]
    records = world["a"].ok("retention", "log", "--dossier", world["gone"])["records"]
    assert [r["scope"] for r in records] == ["digital"]
    assert world["a"].ok("audit", "verify")["ok"]


def test_documents_of_other_dossiers_are_untouched(world):
    a, docs, tmp = world["a"], world["docs"], world["tmp"]
    assert a.ok("get", docs[world["kept"]], "-o", tmp / "kept.pdf", user="anna")["pages"] == 1
    assert a.ok("get", docs[world["held"]], "-o", tmp / "held.pdf", user="bert")["pages"] == 1
    hits = a.ok("search", MARKER_KEPT.lower(), user="anna")["hits"]
    assert [(h["dossier"], h["document"]) for h in hits] == [(world["kept"], docs[world["kept"]])]
    assert len(_sql(a, "SELECT key_id FROM data_keys WHERE dossier IN (?, ?)", world["kept"], world["held"])) == 2


# ---- crypto-shredding ---------------------------------------------------------------------------


def test_crypto_shredding_a_copy_taken_before_cannot_be_decrypted(world):
    a, gone, doc_id, backup = world["a"], world["gone"], world["docs"][world["gone"]], world["backup"]
    provider = FileKeyProvider(a.home / "keys" / "master.key")
    # Control: the wrapped key as it was, with the master key, opens the copy (so the copy is a real one).
    before = DossierKeys(gone, provider.unwrap(world["wrapped"], gone.encode()))
    pikepdf.open(backup, password=before.pdf_password(doc_id)).close()

    # Now: the key, the file, the page texts and the search tokens are gone from the archive.
    assert _sql(a, "SELECT count(*) FROM data_keys WHERE dossier=?", gone) == [(0,)]
    assert not world["archived"].exists()
    assert _sql(a, "SELECT count(*) FROM page_texts WHERE document_id=?", doc_id) == [(0,)]
    assert _sql(a, "SELECT count(*) FROM search_tokens WHERE document_id=?", doc_id) == [(0,)]
    # The wrapped key's bytes are nowhere under the data home (catalog, its write-ahead log, anything).
    assert files_containing([world["wrapped"]], a.home) == []

    # Everything left in the key store and catalog, through the derivation path the vault uses.
    remaining = _sql(a, "SELECT dossier, wrapped FROM data_keys")
    assert remaining
    candidates = []
    for number, wrapped in remaining:
        candidates.append(provider.unwrap(wrapped, number.encode()))
        with pytest.raises(crypto.DecryptionFailed):
            provider.unwrap(wrapped, gone.encode())  # no remaining key belongs to the destroyed dossier
    candidates += [provider._master(), provider.derive("wrap-data-keys")]
    for key in candidates:
        with pytest.raises(pikepdf.PasswordError):
            pikepdf.open(backup, password=DossierKeys(gone, key).pdf_password(doc_id))
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(backup)


def test_the_catalog_keeps_no_identifying_data_of_the_destroyed_dossier(world, prefect_server):
    a, gone = world["a"], world["gone"]
    assert _sql(
        a, "SELECT client_name_sealed, bsn_sealed, commissioner, status FROM dossiers WHERE number=?", gone
    ) == [(None, None, None, "destroyed")]
    needles = [
        CLIENT.encode(),
        b"Vreeswijk",
        BSN.encode(),
        EMPLOYER.encode(),
        MARKER_GONE.encode(),
        MARKER_GONE.lower().encode(),
    ]
    assert files_containing(needles, a.home, prefect_server.home) == []


def test_get_on_a_destroyed_document_says_it_was_destroyed_and_when(world):
    r = world["a"].run("get", world["docs"][world["gone"]], "-o", world["tmp"] / "gone.pdf", user="anna")
    assert r.rc == 4
    assert re.search(r"was destroyed on \d{4}-\d{2}-\d{2}", r.data["error"])
    assert not (world["tmp"] / "gone.pdf").exists()
    assert world["a"].ok("search", MARKER_GONE.lower())["hits"] == []


# ---- paper files --------------------------------------------------------------------------------


def test_paper_history_check_out_and_destruction(world):
    a, gone = world["a"], world["gone"]
    worklist = world["run_on"]["paper_worklist"]
    assert [(p["dossier"], p["status"], p["holder"]) for p in worklist] == [(gone, "checked-out", "anna")]
    r = a.run("paper", "destroyed", gone, "--by", "olaf", "--witness", "petra", user="olaf")
    assert r.rc == 1 and "checked out to anna" in r.data["error"] and "check it in" in r.data["error"]
    a.ok("paper", "checkin", gone, "--shelf", "4", user="olaf")
    r = a.run("paper", "checkout", gone, "--to", "anna", user="olaf")  # its dossier is destroyed: it stays in
    assert r.rc == 3 and "destruction worklist" in r.data["error"]
    done = a.ok(
        "paper", "destroyed", gone, "--by", "olaf", "--witness", "petra", "--method", "shredded P-4", user="olaf"
    )
    assert done["status"] == "destroyed" and done["record"]["paper"] == {
        "by": "olaf",
        "witness": "petra",
        "certificate": None,
        "method": "shredded P-4",
    }
    shown = a.ok("paper", "show", gone, user="olaf")
    assert (shown["status"], shown["destroy_on"], shown["location"]["shelf"]) == ("destroyed", DUE, "4")
    assert [(h["action"], h["by"]) for h in shown["history"]] == [
        ("register", "olaf"),
        ("checkout", "olaf"),
        ("checkin", "olaf"),
        ("destroy", "olaf"),
    ]
    assert shown["history"][0]["location"]["shelf"] == "2" and shown["history"][2]["location"]["shelf"] == "4"
    assert all(re.match(r"\d{4}-\d{2}-\d{2}T", h["at"]) for h in shown["history"])
    assert shown["history"][1]["holder"] == "anna" and shown["history"][1]["due"] == "2099-01-31"
    # Destroyed: no second destruction, no check-out; no longer on any worklist.
    for args in (
        ("paper", "checkout", gone, "--to", "anna"),
        ("paper", "destroyed", gone, "--by", "olaf", "--witness", "petra"),
        ("paper", "move", gone, "--shelf", "1"),
    ):
        r = a.run(*args, user="olaf")
        assert r.rc == 4 and "was destroyed on" in r.data["error"]
    assert gone not in [e["dossier"] for e in a.ok("retention", "due", user="olaf")["due"]]


def test_paper_refusals(world):
    a, kept, held = world["a"], world["kept"], world["held"]
    r = a.run("paper", "register", kept, "--room", "Archief 2", "--cabinet", "K9", user="olaf")
    assert r.rc == 1 and "already registered" in r.data["error"] and r.stderr.count("\n") == 1
    # Not due yet: refused with the date it becomes due.
    r = a.run("paper", "destroyed", kept, "--by", "olaf", "--certificate", "SC-1", user="olaf")
    assert r.rc == 3 and f"not due for destruction until {destroy_on(KEPT_END)}" in r.data["error"]
    a.ok("paper", "checkout", kept, "--to", "anna", user="olaf")
    r = a.run("paper", "checkout", kept, "--to", "olaf", user="olaf")
    assert r.rc == 1 and "already checked out to anna" in r.data["error"]
    r = a.run("paper", "checkout", held, "--to", "bert", user="olaf")
    assert r.rc == 4 and "no paper file registered" in r.data["error"]
    a.ok("paper", "register", held, "--room", "Archief 1.12", "--cabinet", "K2", user="olaf")
    r = a.run("paper", "checkout", held, "--to", "anna", user="olaf")
    assert r.rc == 3 and "not the coach" in r.data["error"]
    r = a.run("paper", "destroyed", held, "--by", "olaf", "--witness", "petra", user="olaf")
    assert r.rc == 3 and "legal hold" in r.data["error"]
    r = a.run("paper", "destroyed", held, "--by", "olaf", user="olaf")
    assert r.rc == 2 and "--witness" in r.data["error"]
    refused = _sql(a, "SELECT action, dossier, detail FROM audit_events WHERE outcome='refused' AND actor='olaf'")
    assert ("paper.manage", kept, "not-due") in refused and ("paper.manage", held, "on-hold") in refused


def test_paper_list_is_a_cabinet_inventory(world):
    a = world["a"]
    listed = a.ok("paper", "list", "--cabinet", "K1", user="olaf")
    assert [(f["dossier"], f["location"]["cabinet"]) for f in listed["files"]] == [(world["kept"], "K1")]
    text = a.run("paper", "list", user="olaf", json_out=False).stdout
    assert "Cabinet inventory" in text and "Room Archief 1.12 · cabinet K1" in text and world["kept"] in text
    assert a.ok("paper", "list", "--overdue", user="olaf")["files"] == []
    overdue = a.ok("retention", "due", "--today", "2099-12-31", user="olaf")["overdue_checkouts"]
    assert [o["dossier"] for o in overdue] == [world["kept"]]


# ---- who may do what ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,user",
    [
        (("hold", "{kept}", "--reason", "x"), "olaf"),
        (("release", "{held}"), "olaf"),
        (("erase", "{kept}", "--reason", "x"), "olaf"),
        (("retention", "run"), "olaf"),
        (("paper", "show", "{kept}"), "anna"),
        (("close", "{kept}", "--end", "2026-06-01"), "anna"),
        (("retention", "due"), "anna"),
        (("retention", "log"), "bert"),
    ],
)
def test_roles(world, args, user):
    args = [x.format(kept=world["kept"], held=world["held"]) for x in args]
    r = world["a"].run(*args, user=user)
    assert r.rc == 3 and "may not" in r.data["error"]


# ---- erasure, the log, the artifact, the audit trail --------------------------------------------


def test_erasure_destroys_now_with_a_reason_free_of_personal_data(world):
    a = world["a"]
    d = a.new_dossier("anna", client_name="Pieter de Boer", bsn="123456782")
    a.ok("paper", "register", d, "--room", "Archief 1.12", "--cabinet", "K3", user="olaf")
    for reason, words in (
        ("verzoek van Pieter", "client's name"),
        ("verzoek, BSN 123456782", "BSN"),
        ("mail van p.boer@example.nl", "e-mail"),
    ):
        r = a.run("erase", d, "--reason", reason)
        assert r.rc == 2 and words in r.data["error"]
        assert "Pieter" not in r.stderr and "123456782" not in r.stderr
    out = a.ok("erase", d, "--reason", "verzoek van de cliënt (AVG art. 17) per brief van 20-11")
    assert out["destroyed"] is True and out["paper"]["cabinet"] == "K3"
    r = a.run("erase", d, "--reason", "nogmaals")
    assert r.rc == 4 and "already destroyed" in r.data["error"]
    # Erased: the paper file may be destroyed at once, it need not wait for a due date.
    a.ok("paper", "destroyed", d, "--by", "Vernietiging BV", "--certificate", "VB-2026-0042", user="olaf")
    records = a.ok("retention", "log", "--dossier", d, user="olaf")["records"]
    assert [(r["scope"], r["rule"]) for r in records] == [("digital", "erasure"), ("paper", "erasure")]
    assert records[0]["reason"].startswith("verzoek van de cliënt") and records[0]["authorised_by"] == "petra"
    assert records[1]["paper"]["certificate"] == "VB-2026-0042" and records[1]["authorised_by"] == "petra"


def test_destruction_log_proves_what_happened_without_personal_data(world):
    a, gone = world["a"], world["gone"]
    log = a.ok("retention", "log")
    digital, paper = [r for r in log["records"] if r["dossier"] == gone]
    assert digital["scope"] == "digital" and digital["rule"] == "retention"
    assert (digital["trigger_date"], digital["end_date"]) == (DUE, "2025-03-10")
    assert digital["key_id"] == world["key_id"] and digital["performed_by"] == "petra"
    assert digital["counts"]["documents"] == 1 and digital["counts"]["files"] == 1
    assert digital["counts"]["page_texts"] == 1 and digital["counts"]["search_tokens"] > 10
    assert paper["scope"] == "paper" and paper["paper"]["witness"] == "petra" and paper["recorded_by"] == "olaf"
    dump = json.dumps(log) + a.run("retention", "log", json_out=False).stdout
    rows = [
        str(r)
        for t in ("destruction_records", "paper_events", "paper_files", "legal_holds")
        for r in _sql(a, f"SELECT * FROM {t}")
    ]
    for needle in (CLIENT, "Vreeswijk", "Jolanda", BSN, EMPLOYER, "Pieter de Boer", "123456782"):
        assert needle not in dump and needle not in " ".join(rows)


def test_prefect_artifact_holds_numbers_and_locations_only(world, prefect_server):
    body = json.dumps({"artifacts": {"key": {"any_": ["retention-run"]}}, "sort": "CREATED_DESC"}).encode()
    req = urllib.request.Request(
        f"{prefect_server.url}/artifacts/filter", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        artifacts = json.loads(resp.read())
    texts = [x["data"] for x in artifacts]
    assert any(world["gone"] in t and "Archief 1.12" in t and "| 1 |" in t for t in texts)
    for t in texts:
        for needle in (CLIENT, "Vreeswijk", BSN, EMPLOYER, HOLD_REASON, "geschillencommissie", "anna"):
            assert needle not in t


def test_the_scheduled_run_acts_as_a_system_user(world):
    a = world["a"]
    env = a.env("nobody-in-particular")
    p = subprocess.run(
        [
            sys.executable,
            "-c",
            "from dossier.deployments import retention_run; import json; print(json.dumps(retention_run()))",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert world["held"] in [s["dossier"] for s in summary["skipped"]]
    runs = _sql(a, "SELECT actor, role, outcome FROM audit_events WHERE action='retention.run'")
    assert ("system:retention", "system", "ok") in runs


def test_every_step_is_audited(world):
    a = world["a"]
    actions = {row[0] for row in _sql(a, "SELECT action FROM audit_events")}
    assert actions >= {
        "dossier.close",
        "dossier.hold",
        "dossier.destroy",
        "retention.run",
        "retention.due",
        "retention.log",
        "paper.register",
        "paper.checkout",
        "paper.checkin",
        "paper.destroy",
        "paper.show",
        "paper.list",
    }
    a.ok("release", world["held"])
    assert ("petra", "dossier.release", world["held"]) in _sql(
        a, "SELECT actor, action, dossier FROM audit_events WHERE outcome='ok'"
    )
    details = " ".join(str(r) for r in _sql(a, "SELECT detail FROM audit_events"))
    assert HOLD_REASON not in details and CLIENT not in details and BSN not in details
    assert a.ok("audit", "verify")["ok"]
