"""Shared fixtures. Times are local to the game's time zone (Asia/Shanghai) while settings.TIME_ZONE is UTC."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: date | str, clock: str = "12:00:00") -> datetime:
    """An aware datetime at local wall-clock ``clock`` on ``day`` in Asia/Shanghai."""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return datetime.combine(day, datetime.strptime(clock, "%H:%M:%S").time(), tzinfo=SHANGHAI)


def require(available: bool, reason: str) -> None:
    """Skip a test whose real part is missing here — except under ``CLOCK_CI=1`` (set by ``.ci/run``), where
    a missing part is a failure: CI must run every test, never skip one."""
    if not available:
        if os.environ.get("CLOCK_CI") == "1":
            pytest.fail(f"CLOCK_CI=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture
def postgres(transactional_db):
    """Real concurrency needs PostgreSQL (threads, row locks, a second connection)."""
    require(connection.vendor == "postgresql", "needs PostgreSQL for real concurrency (set DATABASE_URL=postgres://…)")


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    from clock_app.cache import forget_local

    cache.clear()
    forget_local()
    yield
    cache.clear()
    forget_local()


_MEASUREMENTS: list[str] = []


@pytest.fixture
def measurement():
    """``measurement("…")`` records a figure that is printed in the terminal summary of the run."""
    return _MEASUREMENTS.append


def pytest_terminal_summary(terminalreporter):
    if _MEASUREMENTS:
        terminalreporter.section("measurements")
        for line in _MEASUREMENTS:
            terminalreporter.write_line(line)


ROOT = Path(__file__).resolve().parent.parent


def manage_env(database: Path) -> dict[str, str]:
    """The environment of a ``manage.py`` subprocess on SQLite file ``database`` with an in-process cache (what
    a new user has after ``make demo``), whatever database and Redis the test run itself uses."""
    dropped = ("REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "PYTHONUNBUFFERED")
    env = {name: value for name, value in os.environ.items() if name not in dropped}
    return {**env, "DATABASE_URL": f"sqlite:///{database}", "CLOCK_LOG_LEVEL": "ERROR"}


def manage(database: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=manage_env(database),
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory) -> Path:
    """A small demo (``make demo`` with 60 players) in a SQLite file, built once per run by subprocesses."""
    database = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    for args in (("migrate", "--verbosity", "0"), ("clock_simulate", "--users", "60", "--days", "3")):
        done = manage(database, *args)
        assert done.returncode == 0, done.stdout + done.stderr
    return database
