from datetime import date

import pytest
import time_machine
from django.db.models import Sum

from clock_app.audit import audit
from clock_app.exceptions import InvalidInput
from clock_app.models import (
    ClockOrder,
    LedgerEntry,
    MoneyType,
    OrderStatus,
    Participation,
    PayoutError,
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
    ("change", "code"),
    [
        ({"amount": 1.0}, "amount_invalid"),
        ({"amount": "100"}, "amount_invalid"),
        ({"amount": None}, "amount_invalid"),
        ({"amount": 0}, "amount_invalid"),
        ({"buyer_id": ""}, "buyer_id_required"),
        ({"transaction_id": ""}, "transaction_id_required"),
        ({"transaction_id": None}, "transaction_id_required"),
        ({"order_no": "  "}, "order_no_required"),
    ],
)
def test_a_notification_that_cannot_be_recorded_is_refused_and_changes_nothing(change, code):
    order = order_for(1, local(DAY))
    before = snapshot()
    fields = {"order_no": order.order_no, "amount": 100, "buyer_id": "open-1", "transaction_id": "wx-1", **change}
    with time_machine.travel(local(DAY), tick=False), pytest.raises(InvalidInput) as caught:
        order_notify(Notification(**fields))
    assert caught.value.code == code
    assert snapshot() == before


@pytest.mark.parametrize(
    ("change", "outcome", "reason", "status", "uid"),
    [
        ({"amount": 99}, NotifyOutcome.REFUND, RefundReason.WRONG_AMOUNT, RefundStatus.REFUNDING, 1),
        ({"amount": 101}, NotifyOutcome.REFUND, RefundReason.WRONG_AMOUNT, RefundStatus.REFUNDING, 1),
        ({"buyer_id": "someone-else"}, NotifyOutcome.REFUND, RefundReason.WRONG_BUYER, RefundStatus.REFUNDING, 1),
        ({"order_no": "TTC20261126NOPE"}, NotifyOutcome.REVIEW, RefundReason.UNKNOWN_ORDER, RefundStatus.REVIEW, 0),
    ],
)
def test_a_verified_payment_that_cannot_join_is_recorded_once_with_its_reason(change, outcome, reason, status, uid):
    """The channel has the money once it says so: nothing is answered FAIL and forgotten (DESIGN §2)."""
    order = order_for(1, local(DAY))
    fields = {"order_no": order.order_no, "amount": 100, "buyer_id": "open-1", "transaction_id": "wx-odd", **change}
    with time_machine.travel(local(DAY, "12:00:00"), tick=False):
        assert order_notify(Notification(**fields, notify_time="2026-11-26T11:59:00+08:00")) == outcome
        after_first = snapshot()
        assert order_notify(Notification(**fields)) == NotifyOutcome.DUPLICATE  # a replay changes nothing
    assert snapshot() == after_first
    kept = ClockOrder.objects.get(transaction_id="wx-odd")
    assert (kept.refund_status, kept.refund_reason, kept.user_id) == (status, reason, uid)
    assert (kept.order_status, kept.pay_amount, kept.buyer_id) == (
        OrderStatus.PAID,
        fields["amount"],
        fields["buyer_id"],
    )
    assert kept.order_no != order.order_no and kept.clock_day == DAY
    assert kept.pay_time == local(DAY, "11:59:00")
    order.refresh_from_db()
    assert order.order_status == OrderStatus.WAITING  # the user's own order is untouched
    assert not Participation.objects.exists()
    assert Round.objects.get().clock_money == 0
    stake = LedgerEntry.objects.get(money_type=MoneyType.STAKE)
    assert (stake.reference, stake.change_money, stake.uid) == (kept.order_no, fields["amount"], uid)
    assert [r.ok for r in audit()] == [True]
    assert "kept for refund" in audit()[0].equation or "held for review" in audit()[0].equation


def test_a_payment_for_an_order_of_no_round_is_held_and_audited():
    with time_machine.travel(local(DAY), tick=False):
        order_notify(Notification("SOMEONE-ELSES-NO", 500, "open-x", "wx-stray"))
    kept = ClockOrder.objects.get()
    assert (kept.refund_status, kept.user_id, kept.pay_amount) == (RefundStatus.REVIEW, 0, 500)
    reports = audit()
    assert [(r.clock_day, r.ok) for r in reports] == [(DAY, True)]
    assert "held for review 500" in reports[0].equation


def test_a_transaction_already_booked_for_another_order_is_recorded_for_review_once():
    first = order_for(1, local(DAY))
    pay(first, local(DAY), "wx-shared")
    second = order_for(2, local(DAY))
    before = snapshot()
    assert pay(second, local(DAY), "wx-shared") == NotifyOutcome.REVIEW
    assert pay(second, local(DAY, "12:30:00"), "wx-shared") == NotifyOutcome.REVIEW
    assert snapshot() == before  # the money moved once: nothing is booked again
    logged = PayoutError.objects.get()
    assert logged.order_no == second.order_no and "wx-shared" in logged.error_msg and first.order_no in logged.error_msg


