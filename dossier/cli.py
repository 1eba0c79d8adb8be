"""`dossier`: the operator's console on the server (DESIGN.md §7). Office staff, coaches and the
privacy officer work through the web app; the CLI trusts DOSSIER_USER for attribution.

Each command only parses, calls one use case in services/ and formats the answer: human text, or
with --json exactly one JSON document on stdout. Errors print one line on stderr (and
{"error": ...} with --json) and exit non-zero:
  2 bad input   3 not permitted   4 not found   5 integrity problem   1 anything else
"""

from __future__ import annotations

import errno
import functools
import getpass
import json
import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import typer

from . import cli_help
from .settings import Settings

cli_help.install()
CONTEXT = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings=CONTEXT,
    rich_markup_mode=None,
    help="The dossier scan archive: scan, file, find and destroy client dossiers.",
)
user_app = typer.Typer(no_args_is_help=True, context_settings=CONTEXT, help="Manage users (privacy officer).")
quarantine_app = typer.Typer(
    no_args_is_help=True, context_settings=CONTEXT, help="Work the queue of scans that could not be filed."
)
audit_app = typer.Typer(no_args_is_help=True, context_settings=CONTEXT, help="Read and check the audit log.")
app.add_typer(user_app, name="user")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(audit_app, name="audit")

JsonOpt = typer.Option(False, "--json", help="Print one JSON document on stdout.")


# ---- running a command ---------------------------------------------------------------------------


def load_settings() -> Settings:
    from archive.errors import BadInput

    try:
        return Settings()
    except Exception as e:  # pydantic's message names the bad setting, never data
        raise BadInput(f"configuration is invalid: {_first_line(e)}") from None


def user_name() -> str:
    return os.environ.get("DOSSIER_USER") or getpass.getuser()


def open_app(settings: Settings | None = None):
    """The application on a set-up archive, fit to work on (its own key, private, tidy)."""
    from services import setup

    from .wiring import build_app, install_runtime

    settings = settings or load_settings()
    app_ = build_app(settings)
    closed_at_exit(app_)
    install_runtime(settings, app_.vault)
    setup.ready(app_)
    return app_


def closed_at_exit(app_) -> None:
    """Close the catalog's connections when the command ends, however it ends. Left to the
    interpreter, a connection still held by a library's thread is never closed, and the last
    commits stay in catalog.db-wal only: a copy of the data home without that file would miss
    them. Closed, SQLite folds the log into catalog.db and removes it."""
    import atexit

    atexit.register(app_.vault.engine.dispose)


def context(settings: Settings | None = None):
    """Who acts: DOSSIER_USER (or the login name), who must be a user of the archive."""
    from services.context import act_as

    return act_as(open_app(settings), user_name(), channel="cli")


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


@contextmanager
def command(json_out: bool):
    """Uniform error handling: one clear line, a JSON error with --json, the right exit code."""
    from archive.errors import DossierError

    try:
        yield
    except DossierError as e:
        _fail(str(e), e.exit_code, json_out)
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        _fail("stopped; what was in hand is resumed at the next run, nothing was lost", 130, json_out)
    except OSError as e:
        if os.environ.get("DOSSIER_DEBUG"):
            raise
        if e.errno == errno.ENOSPC:
            _disk_full(json_out)
        _fail(
            f"a file could not be read or written ({e.strerror or type(e).__name__}); nothing was lost or filed "
            "twice. Check the paths and permissions and try again",
            1,
            json_out,
        )
    except Exception as e:  # noqa: BLE001 - never show a library's message: it may quote content
        if os.environ.get("DOSSIER_DEBUG"):
            raise
        if _is_disk_full(e):
            _disk_full(json_out)
        _fail(
            f"internal error ({type(e).__name__}); nothing was filed twice or lost: the source files are "
            "untouched. Try again; if it persists, tell the administrator",
            1,
            json_out,
        )


def _is_disk_full(e: BaseException) -> bool:
    """SQLite says SQLITE_FULL when the catalog cannot grow; a flow's step reduces ENOSPC to its class name."""
    while e is not None:
        if getattr(e, "sqlite_errorname", None) == "SQLITE_FULL" or getattr(e, "code", None) == "OSError:ENOSPC":
            return True
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return True
        e = getattr(e, "orig", None) or e.__cause__ or e.__context__
    return False


