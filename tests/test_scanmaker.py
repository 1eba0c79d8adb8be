"""Sanity checks for the test-data generator (tests/scanmaker.py), including a real tesseract recall check."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from tests import scanmaker as sm

A4_300 = (2480, 3508)
A4_PT = (595.276, 841.89)


@pytest.fixture(scope="module")
def lines():
    return sm.dutch_lines(300, seed=7, marker="DOS-2024-0042")


@pytest.fixture(scope="module")
def page(lines):
    return sm.text_page(lines, seed=7)


def _px(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L"))


# ------------------------------------------------------------------ pages


def test_text_page_is_a4_greyscale(page):
    assert sm.DPI == 300
    assert page.size == A4_300 == sm.a4_size(300)
    assert page.mode == "L"
    assert page.info["dpi"] == (300, 300)
    a = _px(page)
    assert a.min() == 0 and a.max() == 255
    # ink stays inside the 2.5 cm margins (plus the ~1 mm placement jitter)
    margin = round(2.5 / 2.54 * 300) - 13
    ink = np.argwhere(a < 128)
    assert ink[:, 1].min() >= margin and ink[:, 1].max() <= A4_300[0] - margin
    assert ink[:, 0].min() >= margin and ink[:, 0].max() <= A4_300[1] - margin


def test_text_page_other_dpi_and_overflow(lines):
    p = sm.text_page(lines[:3], dpi=200)
    assert p.size == sm.a4_size(200) == (1654, 2339)
    with pytest.raises(ValueError):
        sm.text_page(sm.dutch_lines(900, seed=1))
    pages = sm.text_pages(sm.dutch_lines(900, seed=1))
    assert len(pages) >= 2 and all(p.size == A4_300 for p in pages)


def test_blank_page_near_white():
    b = sm.blank_page(seed=3)
    assert b.size == A4_300 and b.mode == "L"
    a = _px(b)
    assert 240 < a.mean() < 253
    assert (a < 128).mean() < 1e-4  # a few dust specks only
    assert (a < 200).sum() > 0
    assert _px(sm.blank_page(noise=False)).min() == 255
    ghost = sm.blank_page(seed=3, show_through=sm.text_page(["Schaduw van de voorkant"] * 5))
    assert (_px(ghost) < 128).mean() < 1e-4


def test_deterministic(lines, page):
    assert sm.dutch_lines(300, seed=7, marker="DOS-2024-0042") == lines
    assert sm.dutch_lines(300, seed=8) != sm.dutch_lines(300, seed=7)
    assert sm.text_page(lines, seed=7).tobytes() == page.tobytes()
    assert sm.blank_page(seed=1).tobytes() == sm.blank_page(seed=1).tobytes()
    assert sm.blank_page(seed=1).tobytes() != sm.blank_page(seed=2).tobytes()
    for f in (sm.office_quality, sm.fax, sm.add_noise):
        assert f(page, seed=2).tobytes() == f(page, seed=2).tobytes()
    assert sm.office_quality(page, seed=2).tobytes() != sm.office_quality(page, seed=3).tobytes()


def test_dutch_lines_words_and_marker():
    ls = sm.dutch_lines(120, seed=4)
    assert sum(len(x.split()) for x in ls) == 120
    assert ls[-1].endswith(".")
    marked = sm.dutch_lines(120, seed=4, marker="ZX-123")
    assert "ZX-123" in marked[0].split()
    assert sum(len(x.split()) for x in marked) == 121
    text = " ".join(sm.dutch_lines(2000, seed=9)).lower()
    for w in ("cliënt", "werkgever", "gesprek", "the"):
        assert w in text


# ------------------------------------------------------------------ degradations


def test_degradations_sizes_and_modes(page):
    r = sm.rotate(page, 1.5)
    assert r.size == page.size and r.mode == "L"
    assert _px(r)[0, 0] == 255  # white fill in the corners
    assert sm.rotate(sm.rotate(page, 180), 180).tobytes() == page.tobytes()
    n = sm.add_noise(page, seed=1)
    assert n.size == page.size and n.mode == "L"
    assert 0.02 < np.mean(_px(n) != _px(page)) < 1.0
    j = sm.jpeg(page, 50)
    assert j.size == page.size and j.mode == "L"
    low = sm.resample_dpi(page, 300, 200)
    assert np.allclose(low.size, sm.a4_size(200), atol=1) and low.info["dpi"] == (200, 200)
    f = sm.fax(page)
    assert f.mode == "1" and np.allclose(f.size, sm.a4_size(sm.FAX_DPI), atol=1) and f.info["dpi"] == sm.FAX_DPI
    o = sm.office_quality(page, seed=1)
    assert o.size == page.size and o.mode == "L"
    assert 225 < np.median(_px(o)) < 250  # greyish paper
    batch = sm.duplex([page, f], seed=1)
    assert len(batch) == 4 and batch[1].size == page.size and batch[3].mode == "1"


# ------------------------------------------------------------------ files


def _pdf_pages(path):
    pikepdf = pytest.importorskip("pikepdf")
    with pikepdf.open(path) as pdf:
        out = []
        for p in pdf.pages:
            box = [float(v) for v in p.MediaBox]
            imgs = p.get_images() if hasattr(p, "get_images") else p.images
            (img,) = imgs.values()
            flt = img.Filter
            flt = str(flt[0]) if isinstance(flt, pikepdf.Array) else str(flt)
            out.append(((box[2] - box[0], box[3] - box[1]), flt))
        return out


def test_write_pdf(tmp_path, page):
    f = sm.fax(page)
    r = sm.resample_dpi(page, 300, 200)
    path = sm.write_pdf(tmp_path / "batch.pdf", [page, sm.blank_page(), f, r])
    pages = _pdf_pages(path)
    assert len(pages) == 4
    for size, _ in pages:  # every page A4, whatever its resolution
        assert size == pytest.approx(A4_PT, abs=1.5)
    assert [flt for _, flt in pages] == ["/FlateDecode", "/FlateDecode", "/CCITTFaxDecode", "/FlateDecode"]

    jpath = sm.write_pdf(tmp_path / "jpeg.pdf", [page, f], jpeg_quality=60)
    assert [flt for _, flt in _pdf_pages(jpath)] == ["/DCTDecode", "/DCTDecode"]

    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
        assert "Pages:           4" in info

    back = sm.pdf_page_image(path, page=1)
    assert back.mode == "L" and back.size == A4_300
    assert np.abs(_px(back).astype(int) - _px(page)).mean() < 5  # poppler resamples slightly
    assert np.allclose(sm.pdf_page_image(path, page=3, dpi=150).size, sm.a4_size(150), atol=1)


def test_write_tiff(tmp_path, page):
    f = sm.fax(page)
    g4 = sm.write_tiff(tmp_path / "fax.tif", [f, sm.fax(sm.blank_page())])
    with Image.open(g4) as im:
        assert im.n_frames == 2
        assert im.mode == "1" and im.info["compression"] == "group4"
        assert tuple(round(v) for v in im.info["dpi"]) == sm.FAX_DPI
    mixed = sm.write_tiff(tmp_path / "mixed.tif", [page, f, sm.blank_page()], dpi=300)
    with Image.open(mixed) as im:
        assert im.n_frames == 3
        modes = []
        for i in range(3):
            im.seek(i)
            modes.append(im.mode)
            assert im.info["compression"] == "tiff_adobe_deflate"
        assert modes == ["L", "1", "L"]


def test_write_image(tmp_path, page):
    for name in ("p.png", "p.jpg", "p.jpeg", "p.tif"):
        path = sm.write_image(tmp_path / name, page)
        with Image.open(path) as im:
            assert im.size == A4_300
            assert tuple(round(v) for v in im.info["dpi"]) == (300, 300)
    path = sm.write_image(tmp_path / "low.png", sm.resample_dpi(page, 300, 200))
    with Image.open(path) as im:
        assert tuple(round(v) for v in im.info["dpi"]) == (200, 200)
    with pytest.raises(ValueError):
        sm.write_image(tmp_path / "p.gif", page)


# ------------------------------------------------------------------ words


def test_words_and_recall():
    assert sm.words_of(["Gesprek met cliënt, over re-integratie!", "Follow-up: 12 maart."]) == [
        "gesprek",
        "met",
        "client",
        "over",
        "re",
        "integratie",
        "follow",
        "up",
        "12",
        "maart",
    ]
    exp = ["de de cliënt werkt"]
    assert sm.word_recall(exp, "De client werkt") == pytest.approx(0.75)
    assert sm.word_recall(exp, "de de de CLIËNT werkt.") == 1.0
    assert sm.word_recall(exp, "") == 0.0
    assert sm.word_recall([], "x") == 1.0


# ------------------------------------------------------------------ real OCR


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")
def test_tesseract_reads_generated_pages(lines, page, tmp_path, capsys):
    variants = {
        "clean": page,
        "office": sm.office_quality(page, seed=7),
        "200dpi": sm.resample_dpi(page, 300, 200),
        "fax": sm.fax(page, seed=7),
        "jpeg50": sm.jpeg(page, 50),
    }
    paths = {name: sm.write_image(tmp_path / f"{name}.png", im) for name, im in variants.items()}

    def ocr(name):
        t = time.perf_counter()
        out = subprocess.run(
            ["tesseract", str(paths[name]), "stdout", "-l", "nld+eng"],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        ).stdout
        return name, out, time.perf_counter() - t

    with ThreadPoolExecutor(max_workers=max(1, min(len(paths), os.cpu_count() or 1))) as ex:
        results = {name: (txt, dt) for name, txt, dt in ex.map(ocr, paths)}

    recall = {name: sm.word_recall(lines, txt) for name, (txt, _) in results.items()}
    report = "  ".join(f"{n}={recall[n]:.3f} ({results[n][1]:.1f}s)" for n in variants)
    with capsys.disabled():  # shown even without -s
        print(f"\nscanmaker OCR word recall: {report}")

    assert "DOS-2024-0042" in results["clean"][0]
    assert recall["clean"] >= 0.95, report
    assert recall["office"] >= 0.95, report
    assert recall["200dpi"] >= 0.9, report
    assert recall["fax"] >= 0.9, report
    assert recall["jpeg50"] >= 0.9, report
