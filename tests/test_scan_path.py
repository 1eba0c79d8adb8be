"""The whole scan path through the real `dossier` command, tesseract, zbar, poppler, qpdf and Prefect.

One module-wide archive receives two realistic batches (a degraded PDF and a TIFF); the tests
then look at what was filed, how well it was read, how it is protected and who may see it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pikepdf
import pytest

from . import scanmaker as sm
from .conftest import files_containing

CLIENT_NAME = "Jolanda Vreeswijk"
BSN = "111222333"
MARKER = "Zwanenburgmarker"


@pytest.fixture(scope="module")
def world(shared_archive, tmp_path_factory):
    a = shared_archive
    tmp = tmp_path_factory.mktemp("batches")
    d1 = a.new_dossier("anna", client_name=CLIENT_NAME, bsn=BSN, commissioner="UWV")
    d2 = a.new_dossier("anna")
    d3 = a.new_dossier("bert")

    def cover_image(dossier, doc_type):
        return sm.pdf_page_image(a.cover(dossier, doc_type, tmp / f"cover-{dossier}-{doc_type}.pdf"))

    text = {k: sm.dutch_lines(140, seed=k, marker=MARKER if k == 1 else None) for k in range(1, 8)}
    clean, office = sm.text_page(text[1]), sm.office_quality(sm.text_page(text[2]), seed=2)
    batch_a = [
        sm.office_quality(cover_image(d1, "aantekeningen"), seed=1),
        clean,
        sm.blank_page(seed=1),
        office,
        sm.rotate(sm.jpeg(cover_image(d2, "coachingsplan"), 60), 180),  # fed in upside down
        sm.resample_dpi(sm.text_page(text[3]), 300, 200),
        sm.add_noise(sm.resample_dpi(cover_image(d3, "cv"), 300, 200), seed=3),
        sm.fax(sm.text_page(text[4]), seed=4),
        sm.jpeg(sm.add_noise(sm.text_page(text[5]), seed=5), 45),
    ]
    # The client's name in the scanner's file name must not leak either.
    pdf_path = sm.write_pdf(tmp / f"{CLIENT_NAME} notities.pdf", batch_a, jpeg_quality=85)
    tiff_path = sm.write_tiff(
        tmp / "werkplan-batch.tiff", [cover_image(d1, "werkplan"), sm.text_page(text[6]), sm.text_page(text[7])]
    )
    scanned = a.ok("scan", pdf_path, tiff_path, user="olaf")["results"]
    return dict(a=a, d1=d1, d2=d2, d3=d3, text=text, pdf=pdf_path, tiff=tiff_path, results=scanned, tmp=tmp)


def _docs(result):
    return [(d["dossier"], d["type"], d["pages"]) for d in result["documents"]]


def test_batch_is_split_into_the_right_dossiers(world):
    pdf_result, tiff_result = world["results"]
    assert pdf_result["status"] == "archived", pdf_result["reason"]
    assert _docs(pdf_result) == [
        (world["d1"], "aantekeningen", 2),
        (world["d2"], "coachingsplan", 1),
        (world["d3"], "cv", 2),
    ]
    assert tiff_result["status"] == "archived", tiff_result["reason"]
    assert _docs(tiff_result) == [(world["d1"], "werkplan", 2)]


def test_docs_lists_what_was_filed(world):
    listed = world["a"].ok("docs", world["d1"], user="anna")["documents"]
    assert sorted((d["type"], d["pages"]) for d in listed) == [("aantekeningen", 2), ("werkplan", 2)]
    assert all(set(d) >= {"id", "type", "pages", "scanned_at"} for d in listed)


def _page_texts(pdf_path: Path) -> list[str]:
    out = subprocess.run(["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True, text=True, check=True)
    return out.stdout.split("\f")


def test_ocr_reads_clean_and_office_pages(world):
    doc = world["results"][0]["documents"][0]
    out = world["tmp"] / "aantekeningen.pdf"
    got = world["a"].ok("get", doc["id"], "-o", out, user="anna")
    assert got["pages"] == 2
    clean_text, office_text = _page_texts(out)[:2]
    assert sm.word_recall(world["text"][1], clean_text) >= 0.95
    assert sm.word_recall(world["text"][2], office_text) >= 0.95


def test_degraded_pages_are_read(world):
    """200 dpi, fax and noisy JPEG pages: readable enough to be found again."""
    for doc, keys in ((world["results"][0]["documents"][1], [3]), (world["results"][0]["documents"][2], [4, 5])):
        out = world["tmp"] / f"{doc['id']}.pdf"
        world["a"].ok("get", doc["id"], "-o", out, user="petra")
        for text_key, page_text in zip(keys, _page_texts(out)):
            assert sm.word_recall(world["text"][text_key], page_text) >= 0.9


def test_archived_pages_keep_the_scanner_images(world):
    """The page images are the scanner's bytes; only an invisible text layer was added."""
    doc = world["results"][0]["documents"][0]
    out = world["tmp"] / "original-check.pdf"
    world["a"].ok("get", doc["id"], "-o", out, user="anna")

    def images(pdf, page_index):
        page = pdf.pages[page_index]
        return [x.read_raw_bytes() for x in page.get_images().values()]

    with pikepdf.open(world["pdf"]) as source, pikepdf.open(out) as archived:
        assert images(archived, 0) == images(source, 1)  # page 1 of the document is scan page 2
        assert images(archived, 1) == images(source, 3)  # the blank back (scan page 3) was dropped
    assert MARKER in _page_texts(out)[0]


