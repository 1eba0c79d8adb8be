"""Logging in (services/auth.py) called directly: passwords, TOTP, locks, sessions, set-up links.

Time is passed in (`now`) where a rule is about time, so nothing here sleeps.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from archive.catalog import AuditEvent, User, WebSession
from archive.errors import BadInput, NotFound, NotPermitted
from dossier.settings import Settings
from dossier.wiring import build_app
from services import auth, setup, users
from services.context import act_as

PASSWORD = "paarse olifant op de fiets"
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def app(tmp_path):
    a = build_app(Settings(home=tmp_path / "home"))
    setup.initialise(a, "petra")
    petra = act_as(a, "petra")
    for name, role in (("anna", "coach"), ("olaf", "office")):
        users.add_user(petra, name, role)
    return a


def _secret(uri: str) -> str:
    return parse_qs(urlparse(uri).query)["secret"][0]


@pytest.fixture
def anna(app):
    """anna with a password and an authenticator: her key, to play her phone."""
    petra = act_as(app, "petra")
    auth.set_password(petra, "anna", PASSWORD)
    return _secret(auth.enrol_totp(petra, "anna")["otpauth_uri"])


def _code(secret: str, at: dt.datetime) -> str:
    return pyotp.TOTP(secret).at(at.timestamp())


def _login(app, secret, at=T0, name="anna", password=PASSWORD, address="192.0.2.9"):
    pending = auth.login_password(app, name, password, address=address, now=at)
    return auth.login_code(app, pending.id, _code(secret, at), address=address, now=at)


def _events(app, **where):
    with app.vault.sessions() as s:
        q = select(AuditEvent)
        for k, v in where.items():
            q = q.where(getattr(AuditEvent, k) == v)
        return s.execute(q.order_by(AuditEvent.seq)).scalars().all()


@pytest.mark.parametrize(
    "password, code",
    [
        ("kort", "password-too-short"),
        ("passwordpassword", "password-common"),
        ("Password123456!", "password-common"),  # a common one with digits added
        ("aaaaaaaaaaaaaaaa", "password-common"),
        ("anna-heeft-een-fiets", "password-has-name"),
    ],
)
def test_weak_passwords_are_refused(app, password, code):
    with pytest.raises(BadInput) as e:
        auth.set_password(act_as(app, "petra"), "anna", password)
    assert e.value.code == code
    with app.vault.sessions() as s:
        assert s.get(User, "anna").password_hash is None


def test_password_is_stored_as_argon2id_and_the_secret_sealed(app, anna):
    with app.vault.sessions() as s:
        u = s.get(User, "anna")
    assert u.password_hash.startswith("$argon2id$") and PASSWORD not in u.password_hash
    assert anna.encode() not in u.totp_sealed


def test_login_with_password_then_code_gives_a_new_session(app, anna):
    pending = auth.login_password(app, "anna", PASSWORD, address="192.0.2.9", now=T0)
    assert pending.stage == "password"
    with pytest.raises(auth.NotAuthenticated):  # the pending session opens no page
        auth.session_for(app, pending.id, now=T0)
    full = auth.login_code(app, pending.id, _code(anna, T0), address="192.0.2.9", now=T0)
    assert full.id != pending.id and full.stage == "full"
    info = auth.session_for(app, full.id, now=T0)
    assert (info.user, info.role, info.csrf) == ("anna", "coach", full.csrf)
    with pytest.raises(auth.NotAuthenticated):  # the pending id is gone
        auth.login_code(app, pending.id, _code(anna, T0), now=T0)
    with app.vault.sessions() as s:  # the catalog holds a hash of the id, never the id
        ids = list(s.execute(select(WebSession.id_hash)).scalars())
    assert full.id not in ids and len(ids) == 1
    login = _events(app, action="auth.login", outcome="ok")[-1]
    assert (login.actor, login.channel, login.address) == ("anna", "web", "192.0.2.9")


def test_unknown_user_and_wrong_password_get_the_same_answer(app, anna):
    with pytest.raises(auth.LoginFailed) as wrong:
        auth.login_password(app, "anna", "niet het wachtwoord", now=T0)
    with pytest.raises(auth.LoginFailed) as unknown:
        auth.login_password(app, "mallory", PASSWORD, now=T0)
    assert str(wrong.value) == str(unknown.value) == auth.WRONG_CREDENTIALS
    assert wrong.value.http_status == 401
    failed = _events(app, action="auth.login", outcome="failed")
    assert [e.actor for e in failed] == ["anna", auth.UNKNOWN_ACTOR]
    assert all("mallory" not in (e.detail or "") for e in failed)  # a typed name is not kept


def test_five_failures_lock_the_account_for_15_minutes_right_password_included(app, anna):
    for i in range(4):
        with pytest.raises(auth.LoginFailed, match="wrong password"):
            auth.login_password(app, "anna", f"fout wachtwoord {i}", now=T0 + dt.timedelta(minutes=i))
    with pytest.raises(auth.LoginFailed, match="locked"):
        auth.login_password(app, "anna", "fout wachtwoord 5", now=T0 + dt.timedelta(minutes=4))
    with pytest.raises(auth.LoginFailed, match="locked"):
        auth.login_password(app, "anna", PASSWORD, now=T0 + dt.timedelta(minutes=10))
    (lock,) = _events(app, action="auth.lock")
    assert lock.actor == "anna"
    with pytest.raises(auth.LoginFailed, match="locked"):
        auth.login_password(app, "anna", PASSWORD, now=T0 + dt.timedelta(minutes=18, seconds=59))
    assert _login(app, anna, at=T0 + dt.timedelta(minutes=19, seconds=1)).stage == "full"


def test_an_unknown_name_locks_the_same_way(app):
    for i in range(5):
        with pytest.raises(auth.LoginFailed):
            auth.login_password(app, "mallory", "x" * 12, now=T0 + dt.timedelta(minutes=i))
    with pytest.raises(auth.LoginFailed, match="locked"):
        auth.login_password(app, "mallory", "x" * 12, now=T0 + dt.timedelta(minutes=5))
    with pytest.raises(auth.LoginFailed, match="wrong password"):  # fifteen minutes after the fifth
        auth.login_password(app, "mallory", "x" * 12, now=T0 + dt.timedelta(minutes=19, seconds=1))


def test_wrong_codes_count_towards_the_lock(app, anna):
    pending = auth.login_password(app, "anna", PASSWORD, now=T0)
    for _ in range(4):
        with pytest.raises(auth.LoginFailed, match="code is not right"):
            auth.login_code(app, pending.id, "000000", now=T0)
    with pytest.raises(auth.LoginFailed, match="locked"):
        auth.login_code(app, pending.id, "000001", now=T0)
    with pytest.raises(auth.NotAuthenticated):  # the pending session ended with the lock
        auth.login_code(app, pending.id, _code(anna, T0), now=T0)


def test_each_code_is_accepted_once(app, anna):
    _login(app, anna, at=T0)
    pending = auth.login_password(app, "anna", PASSWORD, now=T0 + dt.timedelta(seconds=5))
    with pytest.raises(auth.LoginFailed, match="used already"):  # the same code, replayed
        auth.login_code(app, pending.id, _code(anna, T0), now=T0 + dt.timedelta(seconds=5))
    with pytest.raises(auth.LoginFailed):  # nor an older one
        auth.login_code(app, pending.id, _code(anna, T0 - dt.timedelta(seconds=30)), now=T0 + dt.timedelta(seconds=5))
    later = T0 + dt.timedelta(seconds=30)
    assert auth.login_code(app, pending.id, _code(anna, later), now=later).stage == "full"


def test_recovery_code_works_once(app):
    petra = act_as(app, "petra")
    auth.set_password(petra, "anna", PASSWORD)
    codes = auth.enrol_totp(petra, "anna")["recovery_codes"]
    assert len(codes) == 10 and all(re.fullmatch(r"[A-Z2-7]{5}-[A-Z2-7]{5}", c) for c in codes)
    pending = auth.login_password(app, "anna", PASSWORD, now=T0)
    assert auth.login_code(app, pending.id, codes[0].lower(), now=T0).stage == "full"
    pending = auth.login_password(app, "anna", PASSWORD, now=T0)
    with pytest.raises(auth.LoginFailed):
        auth.login_code(app, pending.id, codes[0], now=T0)
    assert "9 left" in _events(app, action="auth.login", outcome="ok")[-1].detail


def test_idle_and_absolute_timeouts(app, anna):
    s = _login(app, anna)
    idle = app.session_idle
    t = T0
    for _ in range(int(app.session_max / (idle / 2))):  # busy all day, a request every 7.5 minutes
        t += idle / 2
        if t - T0 > app.session_max:
            break
        auth.session_for(app, s.id, now=t)
    with pytest.raises(auth.NotAuthenticated) as e:
        auth.session_for(app, s.id, now=T0 + app.session_max + dt.timedelta(minutes=1))
    assert e.value.code == "session-expired"
    s2 = _login(app, anna, at=T0 + dt.timedelta(seconds=30))
    auth.session_for(app, s2.id, now=T0 + dt.timedelta(minutes=10))
    with pytest.raises(auth.NotAuthenticated) as e:
        auth.session_for(app, s2.id, now=T0 + dt.timedelta(minutes=10) + idle + dt.timedelta(seconds=1))
    assert e.value.code == "session-idle"
    with pytest.raises(auth.NotAuthenticated) as e:  # and it stays ended
        auth.session_for(app, s2.id, now=T0 + dt.timedelta(minutes=11))
    assert e.value.code == "no-session"


def test_a_page_polling_itself_keeps_no_session_alive(app, anna):
    s = _login(app, anna)
    for minutes in range(1, 15):
        auth.session_for(app, s.id, now=T0 + dt.timedelta(minutes=minutes), touch=False)
    with pytest.raises(auth.NotAuthenticated):
        auth.session_for(app, s.id, now=T0 + app.session_idle + dt.timedelta(seconds=1), touch=False)


def test_logout_and_disable_end_sessions_on_the_server(app, anna):
    s = _login(app, anna)
    assert auth.logout(app, s.id, address="192.0.2.9")
    with pytest.raises(auth.NotAuthenticated):
        auth.session_for(app, s.id, now=T0)
    s = _login(app, anna, at=T0 + dt.timedelta(seconds=30))
    assert users.disable_user(act_as(app, "petra"), "anna")["sessions_ended"] == 1
    with pytest.raises(auth.NotAuthenticated):
        auth.session_for(app, s.id, now=T0)
    with pytest.raises(NotPermitted):
        act_as(app, "anna", channel="web")
    with pytest.raises(auth.LoginFailed, match="wrong password"):  # the right password, the same answer
        auth.login_password(app, "anna", PASSWORD, now=T0 + dt.timedelta(minutes=1))


def test_a_disabled_user_enabled_again_logs_in_with_what_they_had(app, anna):
    petra = act_as(app, "petra")
    users.disable_user(petra, "anna")
    with pytest.raises(NotPermitted):  # only the privacy officer lets someone back in
        users.enable_user(act_as(app, "olaf"), "anna")
    with pytest.raises(auth.LoginFailed):
        auth.login_password(app, "anna", PASSWORD, now=T0)
    assert users.enable_user(petra, "anna") == {"user": "anna", "disabled": False, "was_disabled": True}
    s = _login(app, anna, at=T0 + dt.timedelta(minutes=1))  # the same password and phone
    assert auth.session_for(app, s.id, now=T0 + dt.timedelta(minutes=1), touch=False)
    assert users.enable_user(petra, "anna")["was_disabled"] is False
    with pytest.raises(NotFound):
        users.enable_user(petra, "nobody")
    assert [e.detail for e in _events(app, action="user.enable")] == ["anna", "anna; was not disabled"]
    assert [e.outcome for e in _events(app, actor="olaf", action="users.manage")] == ["refused"]


def test_the_last_privacy_officer_stays(app):
    petra = act_as(app, "petra")
    with pytest.raises(NotPermitted, match="last privacy officer"):
        users.disable_user(petra, "petra")
    with pytest.raises(NotPermitted, match="last privacy officer"):
        users.set_role(petra, "petra", "coach")
    assert users.set_role(petra, "olaf", "privacy")["previous"] == "office"
    assert users.disable_user(petra, "petra")["disabled"]


def test_only_the_user_or_the_privacy_officer_sets_a_password(app):
    olaf = act_as(app, "olaf")
    assert auth.set_password(olaf, "olaf", PASSWORD) == {"user": "olaf"}
    with pytest.raises(NotPermitted):
        auth.set_password(olaf, "anna", PASSWORD)
    with pytest.raises(NotPermitted):
        auth.enrol_totp(olaf, "anna")
    assert ("olaf", "users.manage", "refused") in {(e.actor, e.action, e.outcome) for e in _events(app)}


def test_set_up_link_first_login(app):
    petra = act_as(app, "petra")
    link = auth.issue_setup_link(petra, "anna", now=T0)
    assert auth.setup_link_user(app, link["token"], now=T0) == "anna"
    with pytest.raises(BadInput):
        auth.begin_setup(app, link["token"], "kort", now=T0)
    enrol = auth.begin_setup(app, link["token"], PASSWORD, address="192.0.2.9", now=T0)
    with app.vault.sessions() as s:  # nothing of anna changed before the code confirms the key
        assert s.get(User, "anna").password_hash is None
    key = auth.enrolment(app, enrol.id, now=T0)
    assert key.otpauth_uri.startswith("otpauth://totp/") and _secret(key.otpauth_uri) == key.secret
    with pytest.raises(BadInput):
        auth.confirm_setup(app, enrol.id, "123456", now=T0)
    done = auth.confirm_setup(app, enrol.id, _code(key.secret, T0), now=T0)
    assert done.stage == "full" and len(done.recovery_codes) == 10
    assert auth.session_for(app, done.id, now=T0).user == "anna"
    with pytest.raises(NotFound):  # the link is used up
        auth.setup_link_user(app, link["token"], now=T0)
    assert _login(app, key.secret, at=T0 + dt.timedelta(seconds=30)).stage == "full"


def test_an_abandoned_or_expired_set_up_changes_nothing(app, anna):
    petra = act_as(app, "petra")
    link = auth.issue_setup_link(petra, "anna", now=T0)
    auth.begin_setup(app, link["token"], "een ander lang wachtwoord", now=T0)
    assert _login(app, anna).stage == "full"  # the old credentials still work
    with pytest.raises(NotFound):
        auth.setup_link_user(app, link["token"], now=T0 + auth.SETUP_LINK_FOR + dt.timedelta(minutes=1))


def test_reset_clears_credentials_and_ends_sessions(app, anna):
    s = _login(app, anna)
    link = auth.issue_setup_link(act_as(app, "petra"), "anna", reset=True, now=T0)
    with pytest.raises(auth.NotAuthenticated):
        auth.session_for(app, s.id, now=T0)
    with pytest.raises(auth.LoginFailed):
        auth.login_password(app, "anna", PASSWORD, now=T0)
    assert auth.setup_link_user(app, link["token"], now=T0) == "anna"
    assert ("petra", "user.reset") in {(e.actor, e.action) for e in _events(app)}


def test_a_new_authenticator_replaces_the_old_only_once_confirmed(app, anna):
    s = _login(app, anna)
    with pytest.raises(BadInput, match="current password"):
        auth.begin_new_authenticator(app, s.id, "not the password", now=T0)
    new = auth.begin_new_authenticator(app, s.id, PASSWORD, now=T0)
    assert new.secret != anna
    later = T0 + dt.timedelta(seconds=30)
    done = auth.confirm_setup(app, s.id, _code(new.secret, later), now=later)
    assert len(done.recovery_codes) == 10
    with pytest.raises(auth.NotAuthenticated):  # credentials changed: the old session ended
        auth.session_for(app, s.id, now=later)
    pending = auth.login_password(app, "anna", PASSWORD, now=T0 + dt.timedelta(seconds=60))
    with pytest.raises(auth.LoginFailed):
        auth.login_code(app, pending.id, _code(anna, T0 + dt.timedelta(seconds=60)), now=T0 + dt.timedelta(seconds=60))


def test_a_hash_with_old_parameters_is_renewed_at_login(app, anna):
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with app.vault.writer() as s:
        s.get(User, "anna").password_hash = weak
        s.commit()
    _login(app, anna)
    with app.vault.sessions() as s:
        renewed = s.get(User, "anna").password_hash
    assert renewed != weak and not PasswordHasher().check_needs_rehash(renewed)


def test_user_list_shows_login_state_without_secrets(app, anna):
    listed = {u["user"]: u for u in users.list_users(act_as(app, "petra"))["users"]}
    assert listed["anna"]["password_set"] and listed["anna"]["second_factor"]
    assert listed["anna"]["recovery_codes"] == 10
    assert not listed["olaf"]["password_set"]
    assert anna not in repr(listed)


def test_guesses_side_by_side_lock_the_account_like_guesses_one_after_another(app, anna):
    """Attempts running at once are decided again under the write lock: a burst of wrong guesses
    locks the account once, and the right password sent along with them does not get in."""
    from concurrent.futures import ThreadPoolExecutor

    def attempt(n: int):
        password = PASSWORD if n == 11 else f"gok nummer {n}"
        try:
            auth.login_password(app, "anna", password, now=T0)
            return "in"
        except auth.LoginFailed as e:
            return e.code

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(12)))
    assert outcomes.count("locked") >= 6  # from the fifth failure on, whatever arrived at the same time
    locks = [e for e in _events(app) if e.action == "auth.lock"]
    assert len(locks) == 1
    with pytest.raises(auth.LoginFailed, match="locked|geblokkeerd|too many|Te veel") as refused:
        auth.login_password(app, "anna", PASSWORD, now=T0 + dt.timedelta(minutes=1))
    assert refused.value.code == "locked"
