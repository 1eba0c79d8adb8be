"""Throughput benchmark (issue 5): the full `dossier scan` path against OCRmyPDF and bare tesseract.

    make bench                                   # = .venv/bin/python bench/run.py
    .venv/bin/python bench/run.py --pages 40 --jobs 2 --out bench/out/results.json
    .venv/bin/python bench/run.py --memory       # peak RSS of `dossier scan` at 20 and 200 pages

One invocation generates a seeded corpus (bench/corpus.py: documents behind cover sheets, 300 dpi,
office-quality degradation, duplex blank backs) and feeds the same files to

1. `dossier scan FILE... --json`: the whole path (claim, render, barcodes, split, OCR, graft,
   encrypt, verify, catalog), against one `prefect server` started beforehand, so server start-up
   is not counted;
2. `ocrmypdf --jobs N -l nld+eng --output-type pdf IN OUT`, file after file;
3. bare tesseract: the same pages rasterised at their scanned resolution (300 dpi greyscale, not
   timed), then N single-threaded `tesseract IMG OUT -l nld+eng --dpi 300 txt` side by side.

pages/min counts every scanned page (covers and blank backs too) for all three. Word recall is
measured on the note pages against the generated text: for the pipeline on what `dossier get`
returns (pdftotext of the archived, decrypted PDF), for OCRmyPDF on its output, for tesseract on
its txt. Peak RSS is the largest single process of each contender's tree (RUSAGE_CHILDREN of a
wrapper process, bench/measure.py). While each contender runs, its process tree is sampled every
0.2 s: how many tesseract processes run at once, and each process's VmHWM.

Then, unless switched off, a second `dossier scan` on a fresh archive runs with timers around each
step (bench/profile_scan.py) to show where the wall time goes, and bench/levers.py measures the
per-page cost of each step and of candidate tesseract settings on a sample of pages.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from bench import corpus  # noqa: E402

BIN = Path(sys.executable).parent
PY = sys.executable
LANGS = "nld+eng"
DPI = 300


# ---- helpers --------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrefectServer:
    """One `prefect server start` on loopback for the whole bench (as tests/conftest.py does)."""

    def __init__(self, home: Path):
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}/api"
        env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "PREFECT_UI_ENABLED": "false", "DO_NOT_TRACK": "1"}
        env.pop("PREFECT_API_URL", None)
        self.log = open(home / "server.log", "wb")
        self.proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                                      str(port)], env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prefect server exited: {(home / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("prefect server did not start in 120 s")

    def cpu_seconds(self) -> float:
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the session this bench started for the server
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def _vmhwm_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _role(p: psutil.Process) -> str:
    try:
        name = p.name()
        if name in ("tesseract", "pdftoppm", "qpdf", "gs"):
            return name
        cmd = " ".join(p.cmdline())
    except psutil.Error:
        return "?"
    for key in ("profile_scan", "bin/dossier", "ocrmypdf", "tess_pool"):
        if key in cmd:
            return "dossier" if key in ("profile_scan", "bin/dossier") else key
    return name


class Sampler(threading.Thread):
    """Every `interval` s: the tree under `pid`, how many tesseracts run, each process's VmHWM."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.stop_event = threading.Event()
        self.tesseract_counts: list[int] = []
        self.peaks: dict[str, float] = defaultdict(float)
        self._roles: dict[int, str] = {}

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self.stop_event.is_set():
            try:
                procs = root.children(recursive=True)
            except psutil.Error:
                break
            n = 0
            for p in procs:
                role = self._roles.get(p.pid)
                if role is None or role == "?":
                    role = self._roles[p.pid] = _role(p)
                if role == "tesseract":
                    n += 1
                self.peaks[role] = max(self.peaks[role], _vmhwm_mb(p.pid))
            self.tesseract_counts.append(n)
            self.stop_event.wait(self.interval)

    def summary(self, jobs: int) -> dict:
        c = self.tesseract_counts
        if not c:
            return {}
        hist = Counter(min(x, jobs) for x in c)
        return {
            "tesseract_mean_running": round(sum(min(x, jobs) for x in c) / len(c), 2),
            "tesseract_share_of_time": {str(k): round(hist.get(k, 0) / len(c), 3) for k in range(jobs + 1)},
            "peak_rss_mb_by_process": {k: round(v, 1) for k, v in sorted(self.peaks.items()) if v},
        }


def _busy_cpu(t) -> float:
    return t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0) + getattr(t, "steal", 0)


QUIET_WAIT_S = 300.0


