"""A real Dovecot IMAP server for the tests: unprivileged, in a temp dir, on 127.0.0.1.

Dovecot runs "rootless" (one user for every process, no chroot) from its own configuration; no
system service or file outside the temp dir is touched. Run as root (CI), it is started as the
unprivileged account `dossier-imap`, made with useradd when missing. Maildir storage, one mailbox
user in a passwd-file, plaintext login allowed (loopback only), and an imaps:// listener with a
self-signed certificate for 127.0.0.1 (`ca_file`: trust it with SSL_CERT_FILE).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SERVICE_ACCOUNT = "dossier-imap"
MAIL_USER = "intake"
MAIL_PASSWORD = "Vlinder-Kastanje-42"  # a test server's password, never a real one


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _account() -> pwd.struct_passwd:
    """Who Dovecot runs as: ourselves, or (as root) the unprivileged service account."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(SERVICE_ACCOUNT)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_ACCOUNT,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVICE_ACCOUNT)


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or (os.path.exists("/usr/sbin/dovecot") and "/usr/sbin/dovecot") or None


@dataclass
class ImapServer:
    host: str
    port: int
    user: str
    password: str
    root: Path
    proc: subprocess.Popen
    tls_port: int = 0
    ca_file: Path | None = None

    def url(self, mailbox: str = "INBOX", port: int | None = None) -> str:
        return f"imap://{self.user}@{self.host}:{port or self.port}/{mailbox}"

    def tls_url(self, mailbox: str = "INBOX") -> str:
        return f"imaps://{self.user}@{self.host}:{self.tls_port}/{mailbox}"

    def log(self) -> str:
        p = self.root / "dovecot.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(root: Path) -> ImapServer:
    binary = dovecot_binary()
    if binary is None:
        raise RuntimeError("dovecot is not installed; run `make setup` (it installs dovecot-imapd)")
    acct = _account()
    port, tls_port = _free_port(), _free_port()
    cert, key = _self_signed(root)
    for d in ("run", "state", "mail"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "passwd").write_text(
        f"{MAIL_USER}:{{PLAIN}}{MAIL_PASSWORD}:{acct.pw_uid}:{acct.pw_gid}::{root / 'mail' / MAIL_USER}::\n"
    )
    (root / "dovecot.conf").write_text(f"""\
# Rootless Dovecot for the test suite: one account for every process, no chroot, loopback only.
protocols = imap
listen = 127.0.0.1
base_dir = {root / "run"}
state_dir = {root / "state"}
log_path = {root / "dovecot.log"}
info_log_path = {root / "dovecot.log"}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {acct.pw_name}
default_internal_group = {_group_name(acct.pw_gid)}
default_login_user = {acct.pw_name}
first_valid_uid = {acct.pw_uid}
last_valid_uid = {acct.pw_uid}
first_valid_gid = 0
mail_location = maildir:~/Maildir
mail_fsync = always
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root / "passwd"}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root / "passwd"}
}}
""")
    if os.geteuid() == 0:
        for p in [root, *root.rglob("*")]:
            os.chown(p, acct.pw_uid, acct.pw_gid)
        # The service account must be able to pass every folder above the temp dir (pytest's own
        # temp root is 0700 and pytest tightens it again, so start() is given a folder in /tmp).
        closed = [p for p in root.parents if not p.stat().st_mode & 0o001]
        if closed:
            raise RuntimeError(
                f"{closed[0]} is closed to the account {acct.pw_name}; start Dovecot in a folder under /tmp"
            )
        cmd = [
            "setpriv",
            f"--reuid={acct.pw_uid}",
            f"--regid={acct.pw_gid}",
            "--clear-groups",
            binary,
            "-F",
            "-c",
            str(root / "dovecot.conf"),
        ]
    else:
        cmd = [binary, "-F", "-c", str(root / "dovecot.conf")]
    proc = subprocess.Popen(
        cmd, stdout=open(root / "stdout.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    server = ImapServer("127.0.0.1", port, MAIL_USER, MAIL_PASSWORD, root, proc, tls_port, cert)
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dovecot exited: {(root / 'stdout.log').read_text()[-2000:]} {server.log()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(100).startswith(b"* OK"):
                    return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"dovecot did not answer within 30 s: {server.log()[-2000:]}")


def _self_signed(root: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, valid for a day, that is its own CA."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dossier test IMAP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = root / "cert.pem", root / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name
