from datetime import date, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F
from django.test import override_settings

from clock_app.audit import audit
from clock_app.exceptions import AlreadyPaid, NotParticipant, NotWinner, PayoutFailed, RedNotOpen
from clock_app.facade import CashClock
from clock_app.models import (
    ClockOrder,
    ErrorStatus,
    LedgerEntry,
    MoneyType,
    Participation,
    PayoutError,
    Player,
    RedStatus,
    RefundStatus,
    Round,
)
from clock_app.services import transfers as transfers_module
from clock_app.services.payouts import Outcome, packet_open, round_push, transfer_succeeded

from ..conftest import local
from ..factories import Channel, order_for, pay, play_round

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)
NEXT = "2026-11-27"
FAIL = {"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "NOTENOUGH"}


def open_red(uid, handler, clock="08:05:00", day=NEXT):
    """Open the packet; the money if it was paid at once (the seed's answer)."""
    with time_machine.travel(local(day, clock), tick=False):
        opened = packet_open(uid=uid, handler=handler)
    assert opened.state == "paid", opened
    return opened.money


def push(handler, day=DAY, when=("2026-11-28", "03:00:00")):
    with time_machine.travel(local(*when), tick=False):
        return round_push(day, handler=handler)


def test_open_pays_stake_plus_packet_once_and_settles_first():
    play_round(DAY, 10, 7)
    channel = Channel()
    money = open_red(1, channel)
    part = Participation.objects.get(uid=1)
    assert Round.objects.get().settled_at is not None  # settled on demand
    assert money == part.clock_money == 100 + part.red_money
    assert part.red_status == RedStatus.PAID and part.red_time == local(NEXT, "08:05:00")
    [transfer] = channel.calls
    assert (transfer.order_no, transfer.uid, transfer.openid, transfer.amount, transfer.clock_day) == (
        part.payout_no,
        1,
        "open-1",
        money,
        DAY,
    )
    player = Player.objects.get(uid=1)
    assert (player.income_money, player.clock_max_money) == (money, money)
    entry = LedgerEntry.objects.get(money_type=MoneyType.RED_PACKET)
    assert (entry.uid, entry.change_money, entry.reference, entry.clock_day) == (1, money, part.payout_no, DAY)

    with pytest.raises(AlreadyPaid):
        open_red(1, channel, "09:00:00")
    assert len(channel.calls) == 1
    assert LedgerEntry.objects.filter(money_type=MoneyType.RED_PACKET).count() == 1


def test_facade_envelope():
    play_round(DAY, 3, 2)
    with time_machine.travel(local(NEXT, "08:06:00"), tick=False):
        result = CashClock().user_open_red(1, Channel())
        again = CashClock().user_open_red(1, Channel())
    assert result["status"] == 1 and result["data"]["assign"]["money"] == Participation.objects.get(uid=1).clock_money
    assert (again["status"], again["code"]) == (0, "already_paid")


@pytest.mark.parametrize(("clock", "error"), [("08:04:59", RedNotOpen), ("07:00:00", RedNotOpen)])
def test_not_before_red_open(clock, error):
    play_round(DAY, 3, 2)
    with pytest.raises(error):
        open_red(1, Channel(), clock)
    assert Round.objects.get().settled_at is None


def test_losers_and_strangers_are_refused():
    play_round(DAY, 3, 2)
    with pytest.raises(NotWinner):
        open_red(3, Channel())
    with pytest.raises(NotParticipant):
        open_red(99, Channel())


@override_settings(CLOCK={"PAYOUT_HANDLER": None})
def test_no_handler_configured_is_a_clear_error():
    play_round(DAY, 2, 1)
    with time_machine.travel(local(NEXT, "08:06:00"), tick=False):
        result = CashClock().user_open_red(1)
    assert (result["status"], result["code"]) == (0, "no_payout_handler")
    assert Participation.objects.get(uid=1).red_status == RedStatus.UNPAID


def test_handler_fail_logs_then_push_pays_with_the_same_payout_no():
    play_round(DAY, 10, 7)
    failing = Channel(FAIL)
    with pytest.raises(PayoutFailed):
        open_red(1, failing)
    part = Participation.objects.get(uid=1)
    assert part.red_status == RedStatus.FAILED and part.clock_money == 0
    error = PayoutError.objects.get()
    assert (error.clock_day_id, error.uid, error.order_no, error.status) == (
        part.pk,
        1,
        part.payout_no,
        ErrorStatus.OPEN,
    )
    assert error.red_money == 100 + part.red_money
    assert not LedgerEntry.objects.filter(money_type=MoneyType.RED_PACKET).exists()

    channel = Channel()
    report = push(channel)
    assert report.complete
    paid_keys = [t.order_no for t in channel.calls if t.uid == 1]
    assert paid_keys == [part.payout_no]
    assert Participation.objects.get(uid=1).red_status == RedStatus.PAID
    assert PayoutError.objects.get().status == ErrorStatus.REPAIRED


def test_handler_raising_leaves_paying_and_push_completes_it_once_after_the_retry_age():
    play_round(DAY, 10, 7)
    with time_machine.travel(local(NEXT, "08:05:00"), tick=False):
        opened = packet_open(uid=1, handler=Channel(TimeoutError("channel timed out")))
    assert opened.state == "pending"  # sent, outcome unknown
    part = Participation.objects.get(uid=1)
    assert part.red_status == RedStatus.PAYING

    # Too young to retry (PAYOUT_RETRY_AFTER = 600 s): push leaves it alone and reports it unpaid.
    early = Channel()
    report = push(early, when=(NEXT, "08:10:00"))
    assert part.payout_no not in [t.order_no for t in early.calls]
    assert report.unpaid == 1 and not report.complete

    later = Channel()
    report = push(later, when=(NEXT, "08:16:00"))
    assert [t.order_no for t in later.calls if t.uid == 1] == [part.payout_no]
    assert report.complete
    assert LedgerEntry.objects.filter(money_type=MoneyType.RED_PACKET, uid=1).count() == 1


def test_push_pays_everyone_who_did_not_open_and_skips_the_paid():
    play_round(DAY, 10, 7)
    open_red(1, Channel())
    channel = Channel()
    report = push(channel)
    assert sorted(t.uid for t in channel.calls) == [2, 3, 4, 5, 6, 7]
    assert report.complete and report.outcomes == {Outcome.PAID: 6}
    assert not push(Channel()).outcomes  # nothing left to do
    assert [a.ok for a in audit()] == [True]


def test_push_walks_more_than_one_keyset_batch(monkeypatch):
    from clock_app.services import payouts

    monkeypatch.setattr(payouts, "KEYSET_BATCH", 3)
    play_round(DAY, 12, 11)
    channel = Channel()
    assert push(channel).complete
    assert len(channel.calls) == 11 and len({t.order_no for t in channel.calls}) == 11


def test_push_exits_non_zero_while_something_is_unpaid():
    play_round(DAY, 3, 2)
    with (
        override_settings(CLOCK={"PAYOUT_HANDLER": "tests.services.test_payouts.always_fail"}),
        time_machine.travel(local("2026-11-28", "03:00:00"), tick=False),
        pytest.raises(CommandError, match="2 winner"),
    ):
        call_command("clock_push_red")
    with (
        override_settings(CLOCK={"PAYOUT_HANDLER": "tests.services.test_payouts.always_succeed"}),
        time_machine.travel(local("2026-11-28", "03:10:00"), tick=False),
    ):
        call_command("clock_push_red")
    assert Participation.objects.filter(red_status=RedStatus.PAID).count() == 2


def always_fail(transfer):
    return FAIL


def always_succeed(transfer):
    return {"result_code": "SUCCESS"}


def test_refunds_are_paid_once_through_the_handler():
    late = order_for(50, local(DAY, "23:59:00"))
    pay(late, local(NEXT, "05:01:00"), "wx-late")
    play_round(DAY, 3, 2)
    channel = Channel()
    report = push(channel)
    [refund] = [t for t in channel.calls if t.kind == "refund"]
    assert (refund.uid, refund.amount, refund.transaction_id, refund.order_no) == (
        50,
        100,
        "wx-late",
        late.order_no + "R",
    )
    assert report.refunds == {Outcome.PAID: 1} and report.complete
    late.refresh_from_db()
    assert late.refund_status == RefundStatus.REFUNDED
    assert LedgerEntry.objects.get(money_type=MoneyType.REFUND).change_money == 100
    assert push(Channel()).refunds == {}  # nothing left to refund
    assert [a.ok for a in audit()] == [True]


def test_refused_refund_is_logged_and_retried_next_push():
    late = order_for(50, local(DAY, "23:59:00"))
    pay(late, local(NEXT, "05:01:00"), "wx-late")
    report = push(Channel(FAIL))
    assert report.refunds_pending == 1
    assert PayoutError.objects.get().order_no == late.order_no + "R"
    assert push(Channel()).refunds == {Outcome.PAID: 1}
    assert ClockOrder.objects.get(pk=late.pk).refund_status == RefundStatus.REFUNDED
    assert PayoutError.objects.get().status == ErrorStatus.REPAIRED


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        ({"return_code": "SUCCESS", "result_code": "SUCCESS"}, True),
        ({"result_code": "SUCCESS"}, True),
        ({"return_code": "FAIL", "result_code": "SUCCESS"}, False),
        ({"result_code": "FAIL"}, False),
        ({}, False),
        (None, False),
        ("SUCCESS", False),
    ],
)
def test_only_a_success_answer_counts(answer, ok):
    assert transfer_succeeded(answer) is ok


