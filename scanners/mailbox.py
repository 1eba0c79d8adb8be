"""The one wrapper around imapclient: the intake mailbox (DESIGN.md §11).

`imap[s]://user@host:port/MAILBOX` names the mailbox; the password comes only from a file.
`imaps://` speaks TLS from the start; `imap://` to a host other than this machine must upgrade
with STARTTLS (client data never cross a network in clear text); to loopback it may stay plain.

Every failure is a MailboxError with one line that is safe to show and log: it names the server
and the mailbox (configuration), never the password, and never repeats what the server said
(a server's error text can quote a subject or a sender).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import imapclient
from imapclient.exceptions import IMAPClientError, LoginError


class MailboxError(Exception):
    """One clear line; `code` says which kind: config, unreachable, login, mailbox, server."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code

    def __reduce__(self):  # keeps message and code when Prefect hands the exception across
        return (MailboxError, (str(self), self.code))


@dataclass(frozen=True)
class MailboxAddress:
    tls: bool
    user: str
    host: str
    port: int
    mailbox: str

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        return f"{'imaps' if self.tls else 'imap'}://{self.user}@{self.host}:{self.port}/{self.mailbox}"


@dataclass(frozen=True)
class Listed:
    """A message in the mailbox: its UID and arrival time (INTERNALDATE, time-zone aware)."""

    uid: int
    arrived: dt.datetime


def parse_url(url: str) -> MailboxAddress:
    """`imap[s]://user@host[:port][/MAILBOX]`; a user name holding `@` is written `%40` (or as is)."""
    bad = "DOSSIER_IMAP_URL must look like imaps://user@host:993/INBOX (or imap://user@host:143/INBOX on this machine)"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise MailboxError(bad, "config") from None
    if parts.scheme not in ("imap", "imaps") or "@" not in parts.netloc or parts.query or parts.fragment:
        raise MailboxError(bad, "config")
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if ":" in userinfo:  # never echo it: what follows the colon is a password
        raise MailboxError(
            "DOSSIER_IMAP_URL holds a password; remove it from the URL and put it in the file "
            "named by DOSSIER_IMAP_PASSWORD_FILE",
            "config",
        )
    user, host = unquote(userinfo), parts.hostname
    if not user or not host:
        raise MailboxError(bad, "config")
    tls = parts.scheme == "imaps"
    return MailboxAddress(tls, user, host, port or (993 if tls else 143), unquote(parts.path.lstrip("/")) or "INBOX")


def read_password(path: Path | None) -> str:
    """The password: the file's first line. The file must be for this account only (mode 0600)."""
    if path is None:
        raise MailboxError(
            "no IMAP password file: set DOSSIER_IMAP_PASSWORD_FILE to a file (mode 0600) holding the mailbox password",
            "config",
        )
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise MailboxError(
            f"the IMAP password file {path} cannot be read; check DOSSIER_IMAP_PASSWORD_FILE", "config"
        ) from None
    if mode & 0o077:
        raise MailboxError(f"the IMAP password file {path} can be read by other accounts; `chmod 600` it", "config")
    password = text.split("\n", 1)[0].rstrip("\r")
    if not password:
        raise MailboxError(f"the IMAP password file {path} is empty; write the mailbox password in it", "config")
    return password


