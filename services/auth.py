"""Logging in to the web app (DESIGN.md §9): passwords, the second factor, sessions and locks.

Step 1, name and password: a short-lived 'password' session whose only use is step 2. Step 2, a
TOTP code (RFC 6238, 30-second steps, each code accepted once: a code whose step is not after the
last one used is refused) or a one-time recovery code: the pending session is ended and a 'full'
session with a new random id begins. The cookie carries the id; the catalog keeps its SHA-256.

Five failed attempts on a name within 15 minutes lock it for 15 minutes, right credentials
included. Failures are counted by a keyed hash of the name as typed, known user or not, so a lock
says nothing about whether the name exists, and a password typed into the name field is not kept.
Unknown names and wrong passwords get the same answer, after the same Argon2id work.

First login, and again after the privacy officer's reset: a one-time set-up link. Its page takes
a new password and shows a new authenticator key; nothing of the user changes until a code from
that key is confirmed (the pending credentials are sealed in the set-up session), then the link
is used up and recovery codes are shown once.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select

from archive import audit, crypto
from archive.catalog import LoginFailure, RecoveryCode, User, WebSession, utcnow
from archive.errors import BadInput, NotFound, NotPermitted, RuleForbids

from . import validate
from .context import App, Context

PASSWORD_MIN = 12
PASSWORD_MAX = 256  # Argon2 takes any length; a megabyte "password" is an attack on the CPU
FAILURES_TO_LOCK = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)
LOCK_FOR = dt.timedelta(minutes=15)
PENDING_FOR = dt.timedelta(minutes=5)  # from the right password to the code
ENROL_FOR = dt.timedelta(minutes=30)  # a set-up session: password, scan, confirm
SETUP_LINK_FOR = dt.timedelta(hours=72)
RECOVERY_CODES = 10
TOTP_ISSUER = "Dossierarchief"

# Argon2id with argon2-cffi's defaults (RFC 9106's second recommended option: 64 MiB, 3 passes).
# A stored hash made with other parameters is re-hashed at the next successful login.
_hasher = PasswordHasher()

UNKNOWN_ACTOR = "(unknown)"  # the audit actor of a login with a name that is no user


class NotAuthenticated(NotPermitted):
    """No session, or it ended (logged out, timed out, user disabled): log in again (HTTP 401)."""

    http_status = 401
    default_code = "not-authenticated"


class LoginFailed(NotAuthenticated):
    default_code = "login-failed"


WRONG_CREDENTIALS = "unknown user name or wrong password"
LOCKED = "too many failed attempts: logging in with this name is locked for 15 minutes"


# ---- keys and hashes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Keys:
    totp: bytes
    names: bytes
    recovery: bytes
    pending: bytes


def _keys(app: App) -> _Keys:
    k = app.vault.archive_key("web-auth")
    return _Keys(
        crypto.derive(k, "totp-secrets"),
        crypto.derive(k, "login-names"),
        crypto.derive(k, "recovery-codes"),
        crypto.derive(k, "pending-credentials"),
    )


def _id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _name_key(keys: _Keys, name: str) -> str:
    return crypto.mac(keys.names, name.strip().lower().encode())


def _recovery_hash(keys: _Keys, user: str, code: str) -> str:
    return crypto.mac(keys.recovery, f"{user}:{_clean_recovery(code)}".encode())


def _clean_recovery(code: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", code.upper())


def _aware(t: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives stored UTC times back without a zone."""
    return t if t is None or t.tzinfo else t.replace(tzinfo=dt.UTC)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_hex(16))


# Each Argon2id check takes 64 MiB and a core for a moment: a flood of login attempts queues here
# instead of exhausting the machine's memory.
_HASHING = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2)))


def _verify(stored: str | None, password: str) -> bool:
    """Argon2id check; without a stored hash the same work is done against a dummy, so an unknown
    name answers as slowly as a wrong password."""
    with _HASHING:
        try:
            return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False


# ---- password rules ----------------------------------------------------------------------------


