"""A whole round of 20 players through the HTTP API with the Alipay adapter against the fake Alipay gateway: pay,
a replayed notification, a late one, a lost one, a stray payment, check-ins, settlement, packets transferred at
once or processed later (DEALING) and one failing, the push job, a refund — and at the end the fake's ledger
equals the app's to the fen, every payment counted once, every packet and refund paid once, the audit clean,
and Alipay's own bills of those days list exactly that."""

from collections import Counter
from datetime import date, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client

from clock_app.audit import audit, audit_players
from clock_app.channels import get_channel
from clock_app.models import ClockOrder, LedgerEntry, MoneyType, OrderStatus, Participation, RedStatus, RefundStatus
from clock_app.services.orders import order_release_for_refund

from .conftest import Player, deliver_form, local

pytestmark = pytest.mark.django_db(transaction=True)

DAY = date(2026, 11, 26)
NEXT = DAY + timedelta(days=1)
AFTER = DAY + timedelta(days=2)
STRAY = "TTC20261126STRANGER1"


def run(*args, at):
    out = StringIO()
    with time_machine.travel(at, tick=False):
        call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def notify(fake, out_trade_no, at):
    """Alipay posts its notification about ``out_trade_no`` at ``at``; the app must answer ``success``."""
    with time_machine.travel(at, tick=False):
        fields = fake.payment_notification(out_trade_no)
    response = deliver_form(Client(), fields, at)
    assert (response.status_code, response.content) == (200, b"success")


def payout_no(uid: int) -> str:
    return Participation.objects.get(uid=uid).payout_no


