"""Pure rules, tested without Prefect: payloads, page roles, splitting, search tokens, audit chain."""

from __future__ import annotations

import functools

import pytest
from PIL import Image, ImageDraw

from archive import audit, crypto, search
from archive.catalog import make_engine, migrate, session_factory
from classify.coversheet import PayloadError, make_payload, parse_payload, reads_like_cover, verify_payload
from classify.pages import PageRole, SheetFacts, classify_cover, is_blank, page_ink
from classify.split import hold_at, split

KEY = b"k" * 32


def test_payload_round_trip_and_signature():
    p = make_payload(KEY, "D-2026-0001", "aantekeningen", 7)
    assert p.text().startswith("DSA1|D-2026-0001|aantekeningen|7|")
    parsed = parse_payload(p.text())
    assert parsed == p and verify_payload(KEY, parsed)
    assert not verify_payload(b"x" * 32, parsed)
    forged = p.text().replace("D-2026-0001", "D-2026-0002")
    assert not verify_payload(KEY, parse_payload(forged))


@pytest.mark.parametrize(
    "value,code",
    [
        ("DSA1|D-2026-0001|aantekeningen|7", "cover-malformed"),
        ("DSA2|D-2026-0001|aantekeningen|7|" + "0" * 20, "cover-version"),
        ("DSA1|D-26-1|aantekeningen|7|" + "0" * 20, "cover-malformed"),
        ("DSA1|D-2026-0001|recept|7|" + "0" * 20, "cover-malformed"),
    ],
)
def test_malformed_payloads(value, code):
    with pytest.raises(PayloadError) as e:
        parse_payload(value)
    assert e.value.code == code


def _facts(status="open", dossier="D-2026-0001", doc_type="aantekeningen"):
    return lambda payload: SheetFacts(status, dossier, doc_type)


@pytest.mark.parametrize(
    "facts,code",
    [
        (_facts(status=None), "unknown-dossier"),
        (_facts(status="destroyed"), "destroyed-dossier"),
        (_facts(dossier="D-2026-0009"), "cover-not-issued"),
        (_facts(doc_type="cv"), "cover-not-issued"),
    ],
)
def test_cover_checks_against_the_catalog(facts, code):
    value = make_payload(KEY, "D-2026-0001", "aantekeningen", 3).text()
    role = classify_cover(1, value, KEY, facts)
    assert role.kind == "bad-cover" and role.problem_code == code


def test_trusted_cover():
    value = make_payload(KEY, "D-2026-0001", "aantekeningen", 3).text()
    assert classify_cover(2, value, KEY, _facts()).kind == "cover"
    assert classify_cover(2, value, b"o" * 32, _facts()).problem_code == "cover-signature"


def _cover(n, dossier="D-2026-0001"):
    return PageRole(n, "cover", make_payload(KEY, dossier, "cv", n))


def test_split_rules():
    roles = [
        PageRole(1, "content"),
        _cover(2),
        PageRole(3, "content"),
        PageRole(4, "blank"),
        PageRole(5, "content"),
        _cover(6, "D-2026-0002"),
        _cover(7, "D-2026-0003"),
        PageRole(8, "content"),
        PageRole(9, "bad-cover", problem_code="cover-signature", problem="bad"),
        PageRole(10, "content"),
    ]
    r = split(roles)
    assert [(d.cover.dossier, d.pages) for d in r.documents] == [("D-2026-0001", [3, 5]), ("D-2026-0003", [8])]
    assert [(q.reason_code, q.pages) for q in r.quarantine] == [("no-cover", [1]), ("cover-signature", [9, 10])]
    assert r.empty_covers == [6] and r.blanks == 1


def test_uncertain_pages_hold_the_rest_and_keep_the_ones_before():
    document = split([_cover(1)] + [PageRole(n, "content") for n in range(2, 8)]).documents[0]
    kept, held = hold_at(document, {3: "unread-cover", 5: "processing-failed", 7: "unread-cover"})
    assert kept.pages == [2] and kept.cover == document.cover and kept.is_document
    assert [(h.pages, h.reason_code, h.cover) for h in held] == [
        ([3, 4], "unread-cover", None),
        ([5, 6], "processing-failed", None),
        ([7], "unread-cover", None),
    ]
    assert "page 3 looks like a cover sheet" in held[0].reason and "pages 3-4" in held[0].reason
    assert "page 5 could not be read" in held[1].reason and "assign" in held[1].reason
    kept, held = hold_at(document, {2: "unread-cover"})
    assert kept is None and held[0].pages == [2, 3, 4, 5, 6, 7]
    kept, held = hold_at(document, {})
    assert kept.pages == document.pages and held == []


def test_cover_sheet_words_are_recognised_in_ocr_text():
    assert reads_like_cover("VOORBLAD  SCAN\n\nLeg dit blad bovenop de documenten")
    assert reads_like_cover("Blad nr. 12 · Dit blad wordt niet\ngearchiveerd.")
    assert not reads_like_cover("Gesprek over het voorblad van het plan; scan volgt later.")
    assert not reads_like_cover("")


def test_split_of_only_blanks_gives_nothing():
    r = split([PageRole(1, "blank"), PageRole(2, "blank")])
    assert not r.documents and not r.quarantine


