"""Every fault the fake Alipay gateway can inject, on transfers, refunds and their queries: no payout paid twice,
none lost, none left without a defined state; a lost answer after the transfer was made never leads to a second
out_biz_no. Also Alipay's own outcomes: DEALING then SUCCESS or FAIL, refusals, limits held back, and a
configuration without certificates holding packets back instead of sending them to fail."""

from datetime import date, timedelta

import pytest
import time_machine
from django.test import Client, override_settings

from clock_app.audit import audit
from clock_app.channels import get_channel
from clock_app.channels.alipay import AlipayChannel
from clock_app.models import ClockOrder, ClockStatus, Participation, PayoutError, RedStatus, RefundStatus
from clock_app.services.payouts import round_push
from clock_app.services.settlement import round_settle
from clock_app.services.sweep import payments_sweep
from clock_app.services.transfers import Transfer
from tests.factories import order_for, pay
from tests.fakes.alipay import FAULTS

from .conftest import Player, local

pytestmark = pytest.mark.django_db(transaction=True)

DAY = date(2026, 11, 26)
NEXT = DAY + timedelta(days=1)
AFTER = DAY + timedelta(days=2)
TRANSFER = "alipay.fund.trans.uni.transfer"
# After these the transfer exists at Alipay although the app never saw a trustworthy answer.
ACTED = {"timeout_after", "system_error_after", "business_system_error_after", "bad_signature", "unreadable"}


def push(at):
    with time_machine.travel(at, tick=False):
        return round_push(DAY)


def numbers_sent(fake, payout_no):
    return {r.biz["out_biz_no"] for r in fake.calls(TRANSFER) if r.biz and r.biz["out_biz_no"].startswith(payout_no)}


def settled_round(fake, payers=5, clockers=3):
    """A round played over HTTP (the stakes paid at the fake, so refunds can go back), settled at 08:05."""
    fake.hang_seconds = 2.5  # longer than the adapter's TIMEOUT (2 s) of tests/channels/conftest.py
    for uid in range(1, payers + 1):
        order_no = Player(Client, uid).post("prepay", local(DAY, "10:00:00"))["data"]["order_no"]
        with time_machine.travel(local(DAY, "10:00:05"), tick=False):
            fake.pay(order_no)  # the notifications are lost: the sweep finds the payments
    with time_machine.travel(local(NEXT, "00:05:00"), tick=False):
        assert payments_sweep(DAY) == {"joined": payers}
    for uid in range(1, clockers + 1):
        assert Player(Client, uid).post("clock", local(NEXT, "06:00:00"))["status"] == 1
    with time_machine.travel(local(NEXT, "08:05:00"), tick=False):
        round_settle(DAY)
    return list(Participation.objects.filter(clock_status=ClockStatus.CLOCKED_IN).order_by("pk"))


def assert_each_paid_once(fake, winners):
    paid = fake.paid_out_by_key()
    for part in winners:
        part.refresh_from_db()
        mine = {number: fen for number, fen in paid.items() if number.startswith(part.payout_no)}
        assert part.red_status == RedStatus.PAID and list(mine.values()) == [part.clock_money], (part.uid, mine)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_fault_on_a_transfer_never_pays_twice_nor_loses_it(alipay, fault):
    winners = settled_round(alipay)
    first = winners[0]
    alipay.inject(TRANSFER, fault)
    push(local(AFTER, "00:30:00"))
    first.refresh_from_db()
    assert first.red_status in (RedStatus.PAYING, RedStatus.FAILED, RedStatus.PAID)
    assert alipay.faults_injected[fault] == 1
    report = push(local(AFTER, "00:41:00"))  # after PAYOUT_RETRY_AFTER: asked about first, then settled
    assert report.unpaid == 0, report.owing
    assert_each_paid_once(alipay, winners)
    if fault in ACTED:
        assert numbers_sent(alipay, first.payout_no) == {first.payout_no}  # never a second number
    assert all(r.ok for r in audit())


