"""Clients' rights, consent, disclosure and breaches (DESIGN.md §10), registered on the main app:

dossier request open|extend|list|show|export|close        privacy officer
dossier correct D --client-name N | --bsn B | --note-on DOC --text T    privacy officer
dossier consent add|withdraw|list                          privacy officer, the dossier's own coach
dossier disclose DOC --to R --purpose P -o FILE            privacy officer, the dossier's own coach
dossier disclosures D                                      privacy officer, the dossier's own coach
dossier breach open|affect|notified|informed|list|show     privacy officer

Date-times (breaches) are ISO 8601 with an offset, or local time (DOSSIER_LOCAL_TIMEZONE).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from .cli import JsonOpt, app, command, context, emit, parse_date, plural, when

_SETTINGS = {"help_option_names": ["-h", "--help"]}
request_app = typer.Typer(
    no_args_is_help=True, context_settings=_SETTINGS, help="Clients' requests to see, correct or erase their data."
)
consent_app = typer.Typer(
    no_args_is_help=True, context_settings=_SETTINGS, help="The client's consent to give documents to third parties."
)
breach_app = typer.Typer(no_args_is_help=True, context_settings=_SETTINGS, help="The data-breach register.")
app.add_typer(request_app, name="request")
app.add_typer(consent_app, name="consent")
app.add_typer(breach_app, name="breach")


def _moment(ctx, value: str | None, what: str):
    from services import validate

    return validate.moment(value, what, ctx.app.local_zone())


# ---- requests -----------------------------------------------------------------------------------


def _request_line(r: dict) -> str:
    flags = " OVERDUE" if r["overdue"] else ""
    flags += " (extended)" if r.get("extended") else ""
    head = f"{r['request']}  {r['dossier']}  {r['kind']:<13}"
    return f"{head} received {r['received']}  due {r['due']}  {r['status']}{flags}"


@request_app.command("open")
def request_open(
    dossier: str,
    kind: str = typer.Option(..., "--kind", help="access, rectification or erasure"),
    received: str = typer.Option(..., "--received", help="the day it came in, YYYY-MM-DD"),
    via: str | None = typer.Option(None, "--via", help="phone, letter or email"),
    json_out: bool = JsonOpt,
):
    """Register a client's request; it is due one calendar month after receipt (art. 12(3))."""
    from services import rights

    with command(json_out):
        out = rights.open_request(context(), dossier, kind=kind, received=parse_date(received, "--received"), via=via)
        emit(json_out, out, f"Registered {out['kind']} request {out['request']} on {out['dossier']}; due {out['due']}.")


@request_app.command("extend")
def request_extend(
    request: str,
    reason: str = typer.Option(..., "--reason", help="why more time is needed (kept on record: no names or BSN)"),
    json_out: bool = JsonOpt,
):
    """Move the due date two months further (once); tell the client within the first month."""
    from services import rights

    with command(json_out):
        out = rights.extend_request(context(), request, reason)
        human = f"Request {out['request']} is now due {out['due']} (was {out['previous_due']})."
        if out.get("warning"):
            human += f"\nWarning: {out['warning']}."
            print(f"warning: {out['warning']}", file=sys.stderr)
        emit(json_out, out, human)


@request_app.command("list")
def request_list(
    open_only: bool = typer.Option(False, "--open", help="only requests still open"),
    today: str | None = typer.Option(None, "--today", help="as if it were this date, YYYY-MM-DD"),
    json_out: bool = JsonOpt,
):
    """Requests with their deadlines, the soonest first; overdue from the day after the due date."""
    from services import rights

    with command(json_out):
        out = rights.list_requests(context(), open_only=open_only, day=parse_date(today, "--today"))
        emit(json_out, out, "\n".join(_request_line(r) for r in out["requests"]) or "No requests.")


@request_app.command("show")
def request_show(request: str, json_out: bool = JsonOpt):
    """One request and what was done under it."""
    from services import rights

    with command(json_out):
        r = rights.show_request(context(), request)
        lines = [
            _request_line(r),
            f"  coach {r['coach']}; opened by {r['opened_by']}" + (f", via {r['via']}" if r["via"] else ""),
        ]
        if r["extension_reason"]:
            lines.append(f"  extended: {r['extension_reason']}")
        lines += [f"  corrected {c['field']} {when(c['at'])} by {c['by']}" for c in r["corrections"]]
        if r["exported_at"]:
            lines.append(f"  exported {when(r['exported_at'])}")
        if r["closed_at"]:
            lines.append(
                f"  closed {when(r['closed_at'])} by {r['closed_by']}" + (f": {r['note']}" if r["note"] else "")
            )
        emit(json_out, r, "\n".join(lines))


