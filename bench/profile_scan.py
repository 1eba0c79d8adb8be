"""`dossier ...` with a timeline: the real CLI, with timers wrapped around each step of the scan path.

    BENCH_TIMELINE=events.json [BENCH_PYINSTRUMENT=profile.txt] python bench/profile_scan.py scan F... --json

Nothing in the pipeline is changed: module attributes are wrapped at start-up, the way a debugger
would. Each wrapped call records (step, thread, start, end) in seconds since this process started
running Python; at exit the events, the process's own CPU time and its children's (tesseract,
pdftoppm) go to BENCH_TIMELINE. With BENCH_PYINSTRUMENT the main thread is also sampled by
pyinstrument (1 ms interval) and its call tree written there as text.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()
EPOCH0 = time.time()

import atexit  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

EVENTS: list[tuple[str, str, float, float]] = []


def _now() -> float:
    return time.perf_counter() - T0


def timed(name: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = _now()
        try:
            return fn(*args, **kwargs)
        finally:
            EVENTS.append((name, threading.current_thread().name, start, _now()))

    return wrapper


def _patch(obj, attr: str, name: str) -> None:
    setattr(obj, attr, timed(name, getattr(obj, attr)))


def install() -> None:
    t = _now()
    from PIL import Image
    from sqlalchemy.orm import Session

    import dossier.deployments  # noqa: F401  (wiring + the flow module)
    import flows.process_scan as ps
    import scanners.ocr as ocr
    import scanners.pages as pages
    import services.scanning as scanning
    from archive import audit, crypto, search
    from archive import pdf as apdf
    from archive.vault import Vault
    from scanners import pdfpages

    EVENTS.append(("import", "MainThread", t, _now()))

    # Whole scans and the Prefect flow around each.
    _patch(scanning, "claim_and_process", "scan-file")
    _patch(ps, "run_here", "flow-call")  # services.scanning.process looks it up at each call
    _patch(scanning, "outcome", "outcome")
    flow = ps.process_scan
    flow.fn = timed("flow-body", flow.fn)
    # Prefect tasks: the call as the flow makes it (engine + API) and the function inside.
    for name in (
        "prepare_source",
        "read_pages",
        "archive_document",
        "quarantine_pages",
        "quarantine_file",
        "finish_scan",
    ):
        task = getattr(ps, name)
        task.fn = timed(f"fn:{name}", task.fn)
        setattr(ps, name, timed(f"task:{name}", task))
    # Steps inside read_pages (main thread) and in the OCR pool.
    _patch(ps, "normalise_to_pdf", "normalise")
    _patch(pages, "render", "render")  # decode of the scanner's image, or poppler
    _patch(pages, "render_page", "render-poppler")
    _patch(ps, "read_barcodes", "barcodes")
    _patch(ps, "page_ink", "page-ink")
    _patch(ps, "classify_cover", "classify-cover")
    _patch(ocr, "ocr_page", "tesseract")  # every tesseract run, re-reads at full resolution included
    _patch(ps, "open_job", "open-job")
    original_save = Image.Image.save

    def save(self, fp, *a, **kw):
        if isinstance(fp, (str, Path)) and str(fp).endswith(".pgm"):
            start = _now()
            try:
                return original_save(self, fp, *a, **kw)
            finally:
                EVENTS.append(("save-pgm", threading.current_thread().name, start, _now()))
        return original_save(self, fp, *a, **kw)

    Image.Image.save = save

    from concurrent.futures import ThreadPoolExecutor

    from flows import runtime

    class TimedPool(ThreadPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            future = super().submit(fn, *args, **kwargs)
            future.result = timed("ocr-wait", future.result)
            return future

    runtime.ThreadPoolExecutor = TimedPool  # the OCR pool the runtime makes
    # archive_document internals.
    _patch(pdfpages, "open_source", "pdf-open")
    for attr, name in (
        ("subset", "pdf-subset"),
        ("text_layer_graft", "graft"),
        ("encrypt_to", "encrypt-write"),
        ("page_count", "verify-reopen"),
        ("clear_metadata", "clear-metadata"),
    ):
        _patch(apdf, attr, name)
    # The flow stores the file, then records the rows in a writer session: both count as write-document.
    _patch(Vault, "store_document", "write-document")
    _patch(Vault, "record_document", "write-document")
    _patch(crypto, "mac_file", "mac-file")
    _patch(search, "page_tokens", "search-tokens")
    _patch(audit, "record", "audit")
    _patch(Session, "commit", "db-commit")


def _dump() -> None:
    out = os.environ.get("BENCH_TIMELINE")
    if not out:
        return
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    Path(out).write_text(
        json.dumps(
            {
                "epoch_at_zero": EPOCH0,
                "end": _now(),
                "self_cpu_s": me.ru_utime + me.ru_stime,
                "self_maxrss_mb": me.ru_maxrss / 1024,
                "children_cpu_s": kids.ru_utime + kids.ru_stime,
                "children_maxrss_mb": kids.ru_maxrss / 1024,
                "events": EVENTS,
            }
        )
    )


def main() -> None:
    atexit.register(_dump)
    profiler = None
    if os.environ.get("BENCH_PYINSTRUMENT"):
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()

        def _write_profile():
            profiler.stop()
            Path(os.environ["BENCH_PYINSTRUMENT"]).write_text(
                profiler.output_text(unicode=True, color=False, show_all=False)
            )

        atexit.register(_write_profile)
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    install()
    t = _now()
    from dossier.cli import main as cli_main

    EVENTS.append(("import-cli", "MainThread", t, _now()))
    sys.argv = ["dossier", *sys.argv[1:]]
    cli_main()


if __name__ == "__main__":
    main()
