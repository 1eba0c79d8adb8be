"""What-if: the page-reading and OCR loop of process_scan with the proposed levers, measured.

    python bench/whatif.py CORPUS_MANIFEST.json CACHE_DIR JOBS VARIANT [VARIANT ...]

This does not change the pipeline: it replays the loop of flows/process_scan.read_pages (render,
barcodes, blank check, PGM, tesseract per note page in a pool of JOBS) with the pipeline's own
functions, switching single steps for the cheaper ones a lever proposes. No Prefect, no
grafting/encryption/catalog: those are measured in the profiled run and added by the caller.

A variant is a '+'-joined list of levers ("sequential" alone: the single-thread reader):
  readahead    render and inspect pages on JOBS reader threads at nice 5, 3 pages ahead
               (scanners.pages.read_ahead since 77a3411)
  extract      decode the scanner's embedded image (one image covering the page) instead of pdftoppm
  blankfirst   blank check before barcodes; blank pages get no barcode pass
  fastblank    blank check decides "content" from the raw ink count when it is far above the limit,
               the median filter runs only near the limit (never calls a page blank that the
               current check calls content)
  stage1       barcode ladder stage 1 only (reduced zbar), no rescue passes (RISK: damaged covers)
  dpi200       tesseract on the page box-reduced to 200 dpi
  noinvert     tesseract -c tessedit_do_invert=0
  globalpool   one OCR pool for all files: the next file is read while the last one's OCR runs
  nice         tesseract at nice 10, so the page reader (the pool's only feeder) is never starved
Prints one JSON line per variant: wall, pages/min, word recall, tesseract time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from classify import pages as cpages  # noqa: E402
from classify.pages import cover_payload, is_blank  # noqa: E402
from scanners import barcodes  # noqa: E402
from scanners.poppler import render_page  # noqa: E402

ENV = {**os.environ, "OMP_THREAD_LIMIT": "1"}


def extract_image(pdf, n: int):
    """The page's only image, decoded, with its resolution; None when the page is not a plain scan."""
    import pikepdf

    page = pdf.pages[n - 1]
    images = list(page.get_images().values())
    if len(images) != 1:
        return None
    pim = pikepdf.PdfImage(images[0])
    box = page.mediabox
    width_in = abs(float(box[2]) - float(box[0])) / 72
    img = pim.as_pil_image()
    img.load()
    if img.mode != "L":
        img = img.convert("L")
    dpi = round(img.width / width_in)
    return img, dpi


def fast_is_blank(image: Image.Image) -> bool:
    # This lever was taken: classify/pages.py's is_blank is the fast check now.
    return cpages.is_blank(image)


def stage1_barcodes(image: Image.Image) -> list[str]:
    page = barcodes._Page(image)
    return barcodes._decode_zbar(page.get("reduced"))


def ocr(img_path: Path, dpi: int, noinvert: bool, nice: bool = False) -> tuple[str, float]:
    out = img_path.with_suffix("")
    cmd = ["nice", "-n", "10"] if nice else []
    cmd += ["tesseract", str(img_path), str(out), "-l", "nld+eng", "--dpi", str(dpi)]
    if noinvert:
        cmd += ["-c", "tessedit_do_invert=0"]
    cmd += ["-c", "textonly_pdf=1", "txt", "tsv", "pdf"]
    t = time.perf_counter()
    subprocess.run(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    dt = time.perf_counter() - t
    text = out.with_suffix(".txt").read_text(errors="replace")
    for suffix in (".txt", ".tsv", ".pdf"):
        out.with_suffix(suffix).unlink(missing_ok=True)
    img_path.unlink(missing_ok=True)
    return text, dt


def _lower_priority() -> None:
    try:  # as scanners.pages.read_ahead does: reader threads at nice 5, tesseract goes first
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 5)
    except (OSError, AttributeError):
        pass


