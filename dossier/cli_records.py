"""Records management commands (paper dossiers, lifecycle, retention): registered on the main app.

dossier paper register|move|checkout|checkin|show|list|destroyed    office staff, privacy officer
dossier close D --end DATE                                          office staff, privacy officer
dossier hold D --reason R / release D / erase D --reason R          privacy officer
dossier retention due | log                                         office staff, privacy officer
dossier retention run                                               privacy officer by hand; nightly: system:retention
"""

from __future__ import annotations

import json
import sys

import typer

from .cli import JsonOpt, app, command, context, emit, parse_date

paper_app = typer.Typer(
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Keep track of the paper dossiers in the locked cabinets.",
)
retention_app = typer.Typer(
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="What is due for destruction; destroy it; the destruction log.",
)
app.add_typer(paper_app, name="paper")
app.add_typer(retention_app, name="retention")


def where(loc: dict | None) -> str:
    if not loc:
        return "no paper file registered"
    return f"room {loc['room']}, cabinet {loc['cabinet']}" + (f", shelf {loc['shelf']}" if loc.get("shelf") else "")


def _human_show(s: dict) -> str:
    lines = [f"Paper file of {s['dossier']}: {s['status'].replace('-', ' ')}"]
    lines.append(f"  place:        {where(s['location'])}")
    if s["status"] == "checked-out":
        lines.append(f"  with:         {s['holder']}, due back {s['due']}")
    lines.append(f"  destroy on:   {s['destroy_on'] or 'not set (the dossier is still open)'}")
    if s.get("hold"):
        lines.append(f"  legal hold:   since {s['hold']['since'][:10]} (no destruction)")
    if s.get("destruction"):
        r = s["destruction"]
        proof = f"witness {r['paper']['witness']}" if r["paper"]["witness"] else ""
        if r["paper"]["certificate"]:
            proof += (", " if proof else "") + f"certificate {r['paper']['certificate']}"
        lines.append(
            f"  destroyed:    {r['performed_on']} by {r['paper']['by']} ({proof}; {r['paper']['method']}), "
            f"record {r['id']}"
        )
    lines.append("  history:")
    for h in s["history"]:
        what = {
            "register": f"registered in {where(h['location'])}",
            "move": f"moved to {where(h['location'])}",
            "checkout": f"checked out to {h['holder']}, due back {h['due']}",
            "checkin": f"checked in to {where(h['location'])}",
            "destroy": "destroyed",
        }.get(h["action"], h["action"])
        lines.append(f"    {h['at'][:16].replace('T', ' ')}  {h['by']:<12} {what}")
    return "\n".join(lines)


# ---- paper --------------------------------------------------------------------------------------


@paper_app.command("register")
def paper_register(
    dossier: str,
    room: str = typer.Option(..., "--room", help="the (locked) room"),
    cabinet: str = typer.Option(..., "--cabinet", help="the (locked) cabinet"),
    shelf: str | None = typer.Option(None, "--shelf"),
    json_out: bool = JsonOpt,
):
    """Record where a dossier's paper file is kept."""
    from services import paper

    with command(json_out):
        shown = paper.register(context(), dossier, room=room, cabinet=cabinet, shelf=shelf)
        extra = (
            "\nThe dossier was already destroyed: this paper file is on the destruction worklist."
            if shown["dossier_status"] == "destroyed"
            else ""
        )
        emit(json_out, shown, f"Registered the paper file of {shown['dossier']} in {where(shown['location'])}.{extra}")


@paper_app.command("move")
def paper_move(
    dossier: str,
    room: str | None = typer.Option(None, "--room"),
    cabinet: str | None = typer.Option(None, "--cabinet"),
    shelf: str | None = typer.Option(
        None, "--shelf", help="cleared when the room or cabinet changes without a new shelf"
    ),
    json_out: bool = JsonOpt,
):
    """Move a paper file to another room, cabinet or shelf."""
    from services import paper

    with command(json_out):
        shown = paper.move(context(), dossier, room=room, cabinet=cabinet, shelf=shelf)
        emit(json_out, shown, f"The paper file of {shown['dossier']} is now in {where(shown['location'])}.")