def wait_quiet(max_wait: float, busy_limit: float = 0.3, needed: int = 5) -> float:
    """Wait until the machine has been idle (< busy_limit cores) for `needed` seconds in a row.

    Other work on this machine (another checkout's test suite, say) would otherwise be measured as
    ours. Returns the seconds waited; gives up after max_wait (the foreign CPU is then reported).
    """
    t0 = time.perf_counter()
    quiet = 0
    prev = _busy_cpu(psutil.cpu_times())
    while time.perf_counter() - t0 < max_wait:
        time.sleep(1.0)
        cur = _busy_cpu(psutil.cpu_times())
        quiet = quiet + 1 if cur - prev < busy_limit else 0
        prev = cur
        if quiet >= needed:
            break
    return round(time.perf_counter() - t0, 1)


def run_measured(name: str, cmds: list[list[str]], env: dict, work: Path, jobs: int,
                 server: PrefectServer | None) -> dict:
    """Run commands one after another under bench/measure.py, sampling the tree meanwhile."""
    res_json, stdout = work / f"{name}.measure.json", work / f"{name}.stdout"
    cmd_file = work / f"{name}.cmds.json"
    cmd_file.write_text(json.dumps(cmds))
    waited = wait_quiet(QUIET_WAIT_S)
    me = psutil.Process()
    me0 = sum(me.cpu_times()[:2])
    cpu0, srv0, load0 = psutil.cpu_times(), server.cpu_seconds() if server else 0.0, os.getloadavg()[0]
    proc = subprocess.Popen([PY, str(ROOT / "bench" / "measure.py"), str(res_json), str(stdout), "--list",
                             str(cmd_file)], env=env)
    sampler = Sampler(proc.pid)
    sampler.start()
    proc.wait()
    sampler.stop_event.set()
    sampler.join()
    cpu1, srv1 = psutil.cpu_times(), server.cpu_seconds() if server else 0.0
    me1 = sum(me.cpu_times()[:2])
    m = json.loads(res_json.read_text())
    wall = m["wall_s"]
    tree_cpu = m["cpu_user_s"] + m["cpu_sys_s"]
    system_cpu = _busy_cpu(cpu1) - _busy_cpu(cpu0)
    m.update(sampler.summary(jobs))
    m.update({
        "cpu_s": round(tree_cpu, 1),
        "busy_cores_tree": round(tree_cpu / wall, 2),
        "busy_cores_system": round(system_cpu / wall, 2),
        "prefect_server_cpu_s": round(srv1 - srv0, 1),
        # CPU used on the machine by anything else than this contender, its Prefect server and the bench
        # itself (sampling): other people's work; large values make the figures unreliable.
        "foreign_cpu_s": round(system_cpu - tree_cpu - (srv1 - srv0) - (me1 - me0), 1),
        "waited_for_quiet_s": waited,
        "load_avg_1m_before": round(load0, 2),
        "stdout": str(stdout),
        "name": name,
    })
    if m["rc"] != 0:
        err = Path(str(stdout) + ".err").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{name} failed (exit {m['rc']}):\n{err}")
    return m


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


def _git_state() -> dict:
    def git(*a):
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty_files": git("status", "--porcelain").splitlines()}


