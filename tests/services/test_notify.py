from datetime import date

import pytest
import time_machine
from django.db.models import Sum

from clock_app.exceptions import (
    AmountMismatch,
    BuyerMismatch,
    InvalidInput,
    OrderNotFound,
    TransactionConflict,
)
from clock_app.models import (
    ClockOrder,
    LedgerEntry,
    MoneyType,
    OrderStatus,
    Participation,
    Player,
    RefundReason,
    RefundStatus,
    Round,
)
from clock_app.services.orders import Notification, NotifyOutcome, order_notify

from ..conftest import local
from ..factories import order_for, pay

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)


def snapshot():
    """Everything a refused notification must leave unchanged."""
    return (
        list(ClockOrder.objects.values().order_by("pk")),
        list(Round.objects.values().order_by("pk")),
        list(Participation.objects.values().order_by("pk")),
        list(Player.objects.values().order_by("pk")),
        list(LedgerEntry.objects.values().order_by("pk")),
    )


def test_payment_joins_the_round_in_one_go():
    order = order_for(1, local(DAY, "09:00:00"))
    assert pay(order, local(DAY, "09:00:05"), "wx-1") == NotifyOutcome.JOINED

    order.refresh_from_db()
    assert order.order_status == OrderStatus.PAID and order.transaction_id == "wx-1"
    assert order.refund_status == RefundStatus.NONE
    the_round = Round.objects.get(clock_day=DAY)
    assert (the_round.user_num, the_round.clock_money) == (1, 100)
    part = Participation.objects.get(uid=1, clock_day=DAY)
    assert (part.order_no, part.order_money, part.clock_status, part.red_status) == (order.order_no, 100, 1, 1)
    assert (part.nickname, part.mobile, part.source_uid) == ("player1", "13800000001", "open-1")
    assert part.payout_no and part.payout_no != order.order_no
    player = Player.objects.get(uid=1)
    assert (player.clock_num, player.spend_money) == (1, 100)
    entry = LedgerEntry.objects.get()
    assert (entry.uid, entry.clock_day, entry.money_type, entry.change_money, entry.reference) == (
        1,
        DAY,
        MoneyType.STAKE,
        100,
        order.order_no,
    )


def test_duplicate_notify_answers_success_and_changes_nothing():
    order = order_for(1, local(DAY))
    pay(order, local(DAY), "wx-1")
    before = snapshot()
    for _ in range(3):
        assert pay(order, local(DAY, "13:00:00"), "wx-1") == NotifyOutcome.DUPLICATE
    assert snapshot() == before


def test_notify_updates_profile_when_channel_sends_it():
    order = order_for(1, local(DAY))
    with time_machine.travel(local(DAY), tick=False):
        order_notify(Notification(order.order_no, 100, "open-1", "wx-1", nickname="New", mobile="13912345678"))
    assert Participation.objects.get().nickname == "New"
    assert Player.objects.get().mobile == "13912345678"


@pytest.mark.parametrize(
    ("change", "error", "code"),
    [
        ({"amount": 99}, AmountMismatch, "amount_mismatch"),
        ({"amount": 1.0}, InvalidInput, "amount_invalid"),
        ({"amount": "100"}, InvalidInput, "amount_invalid"),
        ({"amount": None}, InvalidInput, "amount_invalid"),
        ({"buyer_id": "someone-else"}, BuyerMismatch, "buyer_mismatch"),
        ({"buyer_id": ""}, InvalidInput, "buyer_id_required"),
        ({"transaction_id": ""}, InvalidInput, "transaction_id_required"),
        ({"transaction_id": None}, InvalidInput, "transaction_id_required"),
        ({"order_no": "TTC20261126NOPE"}, OrderNotFound, "order_not_found"),
    ],
)
def test_bad_notification_is_refused_and_changes_nothing(change, error, code):
    order = order_for(1, local(DAY))
    before = snapshot()
    fields = {"order_no": order.order_no, "amount": 100, "buyer_id": "open-1", "transaction_id": "wx-1", **change}
    with time_machine.travel(local(DAY), tick=False), pytest.raises(error) as caught:
        order_notify(Notification(**fields))
    assert caught.value.code == code
    assert snapshot() == before


def test_transaction_id_of_another_order_is_refused():
    first = order_for(1, local(DAY))
    pay(first, local(DAY), "wx-shared")
    second = order_for(2, local(DAY))
    before = snapshot()
    with pytest.raises(TransactionConflict):
        pay(second, local(DAY), "wx-shared")
    assert snapshot() == before