@cache
def common_passwords() -> frozenset[str]:
    path = Path(__file__).with_name("common-passwords.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip().lower() for w in lines if w.strip() and not w.startswith("#"))


def check_new_password(name: str, password: str) -> str:
    """A password fit to be set: at least 12 characters, not a common one (nor one with digits or
    signs added to the end or start, nor a repetition), not the user name. One line saying what to
    change otherwise."""
    if len(password) < PASSWORD_MIN:
        raise BadInput(
            f"the password is too short ({len(password)} characters); use at least {PASSWORD_MIN}, a few "
            "unrelated words make a good one",
            "password-too-short",
        )
    if len(password) > PASSWORD_MAX:
        raise BadInput(f"the password is too long; use at most {PASSWORD_MAX} characters", "password-too-long")
    folded = password.lower()
    core = folded.strip("0123456789!@#$%^&*()-_=+.,;:?/ ")
    common = common_passwords()
    repeated = re.fullmatch(r"(.+?)\1+", folded) is not None  # "passwordpassword", "abcabcabcabc"
    if folded in common or core in common or repeated or len(set(folded)) < 5:
        raise BadInput(
            "this password is too common or too simple to guess; choose another (a few unrelated words)",
            "password-common",
        )
    if name.lower() in folded:
        raise BadInput("the password contains the user name; choose another", "password-has-name")
    return password


# ---- TOTP ---------------------------------------------------------------------------------------


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=6, interval=30)


def otpauth_uri(name: str, secret: str) -> str:
    return _totp(secret).provisioning_uri(name=name, issuer_name=TOTP_ISSUER)


def _matching_step(secret: str, code: str, last_step: int | None, at: float) -> int | None:
    """The step (previous, current or next, for clocks a little apart) whose code this is, if that
    step comes after the last one used: each code is accepted once, and never an older one."""
    code = re.sub(r"\s", "", code)
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = _totp(secret)
    now_step = int(at // totp.interval)
    for step in (now_step - 1, now_step, now_step + 1):
        if last_step is not None and step <= last_step:
            continue
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _seal_secret(keys: _Keys, user: str, secret: str) -> bytes:
    return crypto.seal(keys.totp, secret.encode(), f"totp:{user}".encode())


def _open_secret(keys: _Keys, user: User) -> str:
    return crypto.open_sealed(keys.totp, user.totp_sealed, f"totp:{user.name}".encode()).decode()


def _new_recovery_codes(session, keys: _Keys, user: str) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_name == user))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(10)).decode()[:10]  # 50 bits each
        codes.append(f"{raw[:5]}-{raw[5:]}")
        session.add(RecoveryCode(user_name=user, code_hash=_recovery_hash(keys, user, raw)))
    return codes


# ---- audit outside a unit of work (nobody is logged in yet) -------------------------------------


def _audit(session, user: User | None, action: str, outcome: str = "ok", *, address=None, detail=None) -> None:
    """An event of a login step: the actor is the user, or '(unknown)' for a name that is none."""
    audit.record(
        session,
        actor=user.name if user is not None else UNKNOWN_ACTOR,
        role=user.role if user is not None else None,
        action=action,
        outcome=outcome,
        detail=detail,
        channel="web",
        address=address,
    )


# ---- locks ----------------------------------------------------------------------------------------


def _locked(session, user: User | None, name_key: str, now: dt.datetime) -> bool:
    if user is not None:
        until = _aware(user.locked_until)
        return until is not None and until > now
    # A name that is no user locks the same way (five failures within the window, then the lock's
    # time from the fifth), so neither the answer nor its timing tells whether the name exists.
    times = [
        _aware(t)
        for t in session.execute(
            select(LoginFailure.at)
            .where(LoginFailure.name_key == name_key, LoginFailure.at > now - FAILURE_WINDOW - LOCK_FOR)
            .order_by(LoginFailure.at)
        ).scalars()
    ]
    n = FAILURES_TO_LOCK - 1
    return any(
        times[i + n] - times[i] <= FAILURE_WINDOW and now < times[i + n] + LOCK_FOR for i in range(len(times) - n)
    )


