"""Users and their roles (privacy officer): who may log in and what they may do."""

from __future__ import annotations

from sqlalchemy import select

from archive import access
from archive.catalog import User
from archive.errors import BadInput, NotFound, RuleForbids

from . import validate
from .context import Context


def add_user(ctx: Context, name: str, role: str) -> dict:
    if role not in access.ROLES:
        raise BadInput(
            f"unknown role '{validate.shown(role)}'{validate.suggest(role, access.ROLES)}; use office, "
            "coach or privacy",
            "bad-role",
        )
    name = validate.user_name(name)
    with ctx.uow("users.manage") as uow:
        uow.allow()
        ctx.vault.add_user(uow.session, name, role, by=ctx.actor.name)
        uow.audit("user.add", detail=f"{name} as {role}")
        uow.commit()
    return {"user": name, "role": role}


def list_users(ctx: Context) -> dict:
    from .auth import credentials

    with ctx.reading("users.manage") as uow:
        uow.allow()
        rows = uow.session.execute(select(User).order_by(User.name)).scalars().all()
        users = [
            {
                "user": u.name,
                "role": u.role,
                "created_at": u.created_at.isoformat(),
                "created_by": u.created_by,
                **credentials(uow.session, u),
            }
            for u in rows
        ]
        uow.audit("user.list", detail=f"{len(users)} users")
        uow.commit()
    return {"users": users}


def _user(uow, name: str) -> User:
    user = uow.session.get(User, validate.user_name(name))
    if user is None:
        raise NotFound(f"user {validate.shown(name)} does not exist; see `dossier user list`", "unknown-user")
    return user


def _keep_a_privacy_officer(session, leaving: User) -> None:
    """Someone must be left who can manage users: the last active privacy officer stays."""
    others = session.execute(
        select(User.name).where(User.role == "privacy", User.disabled_at.is_(None), User.name != leaving.name)
    ).first()
    if leaving.role == "privacy" and leaving.disabled_at is None and others is None:
        raise RuleForbids(
            f"{leaving.name} is the last privacy officer; make someone else privacy officer first", "last-privacy"
        )


def disable_user(ctx: Context, name: str) -> dict:
    """No more logins for this user; their open sessions end at once. Their name stays in the audit log."""
    from archive.catalog import utcnow

    from .auth import end_sessions

    with ctx.uow("users.manage") as uow:
        uow.allow()
        user = _user(uow, name)
        if user.disabled_at is None:
            _keep_a_privacy_officer(uow.session, user)
            user.disabled_at = utcnow()
        user.setup_token_hash = user.setup_expires_at = None
        ended = end_sessions(uow.session, user.name)
        uow.audit("user.disable", detail=f"{user.name}; {ended} sessions ended")
        uow.commit()
    return {"user": user.name, "disabled": True, "sessions_ended": ended}


def enable_user(ctx: Context, name: str) -> dict:
    """A disabled user may log in again with the password and authenticator they had. If those may
    have been exposed (why they were disabled), reset them as well: `dossier user link --reset`."""
    with ctx.uow("users.manage") as uow:
        uow.allow()
        user = _user(uow, name)
        was_disabled = user.disabled_at is not None
        user.disabled_at = user.locked_until = None
        uow.audit("user.enable", detail=user.name if was_disabled else f"{user.name}; was not disabled")
        uow.commit()
    return {"user": user.name, "disabled": False, "was_disabled": was_disabled}


def set_role(ctx: Context, name: str, role: str) -> dict:
    if role not in access.ROLES:
        raise BadInput(
            f"unknown role '{validate.shown(role)}'{validate.suggest(role, access.ROLES)}; use office, "
            "coach or privacy",
            "bad-role",
        )
    with ctx.uow("users.manage") as uow:
        uow.allow()
        user = _user(uow, name)
        previous = user.role
        if role != previous:
            _keep_a_privacy_officer(uow.session, user)
            user.role = role
        uow.audit("user.role", detail=f"{user.name}: {previous} -> {role}")
        uow.commit()
    return {"user": user.name, "role": role, "previous": previous}


def coaches(ctx: Context) -> dict:
    """The coaches a new dossier can be given to (office staff and the privacy officer)."""
    with ctx.reading("dossier.create") as uow:
        uow.allow()
        names = list(
            uow.session.execute(
                select(User.name).where(User.role == "coach", User.disabled_at.is_(None)).order_by(User.name)
            ).scalars()
        )
    return {"coaches": names}