class Mailbox:
    """One logged-in session on the selected mailbox. Use as a context manager."""

    def __init__(
        self, address: MailboxAddress, password: str, timeout: float = 60.0, ssl_context: ssl.SSLContext | None = None
    ):
        self.address = address
        where = f"{address.host}:{address.port}"
        context = ssl_context or ssl.create_default_context()
        try:
            client = imapclient.IMAPClient(
                address.host,
                port=address.port,
                ssl=address.tls,
                ssl_context=context if address.tls else None,
                timeout=timeout,
            )
        except ssl.SSLError:
            raise MailboxError(
                f"the IMAP server {where} could not be reached securely (TLS failed or its "
                "certificate is not trusted); check DOSSIER_IMAP_URL",
                "unreachable",
            ) from None
        except (OSError, IMAPClientError):
            raise MailboxError(
                f"the IMAP server {where} cannot be reached; check DOSSIER_IMAP_URL and that the "
                "server is running. Nothing was deleted",
                "unreachable",
            ) from None
        client.normalise_times = False  # INTERNALDATE with its own time zone, not the machine's
        self._client = client
        try:
            if not address.tls and not address.loopback:
                try:
                    client.starttls(context)
                except (IMAPClientError, ssl.SSLError, OSError):
                    raise MailboxError(
                        f"the IMAP server {where} offers no trusted STARTTLS; use imaps:// in DOSSIER_IMAP_URL",
                        "unreachable",
                    ) from None
            try:
                client.login(address.user, password)
            except LoginError:
                raise MailboxError(
                    f"the IMAP server {where} refused the login of {address.user}: wrong user name or "
                    "password; check DOSSIER_IMAP_PASSWORD_FILE. Nothing was deleted",
                    "login",
                ) from None
            try:
                selected = client.select_folder(address.mailbox)
            except IMAPClientError:
                raise MailboxError(
                    f"there is no mailbox {address.mailbox!r} for {address.user} on {where}; check "
                    "the end of DOSSIER_IMAP_URL",
                    "mailbox",
                ) from None
            self.uidvalidity = int(selected[b"UIDVALIDITY"])
        except MailboxError:
            self.close()
            raise
        except (IMAPClientError, OSError):
            self.close()
            raise self._lost() from None

    def _lost(self) -> MailboxError:
        a = self.address
        return MailboxError(
            f"the connection to the IMAP server {a.host}:{a.port} failed; the next sweep tries again", "server"
        )

    def __enter__(self) -> Mailbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._client.logout()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            try:
                self._client.shutdown()
            except Exception:  # noqa: BLE001
                pass

    def messages(self) -> list[Listed]:
        """Every message in the mailbox, read or unread, oldest UID first."""
        try:
            uids = self._client.search("ALL")
            if not uids:
                return []
            got = self._client.fetch(uids, ["INTERNALDATE"])
        except (IMAPClientError, OSError):
            raise self._lost() from None
        out = []
        for uid in sorted(got):
            arrived = got[uid][b"INTERNALDATE"]
            if arrived.tzinfo is None:  # servers send a zone; imapclient gives naive only if told to
                arrived = arrived.replace(tzinfo=dt.UTC)
            out.append(Listed(uid, arrived))
        return out

    def fetch(self, uid: int) -> bytes | None:
        """The whole RFC 822 source, without marking it read; None when it is gone meanwhile."""
        try:
            got = self._client.fetch([uid], ["BODY.PEEK[]"])
        except (IMAPClientError, OSError):
            raise self._lost() from None
        data = got.get(uid, {}).get(b"BODY[]")
        return bytes(data) if data is not None else None

    def delete(self, uids: list[int]) -> None:
        """Flag \\Deleted and UID EXPUNGE exactly these messages, then check they are gone.

        UID EXPUNGE (UIDPLUS) is required: a plain EXPUNGE would also remove messages someone else
        flagged for deletion."""
        if not uids:
            return
        try:
            if not self._client.has_capability("UIDPLUS"):
                raise MailboxError(
                    f"the IMAP server {self.address.host} cannot expunge single messages (no UIDPLUS); "
                    "nothing was deleted",
                    "server",
                )
            self._client.add_flags(uids, [imapclient.DELETED])
            self._client.uid_expunge(uids)
            left = self._client.fetch(uids, ["FLAGS"]) if uids else {}
        except MailboxError:
            raise
        except (IMAPClientError, OSError):
            raise self._lost() from None
        if left:
            raise MailboxError(
                f"{len(left)} message(s) are still in the mailbox after expunging them; the next sweep tries again",
                "server",
            )


def connect(url: str | None, password_file: Path | None, timeout: float = 60.0) -> Mailbox:
    if not url:
        raise MailboxError(
            "no intake mailbox configured: set DOSSIER_IMAP_URL (imaps://user@host:993/INBOX) and "
            "DOSSIER_IMAP_PASSWORD_FILE",
            "config",
        )
    return Mailbox(parse_url(url), read_password(password_file), timeout=timeout)