def _fail(session, user: User | None, name_key: str, now: dt.datetime, address, action: str, detail: str) -> bool:
    """Record a failed attempt (audited); lock the name on the fifth within the window. True if locked now."""
    session.add(LoginFailure(name_key=name_key, at=now))
    session.flush()
    _audit(session, user, action, "failed", address=address, detail=detail)
    recent = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.name_key == name_key, LoginFailure.at > now - FAILURE_WINDOW)
    )
    if recent >= FAILURES_TO_LOCK:
        already = user is not None and _aware(user.locked_until) is not None and _aware(user.locked_until) > now
        if user is not None and not already:
            user.locked_until = now + LOCK_FOR
            _audit(
                session,
                user,
                "auth.lock",
                "ok",
                address=address,
                detail=f"{recent} failed attempts in 15 minutes: locked until {user.locked_until:%H:%M} UTC",
            )
        return True
    return False


# ---- sessions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSession:
    """A session just begun: the id goes into the cookie, and is not kept anywhere else."""

    id: str
    csrf: str
    user: str
    stage: str
    recovery_codes: list[str] | None = None  # shown once, after a set-up


@dataclass(frozen=True)
class SessionInfo:
    user: str
    role: str
    stage: str
    csrf: str
    started: dt.datetime


def _begin(session, user: str, stage: str, now: dt.datetime, address, pending: bytes | None = None) -> NewSession:
    sid = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id_hash=_id_hash(sid),
            user_name=user,
            stage=stage,
            csrf=csrf,
            created_at=now,
            last_seen_at=now,
            address=address,
            pending_sealed=pending,
        )
    )
    return NewSession(sid, csrf, user, stage)


def _tidy(session, app: App, now: dt.datetime) -> None:
    """Sessions past their time and failures past any window are deleted: nothing to keep them for."""
    session.execute(
        delete(WebSession).where(
            (WebSession.last_seen_at < now - app.session_idle) | (WebSession.created_at < now - app.session_max)
        )
    )
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - dt.timedelta(days=1)))


def end_sessions(session, user: str) -> int:
    """End every session of a user (disabled, reset, new password): their cookies stop working."""
    return session.execute(delete(WebSession).where(WebSession.user_name == user)).rowcount or 0


def _limit_for(app: App, stage: str) -> dt.timedelta:
    return {"password": PENDING_FOR, "enrol": ENROL_FOR}.get(stage, app.session_idle)


def session_for(
    app: App,
    session_id: str | None,
    *,
    stages: tuple[str, ...] = ("full",),
    now: dt.datetime | None = None,
    touch: bool = True,
) -> SessionInfo:
    """The live session with this id (NotAuthenticated otherwise: unknown, ended, idle too long,
    older than the absolute limit, of a disabled user, or in another stage). Seen now, unless
    `touch` is False: a page refreshing itself is no sign of a person, and must not keep an
    unattended session alive."""
    now = now or _now()
    if not session_id or len(session_id) > 128:
        raise NotAuthenticated("you are not logged in; log in first", "no-session")
    key = _id_hash(session_id)
    with app.vault.sessions() as s:
        row = s.get(WebSession, key)
        user = s.get(User, row.user_name) if row is not None else None
        if row is not None:
            s.expunge(row)
    if row is None or user is None:
        raise NotAuthenticated("your session has ended; log in again", "no-session")
    seen, started = _aware(row.last_seen_at), _aware(row.created_at)
    ended = None
    if user.disabled_at is not None:
        ended = "disabled"
    elif now - seen > _limit_for(app, row.stage):
        ended = "idle"
    elif now - started > app.session_max:
        ended = "expired"
    if ended:
        with app.vault.writer() as s:
            if s.execute(delete(WebSession).where(WebSession.id_hash == key)).rowcount:
                _audit(s, user, "auth.session-end", "ok", address=None, detail=ended)
            s.commit()
        raise NotAuthenticated("your session has ended; log in again", f"session-{ended}")
    if row.stage not in stages:
        raise NotAuthenticated("log in first", "wrong-stage")
    # Note the request, but write at most every few seconds: idle timing needs no finer grain.
    if touch and now - seen > min(dt.timedelta(seconds=30), _limit_for(app, row.stage) / 4):
        with app.vault.writer() as s:
            live = s.get(WebSession, key)
            if live is not None:
                live.last_seen_at = now
            s.commit()
    return SessionInfo(user.name, user.role, row.stage, row.csrf, started)


