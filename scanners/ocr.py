"""The one wrapper around tesseract: one page per process, single-threaded, three outputs per run.

Each run writes the page text, a TSV with word confidences, and a text-only PDF (invisible text
positioned like the page) that is later grafted onto the original page image.
"""

from __future__ import annotations

import csv
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Parallelism comes from running pages side by side; tesseract's own OpenMP threads only fight them.
_ENV = {**os.environ, "OMP_THREAD_LIMIT": "1"}


class OcrFailed(Exception):
    def __init__(self, code: str):
        super().__init__(f"tesseract failed ({code})")
        self.code = code


@dataclass(frozen=True)
class OcrResult:
    text: str
    confidence: float  # mean word confidence 0-100; 0 when no words
    words: int
    text_pdf: Path


def ocr_page(image_path: Path, out_base: Path, *, languages: str, dpi: int, timeout: int) -> OcrResult:
    cmd = [
        "tesseract",
        str(image_path),
        str(out_base),
        "-l",
        languages,
        "--dpi",
        str(dpi),
        "-c",
        "textonly_pdf=1",
        "txt",
        "tsv",
        "pdf",
    ]
    try:
        proc = subprocess.run(cmd, env=_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise OcrFailed("timeout") from None
    except FileNotFoundError:
        raise OcrFailed("tesseract-missing") from None
    if proc.returncode != 0:
        raise OcrFailed(f"exit-{proc.returncode}")
    text = out_base.with_suffix(".txt").read_text(encoding="utf-8", errors="replace")
    confidence, words = _mean_confidence(out_base.with_suffix(".tsv"))
    return OcrResult(text=text, confidence=confidence, words=words, text_pdf=out_base.with_suffix(".pdf"))


# Reading at a lower resolution: measured on 300 dpi office scans (tests/scanmaker pages, the
# bench corpus), tesseract at 200 dpi reads 6-11 pt text as well as at 300 dpi (word recall 1.000
# for clean, office and fax pages, and better on noisy JPEG, which the downscale smooths) in about
# 75 % of the time. What suffered was 5 pt print on a noisy scan (recall 0.90 against 0.997), and
# there the mean confidence fell to 84.5 where readable print scores 92-96: printed text read with
# less confidence than this is read again at full resolution, and the more confident reading kept.
RECHECK_BELOW = 88.0


def ocr_page_at(
    image_path: Path,
    out_base: Path,
    *,
    image_dpi: int,
    ocr_dpi: int,
    languages: str,
    timeout: int,
    handwriting_below: float,
) -> OcrResult:
    """OCR a page image at `ocr_dpi` when it is finer than that (0: at its own resolution). Pages
    that read like handwriting (confidence under `handwriting_below`) are not read again: more
    pixels do not make tesseract read handwriting."""
    if not ocr_dpi or image_dpi <= ocr_dpi * 1.2:
        return ocr_page(image_path, out_base, languages=languages, dpi=image_dpi, timeout=timeout)
    from PIL import Image

    reduced = out_base.with_name(f"{out_base.name}-{ocr_dpi}.pgm")
    with Image.open(image_path) as image:
        size = (max(1, round(image.width * ocr_dpi / image_dpi)), max(1, round(image.height * ocr_dpi / image_dpi)))
        image.resize(size, Image.Resampling.LANCZOS).save(reduced)
    try:
        quick = ocr_page(reduced, out_base, languages=languages, dpi=ocr_dpi, timeout=timeout)
    finally:
        reduced.unlink(missing_ok=True)
    if not handwriting_below <= quick.confidence < RECHECK_BELOW:
        return quick
    try:
        full = ocr_page(
            image_path, out_base.with_name(out_base.name + "-full"), languages=languages, dpi=image_dpi, timeout=timeout
        )
    except OcrFailed:
        return quick  # the quick reading stands
    return full if full.confidence > quick.confidence else quick


def _mean_confidence(tsv: Path) -> tuple[float, int]:
    confs: list[float] = []
    with open(tsv, encoding="utf-8", errors="replace", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            try:
                conf = float(row.get("conf") or -1)
            except ValueError:
                continue
            if row.get("level") == "5" and conf >= 0 and (row.get("text") or "").strip():
                confs.append(conf)
    return (sum(confs) / len(confs) if confs else 0.0), len(confs)
