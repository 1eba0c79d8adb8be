"""`dossier`: the command office staff, coaches and the privacy officer use (DESIGN.md §7).

Every command takes --json and then prints exactly one JSON document on stdout. Errors print one
line on stderr (and {"error": ...} with --json) and exit non-zero:
  2 bad input   3 not permitted   4 not found   5 integrity problem   1 anything else
"""
from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from .settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="The dossier scan archive: scan, file, find and destroy client dossiers.")
user_app = typer.Typer(no_args_is_help=True, help="Manage users (privacy officer).")
quarantine_app = typer.Typer(no_args_is_help=True, help="Work the queue of scans that could not be filed.")
audit_app = typer.Typer(no_args_is_help=True, help="Check the audit log.")
app.add_typer(user_app, name="user")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(audit_app, name="audit")

JsonOpt = typer.Option(False, "--json", help="Print one JSON document on stdout.")
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class BadInput(CliError):
    def __init__(self, message: str):
        super().__init__(message, 2)


class NotPermitted(CliError):
    def __init__(self, message: str):
        super().__init__(message, 3)


# ---- context ------------------------------------------------------------------------------------

class Context:
    """The acting user and the vault, built once per command."""

    def __init__(self) -> None:
        try:
            self.settings = Settings()
        except Exception as e:  # pydantic's message names the bad setting, never data
            raise BadInput(f"configuration is invalid: {_first_line(e)}") from None
        from .wiring import build_vault

        self.vault = build_vault(self.settings)
        self.user_name = os.environ.get("DOSSIER_USER") or getpass.getuser()

    @classmethod
    def ready(cls) -> "Context":
        """A context on an archive that `dossier init` has set up."""
        ctx = cls()
        ctx.require_initialised()
        return ctx

    def require_initialised(self) -> None:
        if not self.settings.master_key_path.exists() or not self._catalog_exists():
            raise CliError(f"the archive at {self.settings.home} is not set up; run `dossier init` first", 1)

    def _catalog_exists(self) -> bool:
        from sqlalchemy import inspect

        try:
            return inspect(self.vault.engine).has_table("alembic_version")
        except Exception:
            return False

    def actor(self, session):
        """(name, role) of the acting user; unknown users may do nothing."""
        u = self.vault.user(session, self.user_name)
        if u is None:
            raise NotPermitted(f"user {self.user_name} is not known to the archive; ask the privacy officer to add "
                               f"you with `dossier user add {self.user_name} --role ...`")
        return u.name, u.role

    def require(self, session, action: str, dossier=None, *, describe: str):
        """Check the acting user may do `action` (on `dossier`); a refusal is audited, then raised."""
        from archive import access, audit

        name, role = self.actor(session)
        allowed = (access.may_on_dossier(name, role, action, dossier.coach) if dossier is not None
                   else access.role_may(role, action))
        if not allowed:
            audit.record_now(self.vault.sessions, actor=name, role=role, action=action, outcome="refused",
                             dossier=dossier.number if dossier is not None else None)
            where = f" on dossier {dossier.number}" if dossier is not None else ""
            raise NotPermitted(f"{name} ({role}) may not {describe}{where}")
        return name, role


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


@contextmanager
def command(json_out: bool):
    """Uniform error handling: one clear line, a JSON error with --json, the right exit code."""
    from archive.keys import MasterKeyMissing
    from archive.vault import VaultError

    try:
        yield
    except CliError as e:
        _fail(str(e), e.exit_code, json_out)
    except VaultError as e:
        _fail(str(e), e.exit_code, json_out)
    except MasterKeyMissing as e:
        _fail(str(e), 1, json_out)
    except typer.Exit:
        raise
    except Exception as e:  # noqa: BLE001 - never show a library's message: it may quote content
        if os.environ.get("DOSSIER_DEBUG"):
            raise
        _fail(f"internal error ({type(e).__name__}); nothing was filed twice or lost: the source files are "
              "untouched. Try again; if it persists, tell the administrator", 1, json_out)


