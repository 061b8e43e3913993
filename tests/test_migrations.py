"""The schema: migrations match the models, and PostgreSQL keeps room for in-place updates."""

import pytest
from django.core.management import call_command
from django.db import connection

from .conftest import require


@pytest.mark.django_db
def test_no_missing_migrations():
    call_command("makemigrations", "clock_app", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_pay_clock_day_leaves_half_of_every_page_free():
    require(connection.vendor == "postgresql", "fillfactor is a PostgreSQL storage parameter")
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'pay_clock_day'")
        assert "fillfactor=50" in cursor.fetchone()[0]


@pytest.mark.django_db
def test_pay_clock_user_leaves_a_fifth_of_every_page_free():
    """Every participant's row is updated at the 05:00 rush (the streak): room on the page keeps it HOT."""
    require(connection.vendor == "postgresql", "fillfactor is a PostgreSQL storage parameter")
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'pay_clock_user'")
        assert "fillfactor=80" in cursor.fetchone()[0]


@pytest.mark.django_db
def test_columns_written_after_insert_are_in_no_index():
    """Settlement, payouts and check-ins update these columns in bulk; an index on any of them would make
    those updates rewrite every index entry instead of staying on their page (HOT)."""
    require(connection.vendor == "postgresql", "introspects PostgreSQL's indexes")
    written_later = {
        "red_money",
        "red_status",
        "clock_money",
        "red_time",
        "pay_result",
        "clock_status",
        "clock_time",
        "payout_attempts",
        "payout_claimed_at",
        "update_time",
    }
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "pay_clock_day")
    indexed = {column for c in constraints.values() if c["index"] or c["unique"] for column in c["columns"]}
    assert not indexed & written_later
