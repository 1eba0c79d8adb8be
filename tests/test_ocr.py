"""Reading pages at a lower resolution (real tesseract, no Prefect): as well as at the scanned
resolution, with doubtful print read again at full resolution and handwriting left alone."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from scanners.ocr import ocr_page_at

from . import scanmaker as sm
from .test_scan_path import _scribbles


def _read(tmp_path: Path, image, name: str, ocr_dpi: int = 200):
    path = tmp_path / f"{name}.pgm"
    image.convert("L").save(path)
    result = ocr_page_at(
        path, tmp_path / name, image_dpi=300, ocr_dpi=ocr_dpi, languages="nld+eng", timeout=300, handwriting_below=60.0
    )
    return result, _page_width(result.text_pdf.with_suffix(".tsv")), (tmp_path / f"{name}-full.txt").exists()


def _page_width(tsv: Path) -> int:
    """Width in pixels of the image tesseract read (the TSV's page row)."""
    with open(tsv, encoding="utf-8", newline="") as f:
        return int(
            next(r for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r["level"] == "1")["width"]
        )


@pytest.mark.parametrize("pt", [7, 11])
def test_office_scans_are_read_at_200_dpi_as_well_as_at_300(tmp_path, pt):
    lines = sm.dutch_lines(300, seed=pt)
    page = sm.office_quality(sm.text_pages(lines, font_size_pt=pt, seed=pt)[0], seed=pt)
    result, width, reread = _read(tmp_path, page, "office")
    assert width == round(page.width * 200 / 300) and not reread
    assert sm.word_recall(lines, result.text) >= 0.99 * sm.word_recall(lines, sm.ocr_text(page))


def test_tiny_print_on_a_noisy_scan_is_read_again_at_full_resolution(tmp_path):
    lines = sm.dutch_lines(300, seed=5)
    page = sm.jpeg(sm.add_noise(sm.text_pages(lines, font_size_pt=5, seed=5, serif=True)[0], amount=0.01, seed=5), 45)
    result, _, reread = _read(tmp_path, page, "tiny")
    assert reread
    assert sm.word_recall(lines, result.text) >= 0.98


def test_handwriting_is_not_read_twice_and_nothing_is_reduced_when_told(tmp_path):
    result, _, reread = _read(tmp_path, _scribbles(2), "hand")
    assert result.confidence < 60 and not reread
    page = sm.text_page(sm.dutch_lines(40, seed=3))
    _, width, _ = _read(tmp_path, page, "as-is", ocr_dpi=0)
    assert width == page.width
