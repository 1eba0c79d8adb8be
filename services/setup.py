"""Setting up an archive, and making sure it is fit to work on before any command does."""

from __future__ import annotations

from sqlalchemy import func, select

from archive import audit
from archive.catalog import User

from . import housekeeping, validate
from .context import App


def initialise(app: App, user_name: str) -> dict:
    """Create the home, catalog and master key (never a new key for an existing catalog); the first
    user becomes privacy officer. Safe to repeat."""
    first_run = not app.vault.catalog_exists()
    if first_run:
        validate.user_name(user_name)  # before anything is written
    new_key = app.vault.initialise()
    for d in (app.inbox_dir, app.work_dir):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    made = None
    with app.vault.writer() as s:
        if s.scalar(select(func.count()).select_from(User)) == 0:
            validate.user_name(user_name)
            app.vault.add_user(s, user_name, "privacy", by=None)
            audit.record(
                s,
                actor=user_name,
                role="privacy",
                action="archive.init",
                channel="cli",
                detail="first user made privacy officer",
            )
            made = user_name
        s.commit()
    return {
        "home": str(app.home),
        "inbox": str(app.inbox_dir),
        "key_file": str(app.vault.key_file),
        "key_id": app.vault.key_id(),
        "new_key": new_key,
        "privacy_officer": made,
    }


def ready(app: App) -> None:
    """The archive is set up, private and opened with its own key (NotReady otherwise); what a
    killed command left in the work folder is tidied."""
    app.vault.ready()
    housekeeping.tidy(app)
