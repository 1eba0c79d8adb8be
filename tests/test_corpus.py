"""Odd real-world input from the peer corpus (OCRmyPDF's and paperless-ngx's test files).

None of these carries our cover sheet, so every file must end in the quarantine with a specific
reason, in one `dossier scan` run that neither crashes nor hangs, with bounded memory.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from .conftest import BIN, CORPUS

FOLDERS = [CORPUS / "ocrmypdf", CORPUS / "paperless" / "misc", CORPUS / "paperless" / "ocr"]
pytestmark = pytest.mark.skipif(not (CORPUS / "ocrmypdf").is_dir(), reason="peer corpus not present")

# Files whose reason we know exactly; every other file holds readable pages without a cover sheet.
SPECIFIC = {
    "invalid.pdf": "unreadable-pdf",
    "hugemono.pdf": "page-too-large",
    "enormous.pdf": "page-too-large",
    "multipage.pdf": "page-too-large",
    "poster.pdf": "page-too-large",
    "password-is-test.pdf": "encrypted-input",
    "encrypted.pdf": "encrypted-input",
}
PEAK_RSS_LIMIT_MB = 1500


@pytest.fixture(scope="module")
def corpus_run(shared_archive):
    files = sorted(p for folder in FOLDERS for p in folder.iterdir() if p.is_file() and p.suffix != ".md")
    # Measure the peak RSS of the largest process in the run (dossier itself, pdftoppm, tesseract...).
    probe = (
        "import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(json.dumps({'rc': p.returncode, 'out': p.stdout, 'err': p.stderr[-3000:], "
        "'peak_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))"
    )
    p = subprocess.run(
        [sys.executable, "-c", "import json; " + probe, str(BIN / "dossier"), "scan", *map(str, files), "--json"],
        env=shared_archive.env("olaf"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    run = json.loads(p.stdout)
    assert run["rc"] == 0, run["err"]
    items = {i["id"]: i for i in shared_archive.ok("quarantine", "list", user="olaf")["items"]}
    return files, json.loads(run["out"])["results"], items, run["peak_kb"] / 1024


def test_every_file_is_reported_and_quarantined(corpus_run):
    files, results, items, _ = corpus_run
    assert [r["source"] for r in results] == [str(f) for f in files]
    wrong, seen = [], set()
    for f, r in zip(files, results):
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        if digest in seen:  # the corpus holds the same file under two names: the second is a duplicate
            if r["status"] != "duplicate":
                wrong.append((f.name, r["status"], "expected duplicate"))
            continue
        seen.add(digest)
        codes = {items[q]["code"] for q in r["quarantine"]}
        expected_ok = (
            codes == {SPECIFIC[f.name]} if f.name in SPECIFIC else codes and codes <= {"no-cover", "no-content"}
        )
        if r["status"] != "quarantined" or r["documents"] or not expected_ok:
            wrong.append((f.name, r["status"], sorted(codes)))
    assert wrong == []


def test_memory_stays_bounded(corpus_run):
    *_, peak_mb = corpus_run
    print(f"peak RSS of the largest process: {peak_mb:.0f} MB")
    assert peak_mb < PEAK_RSS_LIMIT_MB
