"""Checking in (seed 3.5): one conditional UPDATE on the participation row, the player's streak in the same
statement (PostgreSQL) or transaction (elsewhere), and nothing on the round row.

At 05:00 every participant of a round checks in within minutes. The seed incremented
``pay_clock.success_user_num`` on each check-in, so every request queued on that one row. Here a check-in
touches only its own participation row and its own player row; the count users see is derived (a cached
``COUNT`` bumped after commits, in batches per process: ``cache.cache_count_soon``) and the authoritative
``success_user_num`` / ``failure_user_num`` are written once, at settlement.
"""

from __future__ import annotations

from datetime import datetime
from typing import NoReturn

from django.db import connection, transaction
from django.utils import timezone

from .. import calendar
from ..cache import cache_count_soon, clocked_in_key
from ..exceptions import AlreadyClockedIn, NotParticipant, OutsideWindow
from ..models import ClockStatus, Participation
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


# PostgreSQL does the whole check-in in one statement, in autocommit: a writable CTE that moves the participation
# row and counts the player's streak, with "the round is not settled" and "the window is still open" checked by
# the statement itself. Four round trips with the transaction idle in between (BEGIN, two UPDATEs, COMMIT)
# become one, which ``bench/rush.py`` measures against a bare conditional UPDATE.
CHECK_IN_ONE_STATEMENT = (
    # Each value is sent once and typed once (repeated placeholders were adapted again at every use).
    "WITH given AS (SELECT %s::bigint AS uid, %s::date AS day, %s::timestamptz AS now, %s::interval AS time_left,"
    " %s::timestamptz AS yesterday, %s::timestamptz AS today"
    "), checked AS ("
    f" UPDATE pay_clock_day AS d SET clock_status = {int(ClockStatus.CLOCKED_IN)}, clock_time = given.now,"
    " update_time = given.now FROM given"
    f" WHERE d.uid = given.uid AND d.clock_day = given.day AND d.clock_status = {int(ClockStatus.JOINED)}"
    " AND EXISTS (SELECT 1 FROM pay_clock AS r WHERE r.clock_day = given.day AND r.settled_at IS NULL)"
    " AND clock_timestamp() < statement_timestamp() + given.time_left"
    " RETURNING d.uid"
    "), counted AS ("
    " UPDATE pay_clock_user AS u SET clock_day_num = u.clock_day_num + 1,"
    " long_day_num = CASE WHEN u.yesterday_time >= given.yesterday AND u.yesterday_time < given.today"
    " THEN u.long_day_num + 1 ELSE 1 END,"
    " yesterday_time = given.now, update_time = given.now"
    " FROM given WHERE u.uid IN (SELECT uid FROM checked)"
    " RETURNING u.uid"
    ") SELECT (SELECT count(*) FROM checked), (SELECT count(*) FROM counted)"
)


ONE_STATEMENT_VENDORS = ("postgresql",)


def clock_in(*, uid: int, now: datetime | None = None) -> int:
    """Check ``uid`` in for the round whose window is open now; return that round's pool (fen).

    A check-in must never land in a round already settled (its stake would be paid back from a pot that was
    split without it). Settlement waits until ``RED_OPEN`` (after the window closed); the UPDATE itself only
    matches while the round is unsettled; and a request that read 07:59:59 and then stalled cannot write a
    check-in after 08:00 (on PostgreSQL the statement refuses to match once it has run longer than the time
    that was left in the window, also after waiting for a concurrent writer of the row; elsewhere the window
    is checked again on the real clock just before the commit).
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
    with connection.cursor() as cursor:
        time_left = calendar.window(day, the_round)[1] - now
        cursor.execute(CHECK_IN_ONE_STATEMENT, [uid, day, now, time_left, yesterday_start, today_start])
        checked, counted = cursor.fetchone()
    if not checked:
        _explain_refusal(uid, day)
    if not counted:  # a participation made before players were recorded at order time: no player row yet
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
