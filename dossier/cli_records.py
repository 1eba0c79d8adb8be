"""Records management commands (paper dossiers, lifecycle, retention): registered on the main app.

  dossier paper register|move|checkout|checkin|show|list|destroyed    office staff, privacy officer
  dossier close D --end DATE                                          office staff, privacy officer
  dossier hold D --reason R / release D / erase D --reason R          privacy officer
  dossier retention due | log                                         office staff, privacy officer
  dossier retention run                                               privacy officer (by hand); nightly as system:retention
"""
from __future__ import annotations

import datetime as dt
import json
import sys
from contextlib import contextmanager
from typing import Optional

import typer

from .cli import BadInput, CliError, Context, JsonOpt, app, command, emit, load_dossier, parse_date

paper_app = typer.Typer(no_args_is_help=True, help="Keep track of the paper dossiers in the locked cabinets.")
retention_app = typer.Typer(no_args_is_help=True, help="What is due for destruction; destroy it; the destruction log.")
app.add_typer(paper_app, name="paper")
app.add_typer(retention_app, name="retention")


# ---- helpers ------------------------------------------------------------------------------------

def _today(ctx: Context) -> dt.date:
    from archive.retention import local_today

    return local_today(ctx.settings.local_timezone)


def _policy(ctx: Context):
    return ctx.settings.retention_policy()


@contextmanager
def _audited_refusal(ctx: Context, session, actor: str, role: str, action: str, dossier: str | None):
    """A records rule that refuses (hold, not due, wrong state, personal data in free text) is audited too."""
    from archive import audit
    from archive.records import Conflict, Invalid, Missing, Refused

    try:
        yield
    except (Refused, Conflict, Invalid, Missing) as e:
        session.rollback()
        audit.record_now(ctx.vault.sessions, actor=actor, role=role, action=action, outcome="refused",
                         dossier=dossier, detail=e.code)
        raise


@contextmanager
def _dossier_session(action: str, number: str, describe: str):
    """Open the archive, load the dossier, check the acting user may `action`; yields (ctx, session, d, actor, role)."""
    ctx = Context.ready()
    with ctx.vault.sessions() as session:
        d = load_dossier(session, number)
        actor, role = ctx.require(session, action, describe=describe)
        with _audited_refusal(ctx, session, actor, role, action, d.number):
            yield ctx, session, d, actor, role


def _where(loc: dict | None) -> str:
    if not loc:
        return "no paper file registered"
    return f"room {loc['room']}, cabinet {loc['cabinet']}" + (f", shelf {loc['shelf']}" if loc.get("shelf") else "")


def _human_show(s: dict) -> str:
    lines = [f"Paper file of {s['dossier']}: {s['status'].replace('-', ' ')}"]
    lines.append(f"  place:        {_where(s['location'])}")
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
        lines.append(f"  destroyed:    {r['performed_on']} by {r['paper']['by']} ({proof}; {r['paper']['method']}), "
                     f"record {r['id']}")
    lines.append("  history:")
    for h in s["history"]:
        what = {"register": f"registered in {_where(h['location'])}", "move": f"moved to {_where(h['location'])}",
                "checkout": f"checked out to {h['holder']}, due back {h['due']}",
                "checkin": f"checked in to {_where(h['location'])}", "destroy": "destroyed"}.get(h["action"], h["action"])
        lines.append(f"    {h['at'][:16].replace('T', ' ')}  {h['by']:<12} {what}")
    return "\n".join(lines)


# ---- paper --------------------------------------------------------------------------------------

