"""Every fault the fake WeChat Pay server can inject, on transfers and refunds: no payout paid twice, none
lost, none left without a defined state; a lost answer after the bill was created never leads to a second
bill number."""

from datetime import date, timedelta

import pytest
import time_machine

from clock_app.audit import audit
from clock_app.channels import get_channel
from clock_app.models import ClockOrder, ClockStatus, Participation, RedStatus, RefundStatus
from clock_app.services.payouts import round_push
from clock_app.services.settlement import round_settle
from tests.factories import order_for, pay, play_round
from tests.fakes.wechatpay import FAULTS

from .conftest import local

pytestmark = pytest.mark.django_db(transaction=True)

DAY = date(2026, 11, 26)
NEXT = DAY + timedelta(days=1)
AFTER = DAY + timedelta(days=2)
BILLS = "/v3/fund-app/mch-transfer/transfer-bills"
# After these the bill exists at WeChat although the app never saw a trustworthy answer.
ACTED = {"timeout_after", "5xx_after", "bad_signature", "unreadable"}


def push(at):
    with time_machine.travel(at, tick=False):
        return round_push(DAY)


def bill_numbers_sent(fake, payout_no):
    return {
        r["json"]["out_bill_no"]
        for r in fake.requests
        if r["method"] == "POST" and r["path"] == BILLS and r["json"]["out_bill_no"].startswith(payout_no)
    }


def confirm_every_waiting_bill(fake, at):
    with time_machine.travel(at, tick=False):
        for part in Participation.objects.filter(clock_status=ClockStatus.CLOCKED_IN):
            for number in bill_numbers_sent(fake, part.payout_no):
                try:
                    waiting = fake.transfer(number)["state"] == "WAIT_USER_CONFIRM"
                except KeyError:  # refused before a bill was made
                    continue
                if waiting:
                    fake.confirm(number)


def settled_round(fake):
    fake.hang_seconds = 2.5  # longer than the adapter's TIMEOUT (2 s) of tests/channels/conftest.py
    play_round(DAY, 5, 3)
    with time_machine.travel(local(NEXT, "08:05:00"), tick=False):
        round_settle(DAY)
    return list(Participation.objects.filter(clock_status=ClockStatus.CLOCKED_IN).order_by("pk"))


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_on_a_transfer_never_pays_twice_nor_loses_it(wechat, fault):
    winners = settled_round(wechat)
    first = winners[0]
    wechat.inject("POST", BILLS, fault)
    report = push(local(AFTER, "00:30:00"))
    first.refresh_from_db()
    assert first.red_status in RedStatus.values  # a defined state, whatever happened
    assert wechat.faults_injected[fault] == 1
    # The next runs (after PAYOUT_RETRY_AFTER) ask WeChat first; bills get confirmed; everyone ends paid once.
    push(local(AFTER, "00:41:00"))
    confirm_every_waiting_bill(wechat, local(AFTER, "00:42:00"))
    push(local(AFTER, "00:53:00"))
    confirm_every_waiting_bill(wechat, local(AFTER, "00:54:00"))
    report = push(local(AFTER, "01:05:00"))
    assert report.unpaid == 0, report.owing
    paid = wechat.paid_out_by_key()
    for part in winners:
        part.refresh_from_db()
        mine = {number: fen for number, fen in paid.items() if number.startswith(part.payout_no)}
        assert list(mine.values()) == [part.clock_money], (fault, part.uid, mine)
    if fault in ACTED:
        assert bill_numbers_sent(wechat, first.payout_no) == {first.payout_no}  # never a second number
    assert all(r.ok for r in audit())


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_on_a_refund_never_refunds_twice(wechat, fault):
    wechat.hang_seconds = 2.5
    wechat.auto_complete_refunds = True
    play_round(DAY, 2, 2)
    late = order_for(9, local(DAY, "23:00:00"))
    with time_machine.travel(local(DAY, "23:00:01"), tick=False):
        get_channel().prepay(late, expires_at=local(DAY, "23:59:59"))
    with time_machine.travel(local(DAY, "23:00:05"), tick=False):
        wechat.pay(late.order_no)
    # WeChat's own notification of the payment arrived after settlement: kept for refund.
    with time_machine.travel(local(NEXT, "08:05:00"), tick=False):
        round_settle(DAY)
    transaction_id = wechat.transaction(late.order_no)["transaction_id"]
    pay(late, local(NEXT, "09:00:00"), transaction_id, paid_at=local(DAY, "23:00:05"))
    late.refresh_from_db()
    assert late.refund_status == RefundStatus.REFUNDING
    wechat.inject("POST", "/v3/refund/domestic/refunds", fault)
    for when in ("00:30:00", "00:41:00", "00:52:00", "01:03:00"):
        push(local(AFTER, when))
    assert wechat.faults_injected[fault] == 1
    assert ClockOrder.objects.get(pk=late.pk).refund_status == RefundStatus.REFUNDED
    assert wechat.paid_out_by_key()[f"{late.order_no}R"] == 100
    assert all(r.ok for r in audit())


def test_a_fault_on_the_query_leaves_the_bill_to_the_next_run(wechat):
    winners = settled_round(wechat)
    push(local(AFTER, "00:30:00"))  # every winner now holds a bill to confirm
    wechat.inject("GET", BILLS, "5xx_before", times=len(winners))
    confirm_every_waiting_bill(wechat, local(AFTER, "00:35:00"))
    push(local(AFTER, "00:41:00"))  # WeChat cannot say: nothing is sent again, nothing booked
    assert {p.red_status for p in Participation.objects.filter(clock_status=ClockStatus.CLOCKED_IN)} == {
        RedStatus.PAYING
    }
    report = push(local(AFTER, "00:52:00"))
    assert report.unpaid == 0
    assert all(len(bill_numbers_sent(wechat, p.payout_no)) == 1 for p in winners)


def test_an_amount_outside_the_channels_limits_is_held_back_and_owed_not_sent_to_fail(wechat, settings):
    from django.test import override_settings

    winners = settled_round(wechat)
    biggest = max(p.order_money + p.red_money for p in winners)
    options = {**settings.CLOCK["PAYMENT_CHANNEL"]["OPTIONS"], "MAX_TRANSFER": biggest - 1}
    channel = {**settings.CLOCK["PAYMENT_CHANNEL"], "OPTIONS": options}
    with override_settings(CLOCK={**settings.CLOCK, "PAYMENT_CHANNEL": channel}):
        report = push(local(AFTER, "00:30:00"))
    held = [
        p for p in Participation.objects.filter(clock_status=ClockStatus.CLOCKED_IN) if p.red_status == RedStatus.UNPAID
    ]
    assert held and all("ABOVE_MAX_TRANSFER" in p.pay_result for p in held)
    assert not any(bill_numbers_sent(wechat, p.payout_no) for p in held)  # never sent to fail
    assert report.owing["owed"][0] == len(held) and not report.complete
    push(local(AFTER, "00:31:00"))  # the default limit again: offered now
    assert all(p.red_status == RedStatus.AWAITING for p in Participation.objects.filter(pk__in=[h.pk for h in held]))
