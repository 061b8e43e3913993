"""Reconciliation against the fake WeChat Pay server's bills (issue 12's acceptance): a payment whose
notification was dropped is found and applied once (a second run changes nothing); a refund the channel shows
but the app does not, an amount differing by one fen, a transfer the app thinks paid that the channel does not
list — each a difference, exit non-zero; a clean day exits 0."""

from datetime import date, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from clock_app.channels import transfer
from clock_app.models import ClockOrder, Difference, LedgerEntry, OrderStatus, Participation, ReconcileRun
from clock_app.services.payouts import packet_pay, refund_pay
from clock_app.services.reconcile import difference_resolve
from tests.factories import Channel

from .conftest import Player, deliver, local

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)
NEXT = DAY + timedelta(days=1)


def reconcile(day=DAY, at=None):
    out = StringIO()
    with time_machine.travel(at or local(NEXT, "10:30:00"), tick=False):
        call_command("clock_reconcile", "--day", day.isoformat(), "--channel", "wechatpay", stdout=out)
    return out.getvalue()


def paid_day(wechat, players=4, drop=()):
    """``players`` pay round DAY through the HTTP API and WeChat; the notifications of ``drop`` are lost."""
    orders = {}
    for uid in range(1, players + 1):
        player = Player(Client, uid)
        orders[uid] = player.post("prepay", local(DAY, f"10:{uid:02d}:00"))["data"]["order_no"]
        with time_machine.travel(local(DAY, f"10:{uid:02d}:05"), tick=False):
            wechat.pay(orders[uid])
            headers, body = wechat.payment_notification(orders[uid])
        if uid not in drop:
            assert deliver(Client(), "notify", headers, body, local(DAY, f"10:{uid:02d}:06")).status_code == 204
    return orders


def test_a_clean_day_exits_0(wechat):
    paid_day(wechat)
    out = reconcile()
    assert "4 bill line(s)" in out and "the books agree" in out
    assert ReconcileRun.objects.get().status == ReconcileRun.Status.CLEAN


def test_a_dropped_payment_is_found_and_applied_once(wechat):
    orders = paid_day(wechat, drop={3})
    assert ClockOrder.objects.get(order_no=orders[3]).order_status == OrderStatus.WAITING
    out = reconcile()
    assert "1 payment(s) applied" in out and "the books agree" in out
    order = ClockOrder.objects.get(order_no=orders[3])
    assert order.order_status == OrderStatus.PAID and order.pay_time == local(DAY, "10:03:05")  # WeChat's time
    assert Participation.objects.filter(order_no=orders[3]).exists()
    before = list(LedgerEntry.objects.values_list("pk", flat=True))
    assert "0 payment(s) applied" in reconcile(at=local(NEXT, "11:00:00"))  # a rerun changes nothing
    assert list(LedgerEntry.objects.values_list("pk", flat=True)) == before
    applied = Difference.objects.get(reason="applied")
    assert applied.status == Difference.Status.RESOLVED and "joined" in applied.detail


def test_an_amount_differing_by_one_fen_is_a_difference_until_resolved(wechat):
    orders = paid_day(wechat)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE pay_clock_order SET pay_amount = 101 WHERE order_no = %s", [orders[2]])
    with pytest.raises(CommandError, match="1 difference"):
        reconcile()
    difference = Difference.objects.get()
    assert (difference.reason, difference.ours, difference.theirs) == ("amount", 101, 100)
    difference_resolve(difference.pk, note="corrected by hand")
    assert "the books agree" in reconcile(at=local(NEXT, "11:00:00"))  # the operator's note stands


