"""Helpers for the reminder tests: a big round made with ``bulk_create`` (a thousand players through the order
services would take most of a minute and test nothing about reminders), and handlers that record."""

from __future__ import annotations

import random
import threading
from datetime import date, timedelta

from clock_app import calendar
from clock_app.models import ClockStatus, Participation, Player, Round
from clock_app.reminders import FAILED, REFUSED, SENT
from clock_app.services.rounds import round_open

from .conftest import local


def crowd(day: date, players: int, opted_in: int, clocked_in: int) -> Round:
    """Round ``day`` with ``players`` paid participants (uids 1…players); the first ``opted_in`` turned
    reminders on, and the first ``clocked_in`` of *those* clocked in at 05:30 on the morning after."""
    the_round = round_open(day, now=local(day, "09:00:00"))
    Player.objects.bulk_create(
        [
            Player(
                uid=uid,
                nickname=f"player{uid}",
                mobile=f"138{uid:08d}",
                source_uid=f"open-{uid}",
                is_remind=uid <= opted_in,
            )
            for uid in range(1, players + 1)
        ]
    )
    clocked_at = local(day + timedelta(days=1), "05:30:00")
    Participation.objects.bulk_create(
        [
            Participation(
                uid=uid,
                nickname=f"player{uid}",
                mobile=f"138{uid:08d}",
                source_uid=f"open-{uid}",
                clock_day=day,
                order_no=f"TTC{day:%Y%m%d}{uid:010d}",
                order_money=100,
                payout_no=f"P{day:%Y%m%d}{uid:010d}P",
                clock_status=ClockStatus.CLOCKED_IN if uid <= clocked_in else ClockStatus.JOINED,
                clock_time=clocked_at if uid <= clocked_in else None,
            )
            for uid in range(1, players + 1)
        ]
    )
    Round.objects.filter(pk=the_round.pk).update(user_num=players, clock_money=100 * players)
    return Round.objects.get(pk=the_round.pk)


def morning(day: date, clock: str = "04:50:00"):
    """Local ``clock`` on the morning of round ``day``'s window."""
    return local(calendar.ONE_DAY + day, clock)


class Recorder:
    """A handler that records every reminder it was given; ``fail_rate`` of them fail (seeded), uids in
    ``refuse`` are refused."""

    def __init__(self, fail_rate: float = 0.0, refuse: set[int] = frozenset(), seed: int = 0) -> None:
        self.fail_rate, self.refuse = fail_rate, refuse
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.received: list = []
        self.delivered: list[int] = []  # uids, one per message delivered
        self.batches: list[int] = []

    def __call__(self, reminders):
        results = {}
        with self.lock:
            self.batches.append(len(reminders))
            for reminder in reminders:
                self.received.append(reminder)
                if reminder.uid in self.refuse:
                    results[reminder.id] = {"status": REFUSED, "detail": "43101 user refused"}
                elif self.random.random() < self.fail_rate:
                    results[reminder.id] = {"status": FAILED, "detail": "-1 system busy"}
                else:
                    self.delivered.append(reminder.uid)
                    results[reminder.id] = SENT
        return results
