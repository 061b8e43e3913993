"""A seeded fault simulation of whole rounds (issue 13), in the spirit of TigerBeetle's VOPR: one seed decides
every choice — who pays when, which notification is duplicated (up to 16 at once, from threads), reordered,
delayed past midnight or dropped, who wakes up at a window's edge, where a settlement or a push job is killed
with SIGKILL or loses its database session, which channel call times out before or after moving money, answers
5xx, 429 or a bad signature, which bill the winner confirms or lets expire, when Redis is flushed or down — and
after every step the invariants of :mod:`tests.simulation.invariants` are checked. The same seed replays the
same run step for step: the app's own randomness (round seeds, order numbers) is drawn from the seed too, the
clock is simulated (time-machine; forked jobs inherit it) and faults are placed by count, not by time.

The channel is the fake WeChat Pay server (tests/fakes/wechatpay.py), which keeps its own record of money moved.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from unittest import mock

import time_machine
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client, override_settings

from clock_app import calendar
from clock_app.models import ClockOrder, ClockStatus, Participation, RedStatus, RefundStatus, Round
from clock_app.services.orders import order_release_for_refund
from clock_app.services.transfers import channel_number
from tests.fakes.wechatpay import FAULTS, Refused

from .invariants import broken, unbooked_payments
from .jobs import run_job

NOTIFY_URL = "https://clock.example.com/api/clock/notify/"
FIRST_DAY = date(2031, 3, 3)
TRANSFERS = "/v3/fund-app/mch-transfer/transfer-bills"
REFUNDS = "/v3/refund/domestic/refunds"


class Break(AssertionError):
    """An invariant did not hold: the seed, the step and what broke (replay with the same seed)."""

    def __init__(self, seed: int, step: int, label: str, problems: list[str]) -> None:
        self.seed, self.step, self.label, self.problems = seed, step, label, problems
        listed = "\n  - ".join(problems[:20])
        super().__init__(f"seed {seed}, step {step} ({label}):\n  - {listed}")


@dataclass
class Report:
    seed: int
    steps: int = 0
    checks: int = 0
    faults: Counter = field(default_factory=Counter)
    events: Counter = field(default_factory=Counter)


def channel_settings(fake) -> dict:
    """CLOCK with the WeChat adapter on the fake, short channel timeouts (the fake hangs longer) and payouts
    asked about again after the shortest retry age."""
    from django.conf import settings

    return {
        **settings.CLOCK,
        "PAYMENT_CHANNEL": {
            "BACKEND": "clock_app.channels.wechatpay.WeChatPayChannel",
            "OPTIONS": {**fake.options(NOTIFY_URL), "TIMEOUT": 0.4},
        },
        "PAYOUT_HANDLER": "clock_app.channels.transfer",
        "PAYOUT_TIMEOUT": 3,
        "PAYOUT_RETRY_AFTER": 10,
    }


class Simulation:
    def __init__(self, seed: int, fake, *, days: int = 2, players: int = 10) -> None:
        self.seed, self.fake, self.days, self.players = seed, fake, days, players
        self.rng = random.Random(seed)
        self.report = Report(seed)
        self.clients: dict[int, Client] = {}
        self._queue: list[tuple[datetime, int, str, Callable[[], None]]] = []
        self._order = itertools.count()
        self.now = calendar.at(FIRST_DAY, time(0))
        fake.hang_seconds = 0.6

    # --- the run ------------------------------------------------------------------------------------------

    def run(self) -> Report:
        with self._deterministic_app(), override_settings(CLOCK=channel_settings(self.fake)):
            for i in range(self.days):
                day = FIRST_DAY + timedelta(days=i)
                self.schedule(calendar.at(day, time(0, 1)), f"sign-ups {day}", lambda d=day: self.sign_ups(d))
                self.schedule_round(day)
            while self._queue:
                self.now, _, label, action = heapq.heappop(self._queue)
                self.step(label, action)
            self.converge()
        return self.report

    def schedule(self, when: datetime, label: str, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (when, next(self._order), label, action))

    def step(self, label: str, action: Callable[[], None], *, settled: bool = False) -> None:
        """One step at the simulated ``now``, maybe with Redis flushed or down, then every invariant."""
        fate = self.rng.random()
        redis = override_settings(CACHES=_unreachable_redis()) if fate < 0.05 else nullcontext()
        if fate < 0.05:
            self.report.faults["redis down"] += 1
        elif fate < 0.10:
            self.report.faults["redis flushed"] += 1
            cache.clear()
        with time_machine.travel(self.now, tick=False), redis:
            action()
            self.report.steps += 1
            problems = broken(self.fake, settled=settled)
        self.report.checks += 1
        if problems:
            raise Break(self.seed, self.report.steps, label, problems)

    @contextmanager
    def _deterministic_app(self) -> Iterator[None]:
        """The app's own randomness from the seed: round seeds and order numbers."""
        draw = random.Random(self.rng.getrandbits(64))

        def seed() -> str:
            return f"{draw.getrandbits(256):064x}"

        def order_no(day) -> str:
            return f"TTC{day:%Y%m%d}{draw.randrange(10**10):010d}"

        with (
            mock.patch("clock_app.services.rounds.draw_seed", seed),
            mock.patch("clock_app.services.settlement.draw_seed", seed),
            mock.patch("clock_app.services.orders._new_order_no", order_no),
        ):
            yield

    # --- players ----------------------------------------------------------------------------------------------

    def client(self, uid: int) -> Client:
        if uid not in self.clients:
            client = Client()
            client.post("/demo/login/", {"uid": uid})
            self.clients[uid] = client
        return self.clients[uid]

    def sign_ups(self, day: date) -> None:
        """Who joins round ``day``, when: each a prepay event at its own time (players of yesterday's round
        after 08:05, a few right before the deadline)."""
        for uid in range(1, self.players + 1):
            if self.rng.random() >= 0.8:
                continue
            opens = (
                8 * 3600 + 5 * 60 if Participation.objects.filter(uid=uid, clock_day=day - timedelta(1)).exists() else 0
            )
            moment = calendar.at(day, time(0)) + timedelta(seconds=self.rng.randrange(opens + 60, 86_400 - 120))
            if self.rng.random() < 0.06:
                moment = calendar.at(day, time(23, 59, 50))
            self.schedule(moment, f"prepay {uid} {day}", lambda u=uid: self.prepay(u))

    def prepay(self, uid: int) -> None:
        made = self.client(uid).post("/api/clock/prepay/", content_type="application/json").json()
        if made["status"] != 1:
            self.report.events[f"prepay refused: {made.get('code')}"] += 1
            return
        order_no = made["data"]["order_no"]
        paid_at = self.now + timedelta(seconds=5)
        fate = self.rng.random()
        try:
            amount = 101 if fate < 0.02 else None  # a channel reporting another amount: kept for refund
            self.fake.pay(order_no, at=paid_at, amount=amount)
        except Refused:
            self.report.events["payment refused by the channel (expired)"] += 1
            return
        self.report.events["paid"] += 1
        fate = self.rng.random()
        if fate < 0.07:
            self.report.faults["notification dropped"] += 1
            return
        if fate < 0.14:
            self.report.faults["notification delayed past midnight"] += 1
            when = calendar.entries_close_at(calendar.today(paid_at)) + timedelta(minutes=self.rng.randrange(1, 240))
        elif fate < 0.20:
            self.report.faults["notification reordered"] += 1
            when = paid_at + timedelta(minutes=self.rng.randrange(30, 600))
        else:
            when = paid_at + timedelta(seconds=1)
        copies = self.rng.randrange(2, 17) if self.rng.random() < 0.1 else 1
        if copies > 1:
            self.report.faults["notification duplicated"] += 1
        self.schedule(when, f"notify {order_no} ×{copies}", lambda: self.notify(order_no, copies))

    def notify(self, order_no: str, copies: int) -> None:
        headers, body = self.fake.payment_notification(order_no)

        def deliver() -> int:
            return (
                Client().post("/api/clock/notify/", body, content_type="application/json", headers=headers).status_code
            )

        if copies == 1:
            answers = [deliver()]
        else:
            from tests.concurrency.threads import run_together

            answers = run_together([deliver] * copies)
        if set(answers) != {204}:
            raise AssertionError(f"a genuine notification was answered {answers}")

    # --- a round's morning and payouts -----------------------------------------------------------------------

    def schedule_round(self, day: date) -> None:
        morning = day + timedelta(days=1)
        self.schedule(
            calendar.at(morning, time(0, 5)),
            f"sweep {day}",
            lambda: self.command("clock_sweep_payments", "--day", str(day)),
        )
        self.schedule(calendar.at(morning, time(4, 59)), f"check-ins {day}", lambda: self.check_ins(day))
        self.schedule(
            calendar.at(morning, time(8, 5)),
            f"settle {day}",
            lambda: self.job("clock_init_red", day, tries=6, statements=16),
        )
        self.schedule(calendar.at(morning, time(8, 30)), f"opens {day}", lambda: self.opens(day))
        after = day + timedelta(days=2)
        self.schedule(calendar.at(after, time(0, 30)), f"push {day}", lambda: self.push(day, faults=True))
        self.schedule(calendar.at(after, time(9, 0)), f"confirms {day}", lambda: self.confirms(day))
        self.schedule(calendar.at(after, time(12, 0)), f"push again {day}", lambda: self.push(day, faults=False))

    def command(self, name: str, *args: str) -> None:
        try:
            call_command(name, *args, stdout=_Null(), stderr=_Null())
        except Exception as exc:  # a command that exits non-zero: recorded, the invariants still decide
            self.report.events[f"{name} exited non-zero: {type(exc).__name__}"] += 1

    def check_ins(self, day: date) -> None:
        """Participants wake up, some right at the window's edges (04:59:59 and 08:00:00 are refused)."""
        edges = [time(4, 59, 59), time(5, 0), time(5, 0, 1), time(7, 59, 59), time(8, 0), time(8, 0, 1)]
        for uid in Participation.objects.filter(clock_day=day).order_by("uid").values_list("uid", flat=True):
            if self.rng.random() >= 0.7:
                continue
            at = (
                edges[self.rng.randrange(len(edges))]
                if self.rng.random() < 0.3
                else time(self.rng.randrange(5, 8), self.rng.randrange(60))
            )
            with time_machine.travel(calendar.at(day + timedelta(days=1), at), tick=False):
                answer = self.client(uid).post("/api/clock/clock/", content_type="application/json").json()
            self.report.events["checked in" if answer["status"] == 1 else f"check-in refused: {answer['code']}"] += 1

    def job(self, command: str, day: date, *, faults: bool = True, tries: int = 3, statements: int = 60) -> None:
        """Run a job in a child process, maybe killed (SIGKILL) or cut off from the database at one of its first
        ``statements`` SQL statements, and rerun it — as cron would the next time — until it exits cleanly or
        ``tries`` runs were made (the push job exits non-zero while anything is owed: that is not a fault)."""
        for attempt in range(tries):
            fault, at = "", 0
            if faults and attempt < 2 and self.rng.random() < 0.5:
                fault = "kill" if self.rng.random() < 0.6 else "terminate"
                at = self.rng.randrange(1, statements)
            result = run_job(command, "--day", str(day), fault=fault, at=at)
            if result.fault_reached:
                self.report.faults[
                    f"{command} {'killed (SIGKILL)' if fault == 'kill' else 'lost its database session'}"
                ] += 1
            if result.exit == "ok":
                return
            self.now += timedelta(
                seconds=11
            )  # past PAYOUT_RETRY_AFTER: a rerun may take over what the dead run claimed
        self.report.events[f"{command} still failing after {tries} runs"] += 1

    def inject_channel_fault(self, path: str) -> None:
        fault = FAULTS[self.rng.randrange(len(FAULTS))]
        self.fake.inject("POST", path, fault)
        self.report.faults[f"channel {fault} on {path.rsplit('/', 1)[-1]}"] += 1

    def opens(self, day: date) -> None:
        """Winners open their packets during the day; some calls to the channel fail; each bill is confirmed,
        left to expire, or left waiting."""
        if not Round.objects.filter(clock_day=day, settled_at__isnull=False).exists():
            return
        winners = Participation.objects.filter(clock_day=day, clock_status=ClockStatus.CLOCKED_IN).order_by("uid")
        for uid in winners.values_list("uid", flat=True):
            if self.rng.random() >= 0.6:
                continue
            if self.rng.random() < 0.25:
                self.inject_channel_fault(TRANSFERS)
            answer = self.client(uid).post("/api/clock/red/", content_type="application/json").json()
            state = answer["data"]["assign"]["state"] if answer["status"] == 1 else answer.get("code")
            self.report.events[f"open: {state}"] += 1
        self.confirms(day)

    def confirms(self, day: date) -> None:
        """Winners holding a bill confirm it (its notification delivered or lost), let it expire, or wait."""
        for part in Participation.objects.filter(clock_day=day, red_status=RedStatus.AWAITING).order_by("uid"):
            number = channel_number(part.payout_no, part.payout_renewals)
            try:
                state = self.fake.transfer(number)["state"]
            except KeyError:
                continue
            if state != "WAIT_USER_CONFIRM":
                continue
            fate = self.rng.random()
            if fate < 0.6:
                self.fake.confirm(number)
            elif fate < 0.75:
                self.fake.expire(number)
                self.report.faults["bill cancelled (not confirmed in time)"] += 1
            else:
                continue
            if self.rng.random() < 0.8:
                headers, body = self.fake.transfer_notification(number)
                Client().post("/api/clock/transfer-notify/", body, content_type="application/json", headers=headers)
            else:
                self.report.faults["transfer notification dropped"] += 1

    def push(self, day: date, *, faults: bool) -> None:
        if faults and self.rng.random() < 0.5:
            self.inject_channel_fault(TRANSFERS if self.rng.random() < 0.7 else REFUNDS)
        self.fake.auto_complete_refunds = self.rng.random() < 0.5
        self.job("clock_push_red", day, faults=faults, tries=2)

    # --- convergence ------------------------------------------------------------------------------------------

    def converge(self) -> None:
        """After the last day: winners confirm what they hold, WeChat finishes its refunds, held payments are
        released, the jobs run again — until nothing is owed. Then the books must equal the channel's."""
        last = FIRST_DAY + timedelta(days=self.days + 3)
        self.now = calendar.at(last, time(1))
        for _ in range(8):
            self.now += timedelta(minutes=15)

            def settle_everything() -> None:
                for order in ClockOrder.objects.filter(refund_status=RefundStatus.REVIEW):
                    order_release_for_refund(order.pk)
                for refund in ClockOrder.objects.filter(refund_status=RefundStatus.REFUNDING):
                    with suppress(KeyError, Refused):
                        self.fake.complete_refund(f"{refund.order_no}R")
                for round_day in Round.objects.order_by("clock_day").values_list("clock_day", flat=True):
                    self.command("clock_sweep_payments", "--day", str(round_day))
                    self.command("clock_push_red", "--day", str(round_day))
                    for part in Participation.objects.filter(clock_day=round_day, red_status=RedStatus.AWAITING):
                        number = channel_number(part.payout_no, part.payout_renewals)
                        try:
                            if self.fake.transfer(number)["state"] == "WAIT_USER_CONFIRM":
                                self.fake.confirm(number)
                        except KeyError:
                            pass

            self.step("converge", settle_everything)
            owed = Participation.objects.filter(clock_status=ClockStatus.CLOCKED_IN).exclude(red_status=RedStatus.PAID)
            if (
                not owed.exists()
                and not unbooked_payments(self.fake)
                and not ClockOrder.objects.filter(
                    refund_status__in=[RefundStatus.REFUNDING, RefundStatus.REVIEW]
                ).exists()
            ):
                break
        self.now += timedelta(minutes=15)
        self.step("converged", lambda: None, settled=True)


class _Null:
    def write(self, *args, **kwargs) -> None:
        pass

    def flush(self) -> None:
        pass


def _unreachable_redis() -> dict:
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # the discard port: nothing listens, connections are refused
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.1, "SOCKET_TIMEOUT": 0.1},
        }
    }
