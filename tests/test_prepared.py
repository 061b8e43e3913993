"""The check-in and the home summary run as prepared statements where the project allows them (issue 15),
and as Django's ordinary client-bound statements where it does not (a pooler in transaction mode)."""

from datetime import date

import pytest
import time_machine
from django.db import connection

from clock_app.facade import ClockCenter
from clock_app.prepared import prepares_statements

from .conftest import local, require
from .factories import join

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)


def plans() -> dict[str, tuple[int, int]]:
    """This session's prepared hot statements, by a fragment of their text: (runs, runs on the generic plan)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        rows = cursor.fetchall()
    found = {"summary": (0, 0), "check-in": (0, 0)}
    for statement, generic, custom in rows:
        name = "summary" if "FROM pay_clock_user p WHERE p.uid" in statement else None
        name = "check-in" if "clock_check_in(" in statement else name
        if name:
            runs, generic_runs = found[name]
            found[name] = (runs + generic + custom, generic_runs + generic)
    return found


@pytest.fixture
def threshold():
    """Set this connection's psycopg ``prepare_threshold`` (the project's OPTIONS) for one test."""
    require(connection.vendor == "postgresql", "prepared statements are PostgreSQL's (set DATABASE_URL=postgres://…)")
    connection.ensure_connection()
    before = connection.connection.prepare_threshold

    def set_to(value):
        connection.connection.prepare_threshold = value

    yield set_to
    connection.connection.prepare_threshold = before


def summary_and_check_in(uid: int) -> tuple[dict, dict]:
    join(uid, DAY)
    with time_machine.travel(local("2026-11-27", "06:00:00"), tick=False):
        checked_in = ClockCenter().clock(uid)
        shown = ClockCenter().summary(uid, {})
    return checked_in, shown


def test_allowed_both_hot_statements_are_prepared_and_run_on_a_kept_plan(threshold):
    """PostgreSQL plans a prepared statement's first five runs, then keeps a generic plan: the saving."""
    threshold(0)
    before = plans()
    for uid in range(1, 9):
        checked_in, shown = summary_and_check_in(uid)
        assert checked_in["status"] == 1, checked_in
        assert shown["data"]["summary"]["clock_status"] == 2
    after = plans()
    for name in ("summary", "check-in"):
        assert after[name][0] - before[name][0] == 8, name
        assert after[name][1] - before[name][1] >= 3, f"{name}: never ran on a kept generic plan"


def test_refused_by_the_project_nothing_is_prepared(threshold):
    threshold(None)
    assert not prepares_statements()
    before = plans()
    checked_in, shown = summary_and_check_in(4)
    assert checked_in["status"] == 1, checked_in
    assert shown["data"]["summary"]["clock_status"] == 2
    assert plans() == before


def test_the_example_project_allows_them_on_postgresql(settings):
    require(connection.vendor == "postgresql", "the option is set for PostgreSQL only (set DATABASE_URL=postgres://…)")
    assert settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"] == 0


def test_while_django_logs_queries_they_are_logged_with_their_values(threshold, django_assert_num_queries):
    """DEBUG and CaptureQueriesContext get Django's ordinary cursor: a prepared statement's log has no text."""
    threshold(0)
    join(5, DAY)
    with time_machine.travel(local("2026-11-27", "06:00:00"), tick=False):
        ClockCenter().summary(5, {})  # warms the round's cached totals
        before = plans()
        with django_assert_num_queries(1) as captured:
            assert ClockCenter().summary(5, {})["data"]["summary"]["clock_status"] == 1
    assert "WHERE p.uid = 5" in captured.captured_queries[0]["sql"]
    assert plans() == before