def test_search_finds_a_word_on_a_page(world):
    hits = world["a"].ok("search", MARKER.lower(), user="anna")["hits"]
    doc = world["results"][0]["documents"][0]
    assert [(h["document"], h["dossier"], h["page"]) for h in hits] == [(doc["id"], world["d1"], 1)]
    assert MARKER in hits[0]["snippet"]
    assert world["a"].ok("search", MARKER, user="bert")["hits"] == []  # not bert's client


def test_other_coach_is_refused_and_it_is_logged(world):
    a, doc = world["a"], world["results"][0]["documents"][0]
    for args in (
        ("get", doc["id"], "-o", world["tmp"] / "stolen.pdf"),
        ("docs", world["d1"]),
        ("search", MARKER, "--dossier", world["d1"]),
    ):
        r = a.run(*args, user="bert")
        assert r.rc == 3, args
        assert "may not" in r.data["error"] and "may not" in r.stderr
    assert not (world["tmp"] / "stolen.pdf").exists()
    r = a.run("get", doc["id"], "-o", world["tmp"] / "office.pdf", user="olaf")
    assert r.rc == 3  # office staff handle paper and scans, not the content
    refused = a.sql("SELECT actor, action, dossier FROM audit_events WHERE outcome='refused'")
    assert ("bert", "documents.read", world["d1"]) in refused
    assert ("bert", "documents.list", world["d1"]) in refused
    assert a.ok("audit", "verify")["ok"]


def test_archived_file_needs_the_password(world):
    files = list((world["a"].home / "archive").rglob("*.pdf"))
    assert len(files) == 4
    for f in files:
        with pytest.raises(pikepdf.PasswordError):
            pikepdf.open(f)
        assert MARKER.encode() not in f.read_bytes()


def test_rescanning_the_same_file_is_a_duplicate(world):
    again = world["a"].ok("scan", world["tiff"], user="olaf")["results"][0]
    assert again["status"] == "duplicate"
    assert _docs(again) == [(world["d1"], "werkplan", 2)]
    assert len(world["a"].ok("docs", world["d1"], user="anna")["documents"]) == 2


def test_a_bit_flip_is_detected_on_get(world):
    a = world["a"]
    doc = world["results"][0]["documents"][1]
    ((name,),) = a.sql("SELECT file_name FROM documents WHERE id=?", doc["id"])
    path = a.home / "archive" / name[:2] / f"{name}.pdf"
    original = path.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    path.write_bytes(bytes(flipped))
    try:
        r = a.run("get", doc["id"], "-o", world["tmp"] / "flipped.pdf", user="anna")
        assert r.rc == 5 and "altered or damaged" in r.data["error"]
        assert not (world["tmp"] / "flipped.pdf").exists()
    finally:
        path.write_bytes(original)
    assert a.run("get", doc["id"], "-o", world["tmp"] / "restored.pdf", user="anna").rc == 0


def test_no_personal_data_in_plain_text_anywhere(world, prefect_server):
    """Name, BSN, page text and the scanner's file name appear nowhere under the data home or in Prefect."""
    needles = [
        CLIENT_NAME.encode(),
        b"Vreeswijk",
        BSN.encode(),
        MARKER.encode(),
        MARKER.lower().encode(),
        CLIENT_NAME.encode("utf-16-le"),
    ]
    leaks = files_containing(needles, world["a"].home, prefect_server.home)
    assert leaks == []
    # The search itself works: it finds the name in a file that does hold it.
    control = world["tmp"] / "control"
    control.mkdir()
    (control / "note.txt").write_text(f"{CLIENT_NAME} {BSN}")
    assert len(files_containing(needles, control)) == 3


