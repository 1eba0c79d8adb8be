"""The printed tables."""

from __future__ import annotations

OTHERS = ("ocrmypdf", "tesseract")


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
        t = Table(
            title=f"Throughput, {res['corpus']['pages']} scanned pages "
            f"({res['corpus']['counts']['content']} notes, {res['corpus']['counts']['cover']} covers, "
            f"{res['corpus']['counts']['blank']} blank backs) in {len(res['corpus']['files'])} files, "
            f"{res['jobs']} jobs"
        )
        for col in (
            "contender",
            "wall s",
            "pages/min",
            "x ocrmypdf",
            "x tesseract",
            "CPU s",
            "busy cores",
            "tesseract running (mean)",
            "peak RSS MB (largest process)",
            "word recall (OCR text)",
            "word recall (PDF text layer)",
            "worst page",
        ):
            t.add_column(col, justify="right" if col != "contender" else "left")
        for name, label in (
            ("dossier", "dossier scan, server running"),
            ("dossier_no_server", "dossier scan, no server"),
            ("dossier_with_watch", "dossier scan, dossier watch running"),
            ("ocrmypdf", "ocrmypdf --output-type pdf"),
            ("tesseract", "bare tesseract (txt)"),
        ):
            m = c.get(name)
            if not m:
                continue
            dossier = name.startswith("dossier")
            ocr_text = (
                m.get("word_recall_ocr_text") if dossier else (m.get("word_recall") if name == "tesseract" else None)
            )
            layer = m.get("word_recall") if name != "tesseract" else None
            worst = m.get("worst_page_recall_ocr_text") if dossier else m.get("worst_page_recall")
            vs = {k: m["pages_per_min"] / c[k]["pages_per_min"] if dossier and k in c else None for k in OTHERS}
            t.add_row(
                label,
                _fmt(m["wall_s"]),
                _fmt(m["pages_per_min"]),
                _fmt(vs["ocrmypdf"], 2),
                _fmt(vs["tesseract"], 2),
                _fmt(m["cpu_s"]),
                _fmt(m["busy_cores_system"], 2),
                _fmt(m.get("tesseract_mean_running"), 2),
                _fmt(m["peak_rss_mb"], 0),
                _fmt(ocr_text, 4),
                _fmt(layer, 4),
                _fmt(worst, 4),
            )
        con.print(t)
        ratios = res.get("ratios", {})
        con.print("  ".join(f"{k} = {v:.2f}" for k, v in ratios.items()))
        if any(len(m.get("rounds_wall_s", [])) > 1 for m in c.values()):
            con.print(
                "wall s of every round (the median is in the table): "
                + "  ".join(f"{name} {m['rounds_wall_s']}" for name, m in c.items())
            )
        for name, m in c.items():
            if m.get("foreign_cpu_s", 0) > 0.05 * m["wall_s"] * res["jobs"]:
                con.print(
                    f"[bold red]warning[/]: {name}: {m['foreign_cpu_s']} CPU s used by other processes on this "
                    f"machine during the run ({m['wall_s']:.0f} s wall); figures are unreliable"
                )
        for name, server in (
            ("dossier", "Prefect server"),
            ("dossier_no_server", None),  # its temporary server is in the command's tree: in CPU s
            ("dossier_with_watch", "`dossier watch` and its Prefect server"),
        ):
            if name in c:
                d = c[name]
                cpu = (
                    f"{server} CPU during the run: {d['prefect_server_cpu_s']} s"
                    if server
                    else "its temporary Prefect server counted in its CPU s"
                )
                con.print(
                    f"{name}: {d['statuses']}, filed as planned: {d['filed_as_planned']} "
                    f"({d['documents_filed']}/{d['documents_planned']} documents); {cpu}; "
                    f"peak RSS by process: {d.get('peak_rss_mb_by_process')}"
                )
        if any(k in c for k in ("dossier_no_server", "dossier_with_watch")):
            con.print("word recall is measured for `dossier scan, server running` only (the same pipeline)")
    lat = res.get("inbox_latency")
    if lat:
        con.print(
            f"inbox -> filed through dossier watch, {lat['files']} one-page notes dropped one at a time: "
            f"median {lat['median_s']:.2f} s, worst {lat['worst_s']:.2f} s, of which the watcher's settle period "
            f"{lat['settle_s']:g} s (median {lat['median_beyond_settle_s']:.2f} s beyond it); "
            f"filed as planned: {lat['filed_as_planned']} ({lat['statuses']})"
        )
    mem = res.get("memory")
    if mem:
        t = Table(title="Peak RSS of `dossier scan` (one file per size)")
        for col in (
            "pages",
            "wall s",
            "pages/min",
            "largest process MB",
            "dossier process MB",
            "tesseract MB",
            "status",
        ):
            t.add_column(col, justify="right")
        for row in mem["runs"]:
            by = row.get("peak_rss_mb_by_process", {})
            t.add_row(
                str(row["pages"]),
                _fmt(row["wall_s"]),
                _fmt(row["pages_per_min"]),
                _fmt(row["peak_rss_mb"], 0),
                _fmt(by.get("dossier"), 0),
                _fmt(by.get("tesseract"), 0),
                str(row["statuses"]),
            )
        con.print(t)
        con.print("  ".join(f"{k} = {v:.3f}" for k, v in mem["ratios"].items()))
    prof = res.get("profile")
    if prof:
        t = Table(
            title=f"Where the full path's wall time goes (profiled run, files one after another, {prof['wall_s']} s, "
            f"{prof['pages']} pages; main thread unless noted)"
        )
        t.add_column("step")
        t.add_column("s", justify="right")
        t.add_column("s/page", justify="right")
        n = prof["pages"]
        for k, v in prof["main_thread_phases_s"].items():
            t.add_row(k, _fmt(v, 2), _fmt(v / n, 3))
        t.add_row(
            "read_pages (task body)", _fmt(prof["read_pages_total_s"], 2), _fmt(prof["read_pages_total_s"] / n, 3)
        )
        for k, v in prof["read_pages_s"].items():
            t.add_row(f"  {k}", _fmt(v, 2), _fmt(v / n, 3))
        for k, v in prof.get("reader_threads_s", {}).items():
            t.add_row(f"  reader threads (off the main thread): {k}", _fmt(v, 2), _fmt(v / n, 3))
        t.add_row(
            "archive_document (task bodies)",
            _fmt(prof["archive_document_total_s"], 2),
            _fmt(prof["archive_document_total_s"] / n, 3),
        )
        for k, v in prof["archive_document_s"].items():
            t.add_row(f"  {k}", _fmt(v, 2), _fmt(v / n, 3))
        t.add_row(
            "prepare_source / finish_scan (bodies)", _fmt(prof["prepare_source_s"] + prof["finish_scan_s"], 2), ""
        )
        accounted = (
            sum(prof["main_thread_phases_s"].values())
            + prof["read_pages_total_s"]
            + prof["archive_document_total_s"]
            + prof["prepare_source_s"]
            + prof["finish_scan_s"]
        )
        t.add_row("(sum of the main-thread rows above)", _fmt(accounted, 2), _fmt(accounted / n, 3))
        ts = prof["tesseract"]
        t.add_row(
            f"OCR threads: tesseract, {ts['pages']} pages (mean {ts['mean_s_per_page']} s/page)",
            _fmt(ts["total_s"], 2),
            "",
        )
        t.add_row(f"OCR slots idle (slot-s; occupancy {ts['slot_occupancy']})", _fmt(ts["idle_slot_s"], 2), "")
        con.print(t)
        con.print(
            f"tesseract processes running (share of scan time): {prof['tesseract_running_share']}; "
            f"per-scan OCR gaps: {prof['ocr_gaps_per_scan']}"
        )
        con.print(f"per-page ms by page kind: {prof['per_page_ms_by_kind']}")
        con.print(
            f"CPU: dossier process {prof['python_process_cpu_s']} s, its children (tesseract, pdftoppm) "
            f"{prof['children_cpu_s']} s"
        )
    if c.get("tesseract", {}).get("s_per_page_by_kind"):
        con.print(f"bare tesseract, s per page by kind: {c['tesseract']['s_per_page_by_kind']}")
    wi = res.get("whatif")
    if wi:
        t = Table(title="What-if: the read+OCR loop replayed with levers (no Prefect, graft, encryption, catalog)")
        for col in ("variant", "wall s", "pages/min", "pages OCRed", "tesseract s/page", "word recall"):
            t.add_column(col, justify="right" if col != "variant" else "left")
        for row in wi:
            t.add_row(
                row["variant"],
                _fmt(row["wall_s"]),
                _fmt(row["pages_per_min"]),
                str(row["ocr_pages"]),
                _fmt(row["tesseract_s_per_page"], 2),
                _fmt(row["word_recall"], 4),
            )
        con.print(t)
    lev = res.get("levers")
    if lev:
        t = Table(title=f"tesseract settings on {lev['tesseract'][0]['pages']} note pages, {res['jobs']} processes")
        for col in ("config", "pages/min", "s/page/process", "vs bare", "word recall"):
            t.add_column(col, justify="right" if col != "config" else "left")
        for row in lev["tesseract"]:
            t.add_row(
                row["config"],
                _fmt(row["pages_per_min"]),
                _fmt(row["s_per_page_per_process"], 2),
                _fmt(row["vs_bare"], 3),
                _fmt(row["word_recall"], 4),
            )
        con.print(t)
        t = Table(title="Per-page step costs, median ms (cover / blank / content pages)")
        t.add_column("step")
        for k in ("cover", "blank", "content"):
            t.add_column(k, justify="right")
        for step, by in lev["components_ms"].items():
            t.add_row(step, *(_fmt(by.get(k)) for k in ("cover", "blank", "content")))
        con.print(t)
