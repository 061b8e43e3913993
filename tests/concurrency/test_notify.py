"""Payments under real concurrency on PostgreSQL."""

from datetime import date

import time_machine
from django.db.models import Sum

from clock_app.models import ClockOrder, LedgerEntry, OrderStatus, Participation, Round
from clock_app.services.orders import NotifyOutcome, order_generate

from ..conftest import local
from ..factories import order_for, pay, profile
from .threads import run_together

DAY = date(2026, 11, 26)


def test_sixteen_deliveries_of_one_payment_count_once(postgres):
    order = order_for(1, local(DAY))
    with time_machine.travel(local(DAY, "12:00:01"), tick=False):
        results = run_together([lambda: pay(order, local(DAY, "12:00:01"), "wx-1")] * 16)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(results).count(NotifyOutcome.JOINED) == 1
    assert results.count(NotifyOutcome.DUPLICATE) == 15
    the_round = Round.objects.get(clock_day=DAY)
    assert (the_round.user_num, the_round.clock_money) == (1, 100)
    assert ClockOrder.objects.get(pk=order.pk).order_status == OrderStatus.PAID
    assert LedgerEntry.objects.count() == 1
    assert Participation.objects.count() == 1


def test_two_hundred_payers_from_eight_threads_add_up_exactly(postgres):
    orders = [order_for(uid, local(DAY, "10:00:00")) for uid in range(1, 201)]
    with time_machine.travel(local(DAY, "10:00:01"), tick=False):
        results = run_together([lambda o=o: pay(o, local(DAY, "10:00:01")) for o in orders], workers=8)
    assert results == [NotifyOutcome.JOINED] * 200
    the_round = Round.objects.get(clock_day=DAY)
    assert (the_round.user_num, the_round.clock_money) == (200, 20000)
    assert Participation.objects.aggregate(s=Sum("order_money"))["s"] == 20000
    assert LedgerEntry.objects.aggregate(s=Sum("change_money"))["s"] == 20000


def test_first_payers_at_once_open_one_round(postgres):
    def first_order(uid):
        p = profile(uid)
        return order_generate(uid=uid, mobile=p["mobile"], nickname=p["nickname"], open_id=p["openId"])

    with time_machine.travel(local(DAY, "00:00:01"), tick=False):
        results = run_together([lambda uid=uid: first_order(uid) for uid in range(1, 13)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Round.objects.filter(clock_day=DAY).count() == 1
    assert {o.pay_amount for o in results} == {100}


def test_double_clicked_order_button_makes_one_waiting_order(postgres):
    p = profile(1)
    with time_machine.travel(local(DAY), tick=False):
        results = run_together(
            [lambda: order_generate(uid=1, mobile=p["mobile"], nickname=p["nickname"], open_id=p["openId"])] * 8
        )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({o.order_no for o in results}) == 1
    assert ClockOrder.objects.filter(user_id=1).count() == 1


def test_payments_of_two_consecutive_rounds_notified_at_once_join_one_round(postgres):
    """Round D's payment (made at 23:59:30, notified late) and round D+1's, notified at the same instant from
    two threads, eight times over: the player's row lock lets exactly one of them join."""
    for uid in range(1, 9):
        first = order_for(uid, local(DAY, "23:59:00"))
        second = order_for(uid, local("2026-11-27", "00:01:00"))
        in_time = local(DAY, "23:59:30")
        arrival = local("2026-11-27", "00:02:00")
        with time_machine.travel(arrival, tick=False):
            results = run_together(
                [
                    lambda o=first, u=uid: pay(o, arrival, f"wx-d-{u}", paid_at=in_time),  # noqa: B023
                    lambda o=second, u=uid: pay(o, arrival, f"wx-e-{u}"),  # noqa: B023
                ]
            )
        assert sorted(results) == [NotifyOutcome.JOINED, NotifyOutcome.REFUND], results
        assert Participation.objects.filter(uid=uid).count() == 1
