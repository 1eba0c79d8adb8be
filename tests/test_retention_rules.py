"""Retention and records rules without Prefect: destruction dates, due/upcoming, holds, the free-text
check, the paper-file state machine, and crypto-shredding on a real (temporary) catalog and vault."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pikepdf
import pytest

from archive import crypto, lifecycle, paper, shredding
from archive.catalog import DataKey, Document, Dossier, PageText, SearchToken, User
from archive.errors import BadInput, Conflict, NotFound, NotPermitted
from archive.keys import DossierKeys
from archive.records import DestructionRecord, PaperFile
from archive.retention import (
    ONE_YEAR,
    Period,
    add_period,
    assess,
    destroy_on,
    is_due,
    is_upcoming,
    parse_period,
    personal_data_problem,
)
from archive.vault import PageRecord, Vault

from .conftest import catalog, files_containing

D = dt.date
POLICY = lifecycle.RetentionPolicy()
OUT = dict(default_days=14, policy=POLICY, actor="olaf", role="office")


# ---- dates --------------------------------------------------------------------------------------


def test_destruction_date_is_end_plus_one_year():
    assert destroy_on(D(2025, 3, 10)) == D(2026, 3, 10)
    assert destroy_on(D(2025, 12, 31)) == D(2026, 12, 31)


def test_due_exactly_on_the_date_never_the_day_before():
    end = D(2025, 3, 10)
    assert not is_due(D(2026, 3, 9), end)
    assert is_due(D(2026, 3, 10), end)
    assert is_due(D(2027, 1, 1), end)


def test_open_dossiers_are_never_due():
    assert not is_due(D(2099, 1, 1), None)
    assert assess(D(2099, 1, 1), status="open", end=None).state == "open"
    assert not is_upcoming(D(2099, 1, 1), None)


def test_a_hold_blocks_even_when_long_overdue():
    assert not is_due(D(2030, 1, 1), D(2025, 3, 10), on_hold=True)
    assert assess(D(2030, 1, 1), status="closed", end=D(2025, 3, 10), on_hold=True).state == "held"


def test_leap_day_and_month_ends_never_land_early():
    assert add_period(D(2024, 2, 29), ONE_YEAR) == D(2025, 3, 1)  # 28-02 would be a day short of a year
    assert add_period(D(2024, 2, 29), Period(years=4)) == D(2028, 2, 29)
    assert add_period(D(2025, 1, 31), Period(months=1)) == D(2025, 3, 1)
    assert add_period(D(2025, 8, 31), Period(months=18)) == D(2027, 3, 1)
    assert add_period(D(2025, 1, 1), Period(days=400)) == D(2026, 2, 5)
    assert add_period(D(2025, 11, 15), Period(years=1, months=2, days=3)) == D(2027, 1, 18)


@pytest.mark.parametrize(
    "text,period",
    [
        ("P1Y", ONE_YEAR),
        ("p18m", Period(months=18)),
        ("P1Y6M", Period(1, 6)),
        ("P400D", Period(days=400)),
        (" P2Y ", Period(years=2)),
    ],
)
def test_period_parsing(text, period):
    assert parse_period(text) == period
    assert parse_period(str(period)) == period


@pytest.mark.parametrize("text", ["1 year", "P", "P0Y", "PT1H", "P-1Y", "", "Y1"])
def test_bad_periods_are_refused(text):
    with pytest.raises(ValueError):
        parse_period(text)


def test_upcoming_window_is_thirty_days():
    end = D(2025, 3, 10)  # due 2026-03-10
    assert is_upcoming(D(2026, 2, 8), end)  # 30 days ahead
    assert not is_upcoming(D(2026, 2, 7), end)  # 31 days ahead
    assert not is_upcoming(D(2026, 3, 10), end)  # due, not upcoming
    states = {
        day: assess(day, status="closed", end=end).state for day in (D(2025, 6, 1), D(2026, 2, 8), D(2026, 3, 10))
    }
    assert states == {D(2025, 6, 1): "retained", D(2026, 2, 8): "upcoming", D(2026, 3, 10): "due"}
    assert assess(D(2020, 1, 1), status="destroyed", end=end).state == "destroyed"


def test_settings_take_a_configured_period(monkeypatch, tmp_path):
    from dossier.settings import Settings

    monkeypatch.setenv("DOSSIER_HOME", str(tmp_path))
    monkeypatch.setenv("DOSSIER_RETENTION_PERIOD", "p18m")
    policy = Settings().retention_policy()
    assert policy.period == Period(months=18) and policy.timezone == "Europe/Amsterdam"
    monkeypatch.setenv("DOSSIER_RETENTION_PERIOD", "one year")
    with pytest.raises(Exception, match="retention period"):
        Settings()


# ---- free text that outlives the data -----------------------------------------------------------


@pytest.mark.parametrize("text", ["BSN 111222333", "bsn: 111.222.333", "nummer 111 222 333", "111-222-333."])
def test_bsn_like_numbers_are_found(text):
    assert "BSN" in personal_data_problem(text)


@pytest.mark.parametrize(
    "text", ["zaak 2026-17, uitspraak 2026-11-30", "klantnummer 123456789", "verzoek via UWV", "rolnummer C/13/712345"]
)
def test_ordinary_text_passes(text):
    assert personal_data_problem(text, "Jolanda van Vreeswijk", today=D(2026, 11, 30)) is None


def test_names_and_addresses_are_found():
    name = "Jolanda van Vreeswijk"
    assert "name" in personal_data_problem("klacht van mevrouw VREESWIJK", name)
    assert "name" in personal_data_problem("Jolanda belde", name)
    assert "name" in personal_data_problem("brief van Müller", "Anna Muller")
    assert "e-mail" in personal_data_problem("mail naar j.v@example.nl")
    assert personal_data_problem("verzoek van de cliënt", name) is None  # 'van' alone is no name


@pytest.mark.parametrize(
    "text,words",
    [
        ("bel haar op 06-12345678", "phone"),
        ("tel. 020 123 4567", "phone"),
        ("+31 (0)6 1234 5678 na 17 uur", "phone"),
        ("via 0031612345678", "phone"),
        ("geboren 12-03-1985", "date of birth"),
        ("geb. 1985-03-12", "date of birth"),
        ("geboortedatum 3 maart 1985", "date of birth"),
    ],
)
def test_phones_and_birth_dates_are_found(text, words):
    assert words in personal_data_problem(text, today=D(2026, 11, 30))


@pytest.mark.parametrize(
    "text", ["uitspraak van 30-11-2026", "brief van 20-11", "kamer 1.04, kast K2", "certificaat VC-2026-0042"]
)
def test_recent_dates_and_numbers_pass(text):
    assert personal_data_problem(text, today=D(2026, 11, 30)) is None


def test_other_clients_names_are_found():
    others = ("Jan de Vries", "Karel Appel")
    assert "a client's name" in personal_data_problem("klacht van cliënt Jan de Vries", "Piet Bakker", others)
    assert "a client's name" in personal_data_problem("dossier van mevr. de Vries", None, others)
    assert "a client's name" in personal_data_problem("karel en appel", None, others)  # first and last name
    assert personal_data_problem("gesprek met Jan over de planning", None, others) is None  # a first name alone
    assert personal_data_problem("verzoek via de werkgever", None, others) is None


# ---- catalog-level: paper files, holds, shredding --------------------------------------------------


@pytest.fixture
def vault(tmp_path):
    v = Vault(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path / "keys" / "master.key")
    v.initialise()
    with v.sessions() as s:
        for name, role in (("petra", "privacy"), ("olaf", "office"), ("anna", "coach"), ("bert", "coach")):
            s.add(User(name=name, role=role))
        s.commit()
    return v


def _dossier(v: Vault, number: str, *, end=None, name=None, bsn=None, coach="anna") -> str:
    with v.sessions() as s:
        v.create_dossier(
            s,
            number=number,
            coach=coach,
            commissioner="Werkgever BV",
            start=D(2024, 1, 1),
            client_name=name,
            bsn=bsn,
            by="olaf",
        )
        if end:
            d = s.get(Dossier, number)
            d.end_date, d.status = end, "closed"
        s.commit()
    return number


def _document(v: Vault, number: str, text: str) -> Document:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    with v.sessions() as s:
        stored = v.store_document(v.dossier_keys(s, number), pdf, 1)
    with v.writer() as s:
        doc = v.record_document(
            s,
            stored,
            doc_type="aantekeningen",
            pages=[PageRecord(text, 90.0, len(text.split()), False)],
            scan_id=None,
            cover_serial=None,
        )
        s.commit()
        return doc


def test_paper_file_life_and_history(vault):
    n = _dossier(vault, "D-2026-0001", end=D(2025, 3, 10))
    today, out_day = D(2026, 3, 10), D(2026, 2, 1)
    with vault.sessions() as s:
        d = s.get(Dossier, n)
        paper.register(vault, s, d, room="1.12", cabinet="K1", shelf="2", actor="olaf", role="office")
        with pytest.raises(Conflict, match="already registered"):
            paper.register(vault, s, d, room="1.12", cabinet="K1", shelf=None, actor="olaf", role="office")
        paper.move(vault, s, d, room=None, cabinet="K2", shelf=None, actor="olaf", role="office")
        assert (s.get(PaperFile, n).cabinet, s.get(PaperFile, n).shelf) == ("K2", None)  # new cabinet, shelf unknown
        with pytest.raises(NotPermitted, match="not the coach"):
            paper.checkout(vault, s, d, to="bert", due=None, today=out_day, **OUT)
        with pytest.raises(BadInput, match="not known"):
            paper.checkout(vault, s, d, to="mallory", due=None, today=out_day, **OUT)
        paper.checkout(vault, s, d, to="anna", due=None, today=out_day, **OUT)
        assert s.get(PaperFile, n).due == out_day + dt.timedelta(days=14)
        with pytest.raises(Conflict, match="already checked out to anna"):
            paper.checkout(vault, s, d, to="olaf", due=None, today=out_day, **OUT)
        with pytest.raises(Conflict, match="checked out to anna"):
            paper.confirm_destroyed(
                vault,
                s,
                d,
                by="olaf",
                witness="petra",
                certificate=None,
                method=None,
                on=today,
                today=today,
                policy=POLICY,
                actor="olaf",
                role="office",
            )
        paper.checkin(vault, s, d, room=None, cabinet=None, shelf="4", actor="olaf", role="office")
        with pytest.raises(NotPermitted, match="due for destruction since 2026-03-10"):  # to the shredder, not out
            paper.checkout(vault, s, d, to="anna", due=None, today=today, **OUT)
        with pytest.raises(BadInput, match="someone other"):
            paper.confirm_destroyed(
                vault,
                s,
                d,
                by="olaf",
                witness="OLAF",
                certificate=None,
                method=None,
                on=today,
                today=today,
                policy=POLICY,
                actor="olaf",
                role="office",
            )
        with pytest.raises(NotPermitted, match="not due for destruction until 2026-03-10"):
            paper.confirm_destroyed(
                vault,
                s,
                d,
                by="olaf",
                witness="petra",
                certificate=None,
                method=None,
                on=today - dt.timedelta(days=1),
                today=today,
                policy=POLICY,
                actor="olaf",
                role="office",
            )
        rec = paper.confirm_destroyed(
            vault,
            s,
            d,
            by="olaf",
            witness="petra",
            certificate=None,
            method=None,
            on=today,
            today=today,
            policy=POLICY,
            actor="olaf",
            role="office",
        )
        s.commit()
        assert (rec.scope, rec.rule, rec.trigger_date, rec.method) == ("paper", "retention", D(2026, 3, 10), "shredded")
        with pytest.raises(NotFound, match="was destroyed"):
            paper.checkout(vault, s, d, to="anna", due=None, today=today, **OUT)
        shown = paper.show(s, d, POLICY)
    assert shown["status"] == "destroyed" and shown["destroy_on"] == "2026-03-10"
    assert [(h["action"], h["by"]) for h in shown["history"]] == [
        ("register", "olaf"),
        ("move", "olaf"),
        ("checkout", "olaf"),
        ("checkin", "olaf"),
        ("destroy", "olaf"),
    ]
    assert shown["history"][2]["holder"] == "anna" and shown["history"][3]["location"]["shelf"] == "4"


def test_paper_history_and_destruction_records_are_append_only(vault):
    n = _dossier(vault, "D-2026-0001", end=D(2025, 3, 10))
    with vault.sessions() as s:
        paper.register(vault, s, s.get(Dossier, n), room="1.12", cabinet="K1", shelf=None, actor="olaf", role="office")
        s.commit()
    with catalog(vault.home) as con:
        for sql in ("UPDATE paper_events SET actor='someone else'", "DELETE FROM paper_events"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                con.execute(sql)
        con.execute(
            "INSERT INTO destruction_records (dossier, scope, rule, rule_text, trigger_date, authorised_by, "
            "performed_by, recorded_by, performed_on, recorded_at) VALUES ('D-2026-0001', 'paper', 'retention', "
            "'r', '2026-01-01', 'a', 'b', 'c', '2026-01-01', '2026-01-01')"
        )
        con.commit()
        for sql in ("UPDATE destruction_records SET performed_by='someone else'", "DELETE FROM destruction_records"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                con.execute(sql)


def test_free_text_with_the_clients_name_is_refused(vault):
    n = _dossier(vault, "D-2026-0001", name="Jolanda Vreeswijk", bsn="111222333")
    with vault.sessions() as s:
        d = s.get(Dossier, n)
        with pytest.raises(BadInput, match="client's name"):
            lifecycle.place_hold(vault, s, d, "klacht van Vreeswijk", actor="petra", role="privacy")
        with pytest.raises(BadInput, match="BSN"):
            lifecycle.place_hold(vault, s, d, "zie 111222333", actor="petra", role="privacy")
        lifecycle.place_hold(vault, s, d, "klacht bij de geschillencommissie", actor="petra", role="privacy")
        with pytest.raises(Conflict, match="already on hold"):
            lifecycle.place_hold(vault, s, d, "tweede", actor="petra", role="privacy")


def test_shredding_destroys_the_key_and_everything_under_it(vault):
    gone = _dossier(vault, "D-2026-0001", end=D(2025, 3, 10), name="Jolanda Vreeswijk", bsn="111222333")
    kept = _dossier(vault, "D-2026-0002", end=D(2025, 9, 1))
    doc = _document(vault, gone, "Gesprek over werkhervatting bij Zwanenburg")
    other = _document(vault, kept, "Gesprek over werkhervatting bij Zwanenburg")
    copy = vault.archive.path(doc.file_name).read_bytes()
    with vault.sessions() as s:
        wrapped = s.execute(DataKey.__table__.select().where(DataKey.dossier == gone)).one().wrapped
        data_key = vault.keys.unwrap(wrapped, gone.encode())
    # Control: before destruction the copy opens with the derived password.
    pikepdf.open(vault.archive.path(doc.file_name), password=DossierKeys(gone, data_key).pdf_password(doc.id)).close()

    today = D(2026, 3, 10)
    with vault.sessions() as s:
        with pytest.raises(NotPermitted, match="not due"):
            shredding.shred_dossier(
                s,
                gone,
                rule="retention",
                today=today - dt.timedelta(days=1),
                policy=POLICY,
                actor="system:retention",
                role="system",
            )
        rec = shredding.shred_dossier(
            s, gone, rule="retention", today=today, policy=POLICY, actor="system:retention", role="system"
        )
        s.commit()
    assert shredding.finish(vault) == {"files_removed": 1, "catalog_scrubbed": True}
    assert (rec.key_id, rec.documents, rec.pages, rec.files, rec.page_texts) == (rec.key_id, 1, 1, 1, 1)
    assert rec.search_tokens >= 4 and rec.trigger_date == today and rec.end_date == D(2025, 3, 10)

    with vault.sessions() as s:
        assert s.query(DataKey).filter_by(dossier=gone).count() == 0
        assert s.query(PageText).filter_by(document_id=doc.id).count() == 0
        assert s.query(SearchToken).filter_by(document_id=doc.id).count() == 0
        d = s.get(Dossier, gone)
        assert (d.status, d.client_name_sealed, d.bsn_sealed, d.commissioner) == ("destroyed", None, None, None)
        assert s.get(Document, doc.id).destroyed_at is not None
        # The other dossier is untouched and still readable and searchable.
        assert s.query(PageText).filter_by(document_id=other.id).count() == 1
        assert vault.search(s, [kept], "zwanenburg")[0]["document"] == other.id
        other_doc = s.get(Document, other.id)
        vault.decrypt(s, other_doc, vault.verified_file(s, other_doc)).close()
        with pytest.raises(Exception, match="destroyed on"):
            vault.verified_file(s, s.get(Document, doc.id))
        remaining = [(r.dossier, r.wrapped) for r in s.query(DataKey)]
    assert not vault.archive.exists(doc.file_name)
    # The wrapped key is nowhere on disk any more: not in the catalog, not in its write-ahead log.
    assert files_containing([wrapped], vault.home) == []
    assert (vault.home / "catalog.db-wal").stat().st_size == 0
    # Nothing left in the key store opens the copy: every remaining key, the master key, any pairing.
    candidates = [vault.keys.unwrap(w, n.encode()) for n, w in remaining]
    for _, w in remaining:
        with pytest.raises(crypto.DecryptionFailed):
            vault.keys.unwrap(w, gone.encode())
    candidates += [vault.keys._master(), vault.keys.derive("wrap-data-keys")]
    (vault.home / "copy.pdf").write_bytes(copy)
    for key in candidates:
        with pytest.raises(pikepdf.PasswordError):
            pikepdf.open(vault.home / "copy.pdf", password=DossierKeys(gone, key).pdf_password(doc.id))

    # Repeating is harmless: nothing more happens, no second record.
    with vault.sessions() as s:
        assert (
            shredding.shred_dossier(
                s, gone, rule="retention", today=today, policy=POLICY, actor="system:retention", role="system"
            )
            is None
        )
        s.commit()
        assert s.query(DestructionRecord).count() == 1


def test_holds_block_shredding_and_erasure(vault):
    n = _dossier(vault, "D-2026-0001", end=D(2025, 3, 10))
    with vault.sessions() as s:
        lifecycle.place_hold(vault, s, s.get(Dossier, n), "lopende klacht", actor="petra", role="privacy")
        s.commit()
        plan = lifecycle.plan_run(s, D(2026, 6, 1), POLICY)
        assert plan.destroy == [] and plan.skipped[0]["dossier"] == n
        for rule in ("retention", "erasure"):
            with pytest.raises(NotPermitted, match="legal hold"):
                shredding.shred_dossier(
                    s, n, rule=rule, today=D(2026, 6, 1), policy=POLICY, actor="petra", role="privacy"
                )
        lifecycle.release_hold(s, s.get(Dossier, n), actor="petra", role="privacy")
        s.commit()
        assert lifecycle.plan_run(s, D(2026, 6, 1), POLICY).destroy == [n]


def test_overview_and_worklist(vault):
    due = _dossier(vault, "D-2026-0001", end=D(2025, 3, 10))
    soon = _dossier(vault, "D-2026-0002", end=D(2025, 4, 1))
    _dossier(vault, "D-2026-0003")  # open
    today = D(2026, 3, 10)
    with vault.sessions() as s:
        for n, shelf in ((due, "1"), (soon, "2")):
            paper.register(
                vault, s, s.get(Dossier, n), room="1.12", cabinet="K1", shelf=shelf, actor="olaf", role="office"
            )
        paper.checkout(vault, s, s.get(Dossier, soon), to="anna", due=D(2026, 3, 1), today=D(2026, 2, 1), **OUT)
        s.commit()
        view = lifecycle.overview(s, today, POLICY)
        assert [e["dossier"] for e in view["due"]] == [due]
        assert view["due"][0]["paper"]["shelf"] == "1" and view["due"][0]["digital"] == "pending"
        assert [e["dossier"] for e in view["upcoming"]] == [soon]
        assert [(o["dossier"], o["days_overdue"]) for o in view["overdue_checkouts"]] == [(soon, 9)]
        assert [w["dossier"] for w in lifecycle.paper_worklist(s, today, POLICY)] == [due]
        assert lifecycle.overview(s, today - dt.timedelta(days=1), POLICY)["due"] == []
        shredding.shred_dossier(s, due, rule="retention", today=today, policy=POLICY, actor="petra", role="privacy")
        s.commit()
        # Digitally destroyed, paper still waiting: stays on the lists until the paper is confirmed.
        assert lifecycle.overview(s, today, POLICY)["due"][0]["digital"] == "destroyed"
        assert lifecycle.paper_worklist(s, today, POLICY)[0]["digital"] == "destroyed"
        paper.confirm_destroyed(
            vault,
            s,
            s.get(Dossier, due),
            by="olaf",
            witness="petra",
            certificate=None,
            method=None,
            on=today,
            today=today,
            policy=POLICY,
            actor="olaf",
            role="office",
        )
        s.commit()
        assert lifecycle.overview(s, today, POLICY)["due"] == []
        assert lifecycle.paper_worklist(s, today, POLICY) == []
