"""Clients' rights through the real `dossier` command on a real scan (tesseract, zbar, pikepdf,
Prefect): the access export opened and checked, a disclosure refused and then given under
consent, a rectification that leaves no old name in plain text anywhere under the data home.

One small scan: two one-page documents for two clients, so the export can show it holds nothing
of the other.
"""

from __future__ import annotations

import hashlib
import io
import json
import stat
import subprocess
import zipfile

import pikepdf
import pytest

from . import scanmaker as sm
from .conftest import files_containing

pytestmark = pytest.mark.prefect

CLIENT = "Jolanda Vreeswijk"
NEW_NAME = "Jolanda Bosch-Vreeswijk"
BSN = "111222333"
OTHER = "Karel Appelboom"
OTHER_BSN = "123456782"
MARKER = "Zwanenburgmarker"
OTHER_MARKER = "Kraaiennestmarker"


@pytest.fixture(scope="module")
def world(shared_archive, tmp_path_factory):
    a = shared_archive
    tmp = tmp_path_factory.mktemp("rights")
    d1 = a.new_dossier("anna", client_name=CLIENT, bsn=BSN)
    d2 = a.new_dossier("bert", client_name=OTHER, bsn=OTHER_BSN)

    def cover(dossier):
        return sm.pdf_page_image(a.cover(dossier, "cv", tmp / f"cover-{dossier}.pdf"))

    pages = [
        cover(d1),
        sm.text_page(sm.dutch_lines(40, seed=1, marker=MARKER)),
        cover(d2),
        sm.text_page(sm.dutch_lines(40, seed=2, marker=OTHER_MARKER)),
    ]
    result = a.ok("scan", sm.write_pdf(tmp / "batch.pdf", pages), user="olaf")["results"][0]
    assert result["status"] == "archived", result["reason"]
    (doc1,), (doc2,) = ([d["id"] for d in result["documents"] if d["dossier"] == n] for n in (d1, d2))
    return dict(a=a, tmp=tmp, d1=d1, d2=d2, doc1=doc1, doc2=doc2)


def _pdftotext(data: bytes) -> list[str]:
    out = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()
    return out.split("\f")[:-1]


def test_a_disclosure_needs_the_clients_consent_and_the_copy_is_watermarked(world):
    a, tmp, d1, doc1 = world["a"], world["tmp"], world["d1"], world["doc1"]
    refused = tmp / "refused.pdf"
    r = a.run("disclose", doc1, "--to", "Bakkerij De Vries", "--purpose", "cv-to-employer", "-o", refused, user="anna")
    assert r.rc == 3 and "consent" in r.data["error"] and not refused.exists()
    r = a.run("disclose", doc1, "--to", "Bakkerij De Vries", "--purpose", "cv-to-employer", "-o", refused, user="bert")
    assert r.rc == 3 and "may not" in r.data["error"] and not refused.exists()
    given = a.ok(
        "consent",
        "add",
        d1,
        "--purpose",
        "cv-to-employer",
        "--recipient",
        "Bakkerij De Vries",
        "--given",
        "2026-01-05",
        "--types",
        "cv",
        user="anna",
    )
    assert given["active"]
    copy = tmp / "voor-de-werkgever.pdf"
    sent = a.ok("disclose", doc1, "--to", "Bakkerij De Vries", "--purpose", "cv-to-employer", "-o", copy, user="anna")
    assert sent["path"] == str(copy) and stat.S_IMODE(copy.stat().st_mode) == 0o600
    data = copy.read_bytes()
    assert hashlib.sha256(data).hexdigest() == sent["sha256"]
    texts = _pdftotext(data)
    assert len(texts) == sent["pages"] == 1
    assert all("Verstrekt aan Bakkerij De Vries op" in " ".join(t.split()) for t in texts)
    assert MARKER in texts[0]  # the scanned page and its text layer are still there
    listed = a.ok("disclosures", d1, user="petra")["disclosures"]
    assert [(x["disclosure"], x["consent"], x["recipient"]) for x in listed] == [
        (sent["disclosure"], given["consent"], "Bakkerij De Vries")
    ]
    events = a.ok("audit", "show", "--dossier", d1)["events"]
    assert ("anna", "documents.disclose", "refused") in {(e["actor"], e["action"], e["outcome"]) for e in events}
    assert ("bert", "documents.disclose", "refused") in {(e["actor"], e["action"], e["outcome"]) for e in events}


