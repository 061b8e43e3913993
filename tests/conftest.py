"""Shared fixtures. Times are local to the game's time zone (Asia/Shanghai) while settings.TIME_ZONE is UTC."""

from __future__ import annotations

import os
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: date | str, clock: str = "12:00:00") -> datetime:
    """An aware datetime at local wall-clock ``clock`` on ``day`` in Asia/Shanghai."""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return datetime.combine(day, datetime.strptime(clock, "%H:%M:%S").time(), tzinfo=SHANGHAI)


@pytest.fixture
def postgres(transactional_db):
    """Real concurrency needs PostgreSQL. On SQLite the test is skipped with a reason — except where
    ``CLOCK_REQUIRE_POSTGRES=1`` (set by ``.ci/run``): there a missing PostgreSQL is a failure, not a skip."""
    if connection.vendor != "postgresql":
        if os.environ.get("CLOCK_REQUIRE_POSTGRES") == "1":
            pytest.fail("CLOCK_REQUIRE_POSTGRES=1 but the test database is not PostgreSQL")
        pytest.skip("needs PostgreSQL for real concurrency (set DATABASE_URL=postgres://…)")


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


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