@paper_app.command("register")
def paper_register(dossier: str, room: str = typer.Option(..., "--room", help="the (locked) room"),
                   cabinet: str = typer.Option(..., "--cabinet", help="the (locked) cabinet"),
                   shelf: Optional[str] = typer.Option(None, "--shelf"), json_out: bool = JsonOpt):
    """Record where a dossier's paper file is kept."""
    from archive import paper

    with command(json_out):
        with _dossier_session("paper.manage", dossier, "keep paper files") as (ctx, session, d, actor, role):
            paper.register(ctx.vault, session, d, room=room, cabinet=cabinet, shelf=shelf, actor=actor, role=role)
            session.commit()
            shown = paper.show(session, d, _policy(ctx))
        extra = ("\nThe dossier was already destroyed: this paper file is on the destruction worklist."
                 if d.status == "destroyed" else "")
        emit(json_out, shown, f"Registered the paper file of {d.number} in {_where(shown['location'])}.{extra}")


@paper_app.command("move")
def paper_move(dossier: str, room: Optional[str] = typer.Option(None, "--room"),
               cabinet: Optional[str] = typer.Option(None, "--cabinet"),
               shelf: Optional[str] = typer.Option(None, "--shelf", help="cleared when the room or cabinet changes "
                                                                          "without a new shelf"),
               json_out: bool = JsonOpt):
    """Move a paper file to another room, cabinet or shelf."""
    from archive import paper

    with command(json_out):
        with _dossier_session("paper.manage", dossier, "keep paper files") as (ctx, session, d, actor, role):
            paper.move(ctx.vault, session, d, room=room, cabinet=cabinet, shelf=shelf, actor=actor, role=role)
            session.commit()
            shown = paper.show(session, d, _policy(ctx))
        emit(json_out, shown, f"The paper file of {d.number} is now in {_where(shown['location'])}.")


@paper_app.command("checkout")
def paper_checkout(dossier: str, to: str = typer.Option(..., "--to", help="who takes it (a user of the archive)"),
                   due: Optional[str] = typer.Option(None, "--due", help="back by, YYYY-MM-DD (default: in 14 days)"),
                   json_out: bool = JsonOpt):
    """Hand a paper file to a person, with the date it must be back."""
    from archive import paper

    with command(json_out):
        due_date = parse_date(due, "due date")
        with _dossier_session("paper.manage", dossier, "keep paper files") as (ctx, session, d, actor, role):
            today = _today(ctx)
            paper.checkout(ctx.vault, session, d, to=to, due=due_date, today=today,
                           default_days=ctx.settings.paper_checkout_days, policy=_policy(ctx), actor=actor,
                           role=role)
            session.commit()
            shown = paper.show(session, d, _policy(ctx))
        note = ""
        if shown["destroy_on"] and shown["destroy_on"] <= shown["due"]:
            note = f"\nNote: {d.number} is due for destruction on {shown['destroy_on']}; make sure it is back by then."
        emit(json_out, shown, f"The paper file of {d.number} is checked out to {shown['holder']}, due back "
                              f"{shown['due']}.{note}")


@paper_app.command("checkin")
def paper_checkin(dossier: str, room: Optional[str] = typer.Option(None, "--room", help="default: where it was"),
                  cabinet: Optional[str] = typer.Option(None, "--cabinet"),
                  shelf: Optional[str] = typer.Option(None, "--shelf"), json_out: bool = JsonOpt):
    """Take a paper file back into its cabinet (or a new place)."""
    from archive import paper

    with command(json_out):
        with _dossier_session("paper.manage", dossier, "keep paper files") as (ctx, session, d, actor, role):
            paper.checkin(ctx.vault, session, d, room=room, cabinet=cabinet, shelf=shelf, actor=actor, role=role)
            session.commit()
            shown = paper.show(session, d, _policy(ctx))
        emit(json_out, shown, f"The paper file of {d.number} is back in {_where(shown['location'])}.")


@paper_app.command("show")
def paper_show(dossier: str, json_out: bool = JsonOpt):
    """Where a paper file is, who has it, when it is destroyed, and its history."""
    from archive import audit, paper

    with command(json_out):
        with _dossier_session("paper.manage", dossier, "see paper files") as (ctx, session, d, actor, role):
            shown = paper.show(session, d, _policy(ctx))
            audit.record(session, actor=actor, role=role, action="paper.show", dossier=d.number)
            session.commit()
        emit(json_out, shown, _human_show(shown))