def test_the_access_export_holds_everything_on_the_client_and_nothing_of_another(world):
    a, tmp, d1, d2, doc1, doc2 = (world[k] for k in ("a", "tmp", "d1", "d2", "doc1", "doc2"))
    a.ok("get", doc1, "-o", tmp / "gelezen.pdf", user="anna")  # a read the client will see
    a.ok("paper", "register", d1, "--room", "1.12", "--cabinet", "K3", user="olaf")
    rid = a.ok("request", "open", d1, "--kind", "access", "--received", "2026-01-31", "--via", "letter")["request"]
    target = tmp / "inzage.zip"
    out = a.ok("request", "export", rid, "-o", target)
    assert out["documents"] == 1 and stat.S_IMODE(target.stat().st_mode) == 0o600
    raw = target.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == out["sha256"]
    z = zipfile.ZipFile(io.BytesIO(raw))
    m = json.loads(z.read("manifest.json"))
    assert (m["dossier"]["dossier"], m["dossier"]["client_name"], m["dossier"]["bsn"]) == (d1, CLIENT, BSN)
    (doc,) = m["documents"]
    pdf_bytes = z.read(doc["file"])
    assert doc["id"] == doc1 and hashlib.sha256(pdf_bytes).hexdigest() == doc["sha256"]
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:  # decrypted: opens without a password
        assert len(pdf.pages) == doc["pages"] == 1
    assert MARKER in doc["page_texts"][0] and MARKER in _pdftotext(pdf_bytes)[0]
    assert m["paper"]["current"]["cabinet"] == "K3" and m["paper"]["history"][0]["action"] == "register"
    assert [r["request"] for r in m["requests"]] == [rid]
    seen = {(e["actor"], e["action"], e["channel"], e["document"]) for e in m["audit_events"]}
    assert ("anna", "document.read", "cli", doc1) in seen  # who saw what, when, through which channel
    assert ("olaf", "document.archive", doc1) in {(e["actor"], e["action"], e["document"]) for e in m["audit_events"]}
    html = z.read("overzicht.html").decode()
    assert "Overzicht van uw gegevens" in html and CLIENT in html and "document geopend" in html
    # Nothing of the other client: not their number, name, BSN, document or its text.
    everything = b"".join(z.read(n) for n in z.namelist()) + "".join(_pdftotext(pdf_bytes)).encode()
    for foreign in (d2, OTHER, "Appelboom", OTHER_BSN, doc2, OTHER_MARKER):
        assert foreign.encode() not in everything, foreign
    assert len(z.namelist()) == 3
    # The export is recorded with who made it and the ZIP's hash; no overwrite without --force.
    events = a.ok("audit", "show", "--dossier", d1)["events"]
    assert any(
        e["action"] == "request.export" and e["actor"] == "petra" and out["sha256"] in e["detail"] for e in events
    )
    again = a.run("request", "export", rid, "-o", target)
    assert again.rc == 1 and "--force" in again.data["error"] and target.read_bytes() == raw
    assert a.run("request", "export", rid, "-o", tmp / "olaf.zip", user="olaf").rc == 3


def test_rectification_leaves_no_old_name_in_plain_text_and_the_export_keeps_it(world, prefect_server):
    a, tmp, d1, doc1 = world["a"], world["tmp"], world["d1"], world["doc1"]
    rid = a.ok("request", "open", d1, "--kind", "rectification", "--received", "2026-02-02")["request"]
    out = a.ok("correct", d1, "--client-name", NEW_NAME, "--request", rid)
    assert out["dossier"] == d1 and [n["recipient"] for n in out["notify"]] == ["Bakkerij De Vries"]
    note = a.ok("correct", d1, "--note-on", doc1, "--text", "Werkervaring bij de bakkerij was 2019-2021.")
    assert note["document"] == doc1
    assert a.ok("show", d1, user="anna")["client_name"] == NEW_NAME
    listed = a.ok("docs", d1, user="anna")["documents"]
    assert listed[0]["corrections"][0]["text"] == "Werkervaring bij de bakkerij was 2019-2021."
    assert a.run("correct", d1, "--bsn", "123456789").rc == 2  # elfproef
    assert a.run("correct", d1, "--client-name", "X", user="anna").rc == 3
    a.ok("request", "close", rid, "--outcome", "done")
    # Neither name (nor the note) is readable anywhere under the data home or in Prefect's database.
    needles = [
        CLIENT.encode(),
        b"Vreeswijk",
        NEW_NAME.encode(),
        CLIENT.encode("utf-16-le"),
        b"Werkervaring bij de bakkerij",
    ]
    assert files_containing(needles, a.home, prefect_server.home) == []
    control = tmp / "control"
    control.mkdir()
    (control / "brief.txt").write_text(f"{CLIENT} / {NEW_NAME}")
    assert len(files_containing(needles, control)) == 3  # the search does find them where they are
    # The old name is kept, sealed, and handed to the client with the export.
    access = a.ok("request", "open", d1, "--kind", "access", "--received", "2026-02-03")["request"]
    a.ok("request", "export", access, "-o", tmp / "na-correctie.zip")
    m = json.loads(zipfile.ZipFile(tmp / "na-correctie.zip").read("manifest.json"))
    assert m["dossier"]["client_name"] == NEW_NAME
    assert [(h["field"], h["old_value"], h["request"]) for h in m["history"]] == [("client_name", CLIENT, rid)]
    assert m["documents"][0]["corrections"][0]["text"].startswith("Werkervaring")
    assert a.ok("audit", "verify")["ok"]