@request_app.command("export")
def request_export(
    request: str,
    output: Path = typer.Option(..., "-o", "--output", help="the ZIP file to write (or a folder)"),
    force: bool = typer.Option(False, "--force", help="replace an existing file"),
    json_out: bool = JsonOpt,
):
    """Everything held on the client (access request): manifest.json, the PDFs, an overview in Dutch."""
    from services import rights
    from services.access_export import export_access

    from . import output as out_

    with command(json_out):
        rid = rights.request_id(request)
        target = out_.choose(output, f"inzage-{rid}.zip", force=force, json_out=json_out)
        export = export_access(context(), rid)
        out_.write(target, export.data)
        if target.path is None:
            return
        emit(
            json_out,
            {"path": str(target), "documents": export.documents, "request": export.request, "sha256": export.sha256},
            f"Wrote the access export of {export.dossier} ({plural(export.documents, 'document')}) to {target}.\n"
            f"SHA-256 {export.sha256} (recorded). Hand it to the client securely.",
        )


@request_app.command("close")
def request_close(
    request: str,
    outcome: str = typer.Option(..., "--outcome", help="done or refused"),
    note: str | None = typer.Option(None, "--note", help="kept on record: no names or BSN (required when refused)"),
    yes: bool = typer.Option(False, "--yes", help="do not ask to confirm an erasure (scripts)"),
    json_out: bool = JsonOpt,
):
    """Close a request. An erasure request closed as done erases the dossier (a legal hold blocks it)."""
    from services import dossiers, rights

    from .cli_records import confirm

    with command(json_out):
        ctx = context()
        if outcome.strip().lower() == "done" and not (yes or json_out or not sys.stdin.isatty()):
            r = rights.show_request(ctx, request)
            if r["kind"] == "erasure" and r["dossier_status"] != "destroyed" and r["status"] == "open":
                plan = dossiers.erasure_plan(ctx, r["dossier"], f"erasure request {r['request']}")
                confirm(
                    f"This erases dossier {plan['dossier']} and its {plan['documents']} documents for good. Type the "
                    "dossier number to confirm",
                    plan["dossier"],
                    yes=yes,
                    json_out=json_out,
                )
        out = rights.close_request(ctx, request, outcome=outcome, note=note)
        human = f"Closed {out['kind']} request {out['request']} as {out['status']}."
        if out["erased"]:
            human += f" Dossier {out['dossier']} was erased (destruction record {out['destruction_record']})."
        emit(json_out, out, human)


# ---- rectification ------------------------------------------------------------------------------


@app.command()
def correct(
    dossier: str,
    client_name: str | None = typer.Option(None, "--client-name", help="the corrected name"),
    bsn: str | None = typer.Option(None, "--bsn", help="the corrected BSN (elfproef)"),
    note_on: str | None = typer.Option(None, "--note-on", help="document id (or its first 6+ characters)"),
    text: str | None = typer.Option(None, "--text", help="the correction note for that document"),
    request: str | None = typer.Option(None, "--request", help="the rectification request this answers"),
    json_out: bool = JsonOpt,
):
    """Rectification: replace the client's name or BSN (the old value is kept sealed), or attach a
    correction note to a document. Lists who received the data before (they must be told)."""
    from services import rights

    with command(json_out):
        out = rights.correct(
            context(), dossier, client_name=client_name, bsn=bsn, note_on=note_on, text=text, request=request
        )
        what = {"client_name": "the client's name", "bsn": "the BSN", "note": "a correction note"}[out["corrected"]]
        human = (
            f"Corrected {what} of {out['dossier']}"
            + (f" on document {out['document']}" if out.get("document") else "")
            + "."
        )
        if out["notify"]:
            human += "\nTell these recipients of earlier disclosures (art. 19):" + "".join(
                f"\n  {n['recipient']} ({n['type']}, {when(n['at'])}, {n['disclosure']})" for n in out["notify"]
            )
        emit(json_out, out, human)


# ---- consent and disclosure ---------------------------------------------------------------------


def _consent_line(c: dict) -> str:
    types = ", ".join(c["types"]) if c["types"] else "all types"
    period = f"{c['given']} – {c['until'] or 'open-ended'}" + (
        f", withdrawn {c['withdrawn']}" if c["withdrawn"] else ""
    )
    state = "ACTIVE" if c["active"] else c["state"]
    return f"{c['consent']}  {state:<9} {c['purpose']} to {c['recipient']} ({types}); {period}"


