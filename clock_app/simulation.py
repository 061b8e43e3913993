"""Whole simulated rounds on their own clock, for ``make demo`` and for trying settings out.

The simulation calls the same services the facades and endpoints call, passing its own ``now`` to each: it
never reads or moves the wall clock, so it plays days in seconds against any database. Day by day it plays

* 00:30 — the push job for the round of two days ago (the sandbox channel refuses some transfers);
* 04:50 — check-in reminders of yesterday's round to the players who turned them on (3 in 10; one in 20 of
  them never subscribed, so the simulated channel refuses theirs);
* 05:00–08:00 — late payment callbacks of yesterday arrive (kept for refund), then check-ins of yesterday's
  round (some players sleep in, a few tap just after 08:00 and are refused);
* 08:05 — settlement of yesterday's round, then winners open their packets during the day; at 12:00 the
  winners still owed are reminded;
* all day — sign-ups for today's round: orders, then *signed* sandbox callbacks, some delivered twice.

The simulation's clock never passes the wall clock (``until``, default now): rows are stamped at simulated
times, none in the future. So with the default start (``clock_simulate``: the last round is today's) the
demo ends *now*, as a live game — yesterday's round settled after 08:05 with some packets not opened yet,
today's round taking stakes — and what would happen later today (a check-in after now, sign-ups of the
evening) does not. Rounds wholly in the past are played out: after the last one it keeps pushing until
every winner and refund is paid (or gives up after a few days). Then it audits every round.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Max
from django.utils import timezone

from . import calendar
from .audit import audit, audit_players
from .channels.sandbox import SandboxChannel
from .conf import clock_settings
from .exceptions import ClockError
from .models import ClockOrder, ClockStatus, OrderStatus, Participation, RedStatus, RefundStatus, Round
from .reminders import REFUSED, SENT
from .services.audits import audit_record
from .services.checkin import clock_in
from .services.orders import order_generate, order_notify
from .services.payouts import packet_open, round_push
from .services.players import player_remind
from .services.reminders import reminders_send
from .services.settlement import round_settle

Progress = Callable[[str], None]
DUPLICATE_RATE = 0.05  # callbacks the channel delivers twice
LATE_RATE = 0.02  # payments whose callback arrives after the check-in window opened
JOIN_RATE = 0.85  # players who join on a given day
OPEN_RATE = 0.7  # winners who open their packet themselves
TOO_LATE_RATE = 0.02  # players who tap "clock in" just after 08:00
FAIL_RATE = "0.1"  # transfers the sandbox channel refuses
FINAL_PUSHES = 5
REMIND_SHARE = 3  # in 10 players turn the check-in reminder on
UNSUBSCRIBED = 20  # one player in this many never subscribed: the channel refuses their reminders


@dataclass
class RoundLine:
    clock_day: date
    state: str  # "settled", "entry closed" (check-in, then 08:05), "taking stakes" (today's)
    payers: int
    winners: int
    pool: int
    service_fee: int
    bonus: int
    biggest_packet: int
    rollover_in: int
    rollover_out: int
    refunds: int
    unpaid: int


@dataclass
class SimulationReport:
    rounds: list[RoundLine] = field(default_factory=list)
    audit_ok: bool = False
    audit_problems: list[str] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)


class Simulation:
    def __init__(
        self,
        *,
        users: int,
        days: int,
        success_rate: float,
        seed: int,
        start: date,
        progress: Progress | None = None,
        until: datetime | None = None,
    ) -> None:
        self.users, self.days, self.success_rate = users, days, success_rate
        self.start = start
        self.until = until or timezone.now()
        self.rng = random.Random(seed)
        self.channel = SandboxChannel(SECRET=f"simulation-{seed}", FAIL_RATE=FAIL_RATE)
        self.progress = progress or (lambda message: None)
        self.late: list[ClockOrder] = []  # paid late at night; the callback arrives the next morning
        self.events: dict[str, int] = {}

    def count(self, event: str, n: int = 1) -> None:
        self.events[event] = self.events.get(event, 0) + n

    def at(self, day: date, clock: time, spread_seconds: int = 0) -> datetime:
        moment = calendar.at(day, clock)
        return moment + timedelta(seconds=self.rng.randrange(spread_seconds)) if spread_seconds else moment

    def happened(self, moment: datetime) -> bool:
        """Whether ``moment`` is already past on the wall clock (the simulation never plays the future)."""
        return moment <= self.until

    # --- one simulated day ------------------------------------------------------------------------------

    def run(self) -> SimulationReport:
        last_round = self.start + timedelta(days=self.days - 1)
        today = self.start
        while today <= last_round + timedelta(days=1) and self.happened(calendar.at(today, time(0))):
            self.progress(f"day {today}")
            self.push(today - timedelta(days=2), self.at(today, time(0, 30)))
            self.deliver_late(today)
            self.morning(today - timedelta(days=1))
            if today <= last_round:
                self.sign_ups(today)
            today += timedelta(days=1)
        for attempt in range(FINAL_PUSHES):
            moment = self.at(today + timedelta(days=attempt), time(0, 30))
            if not self.unpaid(last_round) or not self.happened(moment):
                break
            for offset in range(self.days):
                self.push(self.start + timedelta(days=offset), moment)
        return self.report(last_round)

    def unpaid(self, last_round: date) -> int:
        winners = Participation.objects.filter(
            clock_day__gte=self.start, clock_day__lte=last_round, clock_status=ClockStatus.CLOCKED_IN
        )
        refunds = ClockOrder.objects.filter(refund_status=RefundStatus.REFUNDING)
        return winners.exclude(red_status=RedStatus.PAID).count() + refunds.count()

    def push(self, day: date, now: datetime) -> None:
        if day < self.start or not self.happened(now) or not Round.objects.filter(clock_day=day).exists():
            return
        result = round_push(day, handler=self.channel.transfer, now=now)
        for outcome, n in result.outcomes.items():
            self.count(f"push {outcome}", n)
        for outcome, n in result.refunds.items():
            self.count(f"refund {outcome}", n)

    def deliver_late(self, day: date) -> None:
        waiting, self.late = self.late, []
        for order in waiting:
            now = self.at(day, time(5, 0), 600)
            if not self.happened(now):
                self.late.append(order)  # still on its way: the channel has not called back yet
                continue
            message = self.channel.payment_notification(
                order, paid_at=self.at(day - timedelta(days=1), time(23, 58)), now=now
            )
            order_notify(self.channel.notification_from(message, raw=json.dumps(message), now=now), now=now)
            self.count("late payment kept for refund")

    def morning(self, day: date) -> None:
        """Check-ins, settlement and packet opening of round ``day`` (on the next morning)."""
        the_round = Round.objects.filter(clock_day=day).first()
        if the_round is None:
            return
        next_day = day + timedelta(days=1)
        self.remind("checkin", day, self.at(next_day, clock_settings.remind_at))
        players = list(Participation.objects.filter(clock_day=day).values_list("uid", flat=True))
        self.progress(f"  round {day}: {len(players)} players wake up")
        for uid in players:
            if self.rng.random() >= self.success_rate:
                self.count("slept in")
                continue
            late = self.rng.random() < TOO_LATE_RATE
            now = self.at(next_day, time(8, 0), 60) if late else self.at(next_day, time(5, 0), 3 * 3600)
            if not self.happened(now):
                self.count("not up yet")
                continue
            try:
                clock_in(uid=uid, now=now)
                self.count("clocked in")
            except ClockError:
                self.count("refused: outside the window")
        if not self.happened(self.at(next_day, time(8, 5))):
            return
        round_settle(day, now=self.at(next_day, time(8, 5)))
        winners = Participation.objects.filter(clock_day=day, clock_status=ClockStatus.CLOCKED_IN)
        for uid in winners.values_list("uid", flat=True):
            if self.rng.random() < OPEN_RATE:
                now = self.at(next_day, time(8, 5), 50_000)
                if not self.happened(now):
                    self.count("packet not opened yet")
                    continue
                try:
                    packet_open(uid=uid, handler=self.channel.transfer, now=now)
                    self.count("opened")
                except ClockError as error:
                    self.count(f"open refused: {error.code}")
        self.remind("owed", None, self.at(next_day, time(12, 0)))

    def remind(self, kind: str, day: date | None, now: datetime) -> None:
        report = reminders_send(kind, day=day, now=now, handler=self.reminder_channel)
        for outcome, n in report.outcomes.items():
            self.count(f"{kind} reminder {outcome}", n)

    @staticmethod
    def reminder_channel(reminders) -> dict[int, str]:
        return {r.id: REFUSED if (r.uid // 10) % UNSUBSCRIBED == 0 else SENT for r in reminders}

    def sign_ups(self, day: date) -> None:
        yesterdays = set(Participation.objects.filter(clock_day=day - timedelta(days=1)).values_list("uid", flat=True))
        joining = [uid for uid in range(1, self.users + 1) if self.rng.random() < JOIN_RATE]
        paid = late = later = 0
        for i, uid in enumerate(joining, start=1):
            if i % max(1, len(joining) // 4) == 0:
                self.progress(f"  round {day}: signing up {i}/{len(joining)}")
            # Yesterday's players may join only after 08:05; the others from midnight.
            opens = time(8, 5) if uid in yesterdays else time(0, 0)
            now = self.at(day, opens, 15 * 3600 if uid in yesterdays else 23 * 3600)
            if not self.happened(now + timedelta(seconds=35)):
                later += 1  # joins later today, after the demo's end (now)
                continue
            order = order_generate(
                uid=uid, mobile=f"138{uid:08d}", nickname=f"早起鸟{uid}", open_id=f"sim-open-{uid}", now=now
            )
            if uid % 10 < REMIND_SHARE:
                player_remind(uid=uid)
            if self.rng.random() < LATE_RATE:  # pays at 23:58, the callback arrives after midnight
                self.late.append(order)
                if self.happened(self.at(day, time(23, 58))):
                    late += 1
                else:
                    later += 1
                continue
            paid += 1
            message = self.channel.payment_notification(order, now=now + timedelta(seconds=3))
            deliveries = 2 if self.rng.random() < DUPLICATE_RATE else 1
            for delivery in range(deliveries):
                arrived = now + timedelta(seconds=5 + 30 * delivery)
                notification = self.channel.notification_from(message, raw=json.dumps(message), now=arrived)
                outcome = order_notify(notification, now=arrived)
                self.count(f"payment {outcome}")
        self.progress(
            f"  round {day}: of {len(joining)} signing up, {paid} joined in time, {late} paid just before midnight "
            "(their callbacks arrive the next morning: kept for refund)"
            + (f", {later} will join later today (after now, where the simulation stops)" if later else "")
        )

    # --- the report ------------------------------------------------------------------------------------

    def report(self, last_round: date) -> SimulationReport:
        result = SimulationReport(events=dict(sorted(self.events.items())))
        for the_round in Round.objects.filter(clock_day__gte=self.start, clock_day__lte=last_round).order_by(
            "clock_day"
        ):
            parts = Participation.objects.filter(clock_day=the_round.clock_day)
            if the_round.is_settled:
                state = "settled"
            elif self.until >= calendar.entries_close_at(the_round.clock_day):
                state = "entry closed"
            else:
                state = "taking stakes"
            result.rounds.append(
                RoundLine(
                    clock_day=the_round.clock_day,
                    state=state,
                    payers=the_round.user_num,
                    winners=the_round.success_user_num,
                    pool=the_round.clock_money,
                    service_fee=the_round.service_fee,
                    bonus=the_round.bonus_money,
                    biggest_packet=parts.aggregate(m=Max("red_money"))["m"] or 0,
                    rollover_in=the_round.rollover_in,
                    rollover_out=the_round.rollover_out,
                    refunds=ClockOrder.objects.filter(clock_day=the_round.clock_day, order_status=OrderStatus.PAID)
                    .exclude(refund_status=RefundStatus.NONE)
                    .count(),
                    unpaid=parts.filter(clock_status=ClockStatus.CLOCKED_IN).exclude(red_status=RedStatus.PAID).count(),
                )
            )
        reports, players = audit(), audit_players()
        audit_record(reports)
        result.audit_ok = all(r.ok for r in reports) and players.ok
        result.audit_problems = [f"{r.clock_day}: {p}" for r in reports for p in r.problems] + players.problems
        return result
