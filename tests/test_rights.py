"""Clients' rights, consent, disclosure and breaches through the use cases (services/), as the CLI
and the web app call them. Documents are filed through the archive itself (store, encrypt,
record), without a scan: the scan path has its own tests, and tests/test_rights_cli.py drives a
real scan through the `dossier` command.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import subprocess

import pikepdf
import pytest
from reportlab.pdfgen import canvas
from sqlalchemy import select

from archive.catalog import AuditEvent, Dossier
from archive.errors import BadInput, Conflict, NotFound, NotPermitted
from archive.rights import DocumentNote, FieldHistory, RightsRequest, field_history
from archive.vault import PageRecord
from services import audit_log, breach, consent, documents, dossiers, retention, rights
from services.access_export import export_access
from services.context import act_as
from services.status import system_status

BSN = "111222333"
NEW_BSN = "123456782"
NAME = "Jolanda Vreeswijk"


def _pdf(lines: list[str]) -> pikepdf.Pdf:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(595, 842))
    for line in lines:
        c.drawString(72, 720, line)
        c.showPage()
    c.save()
    return pikepdf.open(io.BytesIO(buf.getvalue()))


def file_document(app, number: str, doc_type: str, lines: list[str]) -> str:
    """File a document the way the scan flow does after OCR: encrypt, verify, record."""
    v = app.vault
    with v.sessions() as s:
        keys = v.dossier_keys(s, number)
    stored = v.store_document(keys, _pdf(lines), len(lines))
    with v.writer() as s:
        v.record_document(
            s,
            stored,
            doc_type=doc_type,
            pages=[PageRecord(line, 95.0, len(line.split()), False) for line in lines],
            scan_id=None,
            cover_serial=None,
        )
        s.commit()
    return stored.id


def _events(app, **where):
    with app.vault.sessions() as s:
        q = select(AuditEvent.actor, AuditEvent.action, AuditEvent.outcome, AuditEvent.dossier, AuditEvent.detail)
        for k, v in where.items():
            q = q.where(getattr(AuditEvent, k) == v)
        return s.execute(q.order_by(AuditEvent.seq)).all()


@pytest.fixture
def world(app):
    petra = act_as(app, "petra")
    d1 = dossiers.open_dossier(petra, coach="anna", client_name=NAME, bsn=BSN, start=dt.date(2025, 9, 1))["dossier"]
    d2 = dossiers.open_dossier(petra, coach="bert", client_name="Karel Appel")["dossier"]
    cv = file_document(app, d1, "cv", ["Curriculum vitae", "Werkervaring bakkerij"])
    plan = file_document(app, d1, "arbeidsdeskundig-rapport", ["Belastbaarheid beperkt"])
    return dict(app=app, petra=petra, d1=d1, d2=d2, cv=cv, plan=plan)


# ---- requests -----------------------------------------------------------------------------------


def test_a_request_is_due_in_a_month_extended_once_and_overdue_the_day_after(world):
    petra, d1 = world["petra"], world["d1"]
    r = rights.open_request(petra, d1, kind="access", received=dt.date(2024, 1, 31), via="letter")
    assert (r["received"], r["due"], r["kind"]) == ("2024-01-31", "2024-02-29", "access")
    rid = r["request"]
    listed = rights.list_requests(petra, day=dt.date(2024, 2, 29))["requests"]
    assert [(x["request"], x["status"], x["overdue"]) for x in listed] == [(rid, "open", False)]
    assert rights.list_requests(petra, day=dt.date(2024, 3, 1))["requests"][0]["overdue"]
    with pytest.raises(BadInput, match="personal data"):
        rights.extend_request(petra, rid, f"complex: dossier van {NAME.split()[1]}")
    with pytest.raises(BadInput, match="BSN"):
        rights.extend_request(petra, rid, f"BSN {BSN} in twee dossiers")
    extended = rights.extend_request(petra, rid, "veel documenten op papier, ook in het archief")
    assert extended["due"] == "2024-04-30" and extended["previous_due"] == "2024-02-29"
    assert "warning" in extended  # extended long after the first month (the client should have been told)
    with pytest.raises(Conflict, match="one extension"):
        rights.extend_request(petra, rid, "nog meer")
    with pytest.raises(BadInput, match="did you mean erasure"):
        rights.open_request(petra, d1, kind="erasre", received=petra.today)
    with pytest.raises(BadInput, match="in the future"):
        rights.open_request(petra, d1, kind="access", received=petra.today + dt.timedelta(days=1))
    with pytest.raises(BadInput, match="needs --note"):
        rights.close_request(petra, rid, outcome="refused")
    closed = rights.close_request(petra, rid, outcome="refused", note="kennelijk ongegrond, herhaald verzoek")
    assert closed["status"] == "refused"
    assert rights.list_requests(petra, open_only=True)["requests"] == []
    with pytest.raises(Conflict, match="already closed"):
        rights.close_request(petra, rid, outcome="done")


def test_requests_due_within_a_week_show_in_retention_due_and_status_for_the_privacy_officer(world):
    petra, d1 = world["petra"], world["d1"]
    soon = rights.open_request(petra, d1, kind="rectification", received=petra.today - dt.timedelta(days=25))
    rights.open_request(petra, d1, kind="access", received=petra.today)  # a month ahead: not yet
    due = retention.due(petra)["requests_due"]
    assert [x["request"] for x in due] == [soon["request"]]
    assert [x["request"] for x in system_status(petra)["requests_due"]] == [soon["request"]]
    office = act_as(world["app"], "olaf")
    assert retention.due(office)["requests_due"] is None  # not the office's business
    assert system_status(office)["requests_due"] is None


def test_an_erasure_request_erases_the_dossier_unless_it_is_on_hold_and_its_record_stays(world):
    petra, d1 = world["petra"], world["d1"]
    rid = rights.open_request(petra, d1, kind="erasure", received=petra.today, via="email")["request"]
    dossiers.place_hold(petra, d1, "klacht bij de geschillencommissie")
    with pytest.raises(NotPermitted, match="stays open.*legal hold"):
        rights.close_request(petra, rid, outcome="done")
    assert rights.list_requests(petra, open_only=True)["requests"][0]["request"] == rid
    with world["app"].vault.sessions() as s:
        assert s.get(Dossier, d1).status == "open"
    dossiers.release_hold(petra, d1)
    closed = rights.close_request(petra, rid, outcome="done", note="gewist op verzoek, bevestigd per brief")
    assert closed["erased"] and closed["destruction_record"] is not None
    with world["app"].vault.sessions() as s:
        assert s.get(Dossier, d1).status == "destroyed"
        r = s.get(RightsRequest, rid)
        assert (r.status, r.kind, r.dossier, r.destruction_record) == (
            "done",
            "erasure",
            d1,
            closed["destruction_record"],
        )
    assert retention.log(petra, d1)["records"][0]["rule"] == "erasure"
    with pytest.raises(NotFound, match="destroyed"):
        rights.open_request(petra, d1, kind="access", received=petra.today)


# ---- rectification ------------------------------------------------------------------------------


def test_rectification_replaces_name_and_bsn_keeps_the_old_sealed_and_notes_go_with_the_document(world):
    app, petra, d1, cv = world["app"], world["petra"], world["d1"], world["cv"]
    rid = rights.open_request(petra, d1, kind="rectification", received=petra.today)["request"]
    out = rights.correct(petra, d1, client_name="Jolanda Vreeswijk-Bos", request=rid)
    assert out == {"dossier": d1, "corrected": "client_name", "request": rid, "notify": []}
    rights.correct(petra, d1, bsn=NEW_BSN)
    assert [d["dossier"] for d in dossiers.find_dossiers(petra, bsn=NEW_BSN)["dossiers"]] == [d1]
    assert dossiers.find_dossiers(petra, bsn=BSN)["dossiers"] == []
    assert dossiers.show_dossier(petra, d1)["client_name"] == "Jolanda Vreeswijk-Bos"
    with pytest.raises(BadInput, match="elfproef"):
        rights.correct(petra, d1, bsn="123456789")
    with pytest.raises(BadInput, match="one of"):
        rights.correct(petra, d1, client_name="X", bsn=NEW_BSN)
    with pytest.raises(BadInput, match="not in dossier"):
        rights.correct(petra, world["d2"], note_on=cv, text="hoort hier niet")
    note = rights.correct(petra, d1, note_on=cv[:8], text="De werkervaring bij de bakkerij was 2019-2021, niet 2018.")
    assert note["document"] == cv and note["corrected"] == "note"
    with app.vault.sessions() as s:  # the old values are kept, sealed
        old = s.execute(select(FieldHistory).where(FieldHistory.dossier == d1)).scalars().all()
        assert [h.field for h in old] == ["client_name", "bsn"]
        assert all(NAME.encode() not in h.old_sealed and BSN.encode() not in h.old_sealed for h in old)
        keys = app.vault.dossier_keys(s, d1)
        assert [h["old_value"] for h in field_history(s, keys)] == [NAME, BSN]
    assert rights.document_corrections(act_as(app, "anna"), cv)["corrections"][0]["text"].startswith("De werk")
    with pytest.raises(NotPermitted):
        rights.document_corrections(act_as(app, "olaf"), cv)
    listed = {d["id"]: d for d in documents.list_documents(act_as(app, "anna"), d1)["documents"]}
    assert listed[cv]["corrections"][0]["text"].startswith("De werkervaring")
    assert listed[world["plan"]]["corrections"] == []
    office_view = {d["id"]: d for d in documents.list_documents(act_as(app, "olaf"), d1)["documents"]}
    assert office_view[cv]["corrections"][0]["text"] is None  # office staff see that a note exists only
    with pytest.raises(NotPermitted):
        rights.correct(act_as(app, "anna"), d1, client_name="Iemand Anders")
    # Erasing shreds the history and the notes with the dossier.
    dossiers.erase_dossier(petra, d1, "verzoek van de cliënt")
    with app.vault.sessions() as s:
        assert all(h.old_sealed is None for h in s.execute(select(FieldHistory)).scalars())
        assert all(n.text_sealed is None for n in s.execute(select(DocumentNote)).scalars())


def test_a_correction_lists_the_recipients_of_earlier_disclosures_for_art_19(world):
    petra, d1, cv = world["petra"], world["d1"], world["cv"]
    consent.add_consent(
        petra, d1, purpose="cv-to-employer", recipient="Bakkerij De Vries", given=petra.today, types=["cv"]
    )
    sent = consent.disclose(petra, cv, to="Bakkerij De Vries", purpose="cv-to-employer")
    out = rights.correct(petra, d1, note_on=cv, text="Diploma behaald in 2020.")
    assert [(n["disclosure"], n["recipient"]) for n in out["notify"]] == [(sent.disclosure, "Bakkerij De Vries")]
    assert rights.correct(petra, d1, note_on=world["plan"], text="Belastbaarheid herzien.")["notify"] == []


# ---- consent and disclosure ---------------------------------------------------------------------


def _page_texts(data: bytes) -> list[str]:
    out = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()
    return out.split("\f")[:-1]


def test_a_disclosed_copy_is_watermarked_on_every_page_and_recorded(world):
    app, petra, d1, cv = world["app"], world["petra"], world["d1"], world["cv"]
    anna = act_as(app, "anna", channel="web")
    c = consent.add_consent(
        anna, d1, purpose="cv-to-employer", recipient="Bakkerij De Vries", given=petra.today, types=["cv"]
    )
    assert c["active"] and c["types"] == ["cv"]
    sent = consent.disclose(anna, cv, to="bakkerij de vries", purpose="cv-to-employer")
    texts = _page_texts(sent.pdf)
    assert len(texts) == sent.pages == 2
    for text in texts:
        assert "Verstrekt aan Bakkerij De Vries op" in " ".join(text.split())
        assert sent.disclosure in text
    assert "Werkervaring bakkerij" in texts[1]  # the content is still there
    assert hashlib.sha256(sent.pdf).hexdigest() == sent.sha256
    listed = consent.list_disclosures(petra, d1)["disclosures"]
    assert [
        (x["disclosure"], x["recipient"], x["purpose"], x["consent"], x["sha256"], x["by"], x["channel"])
        for x in listed
    ] == [(sent.disclosure, "Bakkerij De Vries", "cv-to-employer", c["consent"], sent.sha256, "anna", "web")]
    assert ("anna", "document.disclose", "ok", d1) in {e[:4] for e in _events(app)}


def test_every_disclosure_without_a_covering_consent_is_refused_and_audited(world):
    app, petra, d1, cv, plan = world["app"], world["petra"], world["d1"], world["cv"], world["plan"]
    today = petra.today

    def refused(ctx, doc, to="Bakkerij De Vries", purpose="cv-to-employer"):
        with pytest.raises(NotPermitted) as e:
            consent.disclose(ctx, doc, to=to, purpose=purpose)
        assert e.value.exit_code == 3
        return e.value.code

    assert refused(petra, cv) == "consent-no-consent"
    old = consent.add_consent(
        petra,
        d1,
        purpose="cv-to-employer",
        recipient="Bakkerij De Vries",
        given=today - dt.timedelta(days=400),
        until=today - dt.timedelta(days=1),
        types=["cv"],
    )
    assert refused(petra, cv) == "consent-expired"
    c = consent.add_consent(
        petra,
        d1,
        purpose="cv-to-employer",
        recipient="Bakkerij De Vries",
        given=today - dt.timedelta(days=10),
        types=["cv"],
    )
    assert refused(petra, cv, to="Slagerij Jansen") == "consent-no-consent"
    assert refused(petra, cv, purpose="plaatsing-overleg") == "consent-other-purpose"
    assert refused(petra, plan) == "consent-other-type"
    assert refused(act_as(app, "olaf"), cv) == "role"  # office staff
    assert refused(act_as(app, "bert"), cv) == "role"  # another client's coach
    withdrawn = consent.withdraw_consent(act_as(app, "anna"), c["consent"], today)
    assert withdrawn["withdrawn"] == today.isoformat() and not withdrawn["active"]
    assert refused(petra, cv) == "consent-withdrawn"
    with pytest.raises(Conflict, match="already withdrawn"):
        consent.withdraw_consent(petra, c["consent"], today)
    listed = consent.list_consents(petra, d1)["consents"]
    assert [(x["consent"], x["active"], x["withdrawn"]) for x in listed] == [
        (old["consent"], False, None),
        (c["consent"], False, today.isoformat()),
    ]
    refusals = [e for e in _events(app, action="documents.disclose") if e.outcome == "refused"]
    assert [e.detail for e in refusals] == [
        "consent-no-consent",
        "consent-expired",
        "consent-no-consent",
        "consent-other-purpose",
        "consent-other-type",
        "role",
        "role",
        "consent-withdrawn",
    ]
    assert all(e.dossier == d1 for e in refusals)
    assert consent.list_disclosures(petra, d1)["disclosures"] == []


def test_consent_is_the_privacy_officers_and_the_own_coachs_business(world):
    app, d1, petra = world["app"], world["d1"], world["petra"]
    for who in ("olaf", "bert"):
        with pytest.raises(NotPermitted):
            consent.add_consent(act_as(app, who), d1, purpose="cv-to-employer", recipient="X BV", given=petra.today)
        with pytest.raises(NotPermitted):
            consent.list_consents(act_as(app, who), d1)
        with pytest.raises(NotPermitted):
            consent.list_disclosures(act_as(app, who), d1)
    with pytest.raises(BadInput, match="not the signed toestemmingsformulier"):
        consent.add_consent(
            petra, d1, purpose="cv-to-employer", recipient="X BV", given=petra.today, document=world["cv"]
        )
    form = file_document(app, d1, "toestemmingsformulier", ["Ik geef toestemming"])
    c = consent.add_consent(
        act_as(app, "anna"), d1, purpose="cv-to-employer", recipient="X BV", given=petra.today, document=form
    )
    assert c["document"] == form and c["types"] is None  # no --types: every document type
    with pytest.raises(BadInput, match="personal data"):
        consent.add_consent(petra, d1, purpose="cv-to-employer", recipient="j.vreeswijk@example.nl", given=petra.today)
    with pytest.raises(BadInput, match="personal data"):
        consent.add_consent(petra, d1, purpose="cv-naar-vreeswijk", recipient="X BV", given=petra.today)
    with pytest.raises(BadInput, match="purpose code"):
        consent.add_consent(petra, d1, purpose="CV naar werkgever!", recipient="X BV", given=petra.today)


# ---- breaches -----------------------------------------------------------------------------------


def test_the_breach_register_keeps_the_72_hour_deadline_and_refuses_personal_data(world):
    app, petra, d1, d2 = world["app"], world["petra"], world["d1"], world["d2"]
    found = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=4)
    with pytest.raises(BadInput, match="BSN"):
        breach.open_breach(petra, discovered=found, summary=f"laptop kwijt met BSN {BSN}")
    with pytest.raises(BadInput, match="e-mail"):
        breach.open_breach(petra, discovered=found, summary="mail naar j.vreeswijk@example.nl verstuurd")
    with pytest.raises(BadInput, match="future"):
        breach.open_breach(petra, discovered=found + dt.timedelta(days=5), summary="x")
    b = breach.open_breach(petra, discovered=found, summary="Laptop van een coach gestolen uit de auto")
    assert dt.datetime.fromisoformat(b["notify_by"]) - dt.datetime.fromisoformat(b["discovered"]) == dt.timedelta(
        hours=72
    )
    assert b["overdue"]  # four days ago, not yet reported
    bid = b["breach"]
    assert breach.affect(petra, bid, [d1, d2.lower()])["dossiers"] == sorted([d1, d2])
    assert breach.affect(petra, bid, [d1])["added"] == []
    with pytest.raises(BadInput, match="delay-reason"):
        breach.notified(petra, bid, authority_on=found + dt.timedelta(hours=80))
    out = breach.notified(
        petra,
        bid,
        authority_on=found + dt.timedelta(hours=80),
        reference="AP-2026-123",
        delay_reason="omvang pas na onderzoek duidelijk",
    )
    assert out["late"] and not out["overdue"] and out["reference"] == "AP-2026-123"
    breach.informed(petra, bid, [d1], on=petra.today, how="letter")
    with pytest.raises(BadInput, match="not among"):
        breach.informed(petra, bid, ["D-2026-0099"], on=petra.today, how="letter")
    shown = breach.show_breach(petra, bid)
    assert [(a["dossier"], a["client_name"], a["coach"], a["informed_how"]) for a in shown["affected"]] == [
        (d1, NAME, "anna", "letter"),
        (d2, "Karel Appel", "bert", None),
    ]
    listed = breach.list_breaches(petra)["breaches"]
    assert [(x["breach"], x["dossiers"], x["informed"], x["late"]) for x in listed] == [(bid, 2, 1, True)]
    # The names shown for the letters are recorded against each dossier.
    assert {e.dossier for e in _events(app, action="breach.show") if e.dossier} == {d1, d2}
    for who in ("olaf", "anna"):
        with pytest.raises(NotPermitted):
            breach.show_breach(act_as(app, who), bid)
        with pytest.raises(NotPermitted):
            breach.open_breach(act_as(app, who), discovered=found, summary="iets")


def test_requests_and_rectification_are_the_privacy_officers_alone_and_the_log_still_verifies(world):
    app, d1, petra = world["app"], world["d1"], world["petra"]
    rid = rights.open_request(petra, d1, kind="access", received=petra.today)["request"]
    attempts = (
        lambda ctx: rights.open_request(ctx, d1, kind="access", received=petra.today),
        lambda ctx: rights.list_requests(ctx),
        lambda ctx: rights.close_request(ctx, rid, outcome="done"),
        lambda ctx: export_access(ctx, rid),
        lambda ctx: rights.correct(ctx, d1, note_on=world["cv"], text="x"),
    )
    for who in ("olaf", "anna", "bert"):
        for attempt in attempts:
            with pytest.raises(NotPermitted):
                attempt(act_as(app, who))
    refused = {(e.actor, e.action) for e in _events(app, outcome="refused")}
    assert {("olaf", "requests.manage"), ("anna", "requests.manage"), ("bert", "dossier.correct")} <= refused
    assert audit_log.verify(petra).ok


def test_the_access_export_holds_everything_on_the_client_and_nothing_of_another(world):
    import json
    import zipfile

    app, petra, d1, d2, cv = world["app"], world["petra"], world["d1"], world["d2"], world["cv"]
    other = file_document(app, d2, "cv", ["Appel werkte bij de gemeente"])
    documents.read_document(act_as(app, "anna", channel="web"), cv)
    rights.correct(petra, d1, client_name="Jolanda Vreeswijk-Bos")
    rights.correct(petra, d1, note_on=cv, text="Diploma behaald in 2020.")
    rid = rights.open_request(petra, d1, kind="access", received=petra.today)["request"]
    with pytest.raises(BadInput, match="access request"):
        export_access(petra, rights.open_request(petra, d1, kind="erasure", received=petra.today)["request"])
    out = export_access(petra, rid)
    assert out.documents == 2 and hashlib.sha256(out.data).hexdigest() == out.sha256
    z = zipfile.ZipFile(io.BytesIO(out.data))
    m = json.loads(z.read("manifest.json"))
    assert (m["dossier"]["client_name"], m["dossier"]["bsn"]) == ("Jolanda Vreeswijk-Bos", BSN)
    assert [(h["field"], h["old_value"]) for h in m["history"]] == [("client_name", NAME)]
    for doc in m["documents"]:
        assert hashlib.sha256(z.read(doc["file"])).hexdigest() == doc["sha256"]
    by_id = {d["id"]: d for d in m["documents"]}
    assert by_id[cv]["page_texts"] == ["Curriculum vitae", "Werkervaring bakkerij"]
    assert by_id[cv]["corrections"][0]["text"] == "Diploma behaald in 2020."
    assert ("anna", "document.read", "web", cv) in {
        (e["actor"], e["action"], e["channel"], e["document"]) for e in m["audit_events"]
    }
    everything = b"".join(z.read(n) for n in z.namelist())
    for foreign in (d2.encode(), b"Karel", b"Appel", other.encode(), b"gemeente"):
        assert foreign not in everything
    assert "Overzicht van uw gegevens" in z.read("overzicht.html").decode()
    assert ("petra", "request.export", d1, f"{rid}: 2 documents, zip sha256 {out.sha256}") in {
        (e.actor, e.action, e.dossier, e.detail) for e in _events(app)
    }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request, tmp_path):
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'catalog.db'}"


def test_consents_withdrawals_and_disclosures_are_append_only(catalog_url):
    from sqlalchemy.exc import DBAPIError

    from archive.catalog import make_engine, migrate

    migrate(catalog_url)
    engine = make_engine(catalog_url)
    rows = [
        "INSERT INTO users (name, role, created_at) VALUES ('anna', 'coach', '2026-01-01')",
        "INSERT INTO dossiers (number, coach, start_date, status, created_at, created_by) "
        "VALUES ('D-2026-0001', 'anna', '2026-01-01', 'open', '2026-01-01', 'olaf')",
        "INSERT INTO documents (id, dossier, doc_type, pages, scanned_at, file_name, file_mac, size, low_text_pages) "
        "VALUES ('ab12', 'D-2026-0001', 'cv', 1, '2026-01-02', 'f', 'm', 1, 0)",
        "INSERT INTO consents (id, dossier, purpose, recipient, given, recorded_at, recorded_by) "
        "VALUES ('C-2026-0001', 'D-2026-0001', 'cv-to-employer', 'X BV', '2026-01-03', '2026-01-03', 'anna')",
        "INSERT INTO consent_withdrawals (consent, withdrawn_on, recorded_at, recorded_by) "
        "VALUES ('C-2026-0001', '2026-02-01', '2026-02-01', 'anna')",
        "INSERT INTO disclosures (id, dossier, document, doc_type, recipient, purpose, consent, pages, sha256, "
        "disclosed_at, disclosed_by) VALUES ('V-2026-0001', 'D-2026-0001', 'ab12', 'cv', 'X BV', 'cv-to-employer', "
        "'C-2026-0001', 1, 'h', '2026-01-04', 'anna')",
    ]
    with engine.begin() as conn:
        for sql in rows:
            conn.exec_driver_sql(sql)
    for table, column in (
        ("consents", "recipient"),
        ("consent_withdrawals", "recorded_by"),
        ("disclosures", "recipient"),
    ):
        for sql in (f"UPDATE {table} SET {column} = 'someone else'", f"DELETE FROM {table}"):
            with engine.connect() as conn:
                with pytest.raises(DBAPIError, match="append-only"):
                    conn.exec_driver_sql(sql)
                conn.rollback()
    engine.dispose()