def logout(app: App, session_id: str | None, *, address: str | None = None) -> bool:
    """End the session on the server; its cookie is worthless from now on."""
    if not session_id:
        return False
    with app.vault.writer() as s:
        row = s.get(WebSession, _id_hash(session_id))
        if row is None:
            return False
        user = s.get(User, row.user_name)
        s.delete(row)
        _audit(s, user, "auth.logout", "ok", address=address)
        s.commit()
    return True


# ---- logging in ------------------------------------------------------------------------------------


def login_password(
    app: App, name: str, password: str, *, address: str | None = None, now: dt.datetime | None = None
) -> NewSession:
    """Step 1. A 'password' session for step 2 (LoginFailed otherwise, the same for an unknown name,
    a wrong password and a disabled user; a locked name is told it is locked)."""
    now = now or _now()
    name = (name or "").strip()[:64]
    password = (password or "")[:PASSWORD_MAX]
    keys = _keys(app)
    nkey = _name_key(keys, name)
    with app.vault.sessions() as s:
        user = s.get(User, name) if validate.USER_NAME.match(name) else None
        stored = user.password_hash if user is not None else None
        locked = _locked(s, user, nkey, now)
    # The slow hash runs outside any write transaction: the catalog's write lock is not held for it.
    right = False if locked else _verify(stored, password)
    with app.vault.writer() as s:
        _tidy(s, app, now)
        user = s.get(User, name) if user is not None else None
        # Decided again under the write lock: attempts running side by side may have locked the
        # name while this one hashed, and then not even the right password gets in.
        locked = locked or _locked(s, user, nkey, now)
        if locked:
            _audit(s, user, "auth.login", "refused", address=address, detail="locked")
            s.commit()
            raise LoginFailed(LOCKED, "locked")
        if not right or user is None or user.disabled_at is not None:
            detail = "disabled" if right and user is not None else "wrong password or unknown user"
            now_locked = _fail(s, user, nkey, now, address, "auth.login", detail)
            s.commit()
            raise LoginFailed(LOCKED if now_locked else WRONG_CREDENTIALS, "locked" if now_locked else "credentials")
        if _hasher.check_needs_rehash(stored):
            user.password_hash = _hasher.hash(password)
        if user.totp_sealed is None or user.totp_confirmed_at is None:
            _audit(s, user, "auth.login", "refused", address=address, detail="no-2fa")
            s.commit()
            raise LoginFailed(
                "this account has no authenticator app set up yet; ask the privacy officer for a set-up link",
                "no-second-factor",
            )
        pending = _begin(s, user.name, "password", now, address)
        _audit(s, user, "auth.password", "ok", address=address)
        s.commit()
    return pending


def login_code(
    app: App, pending_id: str | None, code: str, *, address: str | None = None, now: dt.datetime | None = None
) -> NewSession:
    """Step 2: a TOTP code (or a recovery code) for the user of a 'password' session. On success
    the pending session ends and a full one with a new id begins."""
    now = now or _now()
    info = session_for(app, pending_id, stages=("password",), now=now)
    keys = _keys(app)
    nkey = _name_key(keys, info.user)
    code = (code or "").strip()[:32]
    with app.vault.writer() as s:
        user = s.get(User, info.user)
        if _locked(s, user, nkey, now):
            s.execute(delete(WebSession).where(WebSession.id_hash == _id_hash(pending_id)))
            _audit(s, user, "auth.login", "refused", address=address, detail="locked")
            s.commit()
            raise LoginFailed(LOCKED, "locked")
        how = None
        step = _matching_step(_open_secret(keys, user), code, user.totp_last_step, now.timestamp())
        if step is not None:
            user.totp_last_step, how = step, "authenticator code"
        elif len(_clean_recovery(code)) == 10:
            used = s.get(RecoveryCode, (user.name, _recovery_hash(keys, user.name, code)))
            if used is not None:
                s.delete(used)
                s.flush()
                left = s.scalar(
                    select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_name == user.name)
                )
                how = f"recovery code ({left} left)"
        if how is None:
            locked = _fail(s, user, nkey, now, address, "auth.code", "wrong or used code")
            if locked:
                s.execute(delete(WebSession).where(WebSession.id_hash == _id_hash(pending_id)))
            s.commit()
            if locked:
                raise LoginFailed(LOCKED, "locked")
            raise LoginFailed(
                "the code is not right, or was used already; type the code your authenticator app shows now",
                "wrong-code",
            )
        s.execute(delete(WebSession).where(WebSession.id_hash == _id_hash(pending_id)))
        s.execute(delete(LoginFailure).where(LoginFailure.name_key == nkey))
        user.locked_until = None
        full = _begin(s, user.name, "full", now, address)
        _audit(s, user, "auth.login", "ok", address=address, detail=how)
        s.commit()
    return full


