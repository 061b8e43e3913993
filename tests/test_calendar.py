from datetime import date, time

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from clock_app import calendar
from clock_app.conf import clock_settings

from .conftest import local


def test_server_clock_is_utc_and_game_clock_is_shanghai():
    assert settings.TIME_ZONE == "UTC"
    assert str(clock_settings.time_zone) == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("clock", "expected"),
    [("23:59:59", date(2026, 11, 26)), ("00:00:00", date(2026, 11, 27))],
)
def test_payment_round_switches_at_local_midnight(clock, expected):
    day = date(2026, 11, 26) if clock == "23:59:59" else date(2026, 11, 27)
    with time_machine.travel(local(day, clock), tick=False):
        # 00:00 in Shanghai is 16:00 UTC of the previous day: the UTC date must not leak in.
        assert calendar.payment_round() == expected
        assert calendar.checkin_round() == expected - calendar.ONE_DAY


def test_window_bounds_are_next_day_local():
    start, end = calendar.window(date(2026, 11, 26), clock_settings)
    assert start == local("2026-11-27", "05:00:00")
    assert end == local("2026-11-27", "08:00:00")
    assert calendar.red_open_at(date(2026, 11, 26), clock_settings) == local("2026-11-27", "08:05:00")
    assert calendar.entries_close_at(date(2026, 11, 26)) == local("2026-11-27", "00:00:00")


@pytest.mark.parametrize(
    ("clock", "is_open"),
    [("04:59:59", False), ("05:00:00", True), ("07:59:59", True), ("08:00:00", False)],
)
def test_window_edges(clock, is_open):
    assert calendar.window_is_open(date(2026, 11, 26), clock_settings, local("2026-11-27", clock)) is is_open


def test_window_uses_the_rules_given():
    class Rules:
        clock_start, clock_end, red_open = time(6), time(7), time(7, 30)

    assert calendar.window_is_open(date(2026, 11, 26), Rules, local("2026-11-27", "06:30:00"))
    assert not calendar.window_is_open(date(2026, 11, 26), Rules, local("2026-11-27", "05:30:00"))


def test_seconds_until_never_negative():
    now = timezone.now()
    assert calendar.seconds_until(now - calendar.ONE_DAY, now) == 0
    assert calendar.seconds_until(now + calendar.ONE_DAY, now) == 86400


@pytest.mark.parametrize(
    "bad",
    # Only YYYY-MM-DD is documented: the other ISO 8601 spellings date.fromisoformat takes are refused too.
    ["2026-13-01", "yesterday", 20261126, "20261130", "2026-W48-1", " 2026-11-26", "2026-11-26\n", "２０２６-11-26"],
)
def test_parse_day_rejects_garbage(bad):
    with pytest.raises(ValueError):
        calendar.parse_day(bad)


def test_parse_day_accepts_date_and_iso():
    assert calendar.parse_day("2026-11-26") == date(2026, 11, 26)
    assert calendar.parse_day(date(2026, 11, 26)) == date(2026, 11, 26)
