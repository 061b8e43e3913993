"""Helpers shared by the benchmarks: each bench works in a PostgreSQL database of its own and records the
code it measured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def conninfo(url: str, **overrides: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params.update(overrides)
    return make_conninfo(**params)


def dbname(url: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return str(conninfo_to_dict(url).get("dbname") or "")


def ensure_database(url: str) -> None:
    """Create the bench database if missing (refusing the maintenance and any test database)."""
    import psycopg
    from psycopg import sql

    name = dbname(url)
    if not name or name in ("postgres", "template0", "template1") or name.startswith("test"):
        sys.exit(f"refusing to benchmark in database {name!r}: give the bench its own (e.g. clock_bench)")
    with psycopg.connect(conninfo(url, dbname="postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def raw_connect(url: str, autocommit: bool = True):
    import psycopg

    return psycopg.connect(conninfo(url), autocommit=autocommit)


def code_revision() -> str:
    """The measured code: HEAD, plus "+dirty" when clock_app/ has uncommitted changes."""

    def git(*command: str) -> str:
        done = subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "--", "clock_app") else "")