# ---- set-up links, enrolment, recovery codes --------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _setup_user(session, token: str, now: dt.datetime) -> User:
    user = None
    if token and len(token) <= 128:
        user = session.execute(select(User).where(User.setup_token_hash == _token_hash(token))).scalar_one_or_none()
    if user is None or user.disabled_at is not None or _aware(user.setup_expires_at) < now:
        raise NotFound(
            "this set-up link is not valid (used, expired or replaced by a newer one); ask the privacy officer "
            "for a new one",
            "setup-link",
        )
    return user


def setup_link_user(app: App, token: str, *, now: dt.datetime | None = None) -> str:
    """The user a set-up link is for (NotFound when used, expired or replaced)."""
    with app.vault.sessions() as s:
        return _setup_user(s, token, now or _now()).name


def begin_setup(
    app: App, token: str, password: str, *, address: str | None = None, now: dt.datetime | None = None
) -> NewSession:
    """The set-up link's first step: the new password is checked and, with a new authenticator key,
    kept sealed in an 'enrol' session until a code confirms the key (confirm_setup)."""
    now = now or _now()
    name = setup_link_user(app, token, now=now)
    check_new_password(name, password)
    hashed = _hasher.hash(password)
    keys = _keys(app)
    pending = {"password_hash": hashed, "totp": pyotp.random_base32(), "token": _token_hash(token)}
    with app.vault.writer() as s:
        user = _setup_user(s, token, now)
        sealed = crypto.seal(keys.pending, json.dumps(pending).encode(), f"pending:{user.name}".encode())
        new = _begin(s, user.name, "enrol", now, address, pending=sealed)
        _audit(s, user, "auth.setup", "ok", address=address, detail="password")
        s.commit()
    return new


def _pending(app: App, keys: _Keys, session_id: str, user: str) -> dict | None:
    with app.vault.sessions() as s:
        row = s.get(WebSession, _id_hash(session_id))
        sealed = row.pending_sealed if row is not None else None
    if sealed is None:
        return None
    return json.loads(crypto.open_sealed(keys.pending, sealed, f"pending:{user}".encode()))


@dataclass(frozen=True)
class Enrolment:
    user: str
    secret: str  # for typing in by hand
    otpauth_uri: str  # for the QR code


def enrolment(app: App, session_id: str | None, *, now: dt.datetime | None = None) -> Enrolment:
    """The authenticator key being set up in this session (to show as a QR code and as text)."""
    info = session_for(app, session_id, stages=("enrol", "full"), now=now)
    pending = _pending(app, _keys(app), session_id, info.user)
    if pending is None:
        raise NotFound("no authenticator is being set up in this session; start again", "no-enrolment")
    return Enrolment(info.user, pending["totp"], otpauth_uri(info.user, pending["totp"]))


