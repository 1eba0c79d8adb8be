"""Print the OCR text the pipeline stored for documents (the sealed page texts), as JSON.

    DOSSIER_HOME=... python bench/page_texts.py DOC_ID...   ->  {"DOC_ID": ["page 1 text", ...], ...}

For the benchmark only, on its own throw-away archive: word recall of the text the pipeline
recognised (what search indexes), next to the recall of the text layer in the archived PDF
(what `dossier get` gives; pdftotext splits a few words of tesseract's text-only PDF).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from archive.catalog import Document
    from dossier.cli import context

    ctx = context()  # DOSSIER_USER, a user of the archive
    out = {}
    with ctx.vault.sessions() as session:
        for doc_id in sys.argv[1:]:
            out[doc_id] = ctx.vault.page_texts(session, session.get(Document, doc_id))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