def _pages(pdf_path: str, count: int, lev: set, jobs: int):
    """(n, image, dpi, (cover value, blank)) in page order, sequential or read ahead on threads."""
    import pikepdf

    def load(n: int):
        if "extract" in lev:
            with pikepdf.open(pdf_path) as pdf:
                got = extract_image(pdf, n)
            if got is not None:
                return got
        return render_page(Path(pdf_path), n, 300), 300

    def inspect(img):
        blank_check = fast_is_blank if "fastblank" in lev else is_blank
        if "blankfirst" in lev and blank_check(img):
            return None, True  # a blank page carries no cover sheet: no barcode pass
        value = cover_payload(stage1_barcodes(img) if "stage1" in lev else barcodes.read_barcodes(img))
        if "blankfirst" in lev:
            return value, False
        return value, value is None and blank_check(img)

    def work(n: int):
        img, dpi = load(n)
        return n, img, dpi, inspect(img)

    if "readahead" not in lev:
        for n in range(1, count + 1):
            yield work(n)
        return
    from collections import deque

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="reader", initializer=_lower_priority) as pool:
        pending: deque = deque()
        nxt = 1
        while pending or nxt <= count:
            while nxt <= count and len(pending) < 3:
                pending.append(pool.submit(work, nxt))
                nxt += 1
            yield pending.popleft().result()


def run_variant(manifest: dict, cache: Path, jobs: int, variant: str, work: Path) -> dict:
    lev = set(variant.split("+")) - {"sequential", "current"}
    docs = manifest["docs"]
    texts: dict[int, str] = {}  # content seed -> OCR text
    tess_s = 0.0
    t0 = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=jobs) if "globalpool" in lev else None
    futures = {}
    for f in manifest["files"]:
        file_pool = pool or ThreadPoolExecutor(max_workers=jobs)
        plan_pages = [p for d in f["docs"] for p in docs[d]["pages"]]
        for n, img, dpi, (value, blank) in _pages(f["path"], len(plan_pages), lev, jobs):
            planned = plan_pages[n - 1]
            if value is None and not blank:
                ocr_dpi = dpi
                if "dpi200" in lev and dpi > 200:
                    img = img.resize(
                        (round(img.width * 200 / dpi), round(img.height * 200 / dpi)), Image.Resampling.BOX
                    )
                    ocr_dpi = 200
                path = work / f"{Path(f['path']).stem}-{n:04d}.pgm"
                img.save(path)
                futures[(planned["kind"], planned["seed"])] = file_pool.submit(
                    ocr, path, ocr_dpi, "noinvert" in lev, "nice" in lev
                )
            img.close()
        if pool is None:
            wait(list(futures.values()))
            file_pool.shutdown()
    if pool is not None:
        pool.shutdown(wait=True)
    wall = time.perf_counter() - t0
    for (kind, seed), fut in futures.items():
        text, dt = fut.result()
        tess_s += dt
        if kind == "content":
            texts[seed] = text
    from tests import scanmaker as sm

    hit = total = 0
    wrong_roles = 0
    for d in docs:
        for p in d["pages"]:
            if p["kind"] != "content":
                if (p["kind"], p["seed"]) in futures:
                    wrong_roles += 1  # a cover or blank page was sent to OCR
                continue
            lines = json.loads((cache / f"c{p['seed']}.json").read_text())["lines"]
            exp, got_words = Counter(sm.words_of(lines)), Counter(sm.words_of(texts.get(p["seed"], "")))
            total += sum(exp.values())
            hit += sum((exp & got_words).values())
    pages = sum(len(d["pages"]) for d in docs)
    return {
        "variant": variant,
        "pages": pages,
        "wall_s": round(wall, 2),
        "pages_per_min": round(pages / wall * 60, 1),
        "ocr_pages": len(futures),
        "tesseract_s_per_page": round(tess_s / max(1, len(futures)), 2),
        "word_recall": round(hit / total, 4) if total else None,
        "non_content_pages_ocred": wrong_roles,
    }


def main() -> None:
    manifest = json.loads(Path(sys.argv[1]).read_text())
    cache, jobs = Path(sys.argv[2]), int(sys.argv[3])
    for variant in sys.argv[4:]:
        with tempfile.TemporaryDirectory() as td:
            print(json.dumps(run_variant(manifest, cache, jobs, variant, Path(td))), flush=True)


if __name__ == "__main__":
    main()