def begin_new_authenticator(
    app: App, session_id: str | None, password: str, *, address: str | None = None, now: dt.datetime | None = None
) -> Enrolment:
    """A logged-in user (after a lost phone and a recovery code) sets up a new authenticator, giving
    their password again: the key is kept with the session until a code confirms it; the old one
    works until then."""
    now = now or _now()
    info = session_for(app, session_id, now=now)
    _confirm_password(app, info.user, password, "account.totp", address, now)
    keys = _keys(app)
    pending = {"totp": pyotp.random_base32()}
    with app.vault.writer() as s:
        row = s.get(WebSession, _id_hash(session_id))
        row.pending_sealed = crypto.seal(keys.pending, json.dumps(pending).encode(), f"pending:{info.user}".encode())
        s.commit()
    return Enrolment(info.user, pending["totp"], otpauth_uri(info.user, pending["totp"]))


def confirm_setup(
    app: App, session_id: str | None, code: str, *, address: str | None = None, now: dt.datetime | None = None
) -> NewSession:
    """A code from the new key confirms it: the pending credentials become the user's, the set-up
    link is used up, new recovery codes are made (shown once) and a full session with a new id begins."""
    now = now or _now()
    info = session_for(app, session_id, stages=("enrol", "full"), now=now)
    keys = _keys(app)
    pending = _pending(app, keys, session_id, info.user)
    if pending is None:
        raise NotFound("no authenticator is being set up in this session; start again", "no-enrolment")
    step = _matching_step(pending["totp"], code or "", None, now.timestamp())
    with app.vault.writer() as s:
        user = s.get(User, info.user)
        if step is None:
            _audit(s, user, "auth.enrol", "failed", address=address, detail="code")
            s.commit()
            raise BadInput(
                "the code does not match the new key; check the clock of the phone and type the code shown now",
                "wrong-code",
            )
        if "token" in pending:
            if user.setup_token_hash != pending["token"] or _aware(user.setup_expires_at) < now:
                raise NotFound("this set-up link was replaced or has expired; ask for a new one", "setup-link")
            user.password_hash = pending["password_hash"]
            user.setup_token_hash = user.setup_expires_at = None
        user.totp_sealed = _seal_secret(keys, user.name, pending["totp"])
        user.totp_confirmed_at = now
        user.totp_last_step = step
        user.locked_until = None
        codes = _new_recovery_codes(s, keys, user.name)
        end_sessions(s, user.name)  # the set-up session, and any other: credentials changed
        full = _begin(s, user.name, "full", now, address)
        _audit(s, user, "auth.enrol", "ok", address=address)
        s.commit()
    return NewSession(full.id, full.csrf, full.user, full.stage, codes)


# ---- managing credentials (privacy officer, or the user themself) ------------------------------------


def _self_or_manager(uow, name: str) -> User:
    """The user `name`; only the privacy officer manages others' credentials."""
    user = uow.session.get(User, validate.user_name(name))
    if uow.ctx.actor.name != name:
        uow.allow()
    if user is None:
        raise NotFound(f"user {validate.shown(name)} does not exist; see `dossier user list`", "unknown-user")
    return user


def set_password(ctx: Context, name: str, password: str) -> dict:
    """Set a user's password (Argon2id); their open sessions end."""
    with ctx.uow("users.manage") as uow:
        user = _self_or_manager(uow, name)
        check_new_password(user.name, password)
        user.password_hash = _hasher.hash(password)
        user.locked_until = None
        ended = end_sessions(uow.session, user.name)
        uow.audit("user.password", detail=f"{user.name}; {ended} sessions ended")
        uow.commit()
    return {"user": name}


def _confirm_password(
    app: App, name: str, password: str, action: str, address: str | None, now: dt.datetime | None = None
) -> None:
    """A logged-in user proves it is them before changing their credentials. A wrong password counts
    as a failed login (a taken-over session cannot guess freely): five lock the account and end its
    sessions."""
    now = now or _now()
    nkey = _name_key(_keys(app), name)
    with app.vault.sessions() as s:
        user = s.get(User, name)
        stored = user.password_hash if user is not None else None
        locked = _locked(s, user, nkey, now)
    if not locked and _verify(stored, (password or "")[:PASSWORD_MAX]):
        return
    with app.vault.writer() as s:
        user = s.get(User, name)
        now_locked = locked or _fail(s, user, nkey, now, address, action, "current password wrong")
        if now_locked:
            end_sessions(s, name)
        s.commit()
    if now_locked:
        raise LoginFailed(LOCKED, "locked")
    raise BadInput("the current password is not right; type it again", "wrong-current-password")


