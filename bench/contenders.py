"""The contenders: `dossier scan`, OCRmyPDF and bare tesseract on the same files."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

from bench import corpus
from bench.common import BIN, DPI, LANGS, PY, ROOT
from bench.recall import Recall, _pdftotext_pages
from bench.sampling import run_measured
from bench.server import PrefectServer


def prepare_corpus(
    p: corpus.Plan, name: str, work: Path, cache: Path, server: PrefectServer, jobs: int
) -> tuple[corpus.Archive, dict]:
    archive = corpus.Archive(work / f"home-{name}", BIN, server.url, jobs)
    archive.setup()
    manifest = corpus.write_files(p, archive, cache, work / f"corpus-{name}")
    return archive, manifest


def run_dossier(
    name: str,
    archive: corpus.Archive,
    manifest: dict,
    p: corpus.Plan,
    cache: Path,
    work: Path,
    jobs: int,
    server: PrefectServer | None,
    *,
    recall: bool = True,
    profile: bool = False,
    api_url: bool = True,
) -> dict:
    """`dossier scan FILES --json` on the archive, checked against the plan. `server`: whose CPU is
    counted apart (the bench's Prefect server, or a running watcher). Without `api_url` the command
    gets no PREFECT_API_URL: it uses the server of a watcher on the home, or starts a temporary one."""
    files = [f["path"] for f in manifest["files"]]
    env = archive.env("olaf")
    if not api_url:
        env.pop("PREFECT_API_URL", None)
    if profile:
        cmd = [PY, str(ROOT / "bench" / "profile_scan.py"), "scan", *files, "--json"]
        env["BENCH_TIMELINE"] = str(work / f"{name}.timeline.json")
        env["BENCH_PYINSTRUMENT"] = str(work / f"{name}.pyinstrument.txt")
        # The breakdown follows one flow at a time on the main thread: files one after another
        # here, where the measured runs overlap them (watch_concurrency).
        env["DOSSIER_WATCH_CONCURRENCY"] = "1"
    else:
        cmd = [str(BIN / "dossier"), "scan", *files, "--json"]
    m = run_measured(name, [cmd], env, work, jobs, server)
    out = json.loads(Path(m["stdout"]).read_text())
    # Filed as planned? (dossier, type, pages) per document, in order, per file.
    expected = [
        [(manifest["dossiers"][p.docs[d].dossier], p.docs[d].doc_type, len(p.docs[d].content_seeds)) for d in f.docs]
        for f in p.files
    ]
    got = [[(d["dossier"], d["type"], d["pages"]) for d in r["documents"]] for r in out["results"]]
    m["statuses"] = dict(Counter(r["status"] for r in out["results"]))
    m["filed_as_planned"] = got == expected
    m["documents_filed"] = sum(len(g) for g in got)
    m["documents_planned"] = sum(len(e) for e in expected)
    if recall:
        rec, rec_stored = Recall(), Recall()
        pdf_dir = work / f"{name}-get"
        pdf_dir.mkdir(exist_ok=True)
        ids = [d["id"] for r in out["results"] for d in r["documents"]]
        stored = (
            json.loads(
                subprocess.run(
                    [PY, str(ROOT / "bench" / "page_texts.py"), *ids],
                    env=archive.env("petra"),
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            if ids
            else {}
        )
        for f, r in zip(p.files, out["results"]):
            by_first = {}
            for d in r["documents"]:
                by_first.setdefault((d["dossier"], d["type"], d["pages"]), []).append(d)
            for di in f.docs:
                doc = p.docs[di]
                key = (manifest["dossiers"][doc.dossier], doc.doc_type, len(doc.content_seeds))
                filed = by_first.get(key)
                texts = [""] * len(doc.content_seeds)
                kept = list(texts)
                if filed:
                    d = filed.pop(0)
                    target = pdf_dir / f"{d['id']}.pdf"
                    archive.ok("get", d["id"], "-o", target, user="petra")
                    texts = (_pdftotext_pages(target) + texts)[: len(doc.content_seeds)]
                    kept = (stored.get(d["id"], []) + kept)[: len(doc.content_seeds)]
                for s, text, text_kept in zip(doc.content_seeds, texts, kept):
                    rec.add(corpus.ground_truth(cache, s), text)
                    rec_stored.add(corpus.ground_truth(cache, s), text_kept)
        # What `dossier get` gives (pdftotext of the archived PDF's text layer) ...
        m["word_recall"] = rec.value()
        m["worst_page_recall"] = rec.worst_page()
        # ... and the OCR text the pipeline stored and indexes for search (tesseract's txt).
        m["word_recall_ocr_text"] = rec_stored.value()
        m["worst_page_recall_ocr_text"] = rec_stored.worst_page()
    return m


def run_ocrmypdf(name: str, manifest: dict, p: corpus.Plan, cache: Path, work: Path, jobs: int) -> dict:
    out_dir = work / f"{name}-out"
    out_dir.mkdir(exist_ok=True)
    cmds = [
        [
            str(BIN / "ocrmypdf"),
            "--jobs",
            str(jobs),
            "-l",
            LANGS,
            "--output-type",
            "pdf",
            f["path"],
            str(out_dir / Path(f["path"]).name),
        ]
        for f in manifest["files"]
    ]
    m = run_measured(name, cmds, {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}, work, jobs, None)
    rec = Recall()
    for f in p.files:
        texts = _pdftotext_pages(out_dir / f.name)
        for page, text in zip(p.page_list(f), texts + [""] * len(p.page_list(f))):
            if page.kind == "content":
                rec.add(corpus.ground_truth(cache, page.seed), text)
    m["word_recall"] = rec.value()
    m["worst_page_recall"] = rec.worst_page()
    m["command"] = " ".join(cmds[0][:-2]) + " IN OUT"
    return m


def rasterise(manifest: dict, work: Path) -> list[Path]:
    """Every page at its scanned resolution (300 dpi greyscale PGM), in corpus order. Not timed."""
    out: list[Path] = []
    d = work / "raster"
    d.mkdir(exist_ok=True)
    for f in manifest["files"]:
        stem = Path(f["path"]).stem
        subprocess.run(["pdftoppm", "-gray", "-r", str(DPI), f["path"], str(d / stem)], check=True)
        out.extend(sorted(d.glob(f"{stem}-*.pgm")))
    return out


def run_tesseract(name: str, images: list[Path], p: corpus.Plan, cache: Path, work: Path, jobs: int) -> dict:
    out_dir = work / f"{name}-out"
    cmd = [
        PY,
        str(ROOT / "bench" / "tess_pool.py"),
        str(jobs),
        LANGS,
        str(DPI),
        str(out_dir),
        "txt",
        "--",
        *map(str, images),
    ]
    m = run_measured(name, [cmd], dict(os.environ), work, jobs, None)
    rec = Recall()
    pages = [pg for f in p.files for pg in p.page_list(f)]
    assert len(pages) == len(images), (len(pages), len(images))
    for page, img in zip(pages, images):
        if page.kind == "content":
            rec.add(corpus.ground_truth(cache, page.seed), (out_dir / f"{img.stem}.txt").read_text(errors="replace"))
    m["word_recall"] = rec.value()
    m["worst_page_recall"] = rec.worst_page()
    timings = json.loads((out_dir / "timings.json").read_text())
    by_kind: dict[str, list[float]] = defaultdict(list)
    for page, img in zip(pages, images):
        by_kind[page.kind].append(timings[img.stem])
    m["s_per_page_by_kind"] = {k: round(sum(v) / len(v), 2) for k, v in by_kind.items()}
    m["command"] = f"OMP_THREAD_LIMIT=1 tesseract IMG OUT -l {LANGS} --dpi {DPI} txt  (x{jobs} in parallel)"
    return m
