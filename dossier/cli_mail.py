"""The intake mailbox (DESIGN.md §11), registered on the main app:

dossier mail sweep [--today DATE]    office staff, privacy officer; every 15 minutes under `dossier watch`
"""

from __future__ import annotations

import json
import sys

import typer

from .cli import JsonOpt, app, command, context, emit, parse_date

mail_app = typer.Typer(
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="The intake mailbox: store intake mail encrypted, delete it in time.",
)
app.add_typer(mail_app, name="mail")


@mail_app.command("sweep")
def mail_sweep_cmd(
    today: str | None = typer.Option(None, "--today", help="the sweep's date, YYYY-MM-DD: today or earlier"),
    json_out: bool = JsonOpt,
):
    """Store every new intake message in the quarantine; delete the mail whose fifth working day has come."""
    from services import mail

    from .prefect_server import prefect_for

    with command(json_out):
        day = parse_date(today, "--today")
        ctx = context()
        from flows.mail_sweep import MailSweepIncomplete

        try:
            with prefect_for(ctx.app):
                summary = mail.sweep(ctx, day)
        except MailSweepIncomplete as e:
            data = {k: e.summary[k] for k in ("captured", "deleted", "kept")}
            if json_out:
                print(json.dumps({**data, "error": str(e)}))
            print(f"error: {e}", file=sys.stderr)
            raise typer.Exit(1) from None
        data = {k: summary[k] for k in ("captured", "deleted", "kept")}
        emit(
            json_out,
            data,
            f"Intake mail dated {summary['today']}: {data['captured']} stored in the quarantine, "
            f"{data['deleted']} deleted from the mailbox, {data['kept']} left in it.",
        )
