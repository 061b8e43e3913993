"""Check-ins under real concurrency on PostgreSQL."""

import os
import time
from datetime import date

import time_machine

from clock_app.exceptions import AlreadyClockedIn
from clock_app.models import ClockStatus, Participation, Player, Round
from clock_app.services.checkin import clock_in

from ..conftest import local
from ..factories import join
from .threads import run_together

DAY = date(2026, 11, 26)


def test_sixteen_taps_of_one_user_clock_in_once(postgres):
    join(1, DAY)
    with time_machine.travel(local("2026-11-27", "05:00:01"), tick=False):
        results = run_together([lambda: clock_in(uid=1)] * 16)
    assert results.count(100) == 1
    assert all(isinstance(r, AlreadyClockedIn) for r in results if r != 100), results
    player = Player.objects.get(uid=1)
    assert (player.clock_day_num, player.long_day_num) == (1, 1)


def seed_round(n: int) -> None:
    """``n`` paid participants of round DAY, written in bulk (the payment path is tested elsewhere)."""
    join(1, DAY)  # opens the round through the services
    Participation.objects.bulk_create(
        Participation(uid=uid, clock_day=DAY, order_no=f"BULK{uid}", order_money=100, payout_no=f"BULK{uid}P")
        for uid in range(2, n + 1)
    )
    Player.objects.bulk_create(Player(uid=uid) for uid in range(2, n + 1))
    Round.objects.filter(clock_day=DAY).update(user_num=n, clock_money=100 * n)


def test_two_thousand_check_ins_from_eight_threads(postgres, measurement):
    n = 2000
    seed_round(n)
    with time_machine.travel(local("2026-11-27", "05:00:00"), tick=True):
        started = time.perf_counter()
        results = run_together([lambda uid=uid: clock_in(uid=uid) for uid in range(1, n + 1)], workers=8)
        elapsed = time.perf_counter() - started
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors[:3]
    assert results == [100 * n] * n
    assert Participation.objects.filter(clock_day=DAY, clock_status=ClockStatus.CLOCKED_IN).count() == n
    assert Player.objects.filter(clock_day_num=1).count() == n
    measurement(
        f"{n} check-ins from 8 threads on PostgreSQL: {n / elapsed:.0f}/s ({elapsed:.2f} s, {os.cpu_count()} cores)"
    )
