"""Where the profiled `dossier scan` spends its wall time (events of bench/profile_scan.py)."""

from __future__ import annotations

from collections import defaultdict

from bench import corpus


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
    # The tasks bench/profile_scan.py timed, in the order they first ran.
    for name in dict.fromkeys(n.removeprefix("task:") for n, t, _, _ in ev if n.startswith("task:") and t == main):
        calls, inside = _spans(ev, f"task:{name}", main), _total(_spans(ev, f"fn:{name}", main))
        task_over[name] = {
            "calls": len(calls),
            "task_s": r(_total(calls)),
            "fn_s": r(inside),
            "overhead_s": r(_total(calls) - inside),
        }
    phases["Prefect task overhead (all task calls minus their functions)"] = sum(
        v["overhead_s"] for v in task_over.values()
    )
    phases["flow body outside tasks (open job, pool shutdown, scrub)"] = _total(flow_bodies) - sum(
        v["task_s"] for v in task_over.values()
    )
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
    for step in (
        "ocr-wait",
        "pdf-open",
        "pdf-subset",
        "graft",
        "clear-metadata",
        "encrypt-write",
        "verify-reopen",
        "mac-file",
        "search-tokens",
        "audit",
        "db-commit",
    ):
        steps_arch[step] = _total(_inside(_spans(ev, step, main), arch))
    wd = _total(_inside(_spans(ev, "write-document", main), arch))
    steps_arch["catalog rows + key unwrap (write_document rest)"] = wd - sum(
        steps_arch[s] for s in ("clear-metadata", "encrypt-write", "verify-reopen", "mac-file", "search-tokens")
    )
    steps_arch["other (dedup query, PageRecord, Pdf close)"] = (
        _total(arch)
        - wd
        - sum(steps_arch[s] for s in ("ocr-wait", "pdf-open", "pdf-subset", "graft", "audit", "db-commit"))
    )
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
    out["per_page_ms_by_kind"] = {
        step: {k: round(1000 * sum(v) / len(v), 1) for k, v in by.items()} for step, by in per_kind.items()
    }
    # OCR slots: how busy were the JOBS tesseract slots between the first scan's start and the end?
    tess = sorted(_spans(ev, "tesseract"))
    span = last_scan - first_scan
    busy = _total(tess)
    out["tesseract"] = {
        "pages": len(tess),
        "total_s": r(busy),
        "mean_s_per_page": r(busy / len(tess)) if tess else None,
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
        idle.append(
            {
                "scan": i + 1,
                "flow_start_to_first_ocr_s": r(first_start - s0),
                "last_ocr_end_to_flow_end_s": r(e0 - ends[-1]),
                "one_slot_idle_tail_s": r(ends[-1] - ends[-2]) if len(ends) > 1 else 0.0,
            }
        )
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
