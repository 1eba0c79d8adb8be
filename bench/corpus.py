"""The benchmark corpus: seeded scan batches with cover sheets, office-quality pages and duplex backs.

A corpus of N pages is a handful of PDF files (one scanner batch each, cut at document boundaries),
each holding several documents: a cover sheet made by `dossier cover` for the bench archive, then
1-5 note pages of Dutch/English coaching text. About a third of the documents were scanned duplex,
so each of their sheets is followed by its blank, dusty back with faint show-through. Every page is
degraded as an office multifunction printer does (skew, contrast, blur, noise, JPEG) and stored as a
300 dpi JPEG image, as scanners write PDFs.

Content pages and their backs depend on the seed only and are cached (JPEG bytes plus ground-truth
lines) under bench/out/cache, so a second run does not redo the slow image work. Cover sheets carry
an HMAC under the bench archive's random master key, so they are made fresh for each archive.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import subprocess
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DPI = 300
JPEG_QUALITY = 80
CACHE_VERSION = 1  # bump when the page recipe changes

DOC_TYPES = [
    "aantekeningen",
    "aantekeningen",
    "aantekeningen",
    "voortgangsrapportage",
    "coachingsplan",
    "werkplan",
    "cv",
    "toestemmingsformulier",
    "eindrapportage",
]


@dataclass
class Page:
    kind: str  # "cover" | "blank" | "content"
    seed: int  # content: the page's seed; blank: seed of the front it is the back of; cover: doc index
    doc: int  # index of the document in the corpus


@dataclass
class Doc:
    index: int
    dossier: int  # index into Corpus.dossiers
    doc_type: str
    duplex: bool
    pages: list[Page] = field(default_factory=list)

    @property
    def content_seeds(self) -> list[int]:
        return [p.seed for p in self.pages if p.kind == "content"]


@dataclass
class ScanFile:
    name: str
    docs: list[int]  # document indices
    path: str = ""


@dataclass
class Plan:
    seed: int
    pages: int
    docs: list[Doc]
    files: list[ScanFile]
    n_dossiers: int

    def page_list(self, f: ScanFile) -> list[Page]:
        return [p for d in f.docs for p in self.docs[d].pages]

    def count(self, kind: str) -> int:
        return sum(p.kind == kind for d in self.docs for p in d.pages)


def plan(pages: int, seed: int, file_pages: int, duplex_share: float = 0.35, max_doc_pages: int = 5) -> Plan:
    """Decide, from the seed alone, which pages go where: exactly `pages` scanned pages.

    A document has 1..max_doc_pages note pages (mostly short, as coaching notes are); a share
    `duplex_share` of the documents was scanned duplex (every sheet followed by its blank back).
    """
    if pages < 2:
        raise ValueError("a corpus needs at least 2 pages (a cover sheet and a page)")
    rng = random.Random(f"bench-plan:{seed}")
    docs: list[Doc] = []
    total = 0
    content_counter = 0
    while total < pages:
        duplex = rng.random() < duplex_share
        k = rng.choice([1, 1, 2, 2, 2, 3, 3, 4, 5]) if max_doc_pages == 5 else rng.randint(1, max_doc_pages)
        doc = Doc(len(docs), 0, rng.choice(DOC_TYPES), duplex)
        doc.pages.append(Page("cover", doc.index, doc.index))
        if duplex:
            doc.pages.append(Page("blank", -1 - doc.index, doc.index))  # back of the cover sheet
        for _ in range(k):
            content_counter += 1
            s = seed * 100_000 + content_counter
            doc.pages.append(Page("content", s, doc.index))
            if duplex:
                doc.pages.append(Page("blank", s, doc.index))
        docs.append(doc)
        total += len(doc.pages)
    # Cut to exactly `pages`; a last document left without content pages is dropped and the one before
    # it padded with simplex note pages.
    excess = total - pages
    while excess > 0:
        last = docs[-1]
        cut = min(excess, len(last.pages))
        del last.pages[len(last.pages) - cut :]
        excess -= cut
        if not any(p.kind == "content" for p in last.pages):
            missing = len(last.pages)
            docs.pop()
            if not docs:  # pages == 2 or so: one cover and one page
                docs.append(Doc(0, 0, "aantekeningen", False, [Page("cover", 0, 0)]))
                missing -= 1
            for _ in range(missing):
                content_counter += 1
                docs[-1].pages.append(Page("content", seed * 100_000 + content_counter, docs[-1].index))
    n_dossiers = max(2, math.ceil(len(docs) / 4))
    for d in docs:
        d.dossier = rng.randrange(n_dossiers)
    files: list[ScanFile] = []
    cur: list[int] = []
    cur_pages = 0
    for d in docs:
        cur.append(d.index)
        cur_pages += len(d.pages)
        if cur_pages >= file_pages:
            files.append(ScanFile(f"batch-{len(files) + 1:02d}.pdf", cur))
            cur, cur_pages = [], 0
    if cur:
        files.append(ScanFile(f"batch-{len(files) + 1:02d}.pdf", cur))
    assert sum(len(d.pages) for d in docs) == pages
    return Plan(seed, pages, docs, files, n_dossiers)


# ---- page images ---------------------------------------------------------------------------------


def _sm():
    import sys

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests import scanmaker

    return scanmaker


def _jpeg_bytes(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY, dpi=(DPI, DPI))
    return buf.getvalue()


def _make_content(args: tuple[int, str, bool]) -> int:
    """Render one note page (and its blank back when wanted) into the cache. Runs in a worker process."""
    s, cache_dir, want_back = args
    cache = Path(cache_dir)
    front_path, back_path, text_path = cache / f"c{s}.jpg", cache / f"b{s}.jpg", cache / f"c{s}.json"
    sm = _sm()
    from PIL import Image

    if not (front_path.exists() and text_path.exists()):
        r = random.Random(f"bench-page:{s}")
        n_words = r.randint(170, 320)
        size = r.choice([10, 11, 11, 12])
        serif = r.random() < 0.25
        lines = sm.dutch_lines(n_words, seed=s)
        page = sm.office_quality(sm.text_page(lines, font_size_pt=size, seed=s, serif=serif), seed=s)
        tmp = front_path.with_suffix(".tmp")
        tmp.write_bytes(_jpeg_bytes(page))
        os.replace(tmp, front_path)
        text_path.write_text(json.dumps({"lines": lines, "font_pt": size, "serif": serif}, ensure_ascii=False))
    if want_back and not back_path.exists():
        front = Image.open(front_path)
        front.load()
        back = sm.jpeg(sm.blank_page(seed=s, show_through=front), 85)
        tmp = back_path.with_suffix(".tmp")
        tmp.write_bytes(_jpeg_bytes(back))
        os.replace(tmp, back_path)
    return s


def build_pages(p: Plan, cache: Path, workers: int) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    need: dict[int, bool] = {}
    for d in p.docs:
        for pg in d.pages:
            if pg.kind == "content":
                need.setdefault(pg.seed, False)
            elif pg.kind == "blank" and pg.seed >= 0:
                need[pg.seed] = True
    todo = [
        (s, str(cache), back)
        for s, back in need.items()
        if not (cache / f"c{s}.jpg").exists() or (back and not (cache / f"b{s}.jpg").exists())
    ]
    if not todo:
        return
    with ProcessPoolExecutor(max_workers=max(1, workers)) as ex:
        list(ex.map(_make_content, todo, chunksize=2))


def ground_truth(cache: Path, s: int) -> list[str]:
    return json.loads((cache / f"c{s}.json").read_text())["lines"]


# ---- the bench archive and its cover sheets --------------------------------------------------------


class Archive:
    """A fresh dossier home driven through the real `dossier` command (as tests/conftest.py does)."""

    def __init__(self, home: Path, bin_dir: Path, prefect_url: str | None, ocr_jobs: int):
        self.home = home
        self.bin = bin_dir
        self.prefect_url = prefect_url
        self.ocr_jobs = ocr_jobs

    def env(self, user: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOSSIER_", "PREFECT_"))}
        env.update(DOSSIER_HOME=str(self.home), DOSSIER_USER=user, DOSSIER_OCR_JOBS=str(self.ocr_jobs))
        if self.prefect_url:
            env["PREFECT_API_URL"] = self.prefect_url
        return env

    def cmd(self, *args) -> list[str]:
        return [str(self.bin / "dossier"), *map(str, args), "--json"]

    def ok(self, *args, user: str = "petra") -> dict:
        p = subprocess.run(self.cmd(*args), env=self.env(user), capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"dossier {' '.join(map(str, args))} failed ({p.returncode}): {p.stderr.strip()}")
        return json.loads(p.stdout)

    def setup(self) -> None:
        self.ok("init")
        self.ok("user", "add", "anna", "--role", "coach")
        self.ok("user", "add", "bert", "--role", "coach")
        self.ok("user", "add", "olaf", "--role", "office")


def write_files(p: Plan, archive: Archive, cache: Path, out_dir: Path) -> dict:
    """Open the dossiers, print a cover sheet per document, write the scan batches. Returns the manifest."""
    import img2pdf

    sm = _sm()
    out_dir.mkdir(parents=True, exist_ok=True)
    dossiers = [
        archive.ok("new", "--coach", "anna" if i % 2 == 0 else "bert", user="olaf")["dossier"]
        for i in range(p.n_dossiers)
    ]
    covers: dict[int, bytes] = {}
    for d in p.docs:
        cover_pdf = out_dir / f"cover-{d.index:03d}.pdf"
        archive.ok("cover", dossiers[d.dossier], "--type", d.doc_type, "-o", cover_pdf, user="olaf")
        img = sm.pdf_page_image(cover_pdf, dpi=DPI)
        covers[d.index] = _jpeg_bytes(sm.office_quality(img, seed=p.seed * 1000 + d.index))
        cover_pdf.unlink()
    blank_cover_backs: dict[int, bytes] = {}
    layout = img2pdf.get_fixed_dpi_layout_fun((DPI, DPI))
    for f in p.files:
        data: list[bytes] = []
        for pg in p.page_list(f):
            if pg.kind == "cover":
                data.append(covers[pg.doc])
            elif pg.kind == "content":
                data.append((cache / f"c{pg.seed}.jpg").read_bytes())
            elif pg.seed >= 0:
                data.append((cache / f"b{pg.seed}.jpg").read_bytes())
            else:  # the back of a cover sheet
                if pg.doc not in blank_cover_backs:
                    blank_cover_backs[pg.doc] = _jpeg_bytes(sm.jpeg(sm.blank_page(seed=-pg.seed), 85))
                data.append(blank_cover_backs[pg.doc])
        path = out_dir / f.name
        path.write_bytes(img2pdf.convert(data, layout_fun=layout))
        f.path = str(path)
    manifest = {
        "seed": p.seed,
        "pages": p.pages,
        "dossiers": dossiers,
        "docs": [{**asdict(d), "dossier_number": dossiers[d.dossier]} for d in p.docs],
        "files": [asdict(f) for f in p.files],
        "counts": {k: p.count(k) for k in ("cover", "blank", "content")},
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