def _disk_full(json_out: bool) -> None:
    _fail(
        "the disk is full; nothing was lost or filed twice (the source files are untouched). Free some space "
        "and run the command again",
        1,
        json_out,
    )


def _fail(message: str, code: int, json_out: bool) -> None:
    if json_out:
        print(json.dumps({"error": message}))
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


_log_lock = threading.Lock()


def log_line(line: str) -> None:
    """One whole line of a long-running command's log, written at once: the watcher's threads log
    side by side, and print() writes the text and its newline separately."""
    with _log_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def emit(json_out: bool, data: dict, human: str) -> None:
    if json_out:
        print(json.dumps(data, default=str))
    else:
        print(human)


def parse_date(value: str | None, what: str):
    from services import validate

    return validate.date(value, what)


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def when(iso: str | None) -> str:
    """A stored UTC time in the firm's time zone, one format everywhere: 2026-11-30 14:02."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    if not iso:
        return "-"
    t = dt.datetime.fromisoformat(iso)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(ZoneInfo(_zone())).strftime("%Y-%m-%d %H:%M")


@functools.cache
def _zone() -> str:
    try:
        return Settings().local_timezone
    except Exception:  # noqa: BLE001 - a bad setting is reported by the command itself
        return "Europe/Amsterdam"


# ---- set-up and users ---------------------------------------------------------------------------


@app.command()
def init(json_out: bool = JsonOpt):
    """Create the data home, catalog and master key; the acting user becomes privacy officer.

    Safe to repeat; never makes a new key for an existing archive."""
    from services import setup

    from .wiring import build_app

    with command(json_out):
        settings = load_settings()
        app_ = build_app(settings)
        closed_at_exit(app_)
        out = setup.initialise(app_, user_name())
        lines = [f"Archive ready at {out['home']}", f"Scan inbox: {out['inbox']}"]
        if out["new_key"]:
            lines.append(
                f"New master key (id {out['key_id']}) written to {out['key_file']}: back it up now, apart "
                "from the archive. Without it nothing can be read."
            )
        if out["privacy_officer"]:
            lines.append(f"{out['privacy_officer']} is the privacy officer.")
        emit(json_out, {"home": out["home"], "inbox": out["inbox"], "key_id": out["key_id"]}, "\n".join(lines))


@user_app.command("add")
def user_add(
    name: str, role: str = typer.Option(..., "--role", help="office, coach or privacy"), json_out: bool = JsonOpt
):
    """Add a user (privacy officer only). Example: dossier user add anna --role coach"""
    from services import users

    with command(json_out):
        out = users.add_user(context(), name, role)
        emit(json_out, out, f"Added {out['user']} as {out['role']}.")


@user_app.command("list")
def user_list(json_out: bool = JsonOpt):
    """The users of the archive and their roles (privacy officer only)."""
    from services import users

    with command(json_out):
        out = users.list_users(context())
        human = "\n".join(
            f"{u['user']:<20} {u['role']:<8} added {when(u['created_at'])}"
            + (f" by {u['created_by']}" if u["created_by"] else "")
            for u in out["users"]
        )
        emit(json_out, out, human or "No users.")


# ---- dossiers and cover sheets ------------------------------------------------------------------


@app.command()
def new(
    coach: str = typer.Option(..., "--coach", help="the coach who may see this dossier"),
    client_name: str | None = typer.Option(None, "--client-name", help="stored encrypted"),
    bsn: str | None = typer.Option(None, "--bsn", help="checked with the elfproef; stored encrypted"),
    commissioner: str | None = typer.Option(None, "--commissioner", help="e.g. UWV or the employer"),
    start: str | None = typer.Option(None, "--start", help="trajectory start, YYYY-MM-DD (default today)"),
    json_out: bool = JsonOpt,
):
    """Open a dossier for a client. Example: dossier new --coach anna --client-name "J. Jansen" --bsn 111222333"""
    from services import dossiers

    with command(json_out):
        start_date = parse_date(start, "start date")
        out = dossiers.open_dossier(
            context(), coach=coach, client_name=client_name, bsn=bsn, commissioner=commissioner, start=start_date
        )
        human = f"Opened dossier {out['dossier']} for coach {out['coach']}."
        if out.get("warning"):
            human += f"\nWarning: {out['warning']}."
            print(f"warning: {out['warning']}", file=sys.stderr)
        emit(json_out, out, human)


def _dossier_line(d: dict) -> str:
    period = d["start"] + (f" – {d['end']}" if d["end"] else "")
    return f"{d['dossier']:<14} {d['status']:<10} {d['coach']:<12} {period:<24} {d['client_name'] or '-'}"


def _dossier_table(rows: list[dict]) -> str:
    if not rows:
        return "No dossiers."
    head = f"{'dossier':<14} {'status':<10} {'coach':<12} {'trajectory':<24} client"
    return "\n".join([head] + [_dossier_line(d) for d in rows])


@app.command("list")
def list_(json_out: bool = JsonOpt):
    """The dossiers you may see (a coach: your own clients), newest first."""
    from services import dossiers

    with command(json_out):
        out = dossiers.list_dossiers(context())
        emit(json_out, out, _dossier_table(out["dossiers"]))


@app.command()
def find(
    name: str | None = typer.Option(None, "--name", help="part of the client's name, any case"),
    bsn: str | None = typer.Option(None, "--bsn", help="the client's BSN"),
    json_out: bool = JsonOpt,
):
    """Find dossiers by client name or BSN, within what you may see. Example: dossier find --name jans"""
    from services import dossiers

    with command(json_out):
        out = dossiers.find_dossiers(context(), name=name, bsn=bsn)
        emit(json_out, out, _dossier_table(out["dossiers"]))


@app.command()
def show(
    dossier: str,
    reveal: bool = typer.Option(False, "--reveal", help="show the full BSN (recorded)"),
    json_out: bool = JsonOpt,
):
    """One dossier: client, coach, dates, documents, paper file. The BSN is masked unless --reveal."""
    from services import dossiers

    from .cli_records import where

    with command(json_out):
        d = dossiers.show_dossier(context(), dossier, reveal=reveal)
        lines = [
            f"Dossier {d['dossier']} ({d['status']})",
            f"  client:       {d['client_name'] or '-'}" + (f"   BSN {d['bsn']}" if d["bsn"] else ""),
            f"  coach:        {d['coach']}",
            f"  commissioner: {d['commissioner'] or '-'}",
            f"  trajectory:   {d['start']} – {d['end'] or 'ongoing'}",
            f"  destroy on:   {d['destroy_on'] or 'not set (the dossier is still open)'}",
        ]
        if d["hold"]:
            lines.append(f"  legal hold:   since {d['hold']['since'][:10]} (nothing is destroyed)")
        lines.append(f"  paper file:   {where(d['paper']) if d['paper'] else 'not registered'}")
        lines.append(f"  documents:    {len(d['documents'])}")
        lines += [
            f"    {x['id'][:12]}  {x['type']:<26} {plural(x['pages'], 'page'):>9}  {when(x['scanned_at'])}"
            for x in d["documents"]
        ]
        emit(json_out, d, "\n".join(lines))


@app.command()
def cover(
    dossier: str,
    doc_type: str = typer.Option(
        ...,
        "--type",
        help="toestemmingsformulier, opdrachtbevestiging, "
        "werkplan, arbeidsdeskundig-rapport, "
        "coachingsplan, voortgangsrapportage, "
        "eindrapportage, cv or aantekeningen",
    ),
    output: Path = typer.Option(..., "-o", "--output", help="PDF file (or folder) to write"),
    force: bool = typer.Option(False, "--force", help="replace an existing file"),
    json_out: bool = JsonOpt,
):
    """Make a printable cover sheet. Example: dossier cover D-2026-0001 --type aantekeningen -o voorblad.pdf"""
    from services import covers, validate

    from . import output as out_

    with command(json_out):
        number, doc_type = validate.dossier_number(dossier), validate.doc_type(doc_type)
        target = out_.choose(output, f"voorblad-{number}-{doc_type}.pdf", force=force, json_out=json_out)
        sheet = covers.make_cover(context(), number, doc_type)
        out_.write(target, sheet.pdf)
        emit(
            json_out,
            {"path": str(target), "dossier": sheet.dossier, "type": sheet.doc_type, "serial": sheet.serial},
            f"Cover sheet {sheet.serial} for {sheet.dossier} ({sheet.doc_type}) written to {target}. Print it and "
            "put it on top.",
        )


# ---- scanning -----------------------------------------------------------------------------------


class _Bars:
    """Page progress bars on stderr for people watching a scan (services.scanning.Progress)."""

    def __init__(self, bar, total_files: int):
        self.bar, self.total, self.tasks, self.n = bar, total_files, {}, 0

    def started(self, source: Path, scan_id: str) -> None:
        self.n += 1
        self.tasks[scan_id] = self.bar.add_task(f"{source.name} ({self.n} of {self.total})", total=None)

    def page(self, scan_id: str, done: int, total: int) -> None:
        if scan_id in self.tasks:
            self.bar.update(self.tasks[scan_id], completed=done, total=total)

    def finished(self, source: Path) -> None:
        pass


@contextmanager
def _progress(show: bool, files: int):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("pages"),
        console=Console(stderr=True),
        disable=not show,
        transient=True,
    ) as bar:
        yield _Bars(bar, files)


def _describe_result(r: dict) -> str:
    docs = ", ".join(f"{d['dossier']} {d['type']} ({plural(d['pages'], 'page')})" for d in r["documents"])
    note = f" ({r['note']})" if r.get("note") else ""
    if r["status"] == "archived":
        return f"archived    {r['source']}: {docs}{note}"
    if r["status"] == "duplicate":
        return f"duplicate   {r['source']}: {r['reason']}"
    if r["status"] == "refused":
        return f"refused     {r['source']}: {r['reason']}"
    filed = f" Filed: {docs}." if docs else ""
    return f"quarantined {r['source']}: {r['reason']}.{filed} See `dossier quarantine list`.{note}"


@app.command()
def scan(
    files: list[Path] = typer.Argument(..., help="scanned files (PDF, TIFF, PNG, JPEG)", metavar="FILE..."),
    json_out: bool = JsonOpt,
):
    """Run the scan flow on files now. The files themselves are left in place."""
    from services import scanning

    from .prefect_server import prefect_for

    with command(json_out):
        scanning.check_scan_files(files)
        ctx = context()
        scanning.may_scan(ctx)
        with prefect_for(ctx.app) as servers, _progress(not json_out, len(files)) as bars:
            results = scanning.scan_files(ctx, files, progress=bars, fallback=servers.fallback)
        emit(json_out, {"results": results}, "\n".join(_describe_result(r) for r in results))


@app.command("run-inbox")
def run_inbox(json_out: bool = JsonOpt):
    """Process every file waiting in the inbox once; filed files are removed from the inbox."""
    from services import scanning

    from .prefect_server import prefect_for

    with command(json_out):
        ctx = context()
        scanning.may_scan(ctx)
        entries = scanning.inbox_entries(ctx.app.inbox_dir)
        if not entries:
            emit(json_out, {"results": []}, f"The inbox {ctx.app.inbox_dir} is empty.")
            return
        with prefect_for(ctx.app) as servers, _progress(not json_out, len(entries)) as bars:
            results = scanning.run_inbox(ctx, progress=bars, fallback=servers.fallback)
        emit(json_out, {"results": results}, "\n".join(_describe_result(r) for r in results))


# ---- retrieval ----------------------------------------------------------------------------------


@app.command()
def docs(dossier: str, json_out: bool = JsonOpt):
    """List a dossier's documents."""
    from services import documents

    with command(json_out):
        out = documents.list_documents(context(), dossier)
        rows = out["documents"]
        head = f"Dossier {out['dossier']} (coach {out['coach']}): {plural(len(rows), 'document')}"
        lines = [head]
        if rows:
            lines.append(f"  {'document':<32}  {'type':<26} {'pages':>5}  scanned")
            lines += [
                f"  {r['id']}  {r['type']:<26} {r['pages']:>5}  {when(r['scanned_at'])}"
                + (f"  ({plural(r['low_text_pages'], 'page')} handwritten?)" if r["low_text_pages"] else "")
                for r in rows
            ]
        else:
            lines.append(f"Dossier {out['dossier']} has no documents yet.")
        emit(json_out, out, "\n".join(lines))


