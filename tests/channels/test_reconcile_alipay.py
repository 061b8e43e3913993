"""Reconciliation against the fake Alipay gateway's bills (issue 12's acceptance, the Alipay half): a payment
whose notification was dropped is applied once — and joins, although Alipay's bill masks the buyer (the payer
is asked of Alipay) —; a one-fen amount, a refund Alipay made that the app has not booked, a transfer the app
thinks paid that Alipay does not list: differences, exit non-zero; a clean day exits 0."""

from datetime import date, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from clock_app.channels import transfer
from clock_app.models import ClockOrder, Difference, LedgerEntry, OrderStatus, Participation, RefundStatus
from clock_app.services.payouts import packet_pay, refund_pay
from clock_app.services.settlement import round_settle
from tests.factories import Channel, clock

from .conftest import Player, deliver_form, local

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)
NEXT = DAY + timedelta(days=1)


def reconcile(day=DAY, at=None):
    out = StringIO()
    with time_machine.travel(at or local(day + timedelta(days=1), "10:30:00"), tick=False):
        call_command("clock_reconcile", "--day", day.isoformat(), "--channel", "alipay", stdout=out)
    return out.getvalue()


def paid_day(alipay, players=4, drop=()):
    orders = {}
    for uid in range(1, players + 1):
        orders[uid] = Player(Client, uid).post("prepay", local(DAY, f"10:{uid:02d}:00"))["data"]["order_no"]
        with time_machine.travel(local(DAY, f"10:{uid:02d}:05"), tick=False):
            alipay.pay(orders[uid])
            fields = alipay.payment_notification(orders[uid])
        if uid not in drop:
            response = deliver_form(Client(), fields, local(DAY, f"10:{uid:02d}:06"))
            assert response.content == b"success"
    return orders


def test_a_clean_day_exits_0(alipay):
    paid_day(alipay)
    assert "the books agree" in reconcile()


def test_a_dropped_payment_is_applied_once_and_joins(alipay):
    orders = paid_day(alipay, drop={2})
    out = reconcile()
    assert "1 payment(s) applied" in out and "the books agree" in out
    order = ClockOrder.objects.get(order_no=orders[2])
    assert order.order_status == OrderStatus.PAID and order.refund_status == RefundStatus.NONE  # joined
    assert Participation.objects.filter(order_no=orders[2]).exists()
    before = list(LedgerEntry.objects.values_list("pk", flat=True))
    assert "0 payment(s) applied" in reconcile(at=local(NEXT, "11:00:00"))
    assert list(LedgerEntry.objects.values_list("pk", flat=True)) == before


def test_differences_are_reported_and_exit_non_zero(alipay):
    orders = paid_day(alipay, players=3)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE pay_clock_order SET pay_amount = 99 WHERE order_no = %s", [orders[1]])
    with pytest.raises(CommandError, match="difference"):
        reconcile()
    assert Difference.objects.get(kind="payment").reason == "amount"


def test_a_refund_alipay_made_that_the_app_has_not_booked(alipay):
    orders = paid_day(alipay, players=2)
    order = ClockOrder.objects.get(order_no=orders[1])
    with connection.cursor() as cursor:  # kept for refund, its refund sent; Alipay's answer lost
        cursor.execute("UPDATE pay_clock_order SET refund_status = 3, refund_reason = 'late' WHERE id = %s", [order.pk])
    alipay.inject("alipay.trade.refund", "timeout_after")
    alipay.hang_seconds = 2.5
    with time_machine.travel(local(DAY, "12:00:00"), tick=False):
        refund_pay(order.pk, handler=transfer)
    assert ClockOrder.objects.get(pk=order.pk).refund_status == RefundStatus.REFUNDING
    with pytest.raises(CommandError):
        reconcile()
    assert Difference.objects.get(kind="refund").reason == "status"


def test_a_transfer_the_app_thinks_paid_that_alipay_does_not_list(alipay):
    paid_day(alipay, players=3)
    for uid in (1, 2):
        clock(uid, DAY)
    with time_machine.travel(local(NEXT, "08:05:00"), tick=False):
        round_settle(DAY)
        part = Participation.objects.get(uid=1)
        packet_pay(part.pk, handler=Channel())  # booked paid by a handler that never went through Alipay
        packet_pay(Participation.objects.get(uid=2).pk, handler=transfer)  # a real transfer, listed
    with pytest.raises(CommandError):
        reconcile(NEXT)
    difference = Difference.objects.get(kind="transfer")
    assert (difference.reason, difference.number) == ("ours_only", part.payout_no)
