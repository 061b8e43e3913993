"""The round calendar: the only module that does date arithmetic.

Round D is joined on local day D (in ``CLOCK["TIME_ZONE"]``, whatever ``settings.TIME_ZONE`` is), checked in
on day D+1 inside ``[clock_start, clock_end)`` and settled at ``red_open`` on D+1. The times of a round come
from its frozen rules (a ``Round`` row or a ``RoundRules``: anything with ``clock_start``, ``clock_end`` and
``red_open`` attributes), so a setting changed mid-round moves only later rounds.

Every function takes an aware ``now`` (default ``timezone.now()``, which tests move with time-machine).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Protocol

from django.utils import timezone

from .conf import clock_settings

ONE_DAY = timedelta(days=1)
DAY_FORMAT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class RoundTimes(Protocol):
    clock_start: time
    clock_end: time
    red_open: time


def local_now(now: datetime | None = None) -> datetime:
    return (now or timezone.now()).astimezone(clock_settings.time_zone)


def today(now: datetime | None = None) -> date:
    return local_now(now).date()


def payment_round(now: datetime | None = None) -> date:
    """The round a payment made at ``now`` joins: today's."""
    return today(now)


def checkin_round(now: datetime | None = None) -> date:
    """The round whose check-in window falls on today's date: yesterday's."""
    return today(now) - ONE_DAY


def previous_round(day: date) -> date:
    return day - ONE_DAY


def at(day: date, clock: time) -> datetime:
    """Local wall-clock ``clock`` on ``day`` as an aware datetime."""
    return datetime.combine(day, clock, tzinfo=clock_settings.time_zone)


def day_span(day: date) -> tuple[datetime, datetime]:
    """Local ``day`` as the aware interval ``[00:00, next 00:00)``."""
    return at(day, time(0)), at(day + ONE_DAY, time(0))


def window(day: date, rules: RoundTimes) -> tuple[datetime, datetime]:
    """Round ``day``'s check-in window ``[start, end)``, on the next day."""
    return at(day + ONE_DAY, rules.clock_start), at(day + ONE_DAY, rules.clock_end)


def window_is_open(day: date, rules: RoundTimes, now: datetime | None = None) -> bool:
    start, end = window(day, rules)
    return start <= (now or timezone.now()) < end


def red_open_at(day: date, rules: RoundTimes) -> datetime:
    """When round ``day`` is settled and its winners may open their packets (08:05 on the next day)."""
    return at(day + ONE_DAY, rules.red_open)


def entries_close_at(day: date) -> datetime:
    """Round ``day`` takes payments until local midnight: a payment made from then on is late."""
    return at(day + ONE_DAY, time(0))


def payment_deadline(day: date) -> datetime:
    """The last second a payment joins round ``day`` (23:59:59 local), as channels are told (``time_expire``)."""
    return entries_close_at(day) - timedelta(seconds=1)


def seconds_until(moment: datetime, now: datetime | None = None) -> int:
    """Whole seconds from ``now`` to ``moment``, never negative (the countdowns of the home summary)."""
    return max(0, int((moment - (now or timezone.now())).total_seconds()))


def parse_day(value: date | str) -> date:
    """A round's day from a ``date`` or exactly ``"YYYY-MM-DD"`` (ASCII digits, nothing around them);
    ``ValueError`` otherwise. ``date.fromisoformat`` alone would also take ``20261130``, ``2026-W48-1`` and
    other ISO 8601 spellings the documentation never promised."""
    if isinstance(value, datetime):
        raise ValueError(f"expected a date, not a datetime: {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and DAY_FORMAT.fullmatch(value):
        return date.fromisoformat(value)
    raise ValueError(f"expected a date or 'YYYY-MM-DD', got {value!r:.40}")