@app.command()
def get(
    document: str = typer.Argument(..., help="document id, or its first 6 or more characters"),
    output: Path = typer.Option(..., "-o", "--output", help="PDF file, a folder, or - for standard output"),
    force: bool = typer.Option(False, "--force", help="replace an existing file"),
    json_out: bool = JsonOpt,
):
    """Write a decrypted copy of a document (mode 0600). Example: dossier get 3f9a1c -o ~/notes/"""
    from services import documents, validate

    from . import output as out_

    with command(json_out):
        ident = validate.document_id(document)
        folder = output.expanduser() if str(output) != "-" and output.expanduser().is_dir() else None
        target = None if folder else out_.choose(output, "", force=force, json_out=json_out)
        read = documents.read_document(context(), ident)
        if folder:  # a name that says what it is: dossier number, type, the id's start
            target = out_.choose(folder, f"{read.dossier}_{read.doc_type}_{read.id[:8]}.pdf", force=force)
        out_.write(target, read.pdf)
        if target.path is None:
            return
        emit(
            json_out,
            {"path": str(target), "pages": read.pages, "document": read.id},
            f"Wrote {plural(read.pages, 'page')} of document {read.id} to {target}.",
        )


@app.command()
def search(
    text: str,
    dossier: str | None = typer.Option(None, "--dossier", help="only in this dossier"),
    json_out: bool = JsonOpt,
):
    """Find pages with every word of TEXT, in the dossiers you may see. Example: dossier search rugklacht"""
    from services import documents

    with command(json_out):
        out = documents.search(context(), text, dossier)
        human = "\n".join(f"{h['dossier']}  {h['document'][:12]}  p.{h['page']}: {h['snippet']}" for h in out["hits"])
        emit(json_out, out, human or "No pages found.")