@consent_app.command("add")
def consent_add(
    dossier: str,
    purpose: str = typer.Option(..., "--purpose", help="a code such as cv-to-employer"),
    recipient: str = typer.Option(..., "--recipient", help="who may receive the documents (kept on record)"),
    given: str = typer.Option(..., "--given", help="the day the client signed, YYYY-MM-DD"),
    until: str | None = typer.Option(None, "--until", help="last day it is valid, YYYY-MM-DD"),
    types: str | None = typer.Option(None, "--types", help="document types it covers, comma-separated (default: all)"),
    document: str | None = typer.Option(None, "--document", help="the scanned, signed toestemmingsformulier"),
    json_out: bool = JsonOpt,
):
    """Record the client's consent. Example: dossier consent add D-2026-0001 --purpose cv-to-employer
    --recipient "Bakkerij De Vries" --given 2026-03-01 --types cv"""
    from services import consent, validate

    with command(json_out):
        kinds = validate.doc_types(types) if types is not None else None
        out = consent.add_consent(
            context(),
            dossier,
            purpose=purpose,
            recipient=recipient,
            given=parse_date(given, "--given"),
            until=parse_date(until, "--until"),
            types=kinds,
            document=document,
        )
        emit(json_out, out, f"Recorded consent {_consent_line(out)}")


@consent_app.command("withdraw")
def consent_withdraw(
    consent_id: str = typer.Argument(..., metavar="CONSENT"),
    on: str = typer.Option(..., "--on", help="inactive from this day on, YYYY-MM-DD"),
    json_out: bool = JsonOpt,
):
    """Record that the client withdrew a consent (a new fact: the consent itself is kept)."""
    from services import consent

    with command(json_out):
        out = consent.withdraw_consent(context(), consent_id, parse_date(on, "--on"))
        emit(json_out, out, f"Consent {out['consent']} is withdrawn as of {out['withdrawn']}.")


@consent_app.command("list")
def consent_list(dossier: str, json_out: bool = JsonOpt):
    """A dossier's consents and whether each is active today."""
    from services import consent

    with command(json_out):
        out = consent.list_consents(context(), dossier)
        emit(
            json_out, out, "\n".join(_consent_line(c) for c in out["consents"]) or f"No consents for {out['dossier']}."
        )


@app.command()
def disclose(
    document: str = typer.Argument(..., help="document id, or its first 6 or more characters"),
    to: str = typer.Option(..., "--to", help="the recipient, as named in the client's consent"),
    purpose: str = typer.Option(..., "--purpose", help="the purpose code of the consent, e.g. cv-to-employer"),
    output: Path = typer.Option(..., "-o", "--output", help="PDF file or folder to write the copy to"),
    force: bool = typer.Option(False, "--force", help="replace an existing file"),
    json_out: bool = JsonOpt,
):
    """A watermarked copy for a third party, only under the client's active consent (recorded)."""
    from services import consent, validate

    from . import output as out_

    with command(json_out):
        ident = validate.document_id(document)
        folder = output.expanduser() if str(output) != "-" and output.expanduser().is_dir() else None
        target = None if folder else out_.choose(output, "", force=force, json_out=json_out)
        sent = consent.disclose(context(), ident, to=to, purpose=purpose)
        if folder:
            target = out_.choose(folder, f"{sent.disclosure}.pdf", force=force)
        out_.write(target, sent.pdf)
        if target.path is None:
            return
        emit(
            json_out,
            {
                "disclosure": sent.disclosure,
                "path": str(target),
                "document": sent.document,
                "dossier": sent.dossier,
                "recipient": sent.recipient,
                "purpose": sent.purpose,
                "consent": sent.consent,
                "pages": sent.pages,
                "sha256": sent.sha256,
            },
            f"Wrote {plural(sent.pages, 'page')} for {sent.recipient} to {target} (disclosure {sent.disclosure}, "
            f"under consent {sent.consent}).",
        )


@app.command()
def disclosures(dossier: str, json_out: bool = JsonOpt):
    """What went to whom, when, under which consent."""
    from services import consent

    with command(json_out):
        out = consent.list_disclosures(context(), dossier)
        human = "\n".join(
            f"{x['disclosure']}  {when(x['at'])}  {x['type']:<24} to {x['recipient']} for {x['purpose']} "
            f"(consent {x['consent']}, by {x['by']})"
            for x in out["disclosures"]
        )
        emit(json_out, out, human or f"Nothing of {out['dossier']} was given to third parties.")


# ---- breaches -----------------------------------------------------------------------------------


