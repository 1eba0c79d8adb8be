"""Shared fixtures: one Prefect server for the whole session, archives driven through the real CLI."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PrefectServer:
    url: str
    home: Path


@contextmanager
def running_prefect(home: Path, **extra_env: str):
    """A real `prefect server start` on loopback with its home in `home` (its SQLite database too,
    unless `extra_env` points it elsewhere), stopped at the end."""
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        **extra_env,
    }
    env.pop("PREFECT_API_URL", None)
    log = open(home / "server.log", "wb")
    proc = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"prefect server exited: {(home / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("prefect server did not start in 120 s")
        yield PrefectServer(url, home)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """A real `prefect server start` on loopback, its database in a folder the leak tests search."""
    with running_prefect(tmp_path_factory.mktemp("prefect-server")) as server:
        yield server


@pytest.fixture(scope="session")
def imap_server(tmp_path_factory):
    """A real Dovecot on loopback (tests/imap_server.py), unprivileged, stopped at the end."""
    import shutil
    import tempfile

    from . import imap_server as dovecot

    # Not under pytest's temp root: that is 0700, closed to the unprivileged account Dovecot runs as.
    root = Path(tempfile.mkdtemp(prefix="dossier-dovecot-"))
    try:
        server = dovecot.start(root)
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def catalog(home: Path, timeout: float = 30):
    """A direct connection to a data home's SQLite catalog, for tests that look under the hood or
    play the attacker: committed and closed on leaving.

    Always closed, never left to the garbage collector: the leak tests read catalog.db* as plain
    files, and closing a file drops every POSIX lock this process holds on it. A connection left
    open then takes itself for the last user when it is collected, and deletes a WAL that still
    holds the commits of a `dossier` process (SQLite, "How To Corrupt An SQLite Database File"
    §2.2). Twice that made a scan's documents vanish between two commands in CI."""
    con = sqlite3.connect(home / "catalog.db", timeout=timeout)
    try:
        with con:
            yield con
    finally:
        con.close()


def catalog_rows(home: Path, sql: str, *args) -> list[tuple]:
    with catalog(home) as con:
        return con.execute(sql, args).fetchall()


_SEARCH = r"""
import json, sys
from pathlib import Path
job = json.load(sys.stdin)
needles = [bytes.fromhex(n) for n in job["needles"]]
found = []
for root in job["roots"]:
    for p in sorted(Path(root).rglob("*")):
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            found += [f"{p}: {n[:24]!r}" for n in needles if n in data]
        if job["names"]:
            found += [f"{p} (name): {n[:24]!r}" for n in needles if n.decode(errors="ignore").lower() in p.name.lower()]
json.dump(found, sys.stdout)
"""