# ---- quarantine ---------------------------------------------------------------------------------


def _from_page(item: dict) -> str:
    return f", from page {item['first_page']}" if item.get("first_page") else ""


@quarantine_app.command("list")
def quarantine_list(json_out: bool = JsonOpt):
    """What is waiting to be filed by hand, with the reason."""
    from services import quarantine

    with command(json_out):
        out = quarantine.list_items(context())
        human = "\n".join(
            f"{i['id']}  {when(i['received_at'])}  {i['source']}{_from_page(i)}\n    {i['reason']}"
            for i in out["items"]
        )
        emit(json_out, out, human or "The quarantine is empty.")


@quarantine_app.command("get")
def quarantine_get(
    item_id: str,
    output: Path = typer.Option(..., "-o", "--output", help="file, folder or -"),
    force: bool = typer.Option(False, "--force", help="replace an existing file"),
    json_out: bool = JsonOpt,
):
    """Write a decrypted copy of a quarantined scan, to see what it is (the look is recorded)."""
    from services import quarantine, validate

    from . import output as out_

    with command(json_out):
        ident = validate.quarantine_id(item_id)
        target = out_.choose(output, f"{ident}.pdf", force=force, json_out=json_out)
        item = quarantine.read_item(context(), ident)
        out_.write(target, item.data)
        if target.path is not None:
            emit(json_out, {"path": str(target), "id": item.id}, f"Wrote quarantine item {item.id} to {target}.")


