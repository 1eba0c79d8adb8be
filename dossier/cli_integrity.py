"""Integrity, keys and backups over the years (DESIGN.md §12), registered on the main app:

dossier integrity check                    privacy officer; nightly under `dossier watch` as system:integrity
dossier keys rotate                        privacy officer
dossier backup -o DIR                      privacy officer, while the archive works
dossier restore DIR [--replay-from HOME_OR_LATER_BACKUP] [--key-file F]   into a new or empty home
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from .cli import JsonOpt, app, closed_at_exit, command, context, emit, load_settings, plural, user_name

integrity_app = typer.Typer(
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Check that everything stored is whole and the audit log unchanged.",
)
keys_app = typer.Typer(
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="The master key.",
)
app.add_typer(integrity_app, name="integrity")
app.add_typer(keys_app, name="keys")


def _problem_lines(out: dict) -> list[str]:
    def what(e: dict) -> str:
        if e.get("document"):
            return f"document {e['document']} of {e['dossier']}"
        if e.get("item"):
            return f"quarantine item {e['item']}"
        return "not known to the catalog"

    lines = [f"damaged     {e['file']}  ({what(e)})" for e in out["damaged"]]
    lines += [f"missing     {e['file']}  ({what(e)})" for e in out["missing"]]
    lines += [
        f"unexpected  {e['file']}  ({what(e)}{'; ' + e['why'] if e.get('why') else ''})" for e in out["unexpected"]
    ]
    if not out["audit_ok"]:
        lines.append(f"audit log   {out['audit_problem']}")
    return lines


@integrity_app.command("check")
def integrity_check(json_out: bool = JsonOpt):
    """Re-read every archived and quarantined file, compare the catalog and the folders both ways,
    verify the audit log against its witness. Exit 5 when anything is wrong."""
    from services import integrity

    with command(json_out):
        out = integrity.check(context())
        data = {k: out[k] for k in ("files_checked", "damaged", "missing", "unexpected", "audit_ok", "audit_problem")}
        if not out["ok"]:
            if json_out:
                print(json.dumps(data))
            else:
                print("\n".join(_problem_lines(out)))
            print(
                f"error: integrity problems: {len(out['damaged'])} damaged, {len(out['missing'])} missing, "
                f"{len(out['unexpected'])} unexpected files, audit log {'intact' if out['audit_ok'] else 'BROKEN'}; "
                "restore what is damaged or missing from backup and tell the privacy officer",
                file=sys.stderr,
            )
            raise typer.Exit(5)
        emit(
            json_out,
            data,
            f"All {plural(out['files_checked'], 'file')} whole, nothing missing or unexpected; audit log intact "
            f"({out['audit_events']} events).",
        )


@keys_app.command("rotate")
def keys_rotate(json_out: bool = JsonOpt):
    """Make a new master key, re-wrap every key under it, destroy the old key file. Safe to stop and
    run again. Back up the new key file at once; keep the old one offline while backups need it."""
    from services import integrity

    with command(json_out):
        out = integrity.rotate_keys(context())
        emit(
            json_out,
            {"key_id": out["key_id"], "rewrapped": out["rewrapped"], "previous_key_id": out["previous_key_id"]},
            f"New master key {out['key_id']} (was {out['previous_key_id']}); {plural(out['rewrapped'], 'key')} "
            "re-wrapped, the old key file destroyed. Back up the new key file now. Backups taken before this need "
            f"key {out['previous_key_id']}: keep its copy from your key backup offline for as long as they are kept.",
        )


@app.command()
def backup(
    output: Path = typer.Option(..., "-o", "--output", help="a new or empty folder"),
    json_out: bool = JsonOpt,
):
    """A consistent copy of the catalog, archive, quarantine and witness while the archive works;
    never the master key. Example: dossier backup -o /mnt/backup/2026-12-01"""
    from services import backups

    with command(json_out):
        out = backups.make_backup(context(), output.expanduser())
        emit(
            json_out,
            {k: out[k] for k in ("path", "documents", "bytes", "key_id")},
            f"Backed up {plural(out['documents'], 'document')} ({out['bytes']} bytes) to {out['path']}; it needs "
            f"master key {out['key_id']} to be restored (not in the backup).",
        )


@app.command()
def restore(
    source: Path = typer.Argument(..., help="the backup folder", metavar="DIR"),
    replay_from: Path | None = typer.Option(
        None, "--replay-from", help="the live data home, or a later backup: its destructions are re-applied"
    ),
    key_file: Path | None = typer.Option(None, "--key-file", help="the master key the backup needs"),
    json_out: bool = JsonOpt,
):
    """Restore a backup into a new or empty DOSSIER_HOME, then destroy again what was destroyed after it
    was taken. Example: dossier restore /mnt/backup/2026-12-01 --replay-from /srv/old-home --key-file k"""
    from services import backups

    from .wiring import build_app

    with command(json_out):
        app_ = build_app(load_settings())
        closed_at_exit(app_)
        out = backups.restore(
            app_,
            user_name(),
            source.expanduser(),
            key_file=key_file.expanduser() if key_file else None,
            replay_from=replay_from.expanduser() if replay_from else None,
        )
        if out.get("warning"):
            print(f"WARNING: {out['warning']}", file=sys.stderr)
        human = (
            f"Restored {plural(out['documents'], 'document')} from the backup of {out['backup_taken']} into "
            f"{out['restored']}; destroyed again: {', '.join(out['reshredded']) or 'nothing'}. Run `dossier "
            "integrity check` next."
        )
        emit(json_out, out, human)