def _breach_line(b: dict) -> str:
    if b["notified"]:
        state = f"authority told {when(b['notified'])}" + (" (LATE)" if b["late"] else "")
    else:
        state = f"tell the authority by {when(b['notify_by'])}" + (" — OVERDUE" if b["overdue"] else "")
    return f"{b['breach']}  discovered {when(b['discovered'])}  {state}"


@breach_app.command("open")
def breach_open(
    discovered: str = typer.Option(..., "--discovered", help="when it was found: 2026-03-27 22:15 (local) or ISO 8601"),
    summary: str = typer.Option(..., "--summary", help="what happened (kept on record: no names, BSN or contacts)"),
    json_out: bool = JsonOpt,
):
    """Start the breach procedure: the authority must be told within 72 hours of the discovery."""
    from services import breach

    with command(json_out):
        ctx = context()
        out = breach.open_breach(ctx, discovered=_moment(ctx, discovered, "--discovered"), summary=summary)
        emit(
            json_out,
            out,
            f"Opened breach {out['breach']}: tell the Autoriteit Persoonsgegevens by {when(out['notify_by'])}"
            + (" — that is already past" if out["overdue"] else "")
            + f". Add the dossiers it touched with `dossier breach affect {out['breach']} --dossier D`.",
        )


@breach_app.command("affect")
def breach_affect(
    breach_id: str = typer.Argument(..., metavar="BREACH"),
    dossier: list[str] = typer.Option(..., "--dossier", help="an affected dossier (repeat for more)"),
    json_out: bool = JsonOpt,
):
    """Record the dossiers a breach touched."""
    from services import breach

    with command(json_out):
        out = breach.affect(context(), breach_id, dossier)
        emit(
            json_out,
            out,
            f"Breach {out['breach']} touches {plural(len(out['dossiers']), 'dossier')}: {', '.join(out['dossiers'])}.",
        )


@breach_app.command("notified")
def breach_notified(
    breach_id: str = typer.Argument(..., metavar="BREACH"),
    authority_on: str = typer.Option(..., "--authority-on", help="when the authority was told (local or ISO 8601)"),
    reference: str | None = typer.Option(None, "--reference", help="the authority's reference"),
    delay_reason: str | None = typer.Option(None, "--delay-reason", help="why later than 72 hours (required then)"),
    json_out: bool = JsonOpt,
):
    """Record that the authority was told of the breach."""
    from services import breach

    with command(json_out):
        ctx = context()
        out = breach.notified(
            ctx,
            breach_id,
            authority_on=_moment(ctx, authority_on, "--authority-on"),
            reference=reference,
            delay_reason=delay_reason,
        )
        emit(json_out, out, _breach_line(out))


@breach_app.command("informed")
def breach_informed(
    breach_id: str = typer.Argument(..., metavar="BREACH"),
    dossier: list[str] = typer.Option(..., "--dossier", help="a dossier whose client was told (repeat for more)"),
    on: str = typer.Option(..., "--on", help="the day, YYYY-MM-DD"),
    how: str = typer.Option(..., "--how", help="letter, email, phone or in-person"),
    json_out: bool = JsonOpt,
):
    """Record that clients were told of the breach (art. 34), when and how."""
    from services import breach

    with command(json_out):
        out = breach.informed(context(), breach_id, dossier, on=parse_date(on, "--on"), how=how)
        emit(
            json_out,
            out,
            f"Recorded for breach {out['breach']}: told by {out['how']} on {out['on']}: {', '.join(out['informed'])}.",
        )


@breach_app.command("list")
def breach_list(json_out: bool = JsonOpt):
    """The breach register with its deadlines."""
    from services import breach

    with command(json_out):
        out = breach.list_breaches(context())
        human = "\n".join(
            f"{_breach_line(b)}  {plural(b['dossiers'], 'dossier')}, {b['informed']} clients told"
            for b in out["breaches"]
        )
        emit(json_out, out, human or "No breaches registered.")


@breach_app.command("show")
def breach_show(breach_id: str = typer.Argument(..., metavar="BREACH"), json_out: bool = JsonOpt):
    """One breach with the affected clients' names and coaches, for the letters (recorded)."""
    from services import breach

    with command(json_out):
        b = breach.show_breach(context(), breach_id)
        lines = [_breach_line(b), f"  {b['summary']}"]
        if b["reference"]:
            lines.append(f"  authority's reference: {b['reference']}")
        lines += [
            f"  {a['dossier']}  {a['client_name'] or '(destroyed)'}  coach {a['coach']}  "
            + (f"told {a['informed_on']} by {a['informed_how']}" if a["informed_on"] else "NOT TOLD YET")
            for a in b["affected"]
        ]
        emit(json_out, b, "\n".join(lines))