@quarantine_app.command("assign")
def quarantine_assign(
    item_id: str,
    dossier: str = typer.Option(..., "--dossier"),
    doc_type: str = typer.Option(..., "--type", help="the document type"),
    json_out: bool = JsonOpt,
):
    """File a quarantined scan into a dossier as one document of the given type."""
    from services import scanning, validate

    from .prefect_server import prefect_for

    with command(json_out):
        validate.dossier_number(dossier)
        validate.doc_type(doc_type)
        validate.quarantine_id(item_id)
        ctx = context()
        with prefect_for(ctx.app) as servers:
            result = scanning.assign_item(ctx, item_id, dossier, doc_type, servers.fallback)
        doc = result["documents"][0]
        emit(
            json_out,
            result,
            f"Filed {result['id']} into {dossier.upper()} as {doc_type}: document {doc['id']} "
            f"({plural(doc['pages'], 'page')}).",
        )


@quarantine_app.command("discard")
def quarantine_discard(item_id: str, json_out: bool = JsonOpt):
    """Destroy a quarantined scan (for example after scanning the paper again)."""
    from services import quarantine

    with command(json_out):
        out = quarantine.discard_item(context(), item_id)
        emit(json_out, out, f"Discarded {out['id']}.")


# ---- audit --------------------------------------------------------------------------------------