@paper_app.command("checkout")
def paper_checkout(
    dossier: str,
    to: str = typer.Option(..., "--to", help="who takes it (a user of the archive)"),
    due: str | None = typer.Option(None, "--due", help="back by, YYYY-MM-DD (default: in 14 days)"),
    json_out: bool = JsonOpt,
):
    """Hand a paper file to a person, with the date it must be back."""
    from services import paper

    with command(json_out):
        shown = paper.checkout(context(), dossier, to=to, due=parse_date(due, "due date"))
        note = ""
        if shown["destroy_on"] and shown["destroy_on"] <= shown["due"]:
            note = (
                f"\nNote: {shown['dossier']} is due for destruction on {shown['destroy_on']}; make sure it is back "
                "by then."
            )
        emit(
            json_out,
            shown,
            f"The paper file of {shown['dossier']} is checked out to {shown['holder']}, due back {shown['due']}.{note}",
        )


@paper_app.command("checkin")
def paper_checkin(
    dossier: str,
    room: str | None = typer.Option(None, "--room", help="default: where it was"),
    cabinet: str | None = typer.Option(None, "--cabinet"),
    shelf: str | None = typer.Option(None, "--shelf"),
    json_out: bool = JsonOpt,
):
    """Take a paper file back into its cabinet (or a new place)."""
    from services import paper

    with command(json_out):
        shown = paper.checkin(context(), dossier, room=room, cabinet=cabinet, shelf=shelf)
        emit(json_out, shown, f"The paper file of {shown['dossier']} is back in {where(shown['location'])}.")


@paper_app.command("show")
def paper_show(dossier: str, json_out: bool = JsonOpt):
    """Where a paper file is, who has it, when it is destroyed, and its history."""
    from services import paper

    with command(json_out):
        shown = paper.show(context(), dossier)
        emit(json_out, shown, _human_show(shown))


@paper_app.command("list")
def paper_list(
    cabinet: str | None = typer.Option(None, "--cabinet"),
    room: str | None = typer.Option(None, "--room"),
    overdue: bool = typer.Option(False, "--overdue", help="only check-outs past their due date"),
    include_destroyed: bool = typer.Option(False, "--all", help="also destroyed paper files"),
    json_out: bool = JsonOpt,
):
    """A printable cabinet inventory (or the overdue check-outs)."""
    from services import paper

    with command(json_out):
        data = paper.inventory(
            context(), room=room, cabinet=cabinet, overdue=overdue, include_destroyed=include_destroyed
        )
        emit(json_out, data, _inventory_text(data))


def _inventory_text(data: dict) -> str:
    files = data["files"]
    title = "Overdue paper files" if data["filter"]["overdue"] else "Cabinet inventory"
    head = f"{title} — {data['today']}, printed by {data['printed_by']}"
    if not files:
        return f"{head}\n\nNo paper files" + (" overdue." if data["filter"]["overdue"] else " registered here.")
    out = [head]
    place = None
    for f in files:
        loc = f["location"]
        if (loc["room"], loc["cabinet"]) != place:
            place = (loc["room"], loc["cabinet"])
            out += [
                "",
                f"Room {loc['room']} · cabinet {loc['cabinet']}",
                f"  {'shelf':<8} {'dossier':<14} {'status':<13} {'with / due back':<26} {'destroy on':<12} present",
                f"  {'-' * 8} {'-' * 14} {'-' * 13} {'-' * 26} {'-' * 12} -------",
            ]
        status = f["status"].replace("-", " ")
        with_ = f"{f['holder']}, {f['due']}" + (" OVERDUE" if f["overdue"] else "") if f["holder"] else ""
        destroy = (f["destroy_on"] or "") + (" DUE" if f["due_for_destruction"] else "")
        box = "[ ]" if f["status"] == "in-cabinet" else " - "
        out.append(f"  {loc['shelf'] or '':<8} {f['dossier']:<14} {status:<13} {with_:<26} {destroy:<12} {box}")
    out += [
        "",
        f"{len(files)} paper files. Tick 'present' for each file found in its place; report missing files "
        "to the privacy officer.",
    ]
    return "\n".join(out)


