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


def plans() -> dict[str, int]:
    """This session's prepared statements: the hot ones by a fragment of their text, with the times run."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        rows = cursor.fetchall()
    found = {"summary": 0, "check-in": 0}
    for statement, runs in rows:
        if "FROM pay_clock_user p WHERE p.uid" in statement:
            found["summary"] += runs
        elif "clock_check_in(" in statement:
            found["check-in"] += runs
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


def test_allowed_both_hot_statements_are_planned_once_and_rerun(threshold):
    threshold(0)
    before = plans()
    for uid in (1, 2, 3):
        checked_in, shown = summary_and_check_in(uid)
        assert checked_in["status"] == 1, checked_in
        assert shown["data"]["summary"]["clock_status"] == 2
    after = plans()
    assert after["summary"] - before["summary"] == 3
    assert after["check-in"] - before["check-in"] == 3


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