def test_unknown_outcomes_stay_paying_and_are_asked_about_not_resent(alipay):
    winners = settled_round(alipay)
    first = winners[0]
    alipay.inject(TRANSFER, "timeout_after")
    push(local(AFTER, "00:30:00"))
    first.refresh_from_db()
    assert first.red_status == RedStatus.PAYING and "ReadTimeout" in first.pay_result
    push(local(AFTER, "00:35:00"))  # not stale yet: nobody touches it
    assert len(alipay.calls(TRANSFER)) == len(winners)
    push(local(AFTER, "00:41:00"))  # stale: the query finds it paid, nothing is sent again
    assert len(alipay.calls(TRANSFER)) == len(winners)
    assert_each_paid_once(alipay, winners)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_fault_on_a_refund_never_refunds_twice(alipay, fault):
    alipay.hang_seconds = 2.5
    late = order_for(9, local(DAY, "23:00:00"))
    with time_machine.travel(local(DAY, "23:00:01"), tick=False):
        get_channel().prepay(late, expires_at=local(DAY, "23:59:59"))
    with time_machine.travel(local(DAY, "23:00:05"), tick=False):
        trade_no = alipay.pay(late.order_no)
    # Alipay's notification arrived after the round was settled: kept for refund.
    with time_machine.travel(local(NEXT, "08:05:00"), tick=False):
        round_settle(DAY)
    pay(late, local(NEXT, "09:00:00"), trade_no, paid_at=local(DAY, "23:00:05"))
    late.refresh_from_db()
    assert late.refund_status == RefundStatus.REFUNDING
    alipay.inject("alipay.trade.refund", fault)
    for when in ("00:30:00", "00:41:00", "00:52:00"):
        push(local(AFTER, when))
    assert alipay.faults_injected[fault] == 1
    assert ClockOrder.objects.get(pk=late.pk).refund_status == RefundStatus.REFUNDED
    assert alipay.paid_out_by_key() == {f"{late.order_no}R": 100}
    assert {r.biz["out_request_no"] for r in alipay.calls("alipay.trade.refund")} == {f"{late.order_no}R"}
    assert all(r.ok for r in audit())


@pytest.mark.parametrize("fault", ["system_error_before", "bad_signature", "timeout_before", "unreadable"])
def test_a_fault_on_the_query_leaves_the_transfer_to_the_next_run(alipay, fault):
    winners = settled_round(alipay)
    alipay.transfer_mode = "dealing"
    push(local(AFTER, "00:30:00"))  # every transfer is processing at Alipay
    assert {p.red_status for p in Participation.objects.filter(clock_status=ClockStatus.CLOCKED_IN)} == {
        RedStatus.PAYING
    }
    with time_machine.travel(local(AFTER, "00:35:00"), tick=False):
        for part in winners:
            alipay.settle_transfer(part.payout_no)
    alipay.inject("alipay.fund.trans.common.query", fault, times=len(winners))
    push(local(AFTER, "00:41:00"))  # Alipay cannot say: nothing is sent again, nothing booked
    assert {p.red_status for p in Participation.objects.filter(clock_status=ClockStatus.CLOCKED_IN)} == {
        RedStatus.PAYING
    }
    assert len(alipay.calls(TRANSFER)) == len(winners)
    assert push(local(AFTER, "00:52:00")).unpaid == 0
    assert all(numbers_sent(alipay, p.payout_no) == {p.payout_no} for p in winners)
    assert_each_paid_once(alipay, winners)


def test_a_dealing_transfer_that_fails_is_offered_again_under_the_next_number(alipay):
    winners = settled_round(alipay, payers=3, clockers=1)
    [winner] = winners
    alipay.transfer_mode = "dealing"
    push(local(AFTER, "00:30:00"))
    with time_machine.travel(local(AFTER, "00:35:00"), tick=False):
        alipay.settle_transfer(winner.payout_no, status="FAIL")
    alipay.transfer_mode = "success"
    assert push(local(AFTER, "00:41:00")).unpaid == 0
    assert numbers_sent(alipay, winner.payout_no) == {winner.payout_no, f"{winner.payout_no}N2"}
    assert PayoutError.objects.filter(order_no=winner.payout_no).count() == 1
    assert_each_paid_once(alipay, winners)


