"""What cannot be filed with certainty goes to the quarantine with a reason a person can act on,
and the people working the queue can look at, assign and discard items."""

from __future__ import annotations

import pikepdf
import pytest

from classify.coversheet import CoverPayload, make_payload, render_cover_pdf

from . import scanmaker as sm


def _cover_key(home):
    """The archive's cover-sheet key (stored wrapped under the master key), as its owner can read it."""
    from dossier.settings import Settings
    from dossier.wiring import build_vault

    vault = build_vault(Settings(home=home))
    vault.ready()
    return vault.cover_key()


@pytest.fixture(scope="module")
def queue(shared_archive, tmp_path_factory):
    a = shared_archive
    tmp = tmp_path_factory.mktemp("bad")
    d1, d2 = a.new_dossier("anna"), a.new_dossier("bert")
    content = [sm.text_page(sm.dutch_lines(60, seed=s)) for s in range(3)]

    genuine = a.ok("cover", d1, "--type", "cv", "-o", tmp / "genuine.pdf", user="olaf")
    # Forged: the payload of a real sheet for d1, rewritten to d2 (signature left as it was).
    forged = CoverPayload(
        d2, "cv", genuine["serial"], make_payload(_cover_key(a.home), d1, "cv", genuine["serial"]).mac
    )
    render_cover_pdf(tmp / "forged-cover.pdf", forged)
    # Signed with the real key, but for a dossier that does not exist.
    unknown = make_payload(_cover_key(a.home), "D-2026-0999", "cv", genuine["serial"])
    render_cover_pdf(tmp / "unknown-cover.pdf", unknown)

    files = {
        "forged": sm.write_pdf(tmp / "forged.pdf", [sm.pdf_page_image(tmp / "forged-cover.pdf"), content[0]]),
        "unknown": sm.write_pdf(tmp / "unknown.pdf", [sm.pdf_page_image(tmp / "unknown-cover.pdf"), content[0]]),
        "no_cover": sm.write_pdf(tmp / "no-cover.pdf", content[:2]),
        "empty": tmp / "empty.pdf",
        "truncated": tmp / "truncated.pdf",
        "password": tmp / "password.pdf",
        "blank_only": sm.write_pdf(tmp / "blank.pdf", [sm.blank_page(seed=1), sm.blank_page(seed=2)]),
    }
    files["empty"].write_bytes(b"")
    whole = sm.write_pdf(tmp / "whole.pdf", [sm.pdf_page_image(tmp / "genuine.pdf"), content[1]])
    files["truncated"].write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    with pikepdf.open(whole) as pdf:
        pdf.save(files["password"], encryption=pikepdf.Encryption(owner="o", user="geheim", R=6))
    results = a.ok("scan", *files.values(), user="olaf")["results"]
    items = {i["id"]: i for i in a.ok("quarantine", "list", user="olaf")["items"]}
    by_name = {}
    for name, r in zip(files, results):
        by_name[name] = (r, [items[q] for q in r["quarantine"]])
    return dict(a=a, d1=d1, d2=d2, tmp=tmp, by_name=by_name, content=content)


