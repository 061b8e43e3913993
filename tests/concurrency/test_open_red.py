"""Opening red packets under real concurrency on PostgreSQL."""

import threading
import time
from datetime import date
from io import StringIO

import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from clock_app.models import LedgerEntry, MoneyType, Participation, RedStatus, Round
from clock_app.services.payouts import packet_open
from clock_app.services.settlement import round_settle

from ..conftest import local
from ..factories import play_round
from .threads import run_together

DAY = date(2026, 11, 26)


class SlowChannel:
    """A channel that takes a while and counts the transfers it made (per idempotency key)."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.transfers: list[str] = []

    def __call__(self, transfer):
        time.sleep(self.delay)
        with self.lock:
            self.transfers.append(transfer.order_no)
        return {"return_code": "SUCCESS", "result_code": "SUCCESS"}


CHANNEL = SlowChannel()


def channel_transfer(transfer):
    """``CLOCK["PAYOUT_HANDLER"]`` of the push command below: the test's channel."""
    return CHANNEL(transfer)


def test_sixteen_opens_of_one_packet_while_clock_push_red_runs(postgres, settings):
    play_round(DAY, 6, 4)
    channel = CHANNEL
    channel.transfers.clear()
    settings.CLOCK = {"PAYOUT_HANDLER": "tests.concurrency.test_open_red.channel_transfer"}
    with time_machine.travel(local("2026-11-27", "08:05:00"), tick=True):
        round_settle(DAY)

        def push():
            call_command("clock_push_red", "--day", "2026-11-26", stdout=StringIO())

        results = run_together([lambda: packet_open(uid=1, handler=channel)] * 16 + [push])
    # Openers that lose the race hear "already paid" / "in progress"; the push job may end non-zero if it
    # looked at uid 1 while an opener held that payout.
    unexpected = [
        r
        for r in results
        if isinstance(r, Exception)
        and not isinstance(r, CommandError)
        and getattr(r, "code", "") not in ("already_paid", "payout_in_progress")
    ]
    assert not unexpected, unexpected
    assert sorted(channel.transfers) == sorted(
        Participation.objects.filter(clock_status=2).values_list("payout_no", flat=True)
    )
    payout_no = Participation.objects.get(uid=1).payout_no
    assert channel.transfers.count(payout_no) == 1
    assert LedgerEntry.objects.filter(money_type=MoneyType.RED_PACKET, reference=payout_no).count() == 1
    assert Participation.objects.get(uid=1).red_status == RedStatus.PAID


def test_openers_racing_the_settlement_settle_once(postgres):
    play_round(DAY, 8, 6)
    channel = SlowChannel(delay=0)
    with time_machine.travel(local("2026-11-27", "08:05:00"), tick=True):
        results = run_together(
            [lambda uid=uid: packet_open(uid=uid, handler=channel) for uid in range(1, 7)]
            + [lambda: round_settle(DAY)] * 3
        )
    assert not [r for r in results[:6] if isinstance(r, Exception)], results
    # Whoever got there first settled; every explicit settlement call after that found it done.
    assert sum(1 for r in results[6:] if not r.already_settled) <= 1
    the_round = Round.objects.get()
    assert the_round.settled_at is not None
    assert sorted(channel.transfers) == sorted(
        Participation.objects.filter(clock_status=2).values_list("payout_no", flat=True)
    )
    assert sum(Participation.objects.values_list("red_money", flat=True)) == the_round.bonus_money