@paper_app.command("list")
def paper_list(cabinet: Optional[str] = typer.Option(None, "--cabinet"),
               room: Optional[str] = typer.Option(None, "--room"),
               overdue: bool = typer.Option(False, "--overdue", help="only check-outs past their due date"),
               include_destroyed: bool = typer.Option(False, "--all", help="also destroyed paper files"),
               json_out: bool = JsonOpt):
    """A printable cabinet inventory (or the overdue check-outs)."""
    from archive import audit, paper

    with command(json_out):
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            actor, role = ctx.require(session, "paper.manage", describe="see paper files")
            today = _today(ctx)
            files = paper.inventory(session, today=today, policy=_policy(ctx), room=room, cabinet=cabinet,
                                    overdue=overdue, include_destroyed=include_destroyed)
            audit.record(session, actor=actor, role=role, action="paper.list", detail=f"{len(files)} paper files")
            session.commit()
        data = {"today": today.isoformat(), "printed_by": actor,
                "filter": {"room": room, "cabinet": cabinet, "overdue": overdue}, "files": files}
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
            out += ["", f"Room {loc['room']} · cabinet {loc['cabinet']}",
                    f"  {'shelf':<8} {'dossier':<14} {'status':<13} {'with / due back':<26} {'destroy on':<12} present",
                    f"  {'-' * 8} {'-' * 14} {'-' * 13} {'-' * 26} {'-' * 12} -------"]
        status = f["status"].replace("-", " ")
        with_ = f"{f['holder']}, {f['due']}" + (" OVERDUE" if f["overdue"] else "") if f["holder"] else ""
        destroy = (f["destroy_on"] or "") + (" DUE" if f["due_for_destruction"] else "")
        box = "[ ]" if f["status"] == "in-cabinet" else " - "
        out.append(f"  {loc['shelf'] or '':<8} {f['dossier']:<14} {status:<13} {with_:<26} {destroy:<12} {box}")
    out += ["", f"{len(files)} paper files. Tick 'present' for each file found in its place; report missing files "
                "to the privacy officer."]
    return "\n".join(out)


@paper_app.command("destroyed")
def paper_destroyed(dossier: str, by: str = typer.Option(..., "--by", help="who destroyed it"),
                    witness: Optional[str] = typer.Option(None, "--witness", help="who saw it destroyed"),
                    certificate: Optional[str] = typer.Option(None, "--certificate",
                                                              help="number of the destruction certificate"),
                    method: Optional[str] = typer.Option(None, "--method", help="e.g. shredded P-4 (default: shredded)"),
                    on: Optional[str] = typer.Option(None, "--date", help="when, YYYY-MM-DD (default today)"),
                    json_out: bool = JsonOpt):
    """Confirm that a paper file was destroyed (with a witness or a certificate)."""
    from archive import paper

    with command(json_out):
        when = parse_date(on, "destruction date")
        if not witness and not certificate:
            raise BadInput("give a witness (--witness NAME) or the destruction certificate number (--certificate N)")
        with _dossier_session("paper.manage", dossier, "keep paper files") as (ctx, session, d, actor, role):
            today = _today(ctx)
            record = paper.confirm_destroyed(ctx.vault, session, d, by=by, witness=witness, certificate=certificate,
                                             method=method, on=when or today, today=today, policy=_policy(ctx),
                                             actor=actor, role=role)
            session.commit()
            shown = paper.show(session, d, _policy(ctx))
        emit(json_out, {**shown, "record": paper.record_dict(record)},
             f"Recorded: the paper file of {d.number} was destroyed on {record.performed_on} by {record.performed_by} "
             f"(destruction record {record.id}).")


# ---- lifecycle ----------------------------------------------------------------------------------