EXPECTED = {
    "forged": "cover-signature",
    "unknown": "unknown-dossier",
    "no_cover": "no-cover",
    "empty": "empty-file",
    "truncated": "incomplete-file",
    "password": "encrypted-input",
    "blank_only": "no-content",
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_problem_is_quarantined_with_its_own_reason(queue, name):
    result, items = queue["by_name"][name]
    assert result["status"] == "quarantined"
    assert result["documents"] == []
    assert [i["code"] for i in items] == [EXPECTED[name]]
    assert result["reason"] == items[0]["reason"]
    assert items[0]["source"].startswith(queue["by_name"][name][0]["source"].rsplit("/", 1)[-1])


def test_reasons_are_distinct_and_say_what_to_do(queue):
    reasons = [queue["by_name"][n][1][0]["reason"] for n in EXPECTED]
    assert len(set(reasons)) == len(reasons)
    for r in reasons:
        assert any(w in r for w in ("scan", "cover", "assign", "check")), r


def test_nothing_was_filed_into_a_guessed_dossier(queue):
    for d in (queue["d1"], queue["d2"]):
        assert queue["a"].ok("docs", d)["documents"] == []


def test_quarantine_blobs_are_encrypted(queue):
    blobs = list((queue["a"].home / "quarantine").rglob("*.bin"))
    assert len(blobs) == len(EXPECTED)  # one sealed blob per item, the empty file's included
    for b in blobs:
        data = b.read_bytes()
        assert not data.startswith(b"%PDF") and b"/Type" not in data and b"DSA1|" not in data


def test_get_shows_the_item_to_office_staff(queue):
    item = queue["by_name"]["no_cover"][1][0]
    out = queue["tmp"] / "look.pdf"
    queue["a"].ok("quarantine", "get", item["id"], "-o", out, user="olaf")
    with pikepdf.open(out) as pdf:
        assert len(pdf.pages) == 2


def test_assign_files_the_pages_into_the_chosen_dossier(queue):
    a = queue["a"]
    item = queue["by_name"]["no_cover"][1][0]
    r = a.ok("quarantine", "assign", item["id"], "--dossier", queue["d1"], "--type", "aantekeningen", user="olaf")
    assert r["status"] == "assigned" and r["documents"][0]["pages"] == 2
    docs = a.ok("docs", queue["d1"], user="anna")["documents"]
    assert [(d["type"], d["pages"]) for d in docs] == [("aantekeningen", 2)]
    assert item["id"] not in {i["id"] for i in a.ok("quarantine", "list", user="olaf")["items"]}
    # Scanning the same file again is now a duplicate, not a second quarantine item.
    again = a.ok("scan", queue["tmp"] / "no-cover.pdf", user="olaf")["results"][0]
    assert again["status"] == "duplicate"


def test_assign_of_a_forged_sheet_drops_the_sheet(queue):
    a = queue["a"]
    item = queue["by_name"]["forged"][1][0]
    r = a.ok("quarantine", "assign", item["id"], "--dossier", queue["d2"], "--type", "cv", user="olaf")
    assert r["documents"][0]["pages"] == 1


def test_unreadable_items_cannot_be_assigned(queue):
    item = queue["by_name"]["truncated"][1][0]
    r = queue["a"].run("quarantine", "assign", item["id"], "--dossier", queue["d1"], "--type", "cv", user="olaf")
    assert r.rc == 2 and "Scan the paper again" in r.data["error"]


def test_discard_removes_the_item_and_its_blob(queue):
    a = queue["a"]
    item = queue["by_name"]["password"][1][0]
    ((blob,),) = a.sql("SELECT blob_name FROM quarantine_items WHERE id=?", item["id"])
    a.ok("quarantine", "discard", item["id"], user="olaf")
    assert not list((a.home / "quarantine").rglob(f"{blob}*"))
    assert a.run("quarantine", "discard", item["id"], user="olaf").rc == 4


def test_coaches_do_not_work_the_queue(queue):
    r = queue["a"].run("quarantine", "list", user="anna")
    assert r.rc == 3


def test_an_interrupted_assignment_is_finished_by_the_next_one_without_filing_twice(tmp_path, prefect_server):
    """The flow files the pages, then the step that marks the item assigned fails (a crash there):
    assigning again finds the filing that happened and only marks the item; the scanner's file
    name is forgotten once the scan is processed and once the item is resolved."""
    import os

    from dossier.settings import Settings
    from dossier.wiring import build_app, install_runtime
    from services import scanning
    from services.context import act_as

    from .conftest import make_archive

    a = make_archive(tmp_path / "home", prefect_server)
    d = a.new_dossier("anna")
    loose = sm.write_pdf(tmp_path / "Jan Jansen intake.pdf", [sm.text_page(sm.dutch_lines(40, seed=7))])
    (item_id,) = a.ok("scan", loose, user="olaf")["results"][0]["quarantine"]
    assert a.sql("SELECT count(*) FROM scans WHERE source_sealed IS NOT NULL") == [(0,)]

    os.environ["PREFECT_API_URL"] = prefect_server.url
    try:
        settings = Settings(home=a.home)
        app = build_app(settings)
        install_runtime(settings, app.vault)
        office = act_as(app, "olaf")
        real = app.vault.quarantine_blob_names
        app.vault.quarantine_blob_names = lambda item: (_ for _ in ()).throw(RuntimeError("power cut"))
        with pytest.raises(RuntimeError):
            scanning.assign_item(office, item_id, d, "aantekeningen")
        app.vault.quarantine_blob_names = real
        assert a.ok("quarantine", "list", user="olaf")["items"][0]["id"] == item_id  # still open
        again = scanning.assign_item(office, item_id, d, "aantekeningen")
    finally:
        os.environ.pop("PREFECT_API_URL", None)
    assert again["status"] == "assigned"
    assert [x["pages"] for x in a.ok("docs", d, user="anna")["documents"]] == [1]  # filed once
    left = a.sql("SELECT count(*) FROM quarantine_items WHERE source_sealed IS NOT NULL")
    assert left == [(0,)] and a.ok("quarantine", "list", user="olaf")["items"] == []
