"""The catalog on PostgreSQL (issue 13, DESIGN.md §6): migrations, append-only tables, the CLI,
crypto-shredding that leaves no wrapped key in the table files. A throwaway cluster per session
(tests/pgcluster.py); the migration test runs on SQLite too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from archive.catalog import alembic_config, make_engine, migrate

from . import scanmaker as sm
from .conftest import make_archive

CLIENT_NAME = "Jolanda Vreeswijk"
BSN = "111222333"
APPEND_ONLY = ("audit_events", "paper_events", "destruction_records")

_ROWS = {
    "audit_events": "INSERT INTO audit_events (seq, at, actor, action, outcome, prev_hash, hash) "
    "VALUES (1, '2026-01-01', 'petra', 'x', 'ok', 'p', 'h')",
    "paper_events": "INSERT INTO paper_events (dossier, at, actor, action) "
    "VALUES ('D-2026-0001', '2026-01-01', 'olaf', 'register')",
    "destruction_records": "INSERT INTO destruction_records (dossier, scope, rule, rule_text, trigger_date, "
    "authorised_by, performed_by, recorded_by, performed_on, recorded_at) VALUES ('D-2026-0001', 'paper', "
    "'retention', 'r', '2026-01-01', 'a', 'b', 'c', '2026-01-01', '2026-01-01')",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request, tmp_path):
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'catalog.db'}"


def _refused(engine, sql: str) -> str:
    with engine.connect() as conn:
        with pytest.raises(DBAPIError) as caught:
            conn.exec_driver_sql(sql)
        conn.rollback()
    return str(caught.value.orig)


def test_migrations_go_up_down_and_up_and_the_proof_tables_stay_append_only(catalog_url):
    cfg = alembic_config(catalog_url)
    migrate(catalog_url)
    command.downgrade(cfg, "base")
    engine = make_engine(catalog_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            assert (
                conn.execute(text("SELECT count(*) FROM pg_proc WHERE proname = 'dossier_append_only'")).scalar() == 0
            )
    migrate(catalog_url)
    assert {"dossiers", "data_keys", *APPEND_ONLY} <= set(inspect(engine).get_table_names())

    with engine.begin() as conn:
        for table in APPEND_ONLY:
            conn.exec_driver_sql(_ROWS[table])
    refusals = ["UPDATE {t} SET actor = 'someone else'", "DELETE FROM {t}"]
    if engine.dialect.name == "postgresql":
        refusals.append("TRUNCATE {t}")  # TRUNCATE skips row triggers: a statement trigger refuses it
    for table in APPEND_ONLY:
        column = "performed_by" if table == "destruction_records" else "actor"
        for sql in refusals:
            assert "append-only" in _refused(engine, sql.format(t=table).replace("actor", column))
    with engine.connect() as conn:
        assert [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in APPEND_ONLY] == [1, 1, 1]
    engine.dispose()


def _relation_files(cluster, database: str) -> list[Path]:
    oid = cluster.execute("SELECT oid FROM pg_database WHERE datname = %s", params=(database,))[0][0]
    return [p for p in (cluster.data / "base" / str(oid)).iterdir() if p.is_file()]


def _holding(files: list[Path], needle: bytes) -> list[str]:
    return [p.name for p in files if needle in p.read_bytes()]


@pytest.mark.postgres
def test_the_cli_runs_on_a_postgresql_catalog(tmp_path, postgres_cluster, postgres_url):
    a = make_archive(tmp_path / "home", None, postgres_url)
    kept = a.new_dossier("anna", client_name="Karel Appel", start="2025-01-01")
    gone = a.new_dossier("anna", client_name=CLIENT_NAME, bsn=BSN, start="2025-01-01")
    a.cover(gone, "aantekeningen", tmp_path / "cover.pdf")
    assert a.ok("close", gone, "--end", "2025-06-30", user="olaf")["status"] == "closed"
    assert a.ok("docs", gone, user="anna")["documents"] == []
    assert not (a.home / "catalog.db").exists()  # the catalog is the PostgreSQL database, not a file

    database = postgres_url.rsplit("/", 1)[1]
    cluster = postgres_cluster
    # The wrapped key of the dossier to erase, read before; it is the newest row of the key table.
    wrapped = bytes(cluster.execute("SELECT wrapped FROM data_keys WHERE dossier = %s", database, (gone,))[0][0])
    other = bytes(cluster.execute("SELECT wrapped FROM data_keys WHERE dossier = %s", database, (kept,))[0][0])
    keyfile = cluster.execute("SELECT pg_relation_filepath('data_keys')", database)[0][0]
    cluster.execute("CHECKPOINT")  # write the dirty pages out, so the files show what the server keeps
    assert _holding(_relation_files(cluster, database), wrapped) == [Path(keyfile).name]  # control
    # No name or BSN in plain text anywhere in the catalog's files.
    files = _relation_files(cluster, database)
    assert _holding(files, CLIENT_NAME.encode()) == [] and _holding(files, BSN.encode()) == []

    erased = a.ok("erase", gone, "--reason", "verzoek van de cliënt (AVG art. 17)", user="petra")
    assert erased["destroyed"] is True
    cluster.execute("CHECKPOINT")
    files = _relation_files(cluster, database)
    # A deleted row stays in the table file until vacuumed, and a plain VACUUM leaves the bytes of
    # the last row on a page; destruction runs VACUUM FULL, so no copy is left in any table file.
    assert _holding(files, wrapped) == []
    assert _holding(files, other) != []  # the other dossier's key is there: the search does find keys
    assert a.ok("docs", kept, user="anna")["documents"] == []
    r = a.run("docs", gone, user="anna")
    assert r.rc == 4 and "destroyed" in r.stderr

    log = a.ok("retention", "log", "--dossier", gone)
    assert [rec["rule"] for rec in log["records"]] == ["erasure"]
    report = a.ok("audit", "verify")
    assert report["ok"] and report["events"] >= 9
    # The database itself refuses to rewrite history, whoever asks.
    with pytest.raises(Exception, match="append-only"):
        cluster.execute("DELETE FROM audit_events WHERE seq = 1", database)
    assert a.ok("audit", "verify")["events"] == report["events"] + 1  # the first check recorded itself


@pytest.mark.postgres
@pytest.mark.prefect
def test_a_scan_is_filed_on_a_postgresql_catalog(tmp_path, postgres_url, prefect_server):
    a = make_archive(tmp_path / "home", prefect_server, postgres_url)
    d = a.new_dossier("anna")
    cover = sm.pdf_page_image(a.cover(d, "aantekeningen", tmp_path / "cover.pdf"))
    batch = sm.write_pdf(tmp_path / "batch.pdf", [cover, sm.text_page(sm.dutch_lines(40, seed=3))])
    result = a.ok("scan", batch, user="olaf")["results"][0]
    assert result["status"] == "archived", result.get("reason")
    [listed] = a.ok("docs", d, user="anna")["documents"]
    got = a.ok("get", listed["id"], "-o", tmp_path / "out.pdf", user="anna")
    assert got["pages"] == 1
    assert a.ok("audit", "verify")["ok"]