def files_containing(needles: list[bytes], *roots: Path, names: bool = False) -> list[str]:
    """The leak search: every file under `roots` that holds one of `needles` (with `names`, every
    file whose name holds one too). It reads in a child process: reading catalog.db* here and
    closing it again would drop this process's SQLite locks (see `catalog`)."""
    job = {"needles": [n.hex() for n in needles], "roots": [str(r) for r in roots], "names": names}
    out = subprocess.run(
        [sys.executable, "-c", _SEARCH], input=json.dumps(job), capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


@dataclass
class Result:
    rc: int
    data: dict | None
    stdout: str
    stderr: str


class Archive:
    """One data home, driven through the `dossier` command as the people using it would."""

    def __init__(self, home: Path, prefect: PrefectServer | None, database_url: str | None = None):
        self.home = home
        self.prefect = prefect
        self.database_url = database_url  # None: the embedded SQLite catalog in the home

    def env(self, user: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOSSIER_", "PREFECT_"))}
        env.update(DOSSIER_HOME=str(self.home), DOSSIER_USER=user)
        if self.database_url:
            env["DOSSIER_DATABASE_URL"] = self.database_url
        if self.prefect:
            env["PREFECT_API_URL"] = self.prefect.url
        return env

    def run(self, *args, user: str = "petra", json_out: bool = True, timeout: int = 600) -> Result:
        cmd = [str(BIN / "dossier"), *map(str, args)] + (["--json"] if json_out else [])
        p = subprocess.run(cmd, env=self.env(user), capture_output=True, text=True, timeout=timeout)
        data = None
        if json_out and p.stdout.strip():
            data = json.loads(p.stdout)
        return Result(p.returncode, data, p.stdout, p.stderr)

    def ok(self, *args, **kw) -> dict:
        r = self.run(*args, **kw)
        assert r.rc == 0, f"dossier {' '.join(map(str, args))} failed ({r.rc}): {r.stderr}"
        return r.data

    def sql(self, query: str, *args) -> list[tuple]:
        """Rows straight from the catalog (see `catalog`)."""
        return catalog_rows(self.home, query, *args)

    def new_dossier(self, coach: str = "anna", **fields) -> str:
        args = ["new", "--coach", coach]
        for k, v in fields.items():
            args += [f"--{k.replace('_', '-')}", v]
        return self.ok(*args, user="olaf")["dossier"]

    def cover(self, dossier: str, doc_type: str, out: Path) -> Path:
        self.ok("cover", dossier, "--type", doc_type, "-o", out, user="olaf")
        return out


@pytest.fixture
def app(tmp_path):
    """An archive to call use cases on directly (services/), with a privacy officer (petra), two
    coaches (anna, bert) and office staff (olaf): no CLI, no Prefect."""
    from dossier.settings import Settings
    from dossier.wiring import build_app
    from services import setup, users
    from services.context import act_as

    a = build_app(Settings(home=tmp_path / "home"))
    setup.initialise(a, "petra")
    petra = act_as(a, "petra")
    for name, role in (("anna", "coach"), ("bert", "coach"), ("olaf", "office")):
        users.add_user(petra, name, role)
    yield a
    a.vault.engine.dispose()  # closed here, not by the garbage collector some tests later (see `catalog`)


def file_document(vault, dossier: str, text: str = "gesprek", doc_type: str = "aantekeningen") -> str:
    """A one-page document with this OCR text, filed through the archive's own path (encrypt,
    verify, record) without OCR: for tests about what happens to documents, not how they are read."""
    import pikepdf

    from archive.vault import PageRecord

    pdf = pikepdf.new()
    pdf.add_blank_page()
    with vault.sessions() as s:
        keys = vault.dossier_keys(s, dossier)
    stored = vault.store_document(keys, pdf, 1)
    with vault.writer() as s:
        doc = vault.record_document(
            s,
            stored,
            doc_type=doc_type,
            pages=[PageRecord(text, 90.0, len(text.split()), False)],
            scan_id=None,
            cover_serial=None,
        )
        s.commit()
    return doc.id


def make_archive(home: Path, prefect: PrefectServer | None, database_url: str | None = None) -> Archive:
    a = Archive(home, prefect, database_url)
    a.ok("init", user="petra")
    a.ok("user", "add", "anna", "--role", "coach")
    a.ok("user", "add", "bert", "--role", "coach")
    a.ok("user", "add", "olaf", "--role", "office")
    return a


@pytest.fixture
def archive(tmp_path, prefect_server) -> Archive:
    return make_archive(tmp_path / "home", prefect_server)


@pytest.fixture(scope="module")
def shared_archive(tmp_path_factory, prefect_server) -> Archive:
    return make_archive(tmp_path_factory.mktemp("archive") / "home", prefect_server)


@pytest.fixture(scope="session")
def postgres_cluster():
    """A throwaway PostgreSQL cluster (tests/pgcluster.py), stopped and removed at the end."""
    from .pgcluster import Cluster

    cluster = Cluster()
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster, request) -> str:
    """A fresh database on the session's cluster for one test."""
    import re

    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40] + f"_{os.getpid()}_{time.time_ns() % 10**6}"
    return postgres_cluster.create_database(name)