def test_days_after_the_round():
    play_round(DAY, 2, 1)
    # On the 28th, yesterday's round is the 27th: the 26th's packets are the push job's.
    with pytest.raises(NotParticipant):
        open_red(1, Channel(), "09:00:00", day=(DAY + timedelta(days=2)).isoformat())


def test_a_confirmed_success_is_recorded_even_after_a_retry_took_over(monkeypatch):
    """Attempt 1 is slow; past PAYOUT_RETRY_AFTER the push retries (attempt 2) and the channel answers it
    "duplicate" (a FAIL). Attempt 1's SUCCESS then arrives: the payout was made, so it is recorded once."""
    # The slow handler runs the push itself, inside this test's transaction: call it on this thread.
    monkeypatch.setattr(transfers_module, "call_with_deadline", lambda function, *args, timeout: function(*args))
    play_round(DAY, 10, 7)
    part = Participation.objects.get(uid=1)

    def slow_success(transfer):
        with time_machine.travel(local(NEXT, "08:20:00"), tick=False):
            retry = Channel({"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "DUPLICATE"})
            round_push(DAY, handler=lambda t: retry(t) if t.order_no == transfer.order_no else always_succeed(t))
        assert Participation.objects.get(pk=part.pk).red_status == RedStatus.FAILED
        return {"return_code": "SUCCESS", "result_code": "SUCCESS"}

    money = open_red(1, slow_success)
    part.refresh_from_db()
    assert part.red_status == RedStatus.PAID and money == part.clock_money
    assert LedgerEntry.objects.filter(money_type=MoneyType.RED_PACKET, reference=part.payout_no).count() == 1
    assert PayoutError.objects.get(order_no=part.payout_no).status == ErrorStatus.REPAIRED


def test_a_handler_that_is_not_callable_is_refused_before_anything_is_claimed():
    play_round(DAY, 3, 2)
    with time_machine.travel(local(NEXT, "08:06:00"), tick=False):
        result = CashClock().user_open_red(1, handler="not a function")
    assert (result["status"], result["code"]) == (0, "handler_invalid")
    assert Participation.objects.get(uid=1).red_status == RedStatus.UNPAID


def test_a_packet_cannot_be_paid_before_its_round_is_settled():
    from clock_app.services.payouts import packet_pay

    play_round(DAY, 3, 2)
    part = Participation.objects.get(uid=1)
    with time_machine.travel(local(NEXT, "07:00:00"), tick=False):
        assert packet_pay(part.pk, handler=Channel()).outcome == Outcome.NOT_CLAIMED
    assert Participation.objects.get(pk=part.pk).red_status == RedStatus.UNPAID


def test_one_broken_row_does_not_stop_the_push(monkeypatch):
    from django.db import DatabaseError

    from clock_app.services import payouts

    play_round(DAY, 5, 4)
    broken = Participation.objects.filter(clock_status=2).order_by("pk").first().pk
    real = payouts.packet_pay

    def flaky(pk, **kwargs):
        if pk == broken:
            raise DatabaseError("disk full")
        return real(pk, **kwargs)

    monkeypatch.setattr(payouts, "packet_pay", flaky)
    report = push(Channel())
    assert report.outcomes == {Outcome.PAID: 3, "error": 1}
    assert report.unpaid == 1 and not report.complete


def test_claims_waiting_their_turn_are_renewed_and_a_taken_over_one_is_dropped(monkeypatch):
    """The push claims a batch of rows at once. A slow channel (here: the first call takes 400 s, past half of
    PAYOUT_RETRY_AFTER) must not leave the rest of the batch looking abandoned: their claims are renewed
    before the next call; a row another pusher took over meanwhile is not sent by this one."""
    # The handler writes inside this test's transaction: call it on this thread.
    monkeypatch.setattr(transfers_module, "call_with_deadline", lambda function, *args, timeout: function(*args))
    play_round(DAY, 4, 3)
    first, taken, last = Participation.objects.filter(clock_status=2).order_by("pk")
    start = local("2026-11-28", "03:00:00")
    with time_machine.travel(start, tick=False) as traveller:

        def slow(transfer):
            if transfer.order_no == first.payout_no:
                traveller.shift(400)
                # Meanwhile another pusher took the second row over (its claim looked stale to it).
                Participation.objects.filter(pk=taken.pk).update(payout_attempts=F("payout_attempts") + 1)
            return {"result_code": "SUCCESS"}

        channel = Channel()
        report = round_push(DAY, handler=lambda t: channel(t) and slow(t))
    assert [t.order_no for t in channel.calls] == [first.payout_no, last.payout_no]
    assert report.outcomes == {Outcome.PAID: 2, Outcome.NOT_CLAIMED: 1}
    last.refresh_from_db()
    assert last.red_status == RedStatus.PAID and last.payout_claimed_at == start + timedelta(seconds=400)
    assert Participation.objects.get(pk=taken.pk).red_status == RedStatus.PAYING  # the other pusher's