def test_a_refused_transfer_is_checked_then_failed_and_stays_owed(alipay):
    winners = settled_round(alipay, payers=3, clockers=1)
    [winner] = winners
    alipay.unknown_payees.add(winner.source_uid)
    report = push(local(AFTER, "00:30:00"))
    winner.refresh_from_db()
    assert winner.red_status == RedStatus.FAILED and "PAYEE_NOT_EXIST" in winner.pay_result
    assert report.owing == {"failed": (1, winner.order_money + winner.red_money)}
    # Before calling it failed, the adapter asked by the same number.
    asked = alipay.calls("alipay.fund.trans.common.query")
    assert [r.biz["out_biz_no"] for r in asked] == [winner.payout_no]
    alipay.unknown_payees.clear()
    assert push(local(AFTER, "00:31:00")).unpaid == 0
    assert_each_paid_once(alipay, winners)


def test_a_balance_too_low_fails_the_transfer_then_the_next_number_pays(alipay):
    winners = settled_round(alipay)
    alipay.balance = 0
    push(local(AFTER, "00:30:00"))
    assert {p.red_status for p in Participation.objects.filter(clock_status=ClockStatus.CLOCKED_IN)} == {
        RedStatus.FAILED
    }
    assert PayoutError.objects.filter(pay_result__contains="PAYER_BALANCE_NOT_ENOUGH").count() == len(winners)
    alipay.balance = 10_000_00
    assert push(local(AFTER, "00:31:00")).unpaid == 0
    assert_each_paid_once(alipay, winners)
    assert all(numbers_sent(alipay, p.payout_no) == {p.payout_no, f"{p.payout_no}N2"} for p in winners)


def test_a_refund_answered_without_a_fund_change_counts_only_once_the_query_finds_it(alipay):
    order = order_for(9, local(DAY, "10:00:00"))
    with time_machine.travel(local(DAY, "10:00:01"), tick=False):
        get_channel().prepay(order, expires_at=local(DAY, "23:59:59"))
        trade_no = alipay.pay(order.order_no)
    refund = Transfer(f"{order.order_no}R", 9, order.buyer_id, 100, DAY, "refund", trade_no, total=100)
    with time_machine.travel(local(DAY, "11:00:00"), tick=False):
        assert get_channel().transfer(refund)["result_code"] == "SUCCESS"  # fund_change Y
        alipay.inject("alipay.trade.fastpay.refund.query", "system_error_before")
        assert get_channel().transfer(refund)["result_code"] == "UNKNOWN"  # N, and the query cannot say
        again = get_channel().transfer(refund)  # N, and the query finds the refund
    assert again == {"result_code": "SUCCESS", "refund_status": "REFUND_SUCCESS", "out_request_no": refund.order_no}
    assert [r.answer["fund_change"] for r in alipay.calls("alipay.trade.refund")] == ["Y", "N", "N"]
    assert alipay.paid_out_by_key() == {refund.order_no: 100}
    other = Transfer(f"{order.order_no}X", 9, order.buyer_id, 100, DAY, "refund", trade_no, total=100)
    with time_machine.travel(local(DAY, "11:01:00"), tick=False):
        refused = get_channel().transfer(other)  # nothing left to refund: checked by a query, then a failure
    assert refused["result_code"] == "FAIL" and refused["err_code"] == "ACQ.TRADE_STATUS_ERROR"


