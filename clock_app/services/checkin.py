"""Checking in (seed 3.5): one conditional UPDATE on the participation row, the player's streak in the same
statement (PostgreSQL) or transaction (elsewhere), and nothing on the round row.

At 05:00 every participant of a round checks in within minutes. The seed incremented
``pay_clock.success_user_num`` on each check-in, so every request queued on that one row. Here a check-in
touches only its own participation row and its own player row; the count users see is derived (a cached
``COUNT`` bumped after commits, in batches per process: ``cache.cache_count_soon``) and the authoritative
``success_user_num`` / ``failure_user_num`` are written once, at settlement.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime
from typing import NoReturn

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from .. import calendar
from ..cache import cache_count_soon, clocked_in_key
from ..exceptions import AlreadyClockedIn, NotParticipant, OutsideWindow
from ..models import ClockStatus, Participation
from ..prepared import hot_cursor
from ..selectors import round_view
from .players import player_touch, require_uid

# The two statements of a check-in, written out once. Built with the ORM (an Exists, a Case/When) they were
# recompiled on every request, which ``bench/rush.py`` measured as most of a check-in's CPU at the 05:00 rush.
# Plain SQL that PostgreSQL, SQLite and MySQL all accept; values go through ``connection.ops`` as the ORM's.
CHECK_IN = (
    "UPDATE pay_clock_day SET clock_status = %s, clock_time = %s, update_time = %s "
    "WHERE uid = %s AND clock_day = %s AND clock_status = %s "
    "AND EXISTS (SELECT 1 FROM pay_clock WHERE clock_day = %s AND settled_at IS NULL)"
)
# A streak grows when the previous check-in was on the local day before, else starts again.
COUNT_PLAYER = (
    "UPDATE pay_clock_user SET clock_day_num = clock_day_num + 1, "
    "long_day_num = CASE WHEN yesterday_time >= %s AND yesterday_time < %s THEN long_day_num + 1 ELSE 1 END, "
    "yesterday_time = %s, update_time = %s WHERE uid = %s"
)


# PostgreSQL does the whole check-in in one call, in autocommit: ``clock_check_in`` (migration 0009) moves the
# participation row and counts the player's streak, with "the round is not settled" checked by its UPDATE and
# "the window is still open" checked after both rows are written (it raises, rolling both back). Four round
# trips with the transaction idle in between (BEGIN, two UPDATEs, COMMIT) become one, PL/pgSQL plans its
# statements once per connection, and the call itself is prepared where the project allows it
# (clock_app.prepared); ``bench/rush.py`` measures it against a bare conditional UPDATE.
CHECK_IN_CALL = "SELECT clock_check_in(%s, %s, %s, %s, %s, %s)"
WINDOW_CLOSED = "CK001"  # the SQLSTATE clock_check_in raises when the window closed meanwhile


ONE_STATEMENT_VENDORS = ("postgresql",)


def clock_in(*, uid: int, now: datetime | None = None) -> int:
    """Check ``uid`` in for the round whose window is open now; return that round's pool (fen).

    A check-in must never land in a round already settled (its stake would be paid back from a pot that was
    split without it). Settlement waits until ``RED_OPEN`` (after the window closed); the UPDATE itself only
    matches while the round is unsettled; and a request that read 07:59:59 and then stalled cannot write a
    check-in after 08:00 (on PostgreSQL ``clock_check_in`` rolls both rows back when the call ran longer than
    the time that was left in the window, waits for row locks included; elsewhere the window is checked again
    on the real clock just before the commit).
    """
    require_uid(uid)
    on_the_wall_clock = now is None
    now = now or timezone.now()
    day = calendar.checkin_round(now)
    # The round's frozen window and its pool, from the cached view every visitor reads: no query on the
    # round's row at all during the rush (its pool cannot change once the window is open).
    the_round = round_view(day)
    if not calendar.window_is_open(day, the_round, now):
        raise OutsideWindow()
    if not the_round.exists:
        raise NotParticipant()

    if connection.vendor in ONE_STATEMENT_VENDORS:
        _check_in_one_statement(uid, day, the_round, now)
    else:
        _check_in_in_a_transaction(uid, day, the_round, now, recheck=on_the_wall_clock)
    return the_round.clock_money


def _streak_span(now: datetime) -> tuple[datetime, datetime]:
    """A streak continues when the previous check-in fell on the local day before today."""
    return calendar.day_span(calendar.previous_round(calendar.today(now)))


def _check_in_one_statement(uid: int, day, the_round, now: datetime) -> None:
    yesterday_start, today_start = _streak_span(now)
    time_left = calendar.window(day, the_round)[1] - now
    # Inside a caller's transaction the raise must not abort it: a savepoint then (in autocommit, none).
    try:
        with transaction.atomic() if connection.in_atomic_block else nullcontext(), hot_cursor() as cursor:
            cursor.execute(CHECK_IN_CALL, [uid, day, now, time_left, yesterday_start, today_start])
            (result,) = cursor.fetchone()
    except DatabaseError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == WINDOW_CLOSED:
            raise OutsideWindow() from exc
        raise
    if result == 0:
        _explain_refusal(uid, day)
    if result == 1:  # a participation made before players were recorded at order time: no player row yet
        player_touch(uid=uid, now=now)
        _count_streak(uid, now)
    transaction.on_commit(lambda: _count_one_more(day))  # at once in autocommit


def _check_in_in_a_transaction(uid: int, day, the_round, now: datetime, *, recheck: bool) -> None:
    """The portable path (SQLite, MySQL, or inside a caller's transaction): both UPDATEs in one transaction,
    the window re-checked on the real clock before the commit."""
    ops = connection.ops
    stamp, round_day = ops.adapt_datetimefield_value(now), ops.adapt_datefield_value(day)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(CHECK_IN, [ClockStatus.CLOCKED_IN, stamp, stamp, uid, round_day, ClockStatus.JOINED, round_day])
        if cursor.rowcount != 1:
            _explain_refusal(uid, day)
        if not _count_streak(uid, now):
            player_touch(uid=uid, now=now)  # rows made before players were recorded at order time
            _count_streak(uid, now)
        if recheck and not calendar.window_is_open(day, the_round, timezone.now()):
            raise OutsideWindow()  # stalled past the window's end: roll back
        transaction.on_commit(lambda: _count_one_more(day))


def _count_streak(uid: int, now: datetime) -> bool:
    adapt = connection.ops.adapt_datetimefield_value
    yesterday_start, today_start = _streak_span(now)
    with connection.cursor() as cursor:
        cursor.execute(COUNT_PLAYER, [adapt(yesterday_start), adapt(today_start), adapt(now), adapt(now), uid])
        return cursor.rowcount == 1


def _explain_refusal(uid: int, day) -> NoReturn:
    """The check-in matched no row: say why (this costs a query only on the refused path)."""
    status = Participation.objects.filter(uid=uid, clock_day=day).values_list("clock_status", flat=True).first()
    if status is None:
        raise NotParticipant()
    if status == ClockStatus.CLOCKED_IN:
        raise AlreadyClockedIn()
    raise OutsideWindow()  # joined, but the round is already settled or the window closed meanwhile


def _count_one_more(day) -> None:
    """Bump the cached check-in count (soon, with this process's other check-ins); a miss is rebuilt from the
    database by the reader."""
    cache_count_soon(clocked_in_key(day))
