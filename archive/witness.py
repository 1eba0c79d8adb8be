"""The witness file: the audit chain's head, written down outside the catalog (DESIGN.md §12).

Every integrity check appends the head of the verified chain (sequence number and link) to
`$DOSSIER_HOME/witness/audit-head`, one JSON line each, never rewriting a line. Whoever can write
the catalog can delete its newest events, and (without the audit key) cannot re-chain an edit;
but a log cut short still verifies link by link. Against the witness it does not: a witnessed
event that is gone, or that is no longer the one witnessed, is found by `dossier audit verify`.

The file holds sequence numbers, links (HMACs) and times only. It goes into every backup; copy it
elsewhere too (or make it append-only with `chattr +a`) to keep it out of reach of whoever could
change the catalog and the home together.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

FOLDER = "witness"
HEAD_FILE = "audit-head"


@dataclass(frozen=True)
class Entry:
    seq: int
    link: str
    at: str


class WitnessDamaged(Exception):
    """A line of the witness file cannot be read: the file was edited."""


def folder(home: Path) -> Path:
    return home / FOLDER


def path(home: Path) -> Path:
    return folder(home) / HEAD_FILE


def append(home: Path, seq: int, link: str) -> Entry:
    """Add the chain head as a line of its own, durable before this returns."""
    entry = Entry(seq, link, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    folder(home).mkdir(parents=True, exist_ok=True, mode=0o700)
    line = json.dumps({"seq": entry.seq, "link": entry.link, "at": entry.at}, separators=(",", ":")) + "\n"
    fd = os.open(path(home), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return entry


def read(home: Path) -> list[Entry] | None:
    """Every witnessed head, oldest first; None when there is no witness file yet."""
    try:
        text = path(home).read_text()
    except FileNotFoundError:
        return None
    entries = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            entries.append(Entry(int(raw["seq"]), str(raw["link"]), str(raw["at"])))
        except (ValueError, KeyError, TypeError):
            raise WitnessDamaged(f"line {n} of the witness file {path(home)} cannot be read") from None
    return entries