@app.command()
def close(dossier: str, end: str = typer.Option(..., "--end", help="the day the trajectory ended, YYYY-MM-DD"),
          json_out: bool = JsonOpt):
    """Close a dossier: set the trajectory end, which fixes its destruction date."""
    from archive import lifecycle
    from archive.retention import destroy_on

    with command(json_out):
        end_date = parse_date(end, "end date")
        with _dossier_session("dossier.close", dossier, "close dossiers") as (ctx, session, d, actor, role):
            today, policy = _today(ctx), _policy(ctx)
            previous = lifecycle.close(session, d, end_date, today=today, policy=policy, actor=actor, role=role)
            session.commit()
        when = destroy_on(end_date, policy.period)
        data = {"dossier": d.number, "status": "closed", "end": end_date.isoformat(), "destroy_on": when.isoformat(),
                "due": today >= when, "previous_end": previous.isoformat() if previous else None}
        human = f"Closed {d.number}: trajectory ended {end_date}; it will be destroyed on {when}."
        if today >= when:
            human += " That date has passed: it is destroyed in the next retention run (tonight)."
        emit(json_out, data, human)


@app.command()
def hold(dossier: str, reason: str = typer.Option(..., "--reason", help="why (kept on record: no names or BSN)"),
         json_out: bool = JsonOpt):
    """Put a legal hold on a dossier: nothing of it is destroyed until it is released."""
    from archive import lifecycle

    with command(json_out):
        with _dossier_session("dossier.hold", dossier, "place holds") as (ctx, session, d, actor, role):
            h = lifecycle.place_hold(ctx.vault, session, d, reason, actor=actor, role=role)
            session.commit()
        emit(json_out, {"dossier": d.number, "hold": lifecycle.hold_summary(h)},
             f"{d.number} is on legal hold: nothing of it will be destroyed until `dossier release {d.number}`.")


@app.command()
def release(dossier: str, json_out: bool = JsonOpt):
    """Release a dossier's legal hold."""
    from archive import lifecycle

    with command(json_out):
        with _dossier_session("dossier.hold", dossier, "release holds") as (ctx, session, d, actor, role):
            h = lifecycle.release_hold(session, d, actor=actor, role=role)
            session.commit()
        emit(json_out, {"dossier": d.number, "released": True, "hold": {**lifecycle.hold_summary(h),
                                                                         "released_at": h.released_at.isoformat(),
                                                                         "released_by": h.released_by}},
             f"Released the hold on {d.number}; the retention rules apply again.")


def _confirm(prompt: str, expected: str) -> None:
    """On a terminal, an irreversible step is confirmed by typing `expected`."""
    if not sys.stdin.isatty():
        return
    typed = typer.prompt(prompt, err=True, default="", show_default=False)
    if typed.strip() != expected:
        raise CliError("not confirmed; nothing was destroyed", 1)