def test_payment_after_the_window_opened_is_kept_for_refund_not_counted():
    order = order_for(1, local(DAY, "23:50:00"))
    assert pay(order, local("2026-11-27", "05:00:00"), "wx-late") == NotifyOutcome.REFUND
    order.refresh_from_db()
    assert order.order_status == OrderStatus.PAID
    assert (order.refund_status, order.refund_reason) == (RefundStatus.REFUNDING, RefundReason.LATE)
    the_round = Round.objects.get(clock_day=DAY)
    assert (the_round.user_num, the_round.clock_money) == (0, 0)
    assert not Participation.objects.exists()
    assert Player.objects.get(uid=1).spend_money == 0
    # The money came in, so the ledger says so (and the refund will say it went back).
    assert LedgerEntry.objects.get(reference=order.order_no).money_type == MoneyType.STAKE


def test_payment_just_before_the_window_still_joins():
    order = order_for(1, local(DAY, "23:50:00"))
    assert pay(order, local("2026-11-27", "04:59:59"), "wx-1") == NotifyOutcome.JOINED
    assert Round.objects.get(clock_day=DAY).user_num == 1


def test_second_paid_order_for_the_same_round_is_kept_for_refund():
    first = order_for(1, local(DAY))
    pay(first, local(DAY), "wx-1")
    # The service refuses a second order once the user is in the round; one made around it (an older
    # client, a direct insert) and paid must still not be kept.
    second = ClockOrder.objects.create(
        order_no="TTC202611260000000001", clock_day=DAY, user_id=1, buyer_id="open-1", pay_amount=100
    )
    assert pay(second, local(DAY, "12:01:00"), "wx-2") == NotifyOutcome.REFUND
    second.refresh_from_db()
    assert (second.refund_status, second.refund_reason) == (RefundStatus.REFUNDING, RefundReason.DUPLICATE)
    the_round = Round.objects.get(clock_day=DAY)
    assert (the_round.user_num, the_round.clock_money) == (1, 100)
    assert Participation.objects.get().order_no == first.order_no
    assert Player.objects.get(uid=1).spend_money == 100


def test_second_charge_of_a_paid_order_is_kept_for_refund_once():
    order = order_for(1, local(DAY))
    pay(order, local(DAY), "wx-1")
    assert pay(order, local(DAY, "12:01:00"), "wx-2") == NotifyOutcome.REFUND
    assert pay(order, local(DAY, "12:02:00"), "wx-2") == NotifyOutcome.DUPLICATE
    extra = ClockOrder.objects.get(transaction_id="wx-2")
    assert extra.order_no.startswith(order.order_no + "-")
    assert (extra.order_status, extra.refund_status, extra.refund_reason) == (
        OrderStatus.PAID,
        RefundStatus.REFUNDING,
        RefundReason.DOUBLE_CHARGE,
    )
    assert Round.objects.get(clock_day=DAY).clock_money == 100
    assert LedgerEntry.objects.filter(money_type=MoneyType.STAKE).count() == 2


def test_every_paid_order_has_one_stake_row_and_the_pool_adds_up():
    for uid in range(1, 11):
        pay(order_for(uid, local(DAY, "10:00:00")), local(DAY, "10:00:01"))
    late = order_for(99, local(DAY, "23:00:00"))
    pay(late, local("2026-11-27", "06:00:00"))
    for order in ClockOrder.objects.filter(order_status=OrderStatus.PAID):
        assert LedgerEntry.objects.filter(money_type=MoneyType.STAKE, reference=order.order_no).count() == 1
    the_round = Round.objects.get(clock_day=DAY)
    assert (
        the_round.clock_money
        == Participation.objects.filter(clock_day=DAY).aggregate(s=Sum("order_money"))["s"]
        == 1000
    )
    assert the_round.user_num == 10


def test_orders_either_side_of_midnight_cannot_both_join_before_0805():
    """The entry rule is checked again at payment: round D's order paid after D+1's order was made."""
    first = order_for(1, local(DAY, "23:59:00"))  # round D, not paid yet
    second = order_for(1, local("2026-11-27", "00:01:00"))  # round D+1: allowed, user is not in D yet
    assert pay(first, local("2026-11-27", "00:02:00"), "wx-d") == NotifyOutcome.JOINED
    assert pay(second, local("2026-11-27", "00:03:00"), "wx-d1") == NotifyOutcome.REFUND
    second.refresh_from_db()
    assert second.refund_reason == RefundReason.EARLY
    assert not Participation.objects.filter(uid=1, clock_day="2026-11-27").exists()
