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
    cmd = ["tesseract", str(image_path), str(out_base), "-l", languages, "--dpi", str(dpi),
           "-c", "textonly_pdf=1", "txt", "tsv", "pdf"]
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


def tesseract_version() -> str:
    out = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, env=_ENV)
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "unknown"
