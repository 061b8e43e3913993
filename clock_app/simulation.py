"""A simulated round of the challenge on its own clock, for ``make demo`` and for trying settings out.

The simulation calls the same services the facades call, passing its own ``now`` to each: it never reads or
moves the wall clock, so it can play a whole day in a second against any database.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Sum

from . import calendar
from .models import LedgerEntry, MoneyType, Round
from .services.orders import Notification, order_generate, order_notify

Progress = Callable[[str], None]


@dataclass
class RoundReport:
    clock_day: date
    payers: int
    pool: int
    stakes_in_ledger: int


def _signup_times(day: date, users: int, rng: random.Random) -> list[datetime]:
    """Sign-up moments spread over the day the round takes payments, in order."""
    opens = calendar.at(day, time(0))
    return sorted(opens + timedelta(seconds=rng.randrange(1, 86_000)) for _ in range(users))


def simulate_signups(day: date, users: int, *, seed: int = 0, progress: Progress | None = None) -> RoundReport:
    """``users`` players order and pay the stake for round ``day`` (uids 1…users)."""
    rng = random.Random(seed)
    for uid, at in enumerate(_signup_times(day, users, rng), start=1):
        order = order_generate(
            uid=uid, mobile=f"138{uid:08d}", nickname=f"早起鸟{uid}", open_id=f"sim-open-{uid}", now=at
        )
        order_notify(
            Notification(order.order_no, order.pay_amount, order.buyer_id, f"SIM{order.order_no}"),
            now=at + timedelta(seconds=2),
        )
        if progress and uid % max(1, users // 10) == 0:
            progress(f"  {uid}/{users} paid")
    the_round = Round.objects.get(clock_day=day)
    stakes = LedgerEntry.objects.filter(clock_day=day, money_type=MoneyType.STAKE).aggregate(s=Sum("change_money"))
    return RoundReport(day, the_round.user_num, the_round.clock_money, stakes["s"] or 0)