@paper_app.command("destroyed")
def paper_destroyed(
    dossier: str,
    by: str = typer.Option(..., "--by", help="who destroyed it"),
    witness: str | None = typer.Option(None, "--witness", help="who saw it destroyed"),
    certificate: str | None = typer.Option(None, "--certificate", help="number of the destruction certificate"),
    method: str | None = typer.Option(None, "--method", help="e.g. shredded P-4 (default: shredded)"),
    on: str | None = typer.Option(None, "--date", help="when, YYYY-MM-DD (default today; not ahead)"),
    json_out: bool = JsonOpt,
):
    """Confirm that a paper file was destroyed (with a witness or a certificate)."""
    from services import paper

    with command(json_out):
        shown = paper.confirm_destroyed(
            context(),
            dossier,
            by=by,
            witness=witness,
            certificate=certificate,
            method=method,
            on=parse_date(on, "destruction date"),
        )
        r = shown["record"]
        emit(
            json_out,
            shown,
            f"Recorded: the paper file of {shown['dossier']} was destroyed on {r['performed_on']} by "
            f"{r['performed_by']} (destruction record {r['id']}).",
        )


# ---- lifecycle ----------------------------------------------------------------------------------


@app.command()
def close(
    dossier: str,
    end: str = typer.Option(..., "--end", help="the day the trajectory ended, YYYY-MM-DD"),
    json_out: bool = JsonOpt,
):
    """Close a dossier: set the trajectory end, which fixes its destruction date."""
    from services import dossiers

    from .prefect_server import watcher_server

    with command(json_out):
        ctx = context()
        data = dossiers.close_dossier(ctx, dossier, parse_date(end, "end date"))
        human = (
            f"Closed {data['dossier']}: trajectory ended {data['end']}; it will be destroyed on {data['destroy_on']}."
        )
        if data["due"]:
            human += (
                " That date has passed: it is destroyed in the next nightly retention run (01:30)."
                if watcher_server(ctx.app.run_dir)
                else " That date has passed, and no `dossier watch` is running to destroy it tonight: the privacy "
                "officer can run `dossier retention run`."
            )
        emit(json_out, data, human)


@app.command()
def hold(
    dossier: str,
    reason: str = typer.Option(..., "--reason", help="why (kept on record: no names or BSN)"),
    json_out: bool = JsonOpt,
):
    """Put a legal hold on a dossier: nothing of it is destroyed until it is released."""
    from services import dossiers

    with command(json_out):
        out = dossiers.place_hold(context(), dossier, reason)
        emit(
            json_out,
            out,
            f"{out['dossier']} is on legal hold: nothing of it will be destroyed until "
            f"`dossier release {out['dossier']}`.",
        )


@app.command()
def release(dossier: str, json_out: bool = JsonOpt):
    """Release a dossier's legal hold."""
    from services import dossiers

    with command(json_out):
        out = dossiers.release_hold(context(), dossier)
        emit(json_out, out, f"Released the hold on {out['dossier']}; the retention rules apply again.")


def confirm(prompt: str, expected: str, *, yes: bool, json_out: bool) -> None:
    """On a terminal, an irreversible step is confirmed by typing `expected` (--yes skips it); a
    script (no terminal, or --json) is not asked."""
    from archive.errors import DossierError

    if yes or json_out or not sys.stdin.isatty():
        return
    typed = typer.prompt(prompt, err=True, default="", show_default=False)
    if typed.strip() != expected:
        raise DossierError("not confirmed; nothing was destroyed", "not-confirmed")


