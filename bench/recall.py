"""Word recall of OCR text against the generated page text."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path


def _pdftotext_pages(pdf: Path) -> list[str]:
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = out.split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


class Recall:
    def __init__(self):
        self.hit = self.total = 0
        self.pages: list[float] = []

    def add(self, truth: list[str], text: str) -> None:
        from tests import scanmaker as sm

        exp, got = Counter(sm.words_of(truth)), Counter(sm.words_of(text))
        n = sum(exp.values())
        h = sum((exp & got).values())
        self.hit += h
        self.total += n
        self.pages.append(h / n if n else 1.0)

    def value(self) -> float | None:
        return round(self.hit / self.total, 4) if self.total else None

    def worst_page(self) -> float | None:
        return round(min(self.pages), 4) if self.pages else None