def _tool_versions() -> dict:
    def first_line(cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            return ((p.stdout or p.stderr).strip().splitlines() or ["?"])[0]
        except (OSError, subprocess.TimeoutExpired):
            return None

    return {"tesseract": first_line(["tesseract", "--version"]),
            "ocrmypdf": first_line([str(BIN / "ocrmypdf"), "--version"]),
            "pdftoppm": first_line(["pdftoppm", "-v"]),
            "python": platform.python_version()}


# ---- the contenders ----------------------------------------------------------------------------------

def prepare_corpus(p: corpus.Plan, name: str, work: Path, cache: Path, server: PrefectServer,
                   jobs: int) -> tuple[corpus.Archive, dict]:
    archive = corpus.Archive(work / f"home-{name}", BIN, server.url, jobs)
    archive.setup()
    manifest = corpus.write_files(p, archive, cache, work / f"corpus-{name}")
    return archive, manifest


def run_dossier(name: str, archive: corpus.Archive, manifest: dict, p: corpus.Plan, cache: Path, work: Path,
                jobs: int, server: PrefectServer, *, recall: bool = True, profile: bool = False) -> dict:
    files = [f["path"] for f in manifest["files"]]
    env = archive.env("olaf")
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
    expected = [[(manifest["dossiers"][p.docs[d].dossier], p.docs[d].doc_type, len(p.docs[d].content_seeds))
                 for d in f.docs] for f in p.files]
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
        stored = json.loads(subprocess.run([PY, str(ROOT / "bench" / "page_texts.py"), *ids], env=archive.env("petra"),
                                           capture_output=True, text=True, check=True).stdout) if ids else {}
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
                    texts = (_pdftotext_pages(target) + texts)[:len(doc.content_seeds)]
                    kept = (stored.get(d["id"], []) + kept)[:len(doc.content_seeds)]
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
    cmds = [[str(BIN / "ocrmypdf"), "--jobs", str(jobs), "-l", LANGS, "--output-type", "pdf", f["path"],
             str(out_dir / Path(f["path"]).name)] for f in manifest["files"]]
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
    cmd = [PY, str(ROOT / "bench" / "tess_pool.py"), str(jobs), LANGS, str(DPI), str(out_dir), "txt", "--",
           *map(str, images)]
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


# ---- the timeline ---------------------------------------------------------------------------------------

def _spans(events, name, thread=None):
    return [(s, e) for n, t, s, e in events if n == name and (thread is None or t == thread)]


def _total(spans) -> float:
    return sum(e - s for s, e in spans)


def _inside(spans, outer) -> list[tuple[float, float]]:
    return [(s, e) for s, e in spans if any(os_ <= s and e <= oe for os_, oe in outer)]


def analyse_timeline(tl: dict, wrapper_wall: float, p: corpus.Plan, jobs: int) -> dict:
    ev = [tuple(e) for e in tl["events"]]
    main = "MainThread"
    r = lambda x: round(x, 2)  # noqa: E731
    scan_files = _spans(ev, "scan-file", main)
    flow_calls = _spans(ev, "flow-call", main)
    flow_bodies = _spans(ev, "flow-body", main)
    first_scan = scan_files[0][0] if scan_files else tl["end"]
    last_scan = scan_files[-1][1] if scan_files else tl["end"]
    import_s = _total(_spans(ev, "import")) + _total(_spans(ev, "import-cli"))
    out: dict = {"wall_s": r(wrapper_wall), "pages": p.pages}
    imports_end = max(e for n, _, s, e in ev if n in ("import", "import-cli"))
    phases = {
        "process start/exit outside Python's main (interpreter, atexit)": wrapper_wall - tl["end"],
        "imports (dossier, prefect, pikepdf, ...)": import_s,
        "CLI set-up before the first scan (settings, catalog, role check)": first_scan - imports_end,
        "between scans and after the last (progress, JSON out)": tl["end"] - first_scan - _total(scan_files),
    }
    claim = _total(scan_files) - _total(flow_calls) - _total(_spans(ev, "outcome", main))
    phases["claim: hash, ledger row, copy into work/ (per file)"] = claim
    phases["scan result query (outcome)"] = _total(_spans(ev, "outcome", main))
    phases["Prefect flow-run overhead (flow call minus flow body)"] = _total(flow_calls) - _total(flow_bodies)
    task_over = {}
    for name in ("prepare_source", "read_pages", "archive_document", "quarantine_pages", "quarantine_file",
                 "finish_scan"):
        calls = _spans(ev, f"task:{name}", main)
        if calls:
            task_over[name] = {"calls": len(calls), "task_s": r(_total(calls)),
                               "fn_s": r(_total(_spans(ev, f"fn:{name}", main))),
                               "overhead_s": r(_total(calls) - _total(_spans(ev, f"fn:{name}", main)))}
    phases["Prefect task overhead (all task calls minus their functions)"] = sum(v["overhead_s"] for v in task_over.values())
    phases["flow body outside tasks (open job, pool shutdown, scrub)"] = (
        _total(flow_bodies) - sum(v["task_s"] for v in task_over.values()))
    read = _spans(ev, "fn:read_pages", main)
    steps_read = {}
    for step in ("render", "barcodes", "page-ink", "classify-cover", "save-pgm"):
        steps_read[step] = _total(_inside(_spans(ev, step, main), read))
    steps_read["other (waiting for read-ahead threads, PIL close, PageRole)"] = _total(read) - sum(steps_read.values())
    # Since 77a3411 pages are rendered and inspected on "reader" threads: their time, all threads.
    readers = {}
    for step in ("render", "render-poppler", "barcodes", "page-ink"):
        off_main = [(s, e) for n, t, s, e in ev if n == step and t != main]
        if off_main:
            readers[step] = _total(off_main)
    out["reader_threads_s"] = {k: r(v) for k, v in readers.items()}
    arch = _spans(ev, "fn:archive_document", main)
    steps_arch = {}
    for step in ("ocr-wait", "pdf-open", "pdf-subset", "graft", "clear-metadata", "encrypt-write", "verify-reopen",
                 "mac-file", "search-tokens", "audit", "db-commit"):
        steps_arch[step] = _total(_inside(_spans(ev, step, main), arch))
    wd = _total(_inside(_spans(ev, "write-document", main), arch))
    steps_arch["catalog rows + key unwrap (write_document rest)"] = wd - sum(
        steps_arch[s] for s in ("clear-metadata", "encrypt-write", "verify-reopen", "mac-file", "search-tokens"))
    steps_arch["other (dedup query, PageRecord, Pdf close)"] = _total(arch) - wd - sum(
        steps_arch[s] for s in ("ocr-wait", "pdf-open", "pdf-subset", "graft", "audit", "db-commit"))
    out["main_thread_phases_s"] = {k: r(v) for k, v in phases.items()}
    out["prefect_tasks"] = task_over
    out["read_pages_s"] = {k: r(v) for k, v in steps_read.items()}
    out["read_pages_total_s"] = r(_total(read))
    out["archive_document_s"] = {k: r(v) for k, v in steps_arch.items()}
    out["archive_document_total_s"] = r(_total(arch))
    out["finish_scan_s"] = r(_total(_spans(ev, "fn:finish_scan", main)))
    out["prepare_source_s"] = r(_total(_spans(ev, "fn:prepare_source", main)))
    # Per page kind (events inside each read_pages are in page order; the plan says which is which).
    kinds = [[pg.kind for pg in p.page_list(f)] for f in p.files]
    per_kind: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (s0, e0), page_kinds in zip(read, kinds):
        for step in ("render", "barcodes", "page-ink"):
            # any thread; started inside this read_pages, in page order (reader threads take pages FIFO)
            spans = sorted(x for x in _spans(ev, step) if s0 <= x[0] <= e0)
            for k, (s, e) in zip(page_kinds, spans):
                per_kind[step][k].append(e - s)
    out["per_page_ms_by_kind"] = {step: {k: round(1000 * sum(v) / len(v), 1) for k, v in by.items()}
                                  for step, by in per_kind.items()}
    # OCR slots: how busy were the JOBS tesseract slots between the first scan's start and the end?
    tess = sorted(_spans(ev, "tesseract"))
    span = last_scan - first_scan
    busy = _total(tess)
    out["tesseract"] = {
        "pages": len(tess), "total_s": r(busy), "mean_s_per_page": r(busy / len(tess)) if tess else None,
        "slot_occupancy": r(busy / (jobs * span)) if span > 0 else None,
        "idle_slot_s": r(jobs * span - busy),
    }
    # Where the idle slot-seconds are: before the first OCR of each scan, and at each scan's tail.
    idle = []
    for i, (s0, e0) in enumerate(flow_calls):
        in_scan = [t for t in tess if s0 <= t[0] <= e0]
        if not in_scan:
            continue
        first_start = min(t[0] for t in in_scan)
        ends = sorted(t[1] for t in in_scan)
        idle.append({"scan": i + 1, "flow_start_to_first_ocr_s": r(first_start - s0),
                     "last_ocr_end_to_flow_end_s": r(e0 - ends[-1]),
                     "one_slot_idle_tail_s": r(ends[-1] - ends[-2]) if len(ends) > 1 else 0.0})
    out["ocr_gaps_per_scan"] = idle
    # Concurrency histogram of tesseract spans over [first_scan, last_scan].
    points = sorted([(s, 1) for s, _ in tess] + [(e, -1) for _, e in tess])
    hist: dict[int, float] = defaultdict(float)
    level, t_prev = 0, first_scan
    for t, d in points:
        hist[min(level, jobs)] += max(0.0, t - t_prev)
        level += d
        t_prev = t
    hist[min(level, jobs)] += max(0.0, last_scan - t_prev)
    out["tesseract_running_share"] = {str(k): r(v / span) if span else None for k, v in sorted(hist.items())}
    out["python_process_cpu_s"] = r(tl["self_cpu_s"])
    out["children_cpu_s"] = r(tl["children_cpu_s"])
    out["python_process_peak_rss_mb"] = r(tl["self_maxrss_mb"])
    return out


# ---- output --------------------------------------------------------------------------------------------

def _fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def print_report(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=170)
    c = res.get("contenders", {})
    if c:
        t = Table(title=f"Throughput, {res['corpus']['pages']} scanned pages "
                        f"({res['corpus']['counts']['content']} notes, {res['corpus']['counts']['cover']} covers, "
                        f"{res['corpus']['counts']['blank']} blank backs) in {len(res['corpus']['files'])} files, "
                        f"{res['jobs']} jobs")
        for col in ("contender", "wall s", "pages/min", "CPU s", "busy cores", "tesseract running (mean)",
                    "peak RSS MB (largest process)", "word recall (OCR text)", "word recall (PDF text layer)",
                    "worst page"):
            t.add_column(col, justify="right" if col != "contender" else "left")
        for name, label in (("dossier", "dossier scan (full path)"), ("ocrmypdf", "ocrmypdf --output-type pdf"),
                            ("tesseract", "bare tesseract (txt)")):
            m = c.get(name)
            if not m:
                continue
            ocr_text = m.get("word_recall_ocr_text") if name == "dossier" else (
                m.get("word_recall") if name == "tesseract" else None)
            layer = m.get("word_recall") if name != "tesseract" else None
            worst = m.get("worst_page_recall_ocr_text") if name == "dossier" else m.get("worst_page_recall")
            t.add_row(label, _fmt(m["wall_s"]), _fmt(m["pages_per_min"]), _fmt(m["cpu_s"]),
                      _fmt(m["busy_cores_system"], 2), _fmt(m.get("tesseract_mean_running"), 2),
                      _fmt(m["peak_rss_mb"], 0), _fmt(ocr_text, 4), _fmt(layer, 4), _fmt(worst, 4))
        con.print(t)
        ratios = res.get("ratios", {})
        con.print("  ".join(f"{k} = {v:.2f}" for k, v in ratios.items()))
        if any(len(m.get("rounds_wall_s", [])) > 1 for m in c.values()):
            con.print("wall s of every round (the median is in the table): " + "  ".join(
                f"{name} {m['rounds_wall_s']}" for name, m in c.items()))
        for name, m in c.items():
            if m.get("foreign_cpu_s", 0) > 0.05 * m["wall_s"] * res["jobs"]:
                con.print(f"[bold red]warning[/]: {name}: {m['foreign_cpu_s']} CPU s used by other processes on this "
                          f"machine during the run ({m['wall_s']:.0f} s wall); figures are unreliable")
        if "dossier" in c:
            con.print(f"dossier: {c['dossier']['statuses']}, filed as planned: {c['dossier']['filed_as_planned']} "
                      f"({c['dossier']['documents_filed']}/{c['dossier']['documents_planned']} documents); "
                      f"Prefect server CPU during the run: {c['dossier']['prefect_server_cpu_s']} s; "
                      f"peak RSS by process: {c['dossier'].get('peak_rss_mb_by_process')}")
    mem = res.get("memory")
    if mem:
        t = Table(title="Peak RSS of `dossier scan` (one file per size)")
        for col in ("pages", "wall s", "pages/min", "largest process MB", "dossier process MB", "tesseract MB",
                    "status"):
            t.add_column(col, justify="right")
        for row in mem["runs"]:
            by = row.get("peak_rss_mb_by_process", {})
            t.add_row(str(row["pages"]), _fmt(row["wall_s"]), _fmt(row["pages_per_min"]), _fmt(row["peak_rss_mb"], 0),
                      _fmt(by.get("dossier"), 0), _fmt(by.get("tesseract"), 0), str(row["statuses"]))
        con.print(t)
        con.print("  ".join(f"{k} = {v:.3f}" for k, v in mem["ratios"].items()))
    prof = res.get("profile")
    if prof:
        t = Table(title=f"Where the full path's wall time goes (profiled run, files one after another, {prof['wall_s']} s, "
                        f"{prof['pages']} pages; main thread unless noted)")
        t.add_column("step")
        t.add_column("s", justify="right")
        t.add_column("s/page", justify="right")
        n = prof["pages"]
        for k, v in prof["main_thread_phases_s"].items():
            t.add_row(k, _fmt(v, 2), _fmt(v / n, 3))
        t.add_row("read_pages (task body)", _fmt(prof["read_pages_total_s"], 2), _fmt(prof["read_pages_total_s"] / n, 3))
        for k, v in prof["read_pages_s"].items():
            t.add_row(f"  {k}", _fmt(v, 2), _fmt(v / n, 3))
        for k, v in prof.get("reader_threads_s", {}).items():
            t.add_row(f"  reader threads (off the main thread): {k}", _fmt(v, 2), _fmt(v / n, 3))
        t.add_row("archive_document (task bodies)", _fmt(prof["archive_document_total_s"], 2),
                  _fmt(prof["archive_document_total_s"] / n, 3))
        for k, v in prof["archive_document_s"].items():
            t.add_row(f"  {k}", _fmt(v, 2), _fmt(v / n, 3))
        t.add_row("prepare_source / finish_scan (bodies)", _fmt(prof["prepare_source_s"] + prof["finish_scan_s"], 2), "")
        accounted = (sum(prof["main_thread_phases_s"].values()) + prof["read_pages_total_s"]
                     + prof["archive_document_total_s"] + prof["prepare_source_s"] + prof["finish_scan_s"])
        t.add_row("(sum of the main-thread rows above)", _fmt(accounted, 2), _fmt(accounted / n, 3))
        ts = prof["tesseract"]
        t.add_row(f"OCR threads: tesseract, {ts['pages']} pages (mean {ts['mean_s_per_page']} s/page)",
                  _fmt(ts["total_s"], 2), "")
        t.add_row(f"OCR slots idle (slot-s; occupancy {ts['slot_occupancy']})", _fmt(ts["idle_slot_s"], 2), "")
        con.print(t)
        con.print(f"tesseract processes running (share of scan time): {prof['tesseract_running_share']}; "
                  f"per-scan OCR gaps: {prof['ocr_gaps_per_scan']}")
        con.print(f"per-page ms by page kind: {prof['per_page_ms_by_kind']}")
        con.print(f"CPU: dossier process {prof['python_process_cpu_s']} s, its children (tesseract, pdftoppm) "
                  f"{prof['children_cpu_s']} s")
    if c.get("tesseract", {}).get("s_per_page_by_kind"):
        con.print(f"bare tesseract, s per page by kind: {c['tesseract']['s_per_page_by_kind']}")
    wi = res.get("whatif")
    if wi:
        t = Table(title="What-if: the read+OCR loop replayed with levers (no Prefect, graft, encryption, catalog)")
        for col in ("variant", "wall s", "pages/min", "pages OCRed", "tesseract s/page", "word recall"):
            t.add_column(col, justify="right" if col != "variant" else "left")
        for row in wi:
            t.add_row(row["variant"], _fmt(row["wall_s"]), _fmt(row["pages_per_min"]), str(row["ocr_pages"]),
                      _fmt(row["tesseract_s_per_page"], 2), _fmt(row["word_recall"], 4))
        con.print(t)
    lev = res.get("levers")
    if lev:
        t = Table(title=f"tesseract settings on {lev['tesseract'][0]['pages']} note pages, {res['jobs']} processes")
        for col in ("config", "pages/min", "s/page/process", "vs bare", "word recall"):
            t.add_column(col, justify="right" if col != "config" else "left")
        for row in lev["tesseract"]:
            t.add_row(row["config"], _fmt(row["pages_per_min"]), _fmt(row["s_per_page_per_process"], 2),
                      _fmt(row["vs_bare"], 3), _fmt(row["word_recall"], 4))
        con.print(t)
        t = Table(title="Per-page step costs, median ms (cover / blank / content pages)")
        t.add_column("step")
        for k in ("cover", "blank", "content"):
            t.add_column(k, justify="right")
        for step, by in lev["components_ms"].items():
            t.add_row(step, *(_fmt(by.get(k)) for k in ("cover", "blank", "content")))
        con.print(t)


# ---- modes -------------------------------------------------------------------------------------------------

WHATIF_VARIANTS = [
    "sequential",  # the reader of b9a6d76..d788827: one thread renders and inspects page after page
    "readahead",  # the reader of 77a3411: 2 reader threads at nice 5, 3 pages ahead
    "readahead+extract",
    "readahead+extract+blankfirst",
    "readahead+extract+blankfirst+globalpool",
    "readahead+extract+blankfirst+globalpool+dpi200",
    "readahead+extract+blankfirst+stage1+globalpool",
    "readahead+extract+blankfirst+stage1+globalpool+dpi200",
]


def _foreign_share(m: dict, jobs: int) -> float:
    return m["foreign_cpu_s"] / (m["wall_s"] * jobs)


def best_of(label: str, attempt, retries: int, jobs: int) -> dict:
    """Run attempt(i) until a run is not disturbed by other work (< 5 % of the cores), at most 1+retries
    times; keep the least disturbed run."""
    runs = []
    for i in range(retries + 1):
        m = attempt(i)
        runs.append(m)
        if _foreign_share(m, jobs) < 0.05:
            break
        print(f"  {label}: other processes used {m['foreign_cpu_s']} CPU s during the run "
              f"({_foreign_share(m, jobs):.0%} of the cores); {'again' if i < retries else 'keeping the best'}",
              flush=True)
    best = min(runs, key=lambda m: _foreign_share(m, jobs))
    best["attempts"] = len(runs)
    best["foreign_share"] = round(_foreign_share(best, jobs), 3)
    return best


def throughput(args, work: Path, cache: Path, server: PrefectServer) -> dict:
    p = corpus.plan(args.pages, args.seed, args.file_pages, args.duplex, args.doc_pages)
    t = time.perf_counter()
    corpus.build_pages(p, cache, args.jobs)
    print(f"corpus: {p.pages} pages planned, page images ready in {time.perf_counter() - t:.0f} s", flush=True)
    archive, manifest = prepare_corpus(p, "scan0", work, cache, server, args.jobs)
    res: dict = {"corpus": {k: manifest[k] for k in ("seed", "pages", "counts")},
                 "contenders": {}}
    res["corpus"]["files"] = [{"name": f["name"], "pages": len(p.page_list(p.files[i]))}
                              for i, f in enumerate(manifest["files"])]
    res["corpus"]["documents"] = len(p.docs)
    res["corpus"]["duplex_share"] = args.duplex
    res["corpus"]["max_doc_pages"] = args.doc_pages
    c = res["contenders"]
    images = rasterise(manifest, work) if (not args.skip_tesseract or not args.skip_levers) else []
    runs: dict[str, list[dict]] = defaultdict(list)
    # Rounds interleave the contenders, so a slow patch of this shared machine (CPU steal,
    # frequency) hits all of them; each contender's median run is reported.
    for r in range(args.rounds):
        tag = f" (round {r + 1} of {args.rounds})" if args.rounds > 1 else ""
        print(f"running: dossier scan{tag} ...", flush=True)

        def scan_attempt(i, r=r):
            fresh = r > 0 or i > 0  # the same files again would be duplicates in the same archive
            a, mf = prepare_corpus(p, f"scan{r}-{i}", work, cache, server, args.jobs) if fresh else (archive, manifest)
            return run_dossier(f"dossier{r}-{i}", a, mf, p, cache, work, args.jobs, server)

        runs["dossier"].append(best_of("dossier scan", scan_attempt, args.retries, args.jobs))
        if not args.skip_ocrmypdf:
            print(f"running: ocrmypdf{tag} ...", flush=True)
            runs["ocrmypdf"].append(best_of(
                "ocrmypdf", lambda i, r=r: run_ocrmypdf(f"ocrmypdf{r}-{i}", manifest, p, cache, work, args.jobs),
                args.retries, args.jobs))
        if not args.skip_tesseract:
            print(f"running: bare tesseract{tag} ...", flush=True)
            runs["tesseract"].append(best_of(
                "bare tesseract", lambda i, r=r: run_tesseract(f"tesseract{r}-{i}", images, p, cache, work, args.jobs),
                args.retries, args.jobs))
    for name, measured in runs.items():
        walls = sorted(m["wall_s"] for m in measured)
        c[name] = sorted(measured, key=lambda m: m["wall_s"])[(len(measured) - 1) // 2]  # the median run
        c[name]["rounds_wall_s"] = [round(w, 1) for w in walls]
    for m in c.values():
        m["pages_per_min"] = round(p.pages / m["wall_s"] * 60, 1)
        m["s_per_page"] = round(m["wall_s"] / p.pages, 3)
    ratios = {}
    if "ocrmypdf" in c:
        ratios["full/ocrmypdf"] = round(c["dossier"]["pages_per_min"] / c["ocrmypdf"]["pages_per_min"], 3)
    if "tesseract" in c:
        ratios["full/tesseract"] = round(c["dossier"]["pages_per_min"] / c["tesseract"]["pages_per_min"], 3)
    res["ratios"] = ratios
    res["targets"] = {"full/ocrmypdf >= 1.5": ratios.get("full/ocrmypdf", 0) >= 1.5,
                      "full/tesseract >= 0.85": ratios.get("full/tesseract", 0) >= 0.85,
                      "recall full (OCR text) >= recall tesseract": (c["dossier"].get("word_recall_ocr_text") or 0)
                      >= (c.get("tesseract", {}).get("word_recall") or 0)}
    if not args.skip_profile:
        print("running: profiled dossier scan (fresh archive) ...", flush=True)

        def profile_attempt(i):
            a, mf = prepare_corpus(p, f"profile{i}", work, cache, server, args.jobs)
            return run_dossier(f"profile{i}", a, mf, p, cache, work, args.jobs, server, recall=False, profile=True)

        pm = best_of("profiled scan", profile_attempt, args.retries, args.jobs)
        tl = json.loads((work / f"{pm['name']}.timeline.json").read_text())
        res["profile"] = analyse_timeline(tl, pm["wall_s"], p, args.jobs)
        res["profile"]["pages_per_min"] = round(p.pages / pm["wall_s"] * 60, 1)
        res["profile"]["sampled"] = {k: pm.get(k) for k in ("tesseract_mean_running", "tesseract_share_of_time",
                                                            "busy_cores_system", "prefect_server_cpu_s",
                                                            "foreign_cpu_s", "attempts")}
        prof_txt = work / f"{pm['name']}.pyinstrument.txt"
        if prof_txt.exists():
            keep = Path(args.out).with_name("profile-pyinstrument.txt")
            shutil.copy(prof_txt, keep)
            res["profile"]["pyinstrument"] = str(keep)
    if args.whatif:
        print("running: what-if replays of the read+OCR loop ...", flush=True)
        rows = []
        for variant in WHATIF_VARIANTS:
            def attempt(i, variant=variant):
                name = f"whatif{len(rows)}-{i}"
                m = run_measured(name, [[PY, str(ROOT / "bench" / "whatif.py"), str(Path(manifest["files"][0]["path"]).parent
                                                                                   / "manifest.json"),
                                         str(cache), str(args.jobs), variant]], dict(os.environ), work, args.jobs, None)
                m.update(json.loads(Path(m["stdout"]).read_text().strip().splitlines()[-1]))
                return m
            m = best_of(f"what-if {variant}", attempt, args.retries, args.jobs)
            rows.append({k: m.get(k) for k in ("variant", "wall_s", "pages_per_min", "ocr_pages", "tesseract_s_per_page",
                                                "word_recall", "non_content_pages_ocred", "foreign_share")})
        res["whatif"] = rows
    if not args.skip_levers:
        print("running: step costs and tesseract settings on a sample ...", flush=True)
        from bench import levers

        pages = [(f, i + 1, pg) for f in p.files for i, pg in enumerate(p.page_list(f))]
        paths = {f.name: mf["path"] for f, mf in zip(p.files, manifest["files"])}
        by_kind: dict[str, list] = defaultdict(list)
        for f, n, pg in pages:
            by_kind[pg.kind].append((paths[f.name], n, pg.kind))
        samples = by_kind["cover"][:3] + by_kind["blank"][:3] + by_kind["content"][:args.lever_pages]
        content_idx = [i for i, (_, _, pg) in enumerate(pages) if pg.kind == "content"][:args.lever_pages]
        wait_quiet(60)
        res["levers"] = {
            "components_ms": levers.components(samples),
            "tesseract": levers.tesseract_configs([images[i] for i in content_idx],
                                                  [corpus.ground_truth(cache, pages[i][2].seed) for i in content_idx],
                                                  args.jobs, work / "levers", before=lambda: wait_quiet(60),
                                                  retries=args.retries),
        }
    return res


def memory(args, work: Path, cache: Path, server: PrefectServer) -> dict:
    runs = []
    for n in args.memory_pages:
        p = corpus.plan(n, args.seed, 10 ** 9, args.duplex, args.doc_pages)  # one file: memory must not grow with the pages of a scan
        corpus.build_pages(p, cache, args.jobs)
        archive, manifest = prepare_corpus(p, f"mem{n}", work, cache, server, args.jobs)
        print(f"running: dossier scan of one {n}-page file ...", flush=True)

        def mem_attempt(i, n=n, p=p, archive=archive, manifest=manifest):
            a, mf = (archive, manifest) if i == 0 else prepare_corpus(p, f"mem{n}-{i}", work, cache, server, args.jobs)
            return run_dossier(f"mem{n}-{i}", a, mf, p, cache, work, args.jobs, server, recall=False)

        m = best_of(f"dossier scan, {n} pages", mem_attempt, args.retries, args.jobs)
        m["pages"] = n
        m["pages_per_min"] = round(n / m["wall_s"] * 60, 1)
        runs.append(m)
    lo, hi = runs[0], runs[-1]
    ratios = {f"largest process {hi['pages']}p/{lo['pages']}p": hi["peak_rss_mb"] / lo["peak_rss_mb"]}
    d_lo = lo.get("peak_rss_mb_by_process", {}).get("dossier")
    d_hi = hi.get("peak_rss_mb_by_process", {}).get("dossier")
    if d_lo and d_hi:
        ratios[f"dossier process {hi['pages']}p/{lo['pages']}p"] = d_hi / d_lo
    return {"runs": runs, "ratios": {k: round(v, 3) for k, v in ratios.items()},
            "target_within_20pct": all(v <= 1.2 for v in ratios.values())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=40, help="scanned pages in the corpus (default 40)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "results.json"))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel OCR processes (default: cores)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--file-pages", type=int, default=20, help="pages per scan batch file (cut at documents)")
    ap.add_argument("--duplex", type=float, default=0.35, help="share of documents scanned duplex (default 0.35)")
    ap.add_argument("--doc-pages", type=int, default=5, help="most note pages in a document (default 5)")
    ap.add_argument("--whatif", action="store_true",
                    help="also replay the read+OCR loop with the proposed levers (bench/whatif.py)")
    ap.add_argument("--memory", action="store_true", help="only `dossier scan` of one file per --memory-pages size")
    ap.add_argument("--memory-pages", type=lambda s: [int(x) for x in s.split(",")], default=[20, 200])
    ap.add_argument("--skip-ocrmypdf", action="store_true")
    ap.add_argument("--skip-tesseract", action="store_true")
    ap.add_argument("--skip-profile", action="store_true")
    ap.add_argument("--skip-levers", action="store_true")
    ap.add_argument("--lever-pages", type=int, default=8, help="note pages for the tesseract settings experiment")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run the contenders this many times, interleaved, and report each one's median run")
    ap.add_argument("--retries", type=int, default=2,
                    help="run a contender again when other processes used >= 5%% of the cores meanwhile")
    ap.add_argument("--keep", action="store_true", help="keep bench/out/work (archives, corpus, outputs)")
    args = ap.parse_args()

    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    base = ROOT / "bench" / "out"
    work = base / ("work-memory" if args.memory else "work")
    cache = base / "cache" / f"v{corpus.CACHE_VERSION}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    started = dt.datetime.now(dt.timezone.utc)
    res: dict = {
        "started": started.isoformat(timespec="seconds"), "mode": "memory" if args.memory else "throughput",
        "jobs": args.jobs, "cores": os.cpu_count(), "git": _git_state(), "tools": _tool_versions(),
        "load_avg_before": [round(x, 2) for x in os.getloadavg()],
    }
    server = PrefectServer(work / "prefect-server")
    try:
        if args.memory:
            res["memory"] = memory(args, work, cache, server)
        else:
            res.update(throughput(args, work, cache, server))
    finally:
        server.stop()
    res["bench_wall_s"] = round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 1)
    out.write_text(json.dumps(res, indent=2, ensure_ascii=False))
    print_report(res)
    print(f"results: {out}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