def test_amounts_outside_the_limits_are_held_back_and_owed_not_sent_to_fail(alipay, settings):
    winners = settled_round(alipay)
    biggest = max(p.order_money + p.red_money for p in winners)
    options = {**settings.CLOCK["PAYMENT_CHANNEL"]["OPTIONS"], "MAX_TRANSFER": biggest - 1}
    channel = {**settings.CLOCK["PAYMENT_CHANNEL"], "OPTIONS": options}
    with override_settings(CLOCK={**settings.CLOCK, "PAYMENT_CHANNEL": channel}):
        report = push(local(AFTER, "00:30:00"))
    held = list(Participation.objects.filter(clock_status=ClockStatus.CLOCKED_IN, red_status=RedStatus.UNPAID))
    assert held and all("ABOVE_MAX_TRANSFER" in p.pay_result for p in held)
    assert not any(numbers_sent(alipay, p.payout_no) for p in held)  # never sent to fail
    assert report.owing["owed"][0] == len(held) and not report.complete

    # Alipay's own limit (a daily quota, say): refused once, checked by a query, held back — the same number next.
    alipay.max_transfer_fen = biggest - 1
    report = push(local(AFTER, "00:31:00"))
    assert all(
        "EXCEED_LIMIT_SM_AMOUNT" in p.pay_result for p in Participation.objects.filter(pk__in=[h.pk for h in held])
    )
    assert report.owing["owed"][0] == len(held) and not PayoutError.objects.exists()
    alipay.max_transfer_fen = 50_000_00
    assert push(local(AFTER, "00:32:00")).unpaid == 0
    assert all(numbers_sent(alipay, p.payout_no) == {p.payout_no} for p in held)
    assert_each_paid_once(alipay, winners)


def test_without_certificates_packets_are_held_back_and_refunds_still_work(alipay, settings):
    options = {
        k: v
        for k, v in settings.CLOCK["PAYMENT_CHANNEL"]["OPTIONS"].items()
        if k not in ("APP_CERT", "ALIPAY_CERT", "ALIPAY_ROOT_CERT")
    }
    channel = {**settings.CLOCK["PAYMENT_CHANNEL"], "OPTIONS": options}
    with override_settings(CLOCK={**settings.CLOCK, "PAYMENT_CHANNEL": channel}):
        winners = settled_round(alipay)
        report = push(local(AFTER, "00:30:00"))
        assert report.owing["owed"][0] == len(winners) and not alipay.calls(TRANSFER)
        assert all("CERTIFICATE_MODE_REQUIRED" in p.pay_result for p in Participation.objects.filter(clock_status=2))
        assert not any(r.cert_mode for r in alipay.requests if r.method)  # public-key mode throughout
        late = order_for(9, local(AFTER, "10:00:00"))
        with time_machine.travel(local(AFTER, "10:00:01"), tick=False):
            get_channel().prepay(late, expires_at=local(AFTER, "23:59:59"))
            trade_no = alipay.pay(late.order_no)
        pay(late, local(AFTER, "10:00:02"), trade_no, buyer_id="wrong-buyer")  # kept for refund
        with time_machine.travel(local(AFTER, "10:01:00"), tick=False):
            report = round_push(DAY)
    assert report.refunds == {"paid": 1} and alipay.money_out() == 100


@pytest.mark.parametrize(
    ("data", "code", "err_code"),
    [
        ({"out_biz_no": "B1", "status": "SUCCESS", "trans_amount": "2.5"}, "SUCCESS", None),
        ({"out_biz_no": "B1", "status": "SUCCESS", "trans_amount": "2.51"}, "UNKNOWN", "AMOUNT_MISMATCH"),
        ({"out_biz_no": "B1", "status": "SUCCESS", "trans_amount": "2,50"}, "UNKNOWN", "AMOUNT_MISMATCH"),
        ({"out_biz_no": "B2", "status": "SUCCESS"}, "UNKNOWN", "OTHER_TRANSFER"),
        ({"out_biz_no": "B1", "status": "REFUND"}, "FAIL", "REFUND"),
        ({"out_biz_no": "B1", "status": "NEW_STATE"}, "UNKNOWN", None),
    ],
)
def test_a_transfer_answer_about_another_transfer_or_amount_is_never_booked(data, code, err_code):
    answer = AlipayChannel._transfer_answer(data, Transfer("B1", 1, "open-1", 250, DAY))
    assert (answer["result_code"], answer.get("err_code")) == (code, err_code)