def _scribbles(seed: int):
    """Handwriting-like strokes: loops and wiggles in lines, no printed text."""
    import math
    import random

    from PIL import Image, ImageDraw

    r = random.Random(seed)
    page = Image.new("L", sm.a4_size(300), 250)
    d = ImageDraw.Draw(page)
    for line in range(14):
        y0 = 400 + line * 170
        x = 300
        while x < 2100:
            pts = [
                (x + i * 6, y0 + 30 * math.sin(i / r.uniform(2, 5)) + r.uniform(-8, 8))
                for i in range(r.randint(15, 40))
            ]
            d.line(pts, fill=30, width=5)
            x = pts[-1][0] + r.randint(30, 60)
    page.info["dpi"] = (300, 300)
    return page


def test_handwriting_is_flagged_not_failed(world):
    a, tmp = world["a"], world["tmp"]
    cover = sm.pdf_page_image(a.cover(world["d2"], "aantekeningen", tmp / "hand-cover.pdf"))
    batch = sm.write_pdf(tmp / "handwritten.pdf", [cover, _scribbles(1), sm.text_page(world["text"][1])])
    r = a.ok("scan", batch, user="olaf")["results"][0]
    assert r["status"] == "archived" and r["documents"][0]["pages"] == 2
    listed = {d["id"]: d for d in a.ok("docs", world["d2"], user="anna")["documents"]}
    assert listed[r["documents"][0]["id"]]["low_text_pages"] == 1


def test_a_cover_whose_barcode_is_lost_holds_the_pages_behind_it(world):
    """A covered or torn QR must not let the pages behind it join the document before it (another
    client's dossier): OCR still reads the sheet's printed words, and from that sheet on the pages
    wait in the quarantine. A noisy cover that only the barcode reader's slow passes read is filed."""
    from PIL import ImageDraw

    from scanners.barcodes import read_barcodes

    a, tmp = world["a"], world["tmp"]

    def cover(dossier, name):
        return sm.pdf_page_image(a.cover(dossier, "voortgangsrapportage", tmp / f"{name}.pdf"))

    covered = cover(world["d3"], "covered-cover")
    ImageDraw.Draw(covered).rectangle((680, 1075, 1800, 2200), fill=255)  # a sticky note over the 9 cm QR
    noisy = sm.add_noise(cover(world["d1"], "noisy-cover"), amount=0.3, seed=9)
    assert read_barcodes(covered) == []
    assert read_barcodes(noisy, thorough=False) == [] and read_barcodes(noisy)

    pages = [
        cover(world["d2"], "first-cover"),
        sm.text_page(world["text"][2]),
        covered,
        sm.text_page(world["text"][3]),
        noisy,
        sm.text_page(world["text"][4]),
    ]
    r = a.ok("scan", sm.write_pdf(tmp / "lost-code.pdf", pages), user="olaf")["results"][0]
    assert r["status"] == "quarantined"
    assert _docs(r) == [(world["d2"], "voortgangsrapportage", 1), (world["d1"], "voortgangsrapportage", 1)]
    listed = a.ok("quarantine", "list", user="olaf")["items"]
    mine = [i for i in listed if i["id"] in r["quarantine"]]
    assert len(mine) == 1, (r, listed)  # the whole picture if this ever differs
    (item,) = mine
    assert item["code"] == "unread-cover" and item["pages"] == 2 and "page 3" in item["reason"]
    assert not [d for d in a.ok("docs", world["d3"], user="bert")["documents"] if d["type"] == "voortgangsrapportage"]


def test_a_finished_command_leaves_its_commits_in_the_catalog_file(world):
    """Every command closes the catalog at its end, whatever threads Prefect left running: SQLite
    then folds the write-ahead log into catalog.db, and a copy of the data home taken between two
    commands is whole without catalog.db-wal."""
    a, tmp = world["a"], world["tmp"]
    cover = sm.pdf_page_image(a.cover(world["d3"], "aantekeningen", tmp / "wal-cover.pdf"))
    r = a.ok("scan", sm.write_pdf(tmp / "wal.pdf", [cover, sm.text_page(world["text"][6])]), user="olaf")
    assert r["results"][0]["status"] == "archived"
    assert not (a.home / "catalog.db-wal").exists()


def test_the_same_file_twice_in_one_call_is_filed_once(world):
    """Files of one call are processed side by side; their claims still happen one at a time."""
    a, tmp = world["a"], world["tmp"]
    cover = sm.pdf_page_image(a.cover(world["d2"], "cv", tmp / "twice-cover.pdf"))
    batch = sm.write_pdf(tmp / "twice.pdf", [cover, sm.text_page(world["text"][5])])
    copy = tmp / "twice-copy.pdf"
    copy.write_bytes(batch.read_bytes())
    first, second = a.ok("scan", batch, copy, user="olaf")["results"]
    assert first["status"] == "archived" and _docs(first) == [(world["d2"], "cv", 1)]
    assert second["status"] == "duplicate" and second["scan"] == first["scan"], (first, second)