def _fail(message: str, code: int, json_out: bool) -> None:
    if json_out:
        print(json.dumps({"error": message}))
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def emit(json_out: bool, data: dict, human: str) -> None:
    if json_out:
        print(json.dumps(data, default=str))
    else:
        print(human)


def parse_date(value: str | None, what: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{what} '{value}' is not a date; write it as YYYY-MM-DD, e.g. 2026-03-01") from None


def check_dossier_number(value: str) -> str:
    from classify.doctypes import is_dossier_number

    if not is_dossier_number(value):
        raise BadInput(f"'{value}' is not a dossier number; they look like D-2026-0001")
    return value


def check_doc_type(value: str) -> str:
    from classify.doctypes import DOCUMENT_TYPES, is_document_type

    if not is_document_type(value):
        raise BadInput(f"unknown document type '{value}'; use one of: {', '.join(DOCUMENT_TYPES)}")
    return value


def load_dossier(session, number: str):
    from archive.catalog import Dossier

    d = session.get(Dossier, check_dossier_number(number))
    if d is None:
        raise CliError(f"dossier {number} does not exist; check the number on the paper file", 4)
    return d


def write_file_atomically(target: Path, writer) -> None:
    target = target.expanduser()
    if not target.parent.is_dir():
        raise BadInput(f"folder {target.parent} does not exist; choose an existing folder for -o")
    tmp = target.with_name(f".{target.name}.part")
    try:
        writer(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# ---- set-up and users ---------------------------------------------------------------------------

@app.command()
def init(json_out: bool = JsonOpt):
    """Create the data home, catalog and master key; the acting user becomes privacy officer."""
    with command(json_out):
        ctx = Context()
        s = ctx.settings
        new_key = ctx.vault.initialise()
        for d in (s.inbox_dir, s.work_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        from archive import audit
        from archive.catalog import User

        with ctx.vault.sessions() as session:
            made = None
            if session.query(User).count() == 0:
                if not USER_NAME.match(ctx.user_name):
                    raise BadInput(f"'{ctx.user_name}' is not a usable user name; set DOSSIER_USER")
                ctx.vault.add_user(session, ctx.user_name, "privacy", by=None)
                audit.record(session, actor=ctx.user_name, role="privacy", action="archive.init",
                             detail="first user made privacy officer")
                made = ctx.user_name
            session.commit()
        lines = [f"Archive ready at {s.home}", f"Scan inbox: {s.inbox_dir}"]
        if new_key:
            lines.append(f"New master key written to {s.master_key_path}: back it up now, apart from the archive. "
                         "Without it nothing can be read.")
        if made:
            lines.append(f"{made} is the privacy officer.")
        emit(json_out, {"home": str(s.home), "inbox": str(s.inbox_dir)}, "\n".join(lines))


@user_app.command("add")
def user_add(name: str, role: str = typer.Option(..., "--role", help="office, coach or privacy"), json_out: bool = JsonOpt):
    """Add a user (privacy officer only)."""
    from archive import access, audit

    with command(json_out):
        if role not in access.ROLES:
            raise BadInput(f"unknown role '{role}'; use office, coach or privacy")
        if not USER_NAME.match(name):
            raise BadInput(f"'{name}' is not a usable user name; use letters, digits, dot, dash or underscore")
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            actor, actor_role = ctx.require(session, "users.manage", describe="add users")
            ctx.vault.add_user(session, name, role, by=actor)
            audit.record(session, actor=actor, role=actor_role, action="user.add", detail=f"{name} as {role}")
            session.commit()
        emit(json_out, {"user": name, "role": role}, f"Added {name} as {role}.")


# ---- dossiers and cover sheets ------------------------------------------------------------------

@app.command()
def new(coach: str = typer.Option(..., "--coach", help="the coach who may see this dossier"),
        client_name: Optional[str] = typer.Option(None, "--client-name"),
        bsn: Optional[str] = typer.Option(None, "--bsn", help="checked with the elfproef; stored encrypted"),
        commissioner: Optional[str] = typer.Option(None, "--commissioner", help="e.g. UWV or the employer"),
        start: Optional[str] = typer.Option(None, "--start", help="trajectory start, YYYY-MM-DD (default today)"),
        json_out: bool = JsonOpt):
    """Open a dossier for a client."""
    from stdnum.nl import bsn as bsn_rules

    from archive import audit
    from archive.catalog import User

    with command(json_out):
        start_date = parse_date(start, "start date") or dt.date.today()
        if start_date > dt.date.today() + dt.timedelta(days=366):
            raise BadInput("the start date is more than a year ahead; check the date")
        clean_bsn = None
        if bsn is not None:
            if not bsn_rules.is_valid(bsn):
                # Never echo the number: it is personal data even when mistyped.
                raise BadInput("the BSN is not valid (9 digits passing the elfproef); check the number")
            clean_bsn = bsn_rules.compact(bsn)
        if client_name is not None and not client_name.strip():
            raise BadInput("the client name is empty; leave --client-name out or give the name")
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            actor, role = ctx.require(session, "dossier.create", describe="open dossiers")
            c = session.get(User, coach)
            if c is None or c.role != "coach":
                raise BadInput(f"{coach} is not a coach; add them with `dossier user add {coach} --role coach` first")
            number = ctx.vault.allocate_number(session, dt.date.today().year)
            ctx.vault.create_dossier(session, number=number, coach=coach, commissioner=commissioner, start=start_date,
                                     client_name=client_name.strip() if client_name else None, bsn=clean_bsn, by=actor)
            audit.record(session, actor=actor, role=role, action="dossier.create", dossier=number)
            session.commit()
        emit(json_out, {"dossier": number}, f"Opened dossier {number} for coach {coach}.")


@app.command()
def cover(dossier: str, doc_type: str = typer.Option(..., "--type", help="document type"),
          output: Path = typer.Option(..., "-o", "--output", help="PDF file to write"), json_out: bool = JsonOpt):
    """Make a printable cover sheet for a dossier and document type."""
    from archive import audit
    from classify.coversheet import make_payload, render_cover_pdf

    with command(json_out):
        check_dossier_number(dossier)
        check_doc_type(doc_type)
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            actor, role = ctx.require(session, "cover.create", describe="make cover sheets")
            d = load_dossier(session, dossier)
            if d.status == "destroyed":
                raise CliError(f"dossier {dossier} was destroyed; no cover sheets can be made for it", 4)
            sheet = ctx.vault.issue_cover(session, dossier, doc_type, by=actor)
            payload = make_payload(ctx.vault.cover_key(), dossier, doc_type, sheet.serial)
            write_file_atomically(output, lambda tmp: render_cover_pdf(tmp, payload))
            audit.record(session, actor=actor, role=role, action="cover.create", dossier=dossier,
                         detail=f"serial {sheet.serial} {doc_type}")
            session.commit()
        emit(json_out, {"path": str(output), "dossier": dossier, "type": doc_type, "serial": sheet.serial},
             f"Cover sheet {sheet.serial} for {dossier} ({doc_type}) written to {output}. Print it and put it on top.")


# ---- scanning -----------------------------------------------------------------------------------

@app.command()
def scan(files: list[Path] = typer.Argument(..., help="scanned files (PDF, TIFF, PNG, JPEG)"), json_out: bool = JsonOpt):
    """Run the scan flow on files now. The files themselves are left in place."""
    from .scanning import scan_files

    with command(json_out):
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise BadInput(f"not a file: {missing[0]}; check the path (nothing was scanned)")
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            actor, role = ctx.require(session, "scan", describe="scan documents")
        results = scan_files(ctx, files, actor, progress=not json_out)
        emit(json_out, {"results": results}, "\n".join(_describe_result(r) for r in results))


def _describe_result(r: dict) -> str:
    docs = ", ".join(f"{d['dossier']} {d['type']} ({d['pages']} p.)" for d in r["documents"])
    if r["status"] == "archived":
        return f"archived    {r['source']}: {docs}"
    if r["status"] == "duplicate":
        return f"duplicate   {r['source']}: {r['reason']}"
    filed = f" Filed: {docs}." if docs else ""
    return f"quarantined {r['source']}: {r['reason']}.{filed} See `dossier quarantine list`."


@app.command("run-inbox")
def run_inbox(json_out: bool = JsonOpt):
    """Process every file waiting in the inbox once; filed files are removed from the inbox."""
    from .scanning import process_inbox

    with command(json_out):
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            actor, _ = ctx.require(session, "scan", describe="scan documents")
        results = process_inbox(ctx, actor, progress=not json_out)
        emit(json_out, {"results": results},
             "\n".join(_describe_result(r) for r in results) or f"The inbox {ctx.settings.inbox_dir} is empty.")


# ---- retrieval ----------------------------------------------------------------------------------

@app.command()
def docs(dossier: str, json_out: bool = JsonOpt):
    """List a dossier's documents."""
    from sqlalchemy import select

    from archive import audit
    from archive.catalog import Document

    with command(json_out):
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            d = load_dossier(session, dossier)
            actor, role = ctx.require(session, "documents.list", d, describe="list documents")
            if d.status == "destroyed":
                audit.record(session, actor=actor, role=role, action="documents.list", outcome="refused",
                             dossier=d.number, detail="destroyed")
                session.commit()
                when = f" on {d.destroyed_at:%Y-%m-%d}" if d.destroyed_at else ""
                raise CliError(f"dossier {d.number} was destroyed{when}; its documents no longer exist", 4)
            rows = session.execute(select(Document).where(Document.dossier == d.number, Document.destroyed_at.is_(None))
                                   .order_by(Document.scanned_at, Document.id)).scalars().all()
            audit.record(session, actor=actor, role=role, action="documents.list", dossier=d.number,
                         detail=f"{len(rows)} documents")
            session.commit()
        out = [{"id": r.id, "type": r.doc_type, "pages": r.pages, "scanned_at": r.scanned_at.isoformat(),
                "low_text_pages": r.low_text_pages} for r in rows]
        human = "\n".join(f"{r['id']}  {r['type']:<26} {r['pages']:>3} p.  {r['scanned_at'][:16]}"
                          + ("  (handwriting?)" if r["low_text_pages"] else "") for r in out)
        emit(json_out, {"dossier": d.number, "documents": out}, human or f"Dossier {d.number} has no documents yet.")


@app.command()
def get(document: str, output: Path = typer.Option(..., "-o", "--output", help="PDF file to write"),
        json_out: bool = JsonOpt):
    """Write a decrypted copy of a document."""
    from archive import audit
    from archive.catalog import Document, Dossier
    from archive.vault import IntegrityFailure, NotFound

    with command(json_out):
        if not re.fullmatch(r"[0-9a-f]{32}", document):
            raise BadInput(f"'{document}' is not a document id; copy it from `dossier docs`")
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            doc = session.get(Document, document)
            if doc is None:
                ctx.actor(session)
                raise CliError(f"document {document} does not exist", 4)
            d = session.get(Dossier, doc.dossier)
            actor, role = ctx.require(session, "documents.read", d, describe="read documents")
            try:
                with ctx.vault.open_document(session, doc) as decrypted:
                    pages = len(decrypted.pages)
                    write_file_atomically(output, lambda tmp: decrypted.save(tmp))
            except IntegrityFailure:
                audit.record_now(ctx.vault.sessions, actor=actor, role=role, action="document.read",
                                 outcome="failed", dossier=d.number, document=doc.id, detail="integrity check failed")
                raise
            except NotFound:
                audit.record_now(ctx.vault.sessions, actor=actor, role=role, action="document.read",
                                 outcome="refused", dossier=d.number, document=doc.id, detail="destroyed")
                raise
            audit.record(session, actor=actor, role=role, action="document.read", dossier=d.number, document=doc.id)
            session.commit()
        emit(json_out, {"path": str(output), "pages": pages}, f"Wrote {pages} pages to {output}.")


@app.command()
def search(text: str, dossier: Optional[str] = typer.Option(None, "--dossier"), json_out: bool = JsonOpt):
    """Find pages containing every word of TEXT, in the dossiers you may see."""
    from sqlalchemy import select

    from archive import audit
    from archive.catalog import Dossier

    with command(json_out):
        if not text.strip():
            raise BadInput("the search text is empty")
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            if dossier is not None:
                d = load_dossier(session, dossier)
                actor, role = ctx.require(session, "documents.search", d, describe="search")
                numbers = [d.number]
            else:
                actor, role = ctx.require(session, "documents.search", describe="search documents")
                q = select(Dossier.number).where(Dossier.status != "destroyed")
                if role == "coach":
                    q = q.where(Dossier.coach == actor)
                numbers = list(session.execute(q.order_by(Dossier.number)).scalars())
            hits = ctx.vault.search(session, numbers, text)
            # The query itself is not logged: it may be a client's name.
            audit.record(session, actor=actor, role=role, action="documents.search", dossier=dossier,
                         detail=f"{len(hits)} hits in {len(numbers)} dossiers")
            session.commit()
        human = "\n".join(f"{h['dossier']}  {h['document']}  p.{h['page']}: {h['snippet']}" for h in hits)
        emit(json_out, {"hits": hits}, human or "No pages found.")


# ---- quarantine ---------------------------------------------------------------------------------

@quarantine_app.command("list")
def quarantine_list(json_out: bool = JsonOpt):
    """What is waiting to be filed by hand, with the reason."""
    from sqlalchemy import select

    from archive import audit
    from archive.catalog import QuarantineItem

    with command(json_out):
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            actor, role = ctx.require(session, "quarantine.work", describe="work the quarantine")
            rows = session.execute(select(QuarantineItem).where(QuarantineItem.status == "open")
                                   .order_by(QuarantineItem.received_at, QuarantineItem.id)).scalars().all()
            items = [{"id": r.id, "reason": r.reason, "code": r.reason_code, "source": ctx.vault.quarantine_source(r)[1],
                      "pages": r.pages, "received_at": r.received_at.isoformat()} for r in rows]
            audit.record(session, actor=actor, role=role, action="quarantine.list", detail=f"{len(items)} items")
            session.commit()
        human = "\n".join(f"{i['id']}  {i['received_at'][:16]}  {i['source']}\n    {i['reason']}" for i in items)
        emit(json_out, {"items": items}, human or "The quarantine is empty.")


def _open_item(session, item_id: str):
    from archive.catalog import QuarantineItem

    item = session.get(QuarantineItem, item_id)
    if item is None or item.status != "open":
        raise CliError(f"quarantine item {item_id} is not waiting; see `dossier quarantine list`", 4)
    return item


@quarantine_app.command("get")
def quarantine_get(item_id: str, output: Path = typer.Option(..., "-o", "--output"), json_out: bool = JsonOpt):
    """Write a decrypted copy of a quarantined scan, to see what it is."""
    from archive import audit

    with command(json_out):
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            actor, role = ctx.require(session, "quarantine.work", describe="work the quarantine")
            item = _open_item(session, item_id)
            data = ctx.vault.quarantine_bytes(item)
            write_file_atomically(output, lambda tmp: tmp.write_bytes(data))
            audit.record(session, actor=actor, role=role, action="quarantine.read", detail=f"item {item.id}")
            session.commit()
        emit(json_out, {"path": str(output), "id": item_id}, f"Wrote quarantine item {item_id} to {output}.")


@quarantine_app.command("assign")
def quarantine_assign(item_id: str, dossier: str = typer.Option(..., "--dossier"),
                      doc_type: str = typer.Option(..., "--type"), json_out: bool = JsonOpt):
    """File a quarantined scan into a dossier as one document of the given type."""
    from .scanning import assign_item

    with command(json_out):
        check_dossier_number(dossier)
        check_doc_type(doc_type)
        ctx = Context.ready()
        result = assign_item(ctx, item_id, dossier, doc_type)
        emit(json_out, result, f"Filed {item_id} into {dossier} as {doc_type}: document {result['documents'][0]['id']} "
                               f"({result['documents'][0]['pages']} pages).")


@quarantine_app.command("discard")
def quarantine_discard(item_id: str, json_out: bool = JsonOpt):
    """Destroy a quarantined scan (for example after scanning the paper again)."""
    from archive import audit
    from archive.catalog import utcnow

    with command(json_out):
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            actor, role = ctx.require(session, "quarantine.work", describe="work the quarantine")
            item = _open_item(session, item_id)
            item.status, item.resolved_at, item.resolved_by = "discarded", utcnow(), actor
            audit.record(session, actor=actor, role=role, action="quarantine.discard", detail=f"item {item.id}")
            session.commit()
            ctx.vault.quarantine_store().delete(item.blob_name)
        emit(json_out, {"id": item_id, "status": "discarded"}, f"Discarded {item_id}.")


# ---- audit --------------------------------------------------------------------------------------

@audit_app.command("verify")
def audit_verify(json_out: bool = JsonOpt):
    """Check that no audit event was altered, removed or reordered."""
    from archive import audit

    with command(json_out):
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            ctx.require(session, "audit.verify", describe="verify the audit log")
            report = audit.verify(session)
        data = {"ok": report.ok, "events": report.events, "first_bad": report.first_bad, "problem": report.problem}
        if not report.ok:
            if json_out:
                print(json.dumps(data))
            print(f"error: the audit log was tampered with: {report.problem}; tell the privacy officer", file=sys.stderr)
            raise typer.Exit(5)
        emit(json_out, data, f"Audit log intact: {report.events} events.")


# ---- unattended running ------------------------------------------------------------------------

@app.command()
def watch():
    """Watch the inbox and run the schedules until stopped (Ctrl-C or SIGTERM)."""
    from .watch import WatchError, run_watch

    with command(False):
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            actor, _ = ctx.require(session, "scan", describe="run the scan watcher")
        try:
            run_watch(ctx.settings, actor, log=lambda line: print(line, flush=True))
        except WatchError as e:
            raise CliError(str(e), 1) from None


@app.command()
def status(json_out: bool = JsonOpt):
    """What the office needs to know: inbox, work in progress, quarantine, last archived, health."""
    from .scanning import system_status

    with command(json_out):
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            ctx.actor(session)
        st = system_status(ctx)
        w, srv = st["watcher"], st["server"]
        human = "\n".join([
            f"Inbox:        {st['inbox']} waiting",
            f"In progress:  {st['in_progress']}",
            f"Quarantine:   {st['quarantined']} to look at" + (" (see `dossier quarantine list`)" if st["quarantined"] else ""),
            f"Last filed:   {st['last_archived'] or 'nothing yet'}",
            f"Watcher:      " + (f"running (pid {w['pid']}, {w['mode']})" if w["running"] else "not running: start it with `dossier watch`"),
            f"Prefect:      " + (f"{srv['url']} ({'healthy' if srv['healthy'] else 'not answering'})" if srv["url"] else "-"),
        ])
        emit(json_out, st, human)


# Command groups kept in their own modules register themselves on `app` when imported.
from . import cli_records  # noqa: E402,F401


def main() -> None:
    os.umask(0o077)  # catalog, keys, archive and work files are for this account only
    app()


if __name__ == "__main__":
    main()
