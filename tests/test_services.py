"""Use cases called directly, as the CLI and the web app call them: no subprocess, no Prefect.

Permissions are decided once, in the use case, and every refusal is in the audit log; a unit of
work commits a change together with its audit event, or neither.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from archive.catalog import AuditEvent, CoverSheet, Dossier
from archive.errors import BadInput, Conflict, IntegrityFailure, NotFound, NotPermitted, NotReady
from dossier.settings import Settings
from dossier.wiring import build_app
from services import covers, documents, dossiers, paper, retention, setup, users
from services.context import act_as, as_system

from .conftest import file_document

BSN = "111222333"


def _events(app, **where):
    with app.vault.sessions() as s:
        q = select(
            AuditEvent.actor,
            AuditEvent.action,
            AuditEvent.outcome,
            AuditEvent.dossier,
            AuditEvent.detail,
            AuditEvent.channel,
        )
        for k, v in where.items():
            q = q.where(getattr(AuditEvent, k) == v)
        return s.execute(q.order_by(AuditEvent.seq)).all()


def test_unknown_user_may_do_nothing(app):
    with pytest.raises(NotPermitted, match="not known"):
        act_as(app, "mallory")


def test_a_coach_sees_only_their_own_clients_and_each_refusal_is_audited(app):
    office = act_as(app, "olaf")
    mine = dossiers.open_dossier(office, coach="anna", client_name="Jolanda Vreeswijk", bsn=BSN)["dossier"]
    other = dossiers.open_dossier(office, coach="bert", client_name="Karel Appel")["dossier"]
    anna = act_as(app, "anna", channel="web", address="192.0.2.7")
    assert [d["dossier"] for d in dossiers.list_dossiers(anna)["dossiers"]] == [mine]
    assert documents.list_documents(anna, mine)["documents"] == []
    for attempt in (
        lambda: documents.list_documents(anna, other),
        lambda: dossiers.show_dossier(anna, other),
        lambda: documents.search(anna, "appel", other),
    ):
        with pytest.raises(NotPermitted, match="anna \\(coach\\) may not"):
            attempt()
    refused = _events(app, actor="anna", outcome="refused")
    assert {(r.action, r.dossier) for r in refused} == {
        ("documents.list", other),
        ("dossier.view", other),
        ("documents.search", other),
    }
    assert all(r.channel == "web" for r in refused)
    assert dossiers.find_dossiers(anna, name="appel")["dossiers"] == []  # not even found
    assert [d["dossier"] for d in dossiers.find_dossiers(act_as(app, "petra"), name="APPEL")["dossiers"]] == [other]


def test_office_staff_do_not_read_content(app):
    office = act_as(app, "olaf")
    number = dossiers.open_dossier(office, coach="anna")["dossier"]
    with pytest.raises(NotPermitted):
        documents.search(office, "werk")
    with pytest.raises(NotFound):  # the id does not exist: refused as not found, and recorded
        documents.read_document(office, "abcdef012345")
    assert ("olaf", "documents.read", "refused") in {(r.actor, r.action, r.outcome) for r in _events(app)}
    assert covers.make_cover(office, number, "cv").serial == 1


def test_a_failure_rolls_back_the_change_and_its_event_together(app, monkeypatch):
    office = act_as(app, "olaf")
    number = dossiers.open_dossier(office, coach="anna")["dossier"]
    before = len(_events(app, action="cover.create"))

    def broken(*a, **k):
        raise RuntimeError("printer on fire")

    monkeypatch.setattr(covers, "render_cover_pdf", broken)
    with pytest.raises(RuntimeError):
        covers.make_cover(office, number, "cv")
    with app.vault.sessions() as s:
        assert s.scalar(select(func.count()).select_from(CoverSheet)) == 0  # the serial was not issued
    assert len(_events(app, action="cover.create")) == before  # and no event claims it was


def test_a_rule_refusal_is_audited_with_its_reason(app):
    petra = act_as(app, "petra")
    number = dossiers.open_dossier(petra, coach="anna", start=dt.date(2024, 1, 1))["dossier"]
    dossiers.place_hold(petra, number, "klacht bij de geschillencommissie")
    with pytest.raises(NotPermitted, match="legal hold"):
        dossiers.erase_dossier(petra, number, "verzoek van de cliënt")
    assert ("petra", "dossier.erase", "refused", number, "on-hold", "cli") in _events(app)
    with app.vault.sessions() as s:
        assert s.get(Dossier, number).status == "open"


def test_bsn_is_found_through_a_keyed_hash_and_a_second_dossier_warns(app):
    office = act_as(app, "olaf")
    first = dossiers.open_dossier(office, coach="anna", bsn="111 222 333")["dossier"]
    second = dossiers.open_dossier(office, coach="bert", bsn=BSN)
    assert first in second["warning"]
    found = dossiers.find_dossiers(act_as(app, "petra"), bsn=BSN)["dossiers"]
    assert {d["dossier"] for d in found} == {first, second["dossier"]}
    assert [d["dossier"] for d in dossiers.find_dossiers(act_as(app, "anna"), bsn=BSN)["dossiers"]] == [first]
    with app.vault.sessions() as s:  # no plaintext BSN index
        assert all(BSN not in (d.bsn_lookup or "") for d in s.execute(select(Dossier)).scalars())
    with pytest.raises(BadInput, match="elfproef"):
        dossiers.find_dossiers(office, bsn="123456789")


def test_show_masks_the_bsn_unless_revealed_and_the_reveal_is_recorded(app):
    office = act_as(app, "olaf")
    number = dossiers.open_dossier(office, coach="anna", client_name="J. Vreeswijk", bsn=BSN)["dossier"]
    assert dossiers.show_dossier(office, number)["bsn"] == "******333"
    assert dossiers.show_dossier(act_as(app, "anna"), number, reveal=True)["bsn"] == BSN
    assert ("anna", "dossier.reveal", "ok", number) in {(r.actor, r.action, r.outcome, r.dossier) for r in _events(app)}
    with pytest.raises(NotPermitted):
        dossiers.show_dossier(act_as(app, "bert"), number, reveal=True)


def test_input_is_checked_at_the_edge(app):
    office = act_as(app, "olaf")
    with pytest.raises(BadInput, match="did you mean anna"):
        dossiers.open_dossier(office, coach="anne")
    with pytest.raises(BadInput, match="ask the privacy officer"):
        dossiers.open_dossier(office, coach="zoltan")
    with pytest.raises(BadInput, match="control characters"):
        dossiers.open_dossier(office, coach="anna", client_name="Jan\x1b[2J")
    with pytest.raises(BadInput, match="too long"):
        dossiers.open_dossier(office, coach="anna", client_name="x" * 100_000)
    number = dossiers.open_dossier(office, coach="anna")["dossier"]
    with pytest.raises(BadInput, match="did you mean aantekeningen"):
        covers.make_cover(office, number, "aantekening")
    with pytest.raises(BadInput, match="not a dossier number"):
        covers.make_cover(office, "2026-1", "cv")
    with pytest.raises(NotPermitted):  # who may not make covers hears that, not what is wrong with the input
        covers.make_cover(act_as(app, "anna"), number, "aantekening")


def test_acts_are_never_dated_in_the_future(app):
    petra = act_as(app, "petra")
    number = dossiers.open_dossier(petra, coach="anna", start=dt.date(2024, 1, 1))["dossier"]
    dossiers.close_dossier(petra, number, dt.date(2025, 1, 1))
    paper.register(petra, number, room="1.12", cabinet="K1")
    tomorrow = petra.today + dt.timedelta(days=1)
    with pytest.raises(BadInput, match="in the future"):
        retention.plan(petra, tomorrow)
    with pytest.raises(BadInput, match="in the future"):
        retention.run(petra, tomorrow)
    with pytest.raises(BadInput, match="in the future"):
        paper.confirm_destroyed(petra, number, by="olaf", witness="petra", on=tomorrow)
    assert [x["dossier"] for x in retention.plan(petra)["destroy"]] == [number]


def test_users_are_managed_by_the_privacy_officer_only(app):
    with pytest.raises(NotPermitted):
        users.add_user(act_as(app, "olaf"), "eve", "privacy")
    with pytest.raises(BadInput, match="did you mean coach"):
        users.add_user(act_as(app, "petra"), "eve", "coahc")
    with pytest.raises(Conflict, match="already exists"):
        users.add_user(act_as(app, "petra"), "anna", "coach")
    assert [u["user"] for u in users.list_users(act_as(app, "petra"))["users"]] == ["anna", "bert", "olaf", "petra"]


def test_the_system_actor_may_scan_but_not_read(app):
    system = as_system(app, "system:watch", channel="watch")
    with pytest.raises(NotPermitted):
        dossiers.list_dossiers(system)


def test_a_missing_or_foreign_key_is_refused_before_anything_is_written(app, tmp_path):
    key = app.vault.key_file
    original = key.read_bytes()
    key.rename(tmp_path / "elsewhere.key")
    with pytest.raises(NotReady, match="needs the key with id"):
        setup.ready(app)
    with pytest.raises(NotReady, match="will not make a new key"):
        setup.initialise(app, "petra")  # `init` never makes a key for an existing catalog
    assert not key.exists()
    other = build_app(Settings(home=tmp_path / "other"))
    setup.initialise(other, "someone")
    key.write_bytes(other.vault.key_file.read_bytes())
    key.chmod(0o600)
    with pytest.raises(NotReady, match="is not this archive's key"):
        setup.ready(build_app(Settings(home=app.home)))
    key.write_bytes(original)
    key.chmod(0o644)
    with pytest.raises(NotReady, match="chmod 600"):
        setup.ready(build_app(Settings(home=app.home)))
    key.chmod(0o600)
    key.write_text("not a key\n")
    with pytest.raises(NotReady, match="damaged"):
        setup.ready(build_app(Settings(home=app.home)))
    key.write_bytes(original)
    app.home.chmod(0o755)
    with pytest.raises(NotReady, match="chmod 700"):
        setup.ready(build_app(Settings(home=app.home)))
    app.home.chmod(0o700)
    setup.ready(build_app(Settings(home=app.home)))


def test_the_audit_log_says_who_has_seen_a_dossier_and_only_to_the_privacy_officer(app):
    from services import audit_log

    office = act_as(app, "olaf")
    number = dossiers.open_dossier(office, coach="anna", client_name="J. Vreeswijk")["dossier"]
    other = dossiers.open_dossier(office, coach="bert")["dossier"]
    documents.list_documents(act_as(app, "anna", channel="web", address="192.0.2.7"), number)
    with pytest.raises(NotPermitted):
        documents.list_documents(act_as(app, "bert"), number)
    events = audit_log.show(act_as(app, "petra"), dossier=number)["events"]
    seen = [(e["actor"], e["action"], e["outcome"], e["channel"]) for e in events]
    assert ("anna", "documents.list", "ok", "web") in seen and ("bert", "documents.list", "refused", "cli") in seen
    assert all(e["dossier"] == number for e in events) and other not in str(events)
    assert "Vreeswijk" not in str(events)
    mine = audit_log.show(act_as(app, "petra"), user="anna")["events"]
    assert {e["actor"] for e in mine} == {"anna"} and mine[0]["address"] == "192.0.2.7"
    assert audit_log.show(act_as(app, "petra"), since=act_as(app, "petra").today + dt.timedelta(days=1))["events"] == []
    with pytest.raises(NotPermitted):
        audit_log.show(office, dossier=number)


def test_records_that_outlive_the_data_refuse_any_clients_name_and_contact_details(app):
    petra = act_as(app, "petra")
    dossiers.open_dossier(petra, coach="bert", client_name="Jan de Vries")
    number = dossiers.open_dossier(petra, coach="anna", client_name="Piet Bakker", start=dt.date(2024, 1, 1))["dossier"]
    for reason, words in (
        ("klacht van cliënt Jan de Vries", "a client's name"),
        ("bellen op 06-12345678", "phone number"),
        ("geboren 12-03-1985", "date of birth"),
    ):
        with pytest.raises(BadInput, match=words):
            dossiers.place_hold(petra, number, reason)
    dossiers.close_dossier(petra, number, dt.date(2024, 6, 1))
    paper.register(petra, number, room="1.12", cabinet="K1")
    with pytest.raises(BadInput, match="a client's name"):
        paper.confirm_destroyed(petra, number, by="olaf", certificate="Jan de Vries")
    assert dossiers.place_hold(petra, number, "klacht bij de geschillencommissie")["hold"]


def test_search_finds_dutch_inflections_and_compound_heads_without_a_plaintext_index(app):
    office = act_as(app, "olaf")
    number = dossiers.open_dossier(office, coach="anna")["dossier"]
    doc = file_document(
        app.vault, number, "Cliënt meldt rugklachten; werkhervattingsplan besproken in twee gesprekken."
    )
    anna = act_as(app, "anna")
    for query in (
        "rugklacht",
        "RUGKLACHTEN",
        "werkhervatting",
        "gesprek",
        "client",
        "gesprekken werkhervattingsplannen",
    ):
        hits = documents.search(anna, query)["hits"]
        assert [(h["document"], h["page"]) for h in hits] == [(doc, 1)], query
    assert documents.search(anna, "zwangerschap")["hits"] == []
    assert documents.search(anna, "rugklacht zwangerschap")["hits"] == []  # every word must match
    assert "rugklachten" in documents.search(anna, "rugklacht")["hits"][0]["snippet"]
    with app.vault.engine.connect() as c:
        tokens = [t for (t,) in c.exec_driver_sql("SELECT token FROM search_tokens")]
    assert tokens and not any("klacht" in t for t in tokens)


def test_a_paper_file_goes_to_a_user_and_a_typo_gets_advice(app):
    office = act_as(app, "olaf")
    number = dossiers.open_dossier(office, coach="anna")["dossier"]
    paper.register(office, number, room="1.12", cabinet="K1")
    with pytest.raises(BadInput, match="did you mean anna"):
        paper.checkout(office, number, to="anne")
    with pytest.raises(BadInput, match="ask the privacy officer") as refused:
        paper.checkout(office, number, to="de heer Jansen")
    assert "user add" not in str(refused.value)
    assert paper.checkout(office, number, to="anna")["holder"] == "anna"


def test_a_paper_file_is_due_for_shredding_once_due_or_destroyed_and_not_on_hold(app):
    """What the paper list marks and the dossier page offers to record: a due file, also once the
    digital dossier is destroyed (the paper is then the last copy), never under a hold."""
    petra, olaf = act_as(app, "petra"), act_as(app, "olaf")
    ended, erased = (dossiers.open_dossier(petra, coach="anna", start=dt.date(2024, 1, 1))["dossier"] for _ in range(2))
    for number in (ended, erased):
        paper.register(olaf, number, room="1.12", cabinet="K1")

    def due(number) -> tuple[bool, bool]:
        listed = {f["dossier"]: f for f in paper.inventory(olaf)["files"]}[number]["due_for_destruction"]
        return listed, dossiers.show_dossier(olaf, number)["paper_due"]

    assert due(ended) == due(erased) == (False, False)  # still open
    paper.checkout(olaf, ended, to="anna")
    dossiers.close_dossier(petra, ended, dt.date(2025, 1, 1))
    assert due(ended) == (True, True)  # out with anna: the page says to get it back first
    with pytest.raises(Conflict, match="check it in before destroying"):
        paper.confirm_destroyed(olaf, ended, by="olaf", witness="petra")
    paper.checkin(olaf, ended)
    assert due(ended) == (True, True)
    dossiers.place_hold(petra, ended, "bezwaarprocedure")
    assert due(ended) == (False, False)
    dossiers.release_hold(petra, ended)
    assert due(ended) == (True, True)
    paper.confirm_destroyed(olaf, ended, by="olaf", witness="petra")
    assert dossiers.show_dossier(olaf, ended)["paper_due"] is False
    assert [f["dossier"] for f in paper.inventory(olaf)["files"]] == [erased]

    dossiers.erase_dossier(petra, erased, "verzoek van de cliënt")  # open, but erased on request
    assert due(erased) == (True, True)


def test_a_page_that_could_not_be_shown_says_so_in_the_audit_log(app, monkeypatch):
    """The view is recorded before the page leaves the vault; when poppler then fails, a second event
    says it was not shown, so 'who has seen this' does not claim a look that never happened."""
    from scanners import poppler

    number = dossiers.open_dossier(act_as(app, "olaf"), coach="anna")["dossier"]
    doc = file_document(app.vault, number)
    anna = act_as(app, "anna")
    assert documents.page_image(anna, doc, 1).jpeg[:2] == b"\xff\xd8"

    def poppler_dies(*args, **kwargs):
        raise poppler.RenderFailed("pdftoppm exit 139")

    monkeypatch.setattr(poppler, "render_jpeg", poppler_dies)
    with pytest.raises(IntegrityFailure, match="could not be shown"):
        documents.page_image(anna, doc, 1)
    views = [(e.outcome, e.detail) for e in _events(app, action="document.page", document=doc)]
    assert views == [("ok", "page 1, 1000 px"), ("ok", "page 1, 1000 px"), ("failed", "page 1: render-failed")]


def test_a_busy_prefect_server_is_waited_for_and_a_gone_one_is_not():
    """Prefect's server on SQLite answers 503 when two of its writes collide (seen in CI: a whole
    `dossier scan` given up after the client's own retries); a scan is then run again after a
    pause. A refused connection or another error is no reason to wait."""
    import httpx
    from prefect.exceptions import PrefectHTTPStatusError

    from services.scanning import _server_busy

    def answered(status: int) -> PrefectHTTPStatusError:
        request = httpx.Request("POST", "http://127.0.0.1:4200/api/flow_runs/")
        response = httpx.Response(status, request=request, json={"exception_message": "Service Unavailable"})
        try:
            response.raise_for_status()
        except httpx.HTTPStatusError as e:
            return PrefectHTTPStatusError.from_httpx_error(e)
        raise AssertionError(status)

    assert _server_busy(answered(503)) and _server_busy(answered(429))
    try:
        raise RuntimeError("flow run failed") from answered(503)
    except RuntimeError as wrapped:
        assert _server_busy(wrapped)
    assert not _server_busy(answered(500)) and not _server_busy(answered(404))
    assert not _server_busy(httpx.ConnectError("connection refused"))


def test_a_quarantined_part_of_a_batch_says_where_its_pages_start(app):
    """The first page is a field each interface words in its own language; items sealed before it
    existed carried it in English in their label, which is no longer shown twice."""
    from services import quarantine

    for ident, label in (("new", "stapel.pdf"), ("old", "stapel.pdf, pages from 3")):
        blob = app.vault.seal_quarantine_blob(b"%PDF-1.4 " + ident.encode())
        with app.vault.writer() as s:
            app.vault.add_quarantine_item(
                s,
                blob=blob,
                kind="pdf",
                reason_code="no-cover",
                reason="r",
                scan_id=None,
                source_label=label,
                pages=2,
                scan_page=3,
            )
            s.commit()
    items = quarantine.list_items(act_as(app, "olaf"))["items"]
    assert [(i["source"], i["first_page"]) for i in items] == [("stapel.pdf", 3)] * 2


def test_the_catalog_schema_head_is_alembics_and_an_older_or_newer_catalog_is_refused(app):
    """Commands compare the catalog with SCHEMA_HEAD instead of reading Alembic's scripts each
    time: the constant must follow the newest migration; a catalog behind it is refused until
    `dossier init` brings it up, one a newer program wrote until this program is upgraded."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from archive.catalog import SCHEMA_HEAD, alembic_config
    from archive.errors import NotReady

    assert ScriptDirectory.from_config(alembic_config(app.vault.db_url)).get_heads() == [SCHEMA_HEAD]
    app.vault.ready()
    command.downgrade(alembic_config(app.vault.db_url), "0007")  # a catalog of the version before
    with pytest.raises(NotReady, match="older version of this program; run `dossier init`"):
        app.vault.ready()
    app.vault.initialise()  # what the message says to do (init): migrates to the head again
    app.vault.ready()
    with app.vault.engine.begin() as conn:  # as a newer program would leave it on a shared catalog
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    for step in (app.vault.ready, app.vault.initialise):
        with pytest.raises(NotReady, match="newer version of this program; upgrade this program"):
            step()