@audit_app.command("show")
def audit_show(
    dossier: str | None = typer.Option(None, "--dossier", help="only events on this dossier"),
    user: str | None = typer.Option(None, "--user", help="only what this user did"),
    since: str | None = typer.Option(None, "--since", help="from this day on, YYYY-MM-DD"),
    json_out: bool = JsonOpt,
):
    """Who did what to which dossier, when, through which channel (privacy officer).

    Example: dossier audit show --dossier D-2026-0001   (who has seen this dossier)"""
    from services import audit_log

    with command(json_out):
        out = audit_log.show(context(), dossier=dossier, user=user, since=parse_date(since, "--since"))
        lines = [
            f"{e['seq']:>6}  {when(e['at'])}  {e['actor']:<16} {(e['role'] or '-'):<8} {e['channel']:<6} "
            f"{e['action']:<22} {e['outcome']:<9} {e['dossier'] or '':<13} {(e['document'] or '')[:12]}"
            for e in out["events"]
        ]
        head = f"{'seq':>6}  {'when':<16}  {'who':<16} {'role':<8} {'via':<6} {'action':<22} {'outcome':<9} dossier"
        emit(json_out, out, "\n".join([head, *lines]) if lines else "No events.")


@audit_app.command("verify")
def audit_verify(json_out: bool = JsonOpt):
    """Check that no audit event was altered, removed or reordered."""
    from services import audit_log

    with command(json_out):
        report = audit_log.verify(context())
        data = {
            "ok": report.ok,
            "events": report.events,
            "first_bad": report.first_bad,
            "problem": report.problem,
            "keyed_from": report.keyed_from,
            "witnessed": report.witnessed,
        }
        if not report.ok:
            if json_out:
                print(json.dumps(data))
            print(
                f"error: the audit log was tampered with: {report.problem}; tell the privacy officer", file=sys.stderr
            )
            raise typer.Exit(5)
        emit(
            json_out,
            data,
            f"Audit log intact: {report.events} events, matching {report.witnessed} witnessed heads.",
        )


# ---- unattended running ------------------------------------------------------------------------


@app.command()
def watch():
    """Watch the inbox and run the schedules until stopped (Ctrl-C or SIGTERM)."""
    from services import scanning

    from .watch import run_watch

    with command(False):
        for name in ("LEVEL", "FLOW_RUNS_LEVEL", "TASK_RUNS_LEVEL"):  # the watcher shows Prefect's warnings
            os.environ.setdefault(f"PREFECT_LOGGING_HANDLERS_CONSOLE_{name}", "WARNING")
        ctx = context()
        scanning.may_scan(ctx)
        run_watch(load_settings(), ctx, log=log_line)