@app.command()
def erase(
    dossier: str,
    reason: str = typer.Option(..., "--reason", help="e.g. request of the client (kept on record: no names or BSN)"),
    yes: bool = typer.Option(False, "--yes", help="do not ask to confirm (scripts)"),
    json_out: bool = JsonOpt,
):
    """Destroy a dossier now (right to erasure): its data key is shredded, its files deleted."""
    from services import dossiers

    with command(json_out):
        ctx = context()
        plan = dossiers.erasure_plan(ctx, dossier, reason)
        confirm(
            f"This destroys dossier {plan['dossier']} and its {plan['documents']} documents for good. Type the "
            "dossier number to confirm",
            plan["dossier"],
            yes=yes,
            json_out=json_out,
        )
        data = dossiers.erase_dossier(ctx, dossier, reason)
        human = (
            f"Erased {data['dossier']}: data key {data['key_id']} shredded, {data['documents']} documents destroyed "
            f"(destruction record {data['record']})."
        )
        if data["paper"]:
            human += (
                f"\nIts paper file ({where(data['paper'])}) must be destroyed too; confirm with "
                f"`dossier paper destroyed {data['dossier']} --by NAME --witness NAME`."
            )
        emit(json_out, data, human)


# ---- retention ----------------------------------------------------------------------------------


def _due_line(e: dict) -> str:
    paper = e["paper"]
    paper_text = (
        "no paper file"
        if paper is None
        else (
            f"paper {paper['status'].replace('-', ' ')}"
            + (f" to {paper['holder']}" if paper["holder"] else "")
            + ("" if paper["status"] == "destroyed" else f" in {where(paper)}")
        )
    )
    digital = (
        f"digital {e['digital']} ({e['documents']} documents)" if e["digital"] == "pending" else "digital destroyed"
    )
    held = "  ON HOLD" if e["hold"] else ""
    return f"  {e['dossier']}  {e['destroy_on'] or '':<10}  {digital}; {paper_text}{held}"


@retention_app.command("due")
def retention_due(
    today: str | None = typer.Option(None, "--today", help="as if it were this date, YYYY-MM-DD"),
    json_out: bool = JsonOpt,
):
    """Dossiers due for destruction, those due within 30 days, and overdue paper check-outs."""
    from services import retention

    with command(json_out):
        data = retention.due(context(), parse_date(today, "--today"))
        lines = [f"Due for destruction on {data['today']}:"] + ([_due_line(e) for e in data["due"]] or ["  none"])
        lines += [f"Due within {data.pop('upcoming_days')} days:"] + (
            [_due_line(e) for e in data["upcoming"]] or ["  none"]
        )
        lines += ["Paper files overdue from check-out:"] + (
            [
                f"  {o['dossier']}  with {o['holder']}, due back {o['due']} ({o['days_overdue']} days late)"
                for o in data["overdue_checkouts"]
            ]
            or ["  none"]
        )
        if data.get("requests_due") is not None:
            lines += ["Clients' requests due within 7 days:"] + (
                [
                    f"  {r['request']}  {r['dossier']}  {r['kind']:<13} due {r['due']}"
                    + ("  OVERDUE" if r["overdue"] else "")
                    for r in data["requests_due"]
                ]
                or ["  none"]
            )
        emit(json_out, data, "\n".join(lines))


