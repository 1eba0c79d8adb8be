"""pg_dump and pg_restore for a catalog on PostgreSQL (Debian's postgresql client binaries).

The connection comes from the catalog's SQLAlchemy URL and is handed over in libpq's environment
variables, so the password never shows on a command line. The newest installed client is used
(pg_dump must be at least the server's version).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from .errors import DossierError, NotReady


def _tool(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise NotReady(f"{name} is not installed; install the PostgreSQL client (Debian: postgresql-client)", "no-" + name)


def _env(url: str) -> dict:
    u = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for var, value in (
        ("PGHOST", u.host),
        ("PGPORT", u.port),
        ("PGUSER", u.username),
        ("PGPASSWORD", u.password),
        ("PGDATABASE", u.database),
    ):
        if value is not None:
            env[var] = str(value)
    for key, value in u.query.items():  # sslmode=require and the like
        if key == "sslmode":
            env["PGSSLMODE"] = str(value)
    return env


def _run(args: list[str], url: str, what: str) -> None:
    p = subprocess.run(args, env=_env(url), capture_output=True, text=True)
    if p.returncode != 0:
        # The tool's message names objects and connection problems, never row data: its last line helps.
        tail = (p.stderr.strip().splitlines() or ["no message"])[-1][:300]
        raise DossierError(f"{what} failed: {tail}", what.replace(" ", "-"))


def dump(url: str, target: Path, snapshot: str | None = None) -> None:
    """The whole catalog database in pg_dump's custom format, as of `snapshot` (an exported snapshot
    of a transaction the caller holds open) when given."""
    args = [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={target}"]
    if snapshot:
        args.append(f"--snapshot={snapshot}")
    _run(args, url, "pg_dump")


def restore(url: str, source: Path) -> None:
    """A dump into the (empty) database of `url`, in one transaction."""
    database = make_url(url).database
    args = [
        _tool("pg_restore"),
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        f"--dbname={database}",
        str(source),
    ]
    _run(args, url, "pg_restore")


# ---- what a failed restore leaves ---------------------------------------------------------------

_OBJECTS = """
SELECT 'TABLE', format('%I.%I', n.nspname, c.relname) FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
UNION ALL
SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' ELSE 'MATERIALIZED VIEW' END,
       format('%I.%I', n.nspname, c.relname) FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = current_schema() AND c.relkind IN ('S', 'v', 'm')
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
       p.oid::regprocedure::text FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname = current_schema()
"""


def schema_objects(engine) -> set[tuple[str, str]]:
    """(kind, qualified name) of every table, sequence, view and function in the catalog's schema."""
    from sqlalchemy import text

    with engine.connect() as c:
        return {(kind, name) for kind, name in c.execute(text(_OBJECTS))}


def drop_objects_since(engine, before: set[tuple[str, str]]) -> None:
    """Drop what a restore created (everything not in `before`), in one transaction: a restore
    that failed half-way leaves the database as empty as it found it, ready for another try."""
    created = schema_objects(engine) - before
    order = {"VIEW": 0, "MATERIALIZED VIEW": 0, "TABLE": 1, "SEQUENCE": 2, "AGGREGATE": 3, "FUNCTION": 4}
    with engine.begin() as c:
        for kind, name in sorted(created, key=lambda o: order.get(o[0], 5)):
            c.exec_driver_sql(f"DROP {kind} IF EXISTS {name} CASCADE")  # names quoted by PostgreSQL itself
