"""Checking in (seed 3.5): one conditional UPDATE on the participation row, the player's streak in the same
transaction, and nothing on the round row.

At 05:00 every participant of a round checks in within minutes. The seed incremented
``pay_clock.success_user_num`` on each check-in, so every request queued on that one row. Here a check-in
touches only its own participation row and its own player row; the count users see is derived (a cached
``COUNT`` bumped on commit, see ``selectors.clocked_in_count``) and the authoritative ``success_user_num`` /
``failure_user_num`` are written once, at settlement.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from .. import calendar
from ..cache import clock_cache, clocked_in_key
from ..exceptions import AlreadyClockedIn, NotParticipant, OutsideWindow
from ..models import ClockStatus, Participation, Player
from ..selectors import round_view
from .players import player_touch, require_uid

logger = logging.getLogger(__name__)


def clock_in(*, uid: int, now: datetime | None = None) -> int:
    """Check ``uid`` in for the round whose window is open now; return that round's pool (fen)."""
    require_uid(uid)
    now = now or timezone.now()
    day = calendar.checkin_round(now)
    # The round's frozen window and its pool, from the cached view every visitor reads: no query on the
    # round's row at all during the rush (its pool cannot change once the window is open).
    the_round = round_view(day)
    if not calendar.window_is_open(day, the_round, now):
        raise OutsideWindow()
    if not the_round.exists:
        raise NotParticipant()

    yesterday_start, today_start = calendar.day_span(calendar.previous_round(calendar.today(now)))
    with transaction.atomic():
        moved = Participation.objects.filter(uid=uid, clock_day=day, clock_status=ClockStatus.JOINED).update(
            clock_status=ClockStatus.CLOCKED_IN, clock_time=now, update_time=now
        )
        if not moved:
            if Participation.objects.filter(uid=uid, clock_day=day).exists():
                raise AlreadyClockedIn()
            raise NotParticipant()
        counted = {
            "clock_day_num": F("clock_day_num") + 1,
            # A streak grows when the previous check-in was on the local day before, else starts again.
            "long_day_num": Case(
                When(yesterday_time__gte=yesterday_start, yesterday_time__lt=today_start, then=F("long_day_num") + 1),
                default=Value(1),
            ),
            "yesterday_time": now,
            "update_time": now,
        }
        if not Player.objects.filter(uid=uid).update(**counted):
            player_touch(uid=uid)  # rows made before players were recorded at order time
            Player.objects.filter(uid=uid).update(**counted)
        transaction.on_commit(lambda: _count_one_more(day))
    return the_round.clock_money


def _count_one_more(day) -> None:
    """Bump the cached check-in count if it is cached; a miss is rebuilt from the database by the reader."""
    with contextlib.suppress(ValueError):
        clock_cache().incr(clocked_in_key(day))
