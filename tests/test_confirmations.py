"""On a terminal, what destroys for good shows its plan and asks first (issue 17): a retention run
by hand lists the dossiers it will destroy and wants their number typed back; an erasure wants the
dossier number. A wrong answer destroys nothing. Driven through a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time

import pytest

from .conftest import BIN, make_archive

pytestmark = pytest.mark.prefect


def _on_terminal(archive, args: list[str], answer: str, user: str = "petra", timeout: float = 300) -> tuple[int, str]:
    """Run `dossier ARGS` with a terminal as stdin; type `answer` when it asks. (exit code, what it showed)"""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [str(BIN / "dossier"), *args], env=archive.env(user), stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    shown, answered = b"", False
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        asked = shown.lower()
        if not answered and (b"to confirm" in asked or b"to go ahead" in asked) and shown.rstrip().endswith(b":"):
            os.write(leader, answer.encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    proc.wait(timeout=30)
    os.close(leader)
    return proc.returncode, shown.decode(errors="replace")


def test_a_retention_run_by_hand_shows_its_plan_and_asks(tmp_path, prefect_server):
    a = make_archive(tmp_path / "home", prefect_server)
    due = [a.new_dossier("anna", start="2023-01-01") for _ in range(2)]
    for d in due:
        a.ok("close", d, "--end", "2024-01-31", user="olaf")
    kept = a.new_dossier("anna")

    code, shown = _on_terminal(a, ["retention", "run"], answer="5")
    assert code == 1 and "not confirmed; nothing was destroyed" in shown
    assert all(d in shown for d in due) and kept not in shown  # the plan, before the question
    assert [x["status"] for x in a.ok("list")["dossiers"]] == ["open", "closed", "closed"]

    code, shown = _on_terminal(a, ["retention", "run"], answer="2")
    assert code == 0 and f"destroyed  {due[0]}" in shown
    assert sorted(x["status"] for x in a.ok("list")["dossiers"]) == ["destroyed", "destroyed", "open"]


def test_an_erasure_asks_for_the_dossier_number(tmp_path):
    a = make_archive(tmp_path / "home", None)
    d = a.new_dossier("anna")
    code, shown = _on_terminal(a, ["erase", d, "--reason", "verzoek van de cliënt"], answer="D-2026-9999")
    assert code == 1 and "nothing was destroyed" in shown and a.ok("show", d)["status"] == "open"
    code, shown = _on_terminal(a, ["erase", d, "--reason", "verzoek van de cliënt"], answer=d)
    assert code == 0 and f"Erased {d}" in shown and a.ok("show", d)["status"] == "destroyed"