def test_a_refund_the_channel_made_that_the_app_has_not_booked_is_a_difference(wechat):
    orders = paid_day(wechat, players=2)
    order = ClockOrder.objects.get(order_no=orders[1])
    with connection.cursor() as cursor:  # kept for refund (as a late payment would be)
        cursor.execute("UPDATE pay_clock_order SET refund_status = 3, refund_reason = 'late' WHERE id = %s", [order.pk])
    with time_machine.travel(local(DAY, "12:00:00"), tick=False):
        refund_pay(order.pk, handler=transfer)
        wechat.complete_refund(f"{order.order_no}R")  # WeChat refunds it; its notification is lost
    with pytest.raises(CommandError):
        reconcile()
    difference = Difference.objects.get(kind="refund")
    assert (difference.reason, difference.number, difference.theirs) == ("status", f"{order.order_no}R", 100)


def test_a_transfer_the_app_thinks_paid_that_the_channel_does_not_list_is_a_difference(wechat):
    from clock_app.services.settlement import round_settle
    from tests.factories import clock

    paid_day(wechat, players=3)
    for uid in (1, 2):
        clock(uid, DAY)
    with time_machine.travel(local(NEXT, "08:05:00"), tick=False):
        round_settle(DAY)
        part = Participation.objects.get(uid=1)
        # Booked as paid by a handler that never went through WeChat.
        packet_pay(part.pk, handler=Channel())
    with pytest.raises(CommandError):
        reconcile(NEXT, at=local(NEXT + timedelta(days=1), "10:30:00"))
    difference = Difference.objects.get(kind="transfer")
    assert (difference.reason, difference.number) == ("ours_only", part.payout_no)


def test_a_bill_that_does_not_match_its_hash_is_not_read(wechat):
    paid_day(wechat, drop={1})
    wechat.tamper_bill_hash(True)
    with pytest.raises(CommandError, match="hash"):
        reconcile()
    assert ClockOrder.objects.filter(order_status=OrderStatus.WAITING).count() == 1  # nothing applied
    assert ReconcileRun.objects.get().status == ReconcileRun.Status.FAILED


def test_a_bill_not_yet_published_is_a_clear_error(wechat):
    paid_day(wechat)
    with pytest.raises(CommandError, match="could not be read"):
        reconcile(at=local(NEXT, "08:00:00"))


def test_an_operator_resolves_a_difference_in_the_admin_with_a_note(wechat, client):
    from django.contrib.auth.models import User
    from django.urls import reverse

    orders = paid_day(wechat, players=2)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE pay_clock_order SET pay_amount = 101 WHERE order_no = %s", [orders[1]])
    with pytest.raises(CommandError):
        reconcile()
    difference = Difference.objects.get()
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "pw"))
    assert "Amounts differ" in client.get(reverse("admin:clock_app_difference_changelist")).content.decode()
    assert client.get(reverse("admin:clock_app_reconcilerun_changelist")).status_code == 200
    url = reverse("admin:clock_app_difference_change", args=[difference.pk])
    client.post(url, {"note": ""})
    assert Difference.objects.get().status == Difference.Status.OPEN  # no note, no resolution
    dashboard = reverse("admin:clock_app_round_dashboard_day", args=["2026-11-26"])
    assert "1 difference(s)" in client.get(dashboard).content.decode()  # the round dashboard's card
    client.post(url, {"note": "the order's amount was corrected by hand; WeChat's 1.00 is right"})
    assert "no difference" in client.get(dashboard).content.decode()
    resolved = Difference.objects.get()
    assert resolved.status == Difference.Status.RESOLVED and "corrected by hand" in resolved.note
    assert "ops" in resolved.note


def test_the_reconcile_task_and_its_opt_in_beat_entry(wechat):
    from clock_app.schedules import beat_schedule
    from clock_app.tasks import reconcile_task

    paid_day(wechat, drop={1})
    with time_machine.travel(local(NEXT, "10:30:00"), tick=False):
        result = reconcile_task.apply(kwargs={"day": DAY.isoformat()}).get()
    assert result == {"clock_day": "2026-11-26", "found": {"applied": 1}, "open": 0}
    assert "clock_app.reconcile-yesterday" not in beat_schedule()
    entry = beat_schedule(reconcile_at="10:30")["clock_app.reconcile-yesterday"]
    assert entry["task"] == "clock_app.reconcile" and entry["schedule"].hour == {10}