def test_a_whole_round_through_alipay(alipay):
    players = {uid: Player(Client, uid) for uid in range(1, 21)}

    # --- day D: everyone orders and pays in Alipay; Alipay notifies (one twice, one late, one never).
    orders = {}
    for uid, player in players.items():
        made = player.post("prepay", local(DAY, f"10:{uid:02d}:00"))
        assert made["status"] == 1 and made["data"]["payment"]["tradeNO"], made
        orders[uid] = made["data"]["order_no"]
        paid_at = local(DAY, "23:59:30") if uid == 19 else local(DAY, f"10:{uid:02d}:10")
        with time_machine.travel(paid_at, tick=False):
            alipay.pay(orders[uid])
        if uid == 19:
            notify(alipay, orders[uid], local(NEXT, "00:20:00"))  # delayed past midnight: paid in time, joins
        elif uid != 20:  # player 20's notification is lost
            notify(alipay, orders[uid], local(DAY, f"10:{uid:02d}:11"))
    notify(alipay, orders[1], local(DAY, "11:00:00"))  # a resend
    assert ClockOrder.objects.get(order_no=orders[20]).order_status == OrderStatus.WAITING

    # A stray payment under an order number the app never issued: held for review, refunded on decision.
    with time_machine.travel(local(DAY, "12:00:00"), tick=False):
        alipay.pay_unknown(STRAY, 100, "2088000000000777")
    notify(alipay, STRAY, local(DAY, "12:00:01"))

    # --- 00:05: the sweep asks Alipay about waiting orders; player 20 plays after all.
    assert "joined 1" in run("clock_sweep_payments", at=local(NEXT, "00:05:00"))
    assert Participation.objects.filter(clock_day=DAY).count() == 20

    # --- D+1 morning: 14 get up, settlement at 08:05.
    for uid in range(1, 15):
        assert players[uid].post("clock", local(NEXT, f"06:{uid:02d}:00"))["status"] == 1
    run("clock_init_red", at=local(NEXT, "08:05:00"))

    # --- winners 1-6 open their packet: transferred to their Alipay account at once.
    for uid in range(1, 7):
        opened = players[uid].post("open_red", local(NEXT, "09:00:00"))
        assert opened["status"] == 1 and opened["data"]["assign"]["state"] == "paid", opened
        again = players[uid].post("open_red", local(NEXT, "09:00:30"))
        assert again["status"] == 0 and again["code"] == "already_paid"
    # Winners 7 and 8 open while Alipay is processing transfers (DEALING): sent, not final.
    alipay.transfer_mode = "dealing"
    for uid in (7, 8):
        opened = players[uid].post("open_red", local(NEXT, "09:10:00"))
        assert opened["data"]["assign"]["state"] == "pending", opened
        assert Participation.objects.get(uid=uid).red_status == RedStatus.PAYING
    alipay.transfer_mode = "success"
    with time_machine.travel(local(NEXT, "09:30:00"), tick=False):
        alipay.settle_transfer(payout_no(7))  # paid; nobody tells the app
        alipay.settle_transfer(payout_no(8), status="FAIL")  # the payee's account refused it
    assert Participation.objects.filter(red_status=RedStatus.PAID).count() == 6

    # --- D+2 00:30: the push job asks about 7 and 8, pays 9-14 and refunds the released stray payment.
    stray = ClockOrder.objects.get(refund_status=RefundStatus.REVIEW)
    assert order_release_for_refund(stray.pk)
    out = run("clock_push_red", "--day", DAY.isoformat(), at=local(AFTER, "00:30:00"))
    assert "0 winner(s) unpaid" in out, out
    assert ClockOrder.objects.get(pk=stray.pk).refund_status == RefundStatus.REFUNDED
    assert Participation.objects.get(uid=8).payout_renewals == 1  # the failed transfer's successor was paid
    assert set(alipay.transfers) >= {payout_no(8), f"{payout_no(8)}N2"}
    assert {(t.identity_type, t.identity) for t in alipay.transfers.values()} == {
        ("ALIPAY_OPEN_ID", f"demo-open-{uid}") for uid in range(1, 15)
    }

    # --- the books: Alipay's ledger equals the app's, to the fen; every payment once, every payout once.
    winners = Participation.objects.filter(clock_day=DAY, clock_status=2)
    assert winners.count() == 14 and not winners.exclude(red_status=RedStatus.PAID).exists()

    def ledger(kind):
        return LedgerEntry.objects.filter(money_type=kind).aggregate(s=Sum("change_money"))["s"] or 0

    assert alipay.money_in() == ledger(MoneyType.STAKE) == 21 * 100
    assert alipay.money_out() == ledger(MoneyType.RED_PACKET) + ledger(MoneyType.REFUND)
    paid_out = alipay.paid_out_by_key()
    for part in winners:
        mine = {number: fen for number, fen in paid_out.items() if number.startswith(part.payout_no)}
        assert list(mine.values()) == [part.clock_money], (part.uid, mine)  # one transfer paid, once
    assert paid_out[f"{stray.order_no}R"] == 100
    assert len([e for e in alipay.ledger if e["kind"] == "payment"]) == 21
    assert ClockOrder.objects.filter(order_status=OrderStatus.PAID).count() == 21
    assert all(r.ok for r in audit()) and audit_players().ok
    run("clock_audit", at=local(AFTER, "11:00:00"))

    # --- Alipay's bills of those days say the same (what reconciliation reads).
    with time_machine.travel(local(AFTER + timedelta(days=1), "11:00:00"), tick=True):
        day_lines = list(get_channel().bill(DAY))
        next_lines = list(get_channel().bill(NEXT))
        after_lines = list(get_channel().bill(AFTER))
    assert Counter(line.kind for line in day_lines) == {"payment": 21}
    assert {line.number for line in day_lines} == {*orders.values(), STRAY}
    assert {line.amount for line in day_lines} == {100}
    assert {(line.kind, line.number): line.amount for line in next_lines + after_lines if line.kind == "transfer"} == {
        ("transfer", number): fen for number, fen in paid_out.items() if number.endswith(("P", "N2"))
    }
    refunds = [line for line in after_lines if line.kind == "refund"]
    assert [(r.number, r.amount, r.channel_id) for r in refunds] == [(f"{stray.order_no}R", 100, stray.transaction_id)]