@app.command()
def erase(dossier: str, reason: str = typer.Option(..., "--reason", help="e.g. request of the client (kept on "
                                                                          "record: no names or BSN)"),
          yes: bool = typer.Option(False, "--yes", help="do not ask to confirm on a terminal"),
          json_out: bool = JsonOpt):
    """Destroy a dossier now (right to erasure): its data key is shredded, its files deleted."""
    from archive import lifecycle, shredding
    from archive.records import Refused

    with command(json_out):
        with _dossier_session("dossier.erase", dossier, "erase dossiers") as (ctx, session, d, actor, role):
            if d.status == "destroyed":
                raise CliError(f"dossier {d.number} was already destroyed on {d.destroyed_at:%Y-%m-%d}", 4)
            hold_ = lifecycle.active_hold(session, d.number)
            if hold_ is not None:
                raise Refused(f"dossier {d.number} is on legal hold since {hold_.placed_at:%Y-%m-%d}; release the "
                              "hold first if erasure is really required", "on-hold")
            clean = lifecycle.check_free_text(reason, "the reason", client_name=lifecycle.client_name_of(
                ctx.vault, session, d))
            if not (yes or json_out):
                _confirm(f"This destroys dossier {d.number} and all its documents for good. Type the dossier number "
                         "to confirm", d.number)
            today = _today(ctx)
            record = shredding.shred_dossier(session, d.number, rule="erasure", today=today, policy=_policy(ctx),
                                             actor=actor, role=role, reason=clean)
            session.commit()
            from archive.records import PaperFile

            p = session.get(PaperFile, d.number)
            paper_left = lifecycle.paper_summary(p) if p is not None and p.status != "destroyed" else None
        finished = shredding.finish(ctx.vault)
        data = {"dossier": d.number, "destroyed": True, "documents": record.documents, "key_id": record.key_id,
                "record": record.id, "files_removed": finished["files_removed"], "paper": paper_left}
        human = (f"Erased {d.number}: data key {record.key_id} shredded, {record.documents} documents destroyed "
                 f"(destruction record {record.id}).")
        if paper_left:
            human += (f"\nIts paper file ({_where(paper_left)}) must be destroyed too; confirm with "
                      f"`dossier paper destroyed {d.number} --by NAME --witness NAME`.")
        emit(json_out, data, human)


# ---- retention ----------------------------------------------------------------------------------

def _due_line(e: dict) -> str:
    paper = e["paper"]
    paper_text = "no paper file" if paper is None else (
        f"paper {paper['status'].replace('-', ' ')}" + (f" to {paper['holder']}" if paper["holder"] else "")
        + ("" if paper["status"] == "destroyed" else f" in {_where(paper)}"))
    digital = f"digital {e['digital']} ({e['documents']} documents)" if e["digital"] == "pending" else "digital destroyed"
    held = "  ON HOLD" if e["hold"] else ""
    return f"  {e['dossier']}  {e['destroy_on'] or '':<10}  {digital}; {paper_text}{held}"


@retention_app.command("due")
def retention_due(today: Optional[str] = typer.Option(None, "--today", help="as if it were this date, YYYY-MM-DD"),
                  json_out: bool = JsonOpt):
    """Dossiers due for destruction, those due within 30 days, and overdue paper check-outs."""
    from archive import audit, lifecycle

    with command(json_out):
        day = parse_date(today, "--today")
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            actor, role = ctx.require(session, "retention.view", describe="see what is due for destruction")
            day = day or _today(ctx)
            data = lifecycle.overview(session, day, _policy(ctx))
            audit.record(session, actor=actor, role=role, action="retention.due",
                         detail=f"dated {day}: {len(data['due'])} due, {len(data['upcoming'])} upcoming")
            session.commit()
        lines = [f"Due for destruction on {day}:"] + ([_due_line(e) for e in data["due"]] or ["  none"])
        lines += [f"Due within {ctx.settings.retention_upcoming_days} days:"] + (
            [_due_line(e) for e in data["upcoming"]] or ["  none"])
        lines += ["Paper files overdue from check-out:"] + (
            [f"  {o['dossier']}  with {o['holder']}, due back {o['due']} ({o['days_overdue']} days late)"
             for o in data["overdue_checkouts"]] or ["  none"])
        emit(json_out, data, "\n".join(lines))


