"""Throughput benchmark (issues 5, 15): the full `dossier scan` path against OCRmyPDF and bare tesseract.

    make bench                                   # = .venv/bin/python bench/run.py
    .venv/bin/python bench/run.py --pages 40 --jobs 2 --out bench/out/results.json
    .venv/bin/python bench/run.py --memory       # peak RSS of `dossier scan` at 20 and 200 pages
    .venv/bin/python bench/run.py --workers 2    # scale-out: served vs a work pool with 1 and 2 workers

One invocation generates a seeded corpus (bench/corpus.py: documents behind cover sheets, 300 dpi,
office-quality degradation, duplex blank backs) and feeds the same files to

1. `dossier scan FILE... --json`: the whole path (claim, render, barcodes, split, OCR, graft,
   encrypt, verify, catalog), in three settings (issue 15), each on a fresh archive home (the same
   files again would be duplicates) and each checked to have filed every document as planned:
   a. server running: against one `prefect server` started beforehand (PREFECT_API_URL), so server
      start-up is not counted;
   b. no server (--skip-no-server): no PREFECT_API_URL and no watcher; the command starts a
      temporary Prefect server of its own, counted in the wall time;
   c. with `dossier watch` running (--skip-with-watch): a watcher started beforehand on the same
      data home, neither with PREFECT_API_URL; the command finds the watcher's server under the
      home's run dir. The files are outside the watcher's inbox;
2. `ocrmypdf --jobs N -l nld+eng --output-type pdf IN OUT`, file after file;
3. bare tesseract: the same pages rasterised at their scanned resolution (300 dpi greyscale, not
   timed), then N single-threaded `tesseract IMG OUT -l nld+eng --dpi 300 txt` side by side;
4. inbox -> filed through `dossier watch` (--latency-files N, 0 skips): one-page notes (a cover
   sheet and a note page) renamed into a running watcher's inbox one at a time, each after the one
   before was filed; median and worst latency from the rename until the catalog has the scan
   filed, next to the watcher's settle period, which is part of it (bench/watching.py).

--rounds N runs 1-3 N times, interleaved, and reports each one's median run.

pages/min counts every scanned page (covers and blank backs too) for every contender; the table
gives each `dossier scan` setting's ratio to OCRmyPDF and to bare tesseract. Word recall is
measured on the note pages against the generated text (for `dossier scan` in setting a only: b
and c run the same pipeline): for the pipeline on what `dossier get` returns (pdftotext of the
archived, decrypted PDF), for OCRmyPDF on its output, for tesseract on its txt. Peak RSS is the
largest single process of each contender's tree (RUSAGE_CHILDREN of a wrapper process,
bench/measure.py). While each contender runs, its process tree is sampled every 0.2 s: how many
tesseract processes run at once, and each process's VmHWM.

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
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import corpus, sampling  # noqa: E402
from bench.common import BIN, PY  # noqa: E402
from bench.contenders import prepare_corpus, rasterise, run_dossier, run_ocrmypdf, run_tesseract  # noqa: E402
from bench.report import print_report  # noqa: E402
from bench.sampling import best_of, run_measured, wait_quiet  # noqa: E402
from bench.server import PrefectServer  # noqa: E402
from bench.timeline import analyse_timeline  # noqa: E402
from bench.watching import Watcher, inbox_latency  # noqa: E402


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

    return {
        "tesseract": first_line(["tesseract", "--version"]),
        "ocrmypdf": first_line([str(BIN / "ocrmypdf"), "--version"]),
        "pdftoppm": first_line(["pdftoppm", "-v"]),
        "python": platform.python_version(),
    }


# ---- modes -------------------------------------------------------------------------------------------------

# The dossier contenders (keys in the JSON) and their short names in the ratios.
DOSSIER_CONTENDERS = {"dossier": "full", "dossier_no_server": "no-server", "dossier_with_watch": "with-watch"}

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


def throughput(args, work: Path, cache: Path, server: PrefectServer) -> dict:
    p = corpus.plan(args.pages, args.seed, args.file_pages, args.duplex, args.doc_pages)
    t = time.perf_counter()
    corpus.build_pages(p, cache, args.jobs)
    print(f"corpus: {p.pages} pages planned, page images ready in {time.perf_counter() - t:.0f} s", flush=True)
    archive, manifest = prepare_corpus(p, "scan0", work, cache, server, args.jobs)
    res: dict = {"corpus": {k: manifest[k] for k in ("seed", "pages", "counts")}, "contenders": {}}
    res["corpus"]["files"] = [
        {"name": f["name"], "pages": len(p.page_list(p.files[i]))} for i, f in enumerate(manifest["files"])
    ]
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
        if not args.skip_no_server:
            print(f"running: dossier scan, no server{tag} ...", flush=True)

            def no_server_attempt(i, r=r):
                # No PREFECT_API_URL and no watcher: the command starts a temporary Prefect server.
                a, mf = prepare_corpus(p, f"noserver{r}-{i}", work, cache, server, args.jobs)
                return run_dossier(
                    f"dossier-no-server{r}-{i}", a, mf, p, cache, work, args.jobs, None, recall=False, api_url=False
                )

            runs["dossier_no_server"].append(
                best_of("dossier scan, no server", no_server_attempt, args.retries, args.jobs)
            )
        if not args.skip_with_watch:
            print(f"running: dossier scan with dossier watch running{tag} ...", flush=True)

            def with_watch_attempt(i, r=r):
                # The files are in corpus-*, not in the watcher's inbox; scan finds the watcher's server.
                a, mf = prepare_corpus(p, f"withwatch{r}-{i}", work, cache, server, args.jobs)
                watcher = Watcher(a, work / f"withwatch{r}-{i}-watch.log")
                try:
                    name = f"dossier-with-watch{r}-{i}"
                    m = run_dossier(name, a, mf, p, cache, work, args.jobs, watcher, recall=False, api_url=False)
                finally:
                    watcher.stop()
                m["watcher_api_url"] = watcher.api_url
                m["watcher_exit"] = watcher.proc.returncode
                return m

            runs["dossier_with_watch"].append(
                best_of("dossier scan with dossier watch running", with_watch_attempt, args.retries, args.jobs)
            )
        if not args.skip_ocrmypdf:
            print(f"running: ocrmypdf{tag} ...", flush=True)
            runs["ocrmypdf"].append(
                best_of(
                    "ocrmypdf",
                    lambda i, r=r: run_ocrmypdf(f"ocrmypdf{r}-{i}", manifest, p, cache, work, args.jobs),
                    args.retries,
                    args.jobs,
                )
            )
        if not args.skip_tesseract:
            print(f"running: bare tesseract{tag} ...", flush=True)
            runs["tesseract"].append(
                best_of(
                    "bare tesseract",
                    lambda i, r=r: run_tesseract(f"tesseract{r}-{i}", images, p, cache, work, args.jobs),
                    args.retries,
                    args.jobs,
                )
            )
    for name, measured in runs.items():
        walls = sorted(m["wall_s"] for m in measured)
        c[name] = sorted(measured, key=lambda m: m["wall_s"])[(len(measured) - 1) // 2]  # the median run
        c[name]["rounds_wall_s"] = [round(w, 1) for w in walls]
    for m in c.values():
        m["pages_per_min"] = round(p.pages / m["wall_s"] * 60, 1)
        m["s_per_page"] = round(m["wall_s"] / p.pages, 3)
    ratios = {}
    for name, short in DOSSIER_CONTENDERS.items():
        for other in ("ocrmypdf", "tesseract"):
            if name in c and other in c:
                ratios[f"{short}/{other}"] = round(c[name]["pages_per_min"] / c[other]["pages_per_min"], 3)
    res["ratios"] = ratios
    res["targets"] = {
        "full/ocrmypdf >= 1.5": ratios.get("full/ocrmypdf", 0) >= 1.5,
        "full/tesseract >= 0.85": ratios.get("full/tesseract", 0) >= 0.85,
        "recall full (OCR text) >= recall tesseract": (c["dossier"].get("word_recall_ocr_text") or 0)
        >= (c.get("tesseract", {}).get("word_recall") or 0),
    }
    if args.latency_files > 0:
        print(f"running: {args.latency_files} one-page notes, inbox -> filed through dossier watch ...", flush=True)
        wait_quiet(sampling.QUIET_WAIT_S)
        res["inbox_latency"] = inbox_latency(server.url, work, args.jobs, args.latency_files)
    if not args.skip_profile:
        print("running: profiled dossier scan (fresh archive) ...", flush=True)

        def profile_attempt(i):
            a, mf = prepare_corpus(p, f"profile{i}", work, cache, server, args.jobs)
            return run_dossier(f"profile{i}", a, mf, p, cache, work, args.jobs, server, recall=False, profile=True)

        pm = best_of("profiled scan", profile_attempt, args.retries, args.jobs)
        tl = json.loads((work / f"{pm['name']}.timeline.json").read_text())
        res["profile"] = analyse_timeline(tl, pm["wall_s"], p, args.jobs)
        res["profile"]["pages_per_min"] = round(p.pages / pm["wall_s"] * 60, 1)
        res["profile"]["sampled"] = {
            k: pm.get(k)
            for k in (
                "tesseract_mean_running",
                "tesseract_share_of_time",
                "busy_cores_system",
                "prefect_server_cpu_s",
                "foreign_cpu_s",
                "attempts",
            )
        }
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
                m = run_measured(
                    name,
                    [
                        [
                            PY,
                            str(ROOT / "bench" / "whatif.py"),
                            str(Path(manifest["files"][0]["path"]).parent / "manifest.json"),
                            str(cache),
                            str(args.jobs),
                            variant,
                        ]
                    ],
                    dict(os.environ),
                    work,
                    args.jobs,
                    None,
                )
                m.update(json.loads(Path(m["stdout"]).read_text().strip().splitlines()[-1]))
                return m

            m = best_of(f"what-if {variant}", attempt, args.retries, args.jobs)
            rows.append(
                {
                    k: m.get(k)
                    for k in (
                        "variant",
                        "wall_s",
                        "pages_per_min",
                        "ocr_pages",
                        "tesseract_s_per_page",
                        "word_recall",
                        "non_content_pages_ocred",
                        "foreign_share",
                    )
                }
            )
        res["whatif"] = rows
    if not args.skip_levers:
        print("running: step costs and tesseract settings on a sample ...", flush=True)
        from bench import levers

        pages = [(f, i + 1, pg) for f in p.files for i, pg in enumerate(p.page_list(f))]
        paths = {f.name: mf["path"] for f, mf in zip(p.files, manifest["files"])}
        by_kind: dict[str, list] = defaultdict(list)
        for f, n, pg in pages:
            by_kind[pg.kind].append((paths[f.name], n, pg.kind))
        samples = by_kind["cover"][:3] + by_kind["blank"][:3] + by_kind["content"][: args.lever_pages]
        content_idx = [i for i, (_, _, pg) in enumerate(pages) if pg.kind == "content"][: args.lever_pages]
        wait_quiet(60)
        res["levers"] = {
            "components_ms": levers.components(samples),
            "tesseract": levers.tesseract_configs(
                [images[i] for i in content_idx],
                [corpus.ground_truth(cache, pages[i][2].seed) for i in content_idx],
                args.jobs,
                work / "levers",
                before=lambda: wait_quiet(60),
                retries=args.retries,
            ),
        }
    return res


def memory(args, work: Path, cache: Path, server: PrefectServer) -> dict:
    runs = []
    for n in args.memory_pages:
        p = corpus.plan(
            n, args.seed, 10**9, args.duplex, args.doc_pages
        )  # one file: memory must not grow with the pages of a scan
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
    return {
        "runs": runs,
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "target_within_20pct": all(v <= 1.2 for v in ratios.values()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pages", type=int, default=None, help="scanned pages in the corpus (40; 80 with --workers)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "results.json"))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel OCR processes (default: cores)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--file-pages",
        type=int,
        default=None,
        help="pages per scan batch file, cut at documents (20; 8 with --workers)",
    )
    ap.add_argument("--duplex", type=float, default=0.35, help="share of documents scanned duplex (default 0.35)")
    ap.add_argument("--doc-pages", type=int, default=5, help="most note pages in a document (default 5)")
    ap.add_argument(
        "--whatif", action="store_true", help="also replay the read+OCR loop with the proposed levers (bench/whatif.py)"
    )
    ap.add_argument("--memory", action="store_true", help="only `dossier scan` of one file per --memory-pages size")
    ap.add_argument(
        "--workers",
        type=int,
        default=0,
        help="only the scale-out figures: `dossier watch` serving, then with 1..N `dossier worker` (bench/workers.py)",
    )
    ap.add_argument("--memory-pages", type=lambda s: [int(x) for x in s.split(",")], default=[20, 200])
    ap.add_argument("--skip-ocrmypdf", action="store_true")
    ap.add_argument("--skip-tesseract", action="store_true")
    ap.add_argument(
        "--skip-no-server", action="store_true", help="skip `dossier scan` with no server (it starts a temporary one)"
    )
    ap.add_argument("--skip-with-watch", action="store_true", help="skip `dossier scan` with `dossier watch` running")
    ap.add_argument(
        "--latency-files",
        type=int,
        default=5,
        help="one-page notes dropped one at a time into a watcher's inbox, inbox -> filed latency (0 skips)",
    )
    ap.add_argument("--skip-profile", action="store_true")
    ap.add_argument("--skip-levers", action="store_true")
    ap.add_argument("--lever-pages", type=int, default=8, help="note pages for the tesseract settings experiment")
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the contenders this many times, interleaved, and report each one's median run",
    )
    ap.add_argument(
        "--retries",
        type=int,
        default=2,
        help="run a contender again when other processes used >= 5%% of the cores meanwhile",
    )
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=sampling.QUIET_WAIT_S,
        help="at most this many s to wait for an idle machine before each measured run (default 300)",
    )
    ap.add_argument("--keep", action="store_true", help="keep bench/out/work (archives, corpus, outputs)")
    args = ap.parse_args()
    sampling.QUIET_WAIT_S = args.quiet_wait
    if args.pages is None:
        args.pages = 80 if args.workers else 40
    if args.file_pages is None:
        args.file_pages = 8 if args.workers else 20  # scale-out needs files enough to share out
    if args.workers and args.out == ap.get_default("out"):
        args.out = str(ROOT / "bench" / "out" / "results-workers.json")

    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    base = ROOT / "bench" / "out"
    work = base / ("work-memory" if args.memory else "work-workers" if args.workers else "work")
    cache = base / "cache" / f"v{corpus.CACHE_VERSION}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    started = dt.datetime.now(dt.UTC)
    res: dict = {
        "started": started.isoformat(timespec="seconds"),
        "mode": "memory" if args.memory else "workers" if args.workers else "throughput",
        "jobs": args.jobs,
        "cores": os.cpu_count(),
        "git": _git_state(),
        "tools": _tool_versions(),
        "load_avg_before": [round(x, 2) for x in os.getloadavg()],
    }
    server = PrefectServer(work / "prefect-server")
    try:
        if args.memory:
            res["memory"] = memory(args, work, cache, server)
        elif args.workers:
            from bench import workers

            res["scale_out"] = workers.run(args, work, cache, server, BIN)
        else:
            res.update(throughput(args, work, cache, server))
    finally:
        server.stop()
    res["bench_wall_s"] = round((dt.datetime.now(dt.UTC) - started).total_seconds(), 1)
    out.write_text(json.dumps(res, indent=2, ensure_ascii=False))
    print_report(res)
    if "scale_out" in res:
        from bench import workers

        workers.print_report(res["scale_out"])
    print(f"results: {out}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
