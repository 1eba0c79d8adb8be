"""`dossier user password|totp|disable|enable|role|link` (log-in credentials for the web app) and
`dossier web` (serve it). The privacy officer manages everyone's; a user may set their own."""

from __future__ import annotations

import sys

import typer

from .cli import JsonOpt, app, command, context, emit, load_settings, open_app, user_app


@user_app.command("password")
def user_password(
    name: str,
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="read the password from standard input (trailing newline stripped)"
    ),
    json_out: bool = JsonOpt,
):
    """Set a user's web password (at least 12 characters, not a common one). Their sessions end.

    Example: printf '%s' "$PW" | dossier user password anna --password-stdin"""
    from archive.errors import BadInput
    from services import auth

    with command(json_out):
        if not password_stdin:
            raise BadInput("give the password on standard input with --password-stdin (never as an argument)")
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        out = auth.set_password(context(), name, password)
        emit(json_out, out, f"Password of {out['user']} set.")


@user_app.command("totp")
def user_totp(name: str, json_out: bool = JsonOpt):
    """(Re)enrol a user's authenticator app; prints the otpauth URI once (and recovery codes)."""
    from services import auth

    with command(json_out):
        out = auth.enrol_totp(context(), name)
        human = "\n".join(
            [
                f"Authenticator of {out['user']} set. Put this into their app (as text or a QR code), once:",
                out["otpauth_uri"],
                "Recovery codes (each logs in once without the phone; give them to the user):",
                *(f"  {c}" for c in out["recovery_codes"]),
            ]
        )
        emit(json_out, out, human)


@user_app.command("disable")
def user_disable(name: str, json_out: bool = JsonOpt):
    """No more logins for this user; their open sessions end at once."""
    from services import users

    with command(json_out):
        out = users.disable_user(context(), name)
        emit(
            json_out,
            {"user": out["user"], "disabled": True},
            f"Disabled {out['user']}; {out['sessions_ended']} sessions ended.",
        )


@user_app.command("enable")
def user_enable(name: str, json_out: bool = JsonOpt):
    """Let a disabled user log in again (with the password and authenticator they had)."""
    from services import users

    with command(json_out):
        out = users.enable_user(context(), name)
        emit(
            json_out,
            {"user": out["user"], "disabled": False},
            f"{out['user']} may log in again." if out["was_disabled"] else f"{out['user']} was not disabled.",
        )


@user_app.command("role")
def user_role(
    name: str, role: str = typer.Option(..., "--role", help="office, coach or privacy"), json_out: bool = JsonOpt
):
    """Change a user's role (privacy officer; someone stays privacy officer)."""
    from services import users

    with command(json_out):
        out = users.set_role(context(), name, role)
        emit(json_out, out, f"{out['user']} is now {out['role']} (was {out['previous']}).")


@user_app.command("link")
def user_link(
    name: str,
    reset: bool = typer.Option(False, "--reset", help="clear their password and authenticator first"),
    json_out: bool = JsonOpt,
):
    """A one-time set-up link for a user's first login (or, with --reset, after a lost phone)."""
    from services import auth

    from .web.serving import url

    with command(json_out):
        settings = load_settings()
        out = auth.issue_setup_link(context(settings), name, reset=reset)
        out = {**out, "url": f"{url(settings)}/setup/{out['token']}"}
        emit(json_out, out, f"Set-up link for {out['user']} (works once, until {out['expires_at']} UTC):\n{out['url']}")


@app.command()
def web(
    host: str | None = typer.Option(None, "--host", help="address to listen on (default DOSSIER_WEB_HOST, 127.0.0.1)"),
    port: int | None = typer.Option(None, "--port", help="port (default DOSSIER_WEB_PORT, 8080)"),
):
    """Serve the web app alone (`dossier watch` serves it too). Stop with Ctrl-C."""
    from .web import serving

    with command(False):
        settings = load_settings()
        serving.check_binding(host or settings.web_host, settings)  # before anything is opened
        srv = serving.server(open_app(settings), settings, host, port)
        print(f"Web app on {serving.url(settings, host, port)}  — stop with Ctrl-C.", flush=True)
        srv.run()
