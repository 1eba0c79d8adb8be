"""Shared fixtures: one Prefect server for the whole session, archives driven through the real CLI."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
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


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """A real `prefect server start` on loopback, its database in a folder the leak tests search."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false", "DO_NOT_TRACK": "1"}
    env.pop("PREFECT_API_URL", None)
    log = open(home / "server.log", "wb")
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api"
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
        proc.kill()
        raise RuntimeError("prefect server did not start in 120 s")
    yield PrefectServer(url, home)
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@dataclass
class Result:
    rc: int
    data: dict | None
    stdout: str
    stderr: str


class Archive:
    """One data home, driven through the `dossier` command as the people using it would."""

    def __init__(self, home: Path, prefect: PrefectServer | None):
        self.home = home
        self.prefect = prefect

    def env(self, user: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOSSIER_", "PREFECT_"))}
        env.update(DOSSIER_HOME=str(self.home), DOSSIER_USER=user)
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

    def new_dossier(self, coach: str = "anna", **fields) -> str:
        args = ["new", "--coach", coach]
        for k, v in fields.items():
            args += [f"--{k.replace('_', '-')}", v]
        return self.ok(*args, user="olaf")["dossier"]

    def cover(self, dossier: str, doc_type: str, out: Path) -> Path:
        self.ok("cover", dossier, "--type", doc_type, "-o", out, user="olaf")
        return out


def make_archive(home: Path, prefect: PrefectServer | None) -> Archive:
    a = Archive(home, prefect)
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