def test_blank_detection_ignores_specks_but_not_text():
    page = Image.new("L", (2480, 3508), 250)
    d = ImageDraw.Draw(page)
    for i in range(40):  # dust
        d.point((100 + i * 53, 200 + i * 71), fill=0)
    assert is_blank(page)
    d.text((300, 300), "Gesprek met de cliënt over werk en gezondheid " * 3, fill=0, font_size=40)
    assert not is_blank(page)


def test_search_tokens_are_keyed_and_accent_folded():
    key = b"t" * 32
    assert search.words("Cliënt, werk-hervatting!") == ["client", "werk", "hervatting"]
    assert search.token(key, "client") != search.token(b"u" * 32, "client")
    assert search.token(key, "client") in search.page_tokens(key, "De cliënt belde.")
    assert "cliënt" in search.snippet("Gisteren belde de cliënt over zijn werk.", ["client"])


def test_sealed_values_need_the_key():
    sealed = crypto.seal(KEY, b"Jansen", b"D-2026-0001")
    assert crypto.open_sealed(KEY, sealed, b"D-2026-0001") == b"Jansen"
    with pytest.raises(crypto.DecryptionFailed):
        crypto.open_sealed(KEY, sealed, b"D-2026-0002")


def test_audit_chain_detects_edits(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    migrate(url)
    sessions = session_factory(make_engine(url))
    with sessions() as s:
        for i in range(5):
            audit.record(s, actor="petra", role="privacy", action="test", detail=str(i))
        s.commit()
        assert audit.verify(s).ok
    engine = make_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("DROP TRIGGER audit_no_update")
        c.exec_driver_sql("UPDATE audit_events SET actor='mallory' WHERE seq=3")
    with sessions() as s:
        report = audit.verify(s)
    assert not report.ok and report.first_bad == 3


def test_audit_log_refuses_updates(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    migrate(url)
    engine = make_engine(url)
    with session_factory(engine)() as s:
        audit.record(s, actor="petra", role="privacy", action="test")
        s.commit()
    with pytest.raises(Exception, match="append-only"):
        with engine.begin() as c:
            c.exec_driver_sql("DELETE FROM audit_events")


@functools.lru_cache(maxsize=1)
def _blank_cases():
    from . import scanmaker as sm

    return {
        "dusty back": (sm.blank_page(seed=1), True),
        "noisy back": (sm.add_noise(sm.blank_page(seed=2)), True),
        "jpeg back": (sm.jpeg(sm.blank_page(seed=3), 40), True),
        "fax back": (sm.fax(sm.blank_page(seed=4)), True),
        "show-through back": (sm.duplex([sm.text_page(sm.dutch_lines(200, seed=5))], seed=5)[1], True),
        "one line": (sm.text_page(["Geen bijzonderheden."]), False),
        "one word": (sm.text_page(["Akkoord"]), False),
        "one word by fax": (sm.fax(sm.text_page(["Akkoord"])), False),
        "one word at 200 dpi": (sm.resample_dpi(sm.text_page(["Akkoord"]), 300, 200), False),
        "a dark photo": (Image.new("L", (2480, 3508), 40), False),
        "a grey form": (Image.new("L", (2480, 3508), 120), False),
        "a line in pencil": (
            sm.office_quality(sm.text_page(["Gebeld met cliënt, afspraak verzet naar dinsdag."], ink=170)),
            False,
        ),
    }


@pytest.mark.parametrize("case", list(_blank_cases()))
def test_blank_backs_are_dropped_and_a_single_word_is_kept(case):
    image, blank = _blank_cases()[case]
    assert is_blank(image) is blank


@functools.lru_cache(maxsize=1)
def _ink_cases():
    import tempfile
    from pathlib import Path

    from classify.coversheet import render_cover_pdf

    from . import scanmaker as sm
    from .test_scan_path import _scribbles

    with tempfile.TemporaryDirectory() as tmp:
        cover = sm.pdf_page_image(render_cover_pdf(Path(tmp) / "c.pdf", make_payload(KEY, "D-2026-0001", "cv", 1)))
    lines = sm.dutch_lines(400, seed=3)
    return {
        "cover": (cover, True),
        "cover, office scan": (sm.office_quality(cover, seed=1), True),
        "cover, heavy noise": (sm.add_noise(cover, amount=0.3), True),
        "cover, fax": (sm.fax(cover), True),
        "cover, 200 dpi upside down": (sm.rotate(sm.resample_dpi(cover, 300, 200), 180), True),
        "cover, faded toner": (cover.point(lambda v: 150 + v * 100 // 255), True),
        "notes 8 pt": (sm.text_pages(lines, font_size_pt=8)[0], False),
        "notes 11 pt serif, office scan": (sm.office_quality(sm.text_pages(lines, serif=True)[0]), False),
        "notes 20 pt by fax": (sm.fax(sm.text_pages(lines, font_size_pt=20)[0]), False),
        "handwriting": (_scribbles(1), False),
    }


@pytest.mark.parametrize("case", list(_ink_cases()))
def test_only_pages_with_a_block_like_our_qr_get_the_slow_barcode_passes(case):
    image, code_like = _ink_cases()[case]
    ink = page_ink(image)
    assert ink.code_like is code_like and not ink.blank