@retention_app.command("run")
def retention_run_cmd(
    today: str | None = typer.Option(
        None, "--today", help="the run's date, YYYY-MM-DD: today or earlier (catching up)"
    ),
    yes: bool = typer.Option(False, "--yes", help="do not ask to confirm (scripts)"),
    json_out: bool = JsonOpt,
):
    """Destroy every dossier due and not on hold (crypto-shredding); list the paper files to destroy.

    Shows what it will destroy and asks to confirm first (--yes for scripts)."""
    from flows.retention import RetentionIncomplete
    from services import retention

    from .prefect_server import prefect_for

    with command(json_out):
        ctx = context()
        day = parse_date(today, "--today")
        plan = retention.plan(ctx, day)
        if plan["destroy"] and not json_out:
            listing = "\n".join(f"  {x['dossier']} ({x['documents']} documents)" for x in plan["destroy"])
            print(f"Retention run dated {plan['today']} will destroy for good:\n{listing}", file=sys.stderr)
            confirm(
                f"Type the number of dossiers to destroy ({len(plan['destroy'])}) to go ahead",
                str(len(plan["destroy"])),
                yes=yes,
                json_out=json_out,
            )
        with prefect_for(ctx.app):
            try:
                summary, failed = retention.run(ctx, day), False
            except RetentionIncomplete as e:
                summary, failed = e.summary, True
        data = {k: summary[k] for k in ("today", "destroyed", "skipped", "paper_worklist")}
        data.update(files_removed=summary.get("files_removed", 0), note=summary.get("note"))
        lines = [f"Retention run dated {summary['today']}:"]
        lines += [f"  destroyed  {x['dossier']}  ({x['documents']} documents)" for x in summary["destroyed"]] or [
            "  nothing was due"
        ]
        lines += [f"  skipped    {x['dossier']}  {x['reason']}" for x in summary["skipped"]]
        if summary["paper_worklist"]:
            lines.append("Paper files to destroy now:")
            lines += [
                f"  {p['dossier']}  {where(p['location'])}"
                + (f"  (checked out to {p['holder']}: get it back)" if p["status"] == "checked-out" else "")
                for p in summary["paper_worklist"]
            ]
            lines.append("Confirm each with `dossier paper destroyed D --by NAME --witness NAME` (or --certificate N).")
        if failed:
            if json_out:
                print(json.dumps({**data, "error": "some due dossiers could not be destroyed"}, default=str))
            else:
                print("\n".join(lines))
            print(
                "error: some due dossiers could not be destroyed; they are retried in the next run (see 'skipped')",
                file=sys.stderr,
            )
            raise typer.Exit(1)
        emit(json_out, data, "\n".join(lines))


@retention_app.command("log")
def retention_log(dossier: str | None = typer.Option(None, "--dossier"), json_out: bool = JsonOpt):
    """The destruction records: what was destroyed, when, by which rule, by whom (no personal data)."""
    from services import retention

    with command(json_out):
        out = retention.log(context(), dossier)
        emit(json_out, out, "\n".join(_record_text(r) for r in out["records"]) or "No destruction records.")


def _record_text(r: dict) -> str:
    head = f"#{r['id']}  {r['dossier']}  {r['scope']:<7}  {r['performed_on']}  {r['rule']}"
    lines = [head, f"    rule:        {r['rule_text']}"]
    if r["reason"]:
        lines.append(f"    reason:      {r['reason']}")
    lines.append(
        f"    trigger:     {r['trigger_date']}" + (f" (trajectory ended {r['end_date']})" if r["end_date"] else "")
    )
    lines.append(f"    authorised:  {r['authorised_by']}; recorded by {r['recorded_by']} at {r['recorded_at'][:16]}")
    if r["scope"] == "digital":
        c = r["counts"]
        lines.append(
            f"    shredded:    data key {r['key_id']}; {c['documents']} documents, {c['pages']} pages, "
            f"{c['files']} files, {c['page_texts']} page texts, {c['search_tokens']} search tokens"
        )
    else:
        p = r["paper"]
        proof = ", ".join(
            x
            for x in (
                f"witness {p['witness']}" if p["witness"] else "",
                f"certificate {p['certificate']}" if p["certificate"] else "",
            )
            if x
        )
        lines.append(f"    paper:       destroyed by {p['by']} ({proof}); {p['method']}")
    return "\n".join(lines)