def test_what_counts_is_when_the_user_paid_not_when_the_notification_came():
    """DESIGN §1: a payment after 23:59:59 on D never joins round D, however the notification is delayed."""
    order = order_for(1, local(DAY, "23:50:00"))
    outcome = pay(order, local("2026-11-27", "00:30:00"), "wx-late", paid_at=local("2026-11-27", "00:00:00"))
    assert outcome == NotifyOutcome.REFUND
    order.refresh_from_db()
    assert order.order_status == OrderStatus.PAID
    assert (order.refund_status, order.refund_reason) == (RefundStatus.REFUNDING, RefundReason.LATE)
    the_round = Round.objects.get(clock_day=DAY)
    assert (the_round.user_num, the_round.clock_money) == (0, 0)
    assert not Participation.objects.exists()
    assert Player.objects.get(uid=1).spend_money == 0
    # The money came in, so the ledger says so (and the refund will say it went back).
    assert LedgerEntry.objects.get(reference=order.order_no).money_type == MoneyType.STAKE


def test_a_payment_at_0459_the_next_morning_cannot_buy_a_risk_free_entry():
    """The review's exploit: order at 23:59, pay at 04:59 once awake, clock in at 05:00."""
    order = order_for(1, local(DAY, "23:59:00"))
    assert pay(order, local("2026-11-27", "04:59:00"), "wx-1") == NotifyOutcome.REFUND  # no channel time: arrival
    order2 = order_for(2, local(DAY, "23:59:00"))
    paid_at = local("2026-11-27", "04:59:00")
    assert pay(order2, local("2026-11-27", "04:59:05"), "wx-2", paid_at=paid_at) == NotifyOutcome.REFUND
    assert not Participation.objects.exists()


def test_a_delayed_notification_of_an_in_time_payment_still_joins():
    order = order_for(1, local(DAY, "23:50:00"))
    paid_at = local(DAY, "23:59:59")
    assert pay(order, local("2026-11-27", "05:30:00"), "wx-1", paid_at=paid_at) == NotifyOutcome.JOINED
    assert Round.objects.get(clock_day=DAY).user_num == 1
    assert ClockOrder.objects.get().pay_time == paid_at


@pytest.mark.parametrize(
    ("told", "counted"),
    [
        ("2026-11-26T23:59:58+08:00", local(DAY, "23:59:58")),
        ("2026-11-26 23:59:58", local(DAY, "23:59:58")),
        ("20261126235958", local(DAY, "23:59:58")),
        ("2026-11-26T15:59:58Z", local(DAY, "23:59:58")),
        ("2026-02-30 10:00:00", local("2026-11-27", "00:10:00")),  # impossible: the arrival counts
        ("yesterday", local("2026-11-27", "00:10:00")),
        ("2026-11-27T09:00:00+08:00", local("2026-11-27", "00:10:00")),  # after its arrival: the arrival counts
    ],
)
def test_the_channels_payment_time_in_every_documented_format(told, counted):
    order = order_for(1, local(DAY, "23:00:00"))
    with time_machine.travel(local("2026-11-27", "00:10:00"), tick=False):
        order_notify(Notification(order.order_no, 100, "open-1", "wx-1", notify_time=told))
    assert ClockOrder.objects.get().pay_time == counted


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
    first = order_for(1, local(DAY, "23:59:00"))  # round D, paid at 23:59:30, notified later
    second = order_for(1, local("2026-11-27", "00:01:00"))  # round D+1: allowed, user is not in D yet
    assert pay(first, local("2026-11-27", "00:02:00"), "wx-d", paid_at=local(DAY, "23:59:30")) == NotifyOutcome.JOINED
    assert pay(second, local("2026-11-27", "00:03:00"), "wx-d1") == NotifyOutcome.REFUND
    second.refresh_from_db()
    assert second.refund_reason == RefundReason.EARLY
    assert not Participation.objects.filter(uid=1, clock_day="2026-11-27").exists()


def test_no_two_consecutive_rounds_whatever_the_order_of_the_notifications():
    """Review defect 4: D's order left waiting from 23:50, D+1's paid at 00:11 and notified first."""
    first = order_for(1, local(DAY, "23:50:00"))
    second = order_for(1, local("2026-11-27", "00:10:00"))
    assert pay(second, local("2026-11-27", "00:11:00"), "wx-d1") == NotifyOutcome.JOINED
    paid_in_time = local(DAY, "23:55:00")
    assert pay(first, local("2026-11-27", "00:20:00"), "wx-d", paid_at=paid_in_time) == NotifyOutcome.REFUND
    first.refresh_from_db()
    assert first.refund_reason == RefundReason.CONSECUTIVE
    assert list(Participation.objects.values_list("clock_day", flat=True)) == [date(2026, 11, 27)]
    assert [r.ok for r in audit()] == [True, True]