def change_own_password(ctx: Context, current: str, new: str) -> dict:
    """A logged-in user changes their password, giving the current one; every session of theirs
    ends (this one too: they log in again with the new password)."""
    name = ctx.actor.name
    _confirm_password(ctx.app, name, current, "account.password", ctx.actor.address)
    check_new_password(name, new)
    hashed = _hasher.hash(new)
    with ctx.uow("account.password") as uow:
        user = uow.session.get(User, name)
        user.password_hash = hashed
        end_sessions(uow.session, name)
        uow.audit("account.password")
        uow.commit()
    return {"user": name}


def enrol_totp(ctx: Context, name: str) -> dict:
    """A new authenticator key for a user, in force at once; the otpauth URI is returned once and
    kept nowhere in plain text. Their open sessions end; recovery codes are made anew (returned)."""
    keys = _keys(ctx.app)
    secret = pyotp.random_base32()
    with ctx.uow("users.manage") as uow:
        user = _self_or_manager(uow, name)
        user.totp_sealed = _seal_secret(keys, user.name, secret)
        user.totp_confirmed_at, user.totp_last_step = utcnow(), None
        codes = _new_recovery_codes(uow.session, keys, user.name)
        ended = end_sessions(uow.session, user.name)
        uow.audit("user.totp", detail=f"{user.name}; {ended} sessions ended")
        uow.commit()
    return {"user": name, "otpauth_uri": otpauth_uri(name, secret), "recovery_codes": codes}


def issue_setup_link(ctx: Context, name: str, *, reset: bool = False, now: dt.datetime | None = None) -> dict:
    """A one-time set-up link token for a user (privacy officer). With `reset` (a lost phone, a
    forgotten password) the user's password, authenticator and recovery codes are cleared and
    their sessions end, so only the new link lets them in again."""
    now = now or _now()
    token = secrets.token_urlsafe(32)
    with ctx.uow("users.manage") as uow:
        uow.allow()
        user = uow.session.get(User, validate.user_name(name))
        if user is None:
            raise NotFound(f"user {validate.shown(name)} does not exist", "unknown-user")
        if user.disabled_at is not None:
            raise RuleForbids(
                f"user {name} is disabled; a disabled user gets no set-up link (enable the user first)", "disabled"
            )
        user.setup_token_hash, user.setup_expires_at = _token_hash(token), now + SETUP_LINK_FOR
        if reset:
            user.password_hash = user.totp_sealed = user.totp_confirmed_at = user.totp_last_step = None
            user.locked_until = None
            uow.session.execute(delete(RecoveryCode).where(RecoveryCode.user_name == user.name))
            end_sessions(uow.session, user.name)
        uow.audit("user.reset" if reset else "user.setup-link", detail=user.name)
        uow.commit()
    return {"user": name, "token": token, "expires_at": (now + SETUP_LINK_FOR).isoformat(timespec="minutes")}


def credentials(session, user: User, now: dt.datetime | None = None) -> dict:
    """What the users page shows of a user's login state (no secrets)."""
    now = now or _now()
    locked = _aware(user.locked_until)
    codes = session.scalar(select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_name == user.name))
    return {
        "password_set": user.password_hash is not None,
        "second_factor": user.totp_confirmed_at is not None,
        "recovery_codes": codes,
        "locked_until": locked.isoformat(timespec="minutes") if locked and locked > now else None,
        "disabled": user.disabled_at is not None,
        "setup_link_open": user.setup_token_hash is not None and _aware(user.setup_expires_at) > now,
        "sessions": session.scalar(
            select(func.count()).select_from(WebSession).where(WebSession.user_name == user.name)
        ),
    }


def totp_code(secret: str, at: float | None = None) -> str:
    """The code of a key at a time (for tests and the benchmark, which play the phone)."""
    return _totp(secret).at(at if at is not None else time.time())