@retention_app.command("run")
def retention_run_cmd(today: Optional[str] = typer.Option(None, "--today", help="as if it were this date, YYYY-MM-DD"),
                      json_out: bool = JsonOpt):
    """Destroy every dossier due and not on hold (crypto-shredding); list the paper files to destroy."""
    from archive.retention import local_today

    with command(json_out):
        day = parse_date(today, "--today")
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            actor, role = ctx.require(session, "retention.run", describe="run retention by hand")
        real = local_today(ctx.settings.local_timezone)
        if day is not None and day > real and not json_out:
            _confirm(f"--today {day} is {(day - real).days} days after today ({real}): dossiers would be destroyed "
                     "before their date. Type the date again to go ahead", day.isoformat())
        from .deployments import retention_run  # first: it prepares Prefect's environment

        from flows.retention import RetentionIncomplete

        try:
            summary, failed = retention_run(today=day.isoformat() if day else None, actor=actor), False
        except RetentionIncomplete as e:
            summary, failed = e.summary, True
        data = {k: summary[k] for k in ("today", "destroyed", "skipped", "paper_worklist")}
        data.update(files_removed=summary.get("files_removed", 0), note=summary.get("note"))
        lines = [f"Retention run dated {summary['today']}:"]
        lines += [f"  destroyed  {x['dossier']}  ({x['documents']} documents)" for x in summary["destroyed"]] or [
            "  nothing was due"]
        lines += [f"  skipped    {x['dossier']}  {x['reason']}" for x in summary["skipped"]]
        if summary["paper_worklist"]:
            lines.append("Paper files to destroy now:")
            lines += [f"  {p['dossier']}  {_where(p['location'])}" + (f"  (checked out to {p['holder']}: get it back)"
                                                                       if p["status"] == "checked-out" else "")
                      for p in summary["paper_worklist"]]
            lines.append("Confirm each with `dossier paper destroyed D --by NAME --witness NAME` (or --certificate N).")
        if failed:
            if json_out:
                print(json.dumps({**data, "error": "some due dossiers could not be destroyed"}, default=str))
            else:
                print("\n".join(lines))
            print("error: some due dossiers could not be destroyed; they are retried in the next run (see 'skipped')",
                  file=sys.stderr)
            raise typer.Exit(1)
        emit(json_out, data, "\n".join(lines))


@retention_app.command("log")
def retention_log(dossier: Optional[str] = typer.Option(None, "--dossier"), json_out: bool = JsonOpt):
    """The destruction records: what was destroyed, when, by which rule, by whom (no personal data)."""
    from sqlalchemy import select

    from archive import audit
    from archive.paper import record_dict
    from archive.records import DestructionRecord

    from .cli import check_dossier_number

    with command(json_out):
        if dossier is not None:
            check_dossier_number(dossier)
        ctx = Context.ready()
        with ctx.vault.sessions() as session:
            actor, role = ctx.require(session, "retention.view", describe="see the destruction log")
            q = select(DestructionRecord).order_by(DestructionRecord.id)
            if dossier is not None:
                q = q.where(DestructionRecord.dossier == dossier)
            records = [record_dict(r) for r in session.execute(q).scalars()]
            audit.record(session, actor=actor, role=role, action="retention.log", dossier=dossier,
                         detail=f"{len(records)} records")
            session.commit()
        emit(json_out, {"records": records}, "\n".join(_record_text(r) for r in records) or "No destruction records.")


def _record_text(r: dict) -> str:
    head = f"#{r['id']}  {r['dossier']}  {r['scope']:<7}  {r['performed_on']}  {r['rule']}"
    lines = [head, f"    rule:        {r['rule_text']}"]
    if r["reason"]:
        lines.append(f"    reason:      {r['reason']}")
    lines.append(f"    trigger:     {r['trigger_date']}" + (f" (trajectory ended {r['end_date']})" if r["end_date"] else ""))
    lines.append(f"    authorised:  {r['authorised_by']}; recorded by {r['recorded_by']} at {r['recorded_at'][:16]}")
    if r["scope"] == "digital":
        c = r["counts"]
        lines.append(f"    shredded:    data key {r['key_id']}; {c['documents']} documents, {c['pages']} pages, "
                     f"{c['files']} files, {c['page_texts']} page texts, {c['search_tokens']} search tokens")
    else:
        p = r["paper"]
        proof = ", ".join(x for x in (f"witness {p['witness']}" if p["witness"] else "",
                                      f"certificate {p['certificate']}" if p["certificate"] else "") if x)
        lines.append(f"    paper:       destroyed by {p['by']} ({proof}); {p['method']}")
    return "\n".join(lines)