@app.command()
def status(json_out: bool = JsonOpt):
    """What the office needs to know: inbox, work in progress, quarantine, last filed, health."""
    from services import status as status_

    from .cli_workers import pool_lines

    with command(json_out):
        st = status_.system_status(context())
        w, srv = st["watcher"], st["server"]
        if w["stuck"]:
            watcher = f"STUCK (pid {w['pid']}: no pass of its loop since {when(w['loop_at'])}); restart it"
        elif w["running"]:
            watcher = f"running (pid {w['pid']}, {w['mode']})"
        else:
            watcher = "not running: start it with `dossier watch`"
        human = "\n".join(
            [
                f"Inbox:        {st['inbox']} waiting"
                + (
                    f", {st['inbox_refused']} not taken in (links or special files: remove them)"
                    if st["inbox_refused"]
                    else ""
                ),
                f"In progress:  {st['in_progress']}",
                f"Quarantine:   {st['quarantined']} to look at"
                + (" (see `dossier quarantine list`)" if st["quarantined"] else ""),
                f"Last filed:   {when(st['last_archived']) if st['last_archived'] else 'nothing yet'}",
                f"Watcher:      {watcher}",
                "Prefect:      "
                + (f"{srv['url']} ({'healthy' if srv['healthy'] else 'not answering'})" if srv["url"] else "-"),
                "Mailbox:      " + _mailbox_line(st["mailbox"]),
                "Integrity:    " + _integrity_line(st.get("integrity")),
                *pool_lines(st["pool"]),
            ]
            + _privacy_lines(st)
        )
        emit(json_out, st, human)


def _privacy_lines(st: dict) -> list[str]:
    """Clients' requests due within a week and unreported breaches (the privacy officer's status only)."""
    if st.get("requests_due") is None:
        return []
    due = st["requests_due"]
    overdue = sum(r["overdue"] for r in due)
    line = f"Requests:     {len(due)} due within 7 days" + (f" ({overdue} overdue)" if overdue else "")
    lines = [line + (" (see `dossier request list --open`)" if due else "")]
    if st.get("breaches_unreported"):
        lines.append(
            f"Breaches:     {st['breaches_unreported']} not yet reported to the authority (`dossier breach list`)"
        )
    return lines


def _integrity_line(last: dict | None) -> str:
    if last is None:
        return "never checked: run `dossier integrity check` (nightly under `dossier watch`)"
    verdict = "ok" if last["outcome"] == "ok" else "PROBLEMS FOUND: run `dossier integrity check`"
    return f"last check {when(last['at'])} {verdict} ({last['detail']})"


def _mailbox_line(m: dict | None) -> str:
    if m is None:
        return "no intake mailbox configured"
    if m.get("problem"):
        return f"misconfigured: {m['problem']}"
    last = m["last_sweep"]
    text = "never swept yet" if last is None else f"last sweep {when(last['at'])} ({last['outcome']})"
    if m["oldest"]:
        text += f"; oldest message arrived {when(m['oldest']['arrived'])}, deleted on {m['oldest']['delete_on']}"
    return text


# Command groups kept in their own modules register themselves on `app` when imported.
from . import cli_integrity, cli_mail, cli_records  # noqa: E402,F401,I001
from . import cli_rights, cli_users, cli_workers  # noqa: E402,F401,I001


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", is_eager=True, help="Show the version and exit.", callback=lambda v: _version(v)
    ),
):
    """The dossier scan archive: scan, file, find and destroy client dossiers."""


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import version

        print(f"dossier {version('dossier-scan-archive')}")
        raise typer.Exit(0)


def main() -> None:
    """Run a command. A usage error is one line too (with --json also as {"error"}), exit 2;
    `dossier` alone, or a command group alone, shows its help."""
    os.umask(0o077)  # catalog, keys, archive and work files are for this account only
    import typer.main

    args = sys.argv[1:]
    try:
        code = typer.main.get_command(app).main(args=args, prog_name="dossier", standalone_mode=False)
    except Exception as e:  # noqa: BLE001 - only typer's usage errors are handled here
        ctx = getattr(e, "ctx", None)
        if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
            print(ctx.get_help())
            sys.exit(0)
        if type(e).__name__ == "Abort":  # end of input at a confirmation prompt
            print("error: not confirmed; nothing was changed", file=sys.stderr)
            sys.exit(1)
        if not hasattr(e, "format_message") or getattr(e, "exit_code", None) != 2:
            raise
        where = f" (see `{ctx.command_path} -h`)" if ctx is not None else ""
        message = e.format_message().rstrip(".")
        message = message[:1].lower() + message[1:]
        if "--json" in args:
            print(json.dumps({"error": message}))
        print(f"error: {message}{where}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
