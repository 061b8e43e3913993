"""Alipay payments against the fake gateway: the prepay, the asynchronous notification (RSA2 over the form, our
app and seller), what a genuine but unusual notification does, and anything forged, malformed or foreign
changing nothing."""

from datetime import date, timedelta

import pytest
import time_machine
from django.test import Client, override_settings

from clock_app.channels import get_channel
from clock_app.models import (
    ClockOrder,
    LedgerEntry,
    OrderStatus,
    Participation,
    Player,
    RefundReason,
    RefundStatus,
    Round,
)
from clock_app.services.sweep import payments_sweep
from clock_app.services.transfers import Transfer
from tests.concurrency.threads import run_together
from tests.fakes.alipay import PaymentRefused, alipay_time, new_rsa_key, notification_sign_content, rsa2_sign

from .conftest import NOTIFY_URL, deliver_form, local
from .conftest import Player as Payer

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)


def tables():
    return (
        list(ClockOrder.objects.values().order_by("pk")),
        list(Round.objects.values().order_by("pk")),
        list(Participation.objects.values().order_by("pk")),
        list(Player.objects.values().order_by("pk")),
        list(LedgerEntry.objects.values().order_by("pk")),
    )


def ordered(uid: int = 1, at=None) -> ClockOrder:
    made = Payer(Client, uid).post("prepay", at or local(DAY, "10:00:00"))
    assert made["status"] == 1, made
    return ClockOrder.objects.get(order_no=made["data"]["order_no"])


def notification(fake, order, at=None):
    with time_machine.travel(at or local(DAY, "10:00:06"), tick=False):
        return fake.payment_notification(order.order_no)


@pytest.fixture
def paid_order(alipay):
    """Player 1 ordered through the HTTP API and paid in the Alipay app; no notification sent yet."""
    order = ordered()
    with time_machine.travel(local(DAY, "10:00:05"), tick=False):
        alipay.pay(order.order_no)
    return order


def test_prepay_creates_the_mini_program_trade_with_the_expiry(alipay):
    made = Payer(Client, 1).post("prepay", local(DAY, "10:00:00"))
    payment = made["data"]["payment"]
    trade = alipay.trades[made["data"]["order_no"]]
    assert payment == {"channel": "alipay", "tradeNO": trade.trade_no, "time_expire": "2026-11-26 23:59:59"}
    [request] = alipay.calls("alipay.trade.create")
    assert request.http_method == "POST" and request.signature_valid and request.cert_mode
    assert request.params["notify_url"] == NOTIFY_URL
    assert request.biz == {
        "out_trade_no": trade.out_trade_no,
        "total_amount": "1.00",
        "subject": "早起打卡挑战金",
        "product_code": "JSAPI_PAY",
        "buyer_open_id": "demo-open-1",  # not a 2088… user id: the mini-program's open_id
        "time_expire": "2026-11-26 23:59:59",
    }
    assert trade.total_fen == 100 and trade.buyer_open_id == "demo-open-1"
    # The same waiting order asked again is the same trade at Alipay; after the expiry nobody can pay it.
    again = Payer(Client, 1).post("prepay", local(DAY, "10:00:30"))
    assert again["data"]["payment"]["tradeNO"] == trade.trade_no
    with time_machine.travel(local(DAY + timedelta(days=1), "00:00:00"), tick=False), pytest.raises(PaymentRefused):
        alipay.pay(trade.out_trade_no)


def test_prepay_names_the_operating_mini_program_when_it_is_another_app(alipay, settings):
    options = {**settings.CLOCK["PAYMENT_CHANNEL"]["OPTIONS"], "OP_APP_ID": "2021004100000000"}
    channel = {**settings.CLOCK["PAYMENT_CHANNEL"], "OPTIONS": options}
    with override_settings(CLOCK={**settings.CLOCK, "PAYMENT_CHANNEL": channel}):
        Payer(Client, 1).post("prepay", local(DAY, "10:00:00"))
    assert alipay.calls("alipay.trade.create")[0].biz["op_app_id"] == "2021004100000000"


def test_prepay_without_a_trustworthy_answer_is_channel_unavailable(alipay):
    alipay.inject("alipay.trade.create", "bad_signature")
    made = Payer(Client, 1).post("prepay", local(DAY, "10:00:00"))
    assert (made["status"], made["code"]) == (0, "channel_unavailable")
    alipay.inject("alipay.trade.create", "system_error_before")
    assert Payer(Client, 1).post("prepay", local(DAY, "10:00:10"))["code"] == "channel_unavailable"
    assert ClockOrder.objects.get().order_status == OrderStatus.WAITING  # waits, unpaid; the next try works
    assert Payer(Client, 1).post("prepay", local(DAY, "10:00:20"))["status"] == 1


def test_a_genuine_notification_joins_once_and_answers_success(alipay, paid_order):
    fields = notification(alipay, paid_order)
    client = Client()
    for _ in range(3):  # Alipay resends until it reads "success"; the payment counts once
        response = deliver_form(client, fields, local(DAY, "10:00:06"))
        assert (response.status_code, response.content) == (200, b"success")
    paid_order.refresh_from_db()
    assert paid_order.order_status == OrderStatus.PAID
    assert paid_order.pay_time == local(DAY, "10:00:05")  # gmt_payment, not the arrival
    assert paid_order.transaction_id == alipay.trades[paid_order.order_no].trade_no
    assert Round.objects.get().clock_money == 100 and LedgerEntry.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_notification_over_real_http_is_acknowledged(alipay, paid_order, live_server):
    delivery = alipay.deliver(f"{live_server.url}/api/clock/notify/", alipay.payment_notification(paid_order.order_no))
    assert delivery.acknowledged
    assert ClockOrder.objects.get(pk=paid_order.pk).order_status == OrderStatus.PAID


def _foreign(fake, fields):
    return fields | {"sign": rsa2_sign(new_rsa_key(), notification_sign_content(fields))}


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda fake, f: fake.tampered_notification(f["out_trade_no"]), id="tampered-amount"),
        pytest.param(lambda fake, f: f | {"buyer_open_id": "someone-else"}, id="tampered-buyer"),
        pytest.param(_foreign, id="other-key"),
        pytest.param(lambda fake, f: {k: v for k, v in f.items() if k != "sign"}, id="unsigned"),
        pytest.param(lambda fake, f: f | {"sign_type": "RSA"}, id="sign-type-rsa"),
        pytest.param(lambda fake, f: fake.sign_notification(f | {"app_id": "2021000000009999"}), id="other-app"),
        pytest.param(lambda fake, f: fake.sign_notification(f | {"seller_id": "2088000000009999"}), id="other-seller"),
        pytest.param(lambda fake, f: fake.sign_notification(f | {"total_amount": "1.001"}), id="unreadable-amount"),
        pytest.param(lambda fake, f: fake.sign_notification(f | {"charset": "gbk"}), id="other-charset"),
    ],
)
def test_a_forged_or_foreign_notification_is_refused_and_changes_nothing(alipay, paid_order, forge):
    fields = forge(alipay, notification(alipay, paid_order))
    before = tables()
    response = deliver_form(Client(), fields, local(DAY, "10:00:06"))
    assert (response.status_code, response.content) == (400, b"fail")
    assert tables() == before


@pytest.mark.parametrize(
    "body",
    [b"", b"not a form", b"\xff\xfe\x00", b"a=1&a=2", b"sign=%ZZ"],
    ids=["empty", "not-a-form", "not-utf8", "duplicate-field", "bad-escape"],
)
def test_a_malformed_notification_is_refused(alipay, paid_order, body):
    before = tables()
    with time_machine.travel(local(DAY, "10:00:06"), tick=False):
        response = Client().post("/api/clock/notify/", body, content_type="application/x-www-form-urlencoded")
    assert (response.status_code, response.content) == (400, b"fail")
    assert tables() == before


def test_a_duplicated_field_is_refused_even_when_one_copy_is_signed(alipay, paid_order):
    fields = notification(alipay, paid_order)
    body = alipay.form_body(fields) + b"&total_amount=0.01"
    before = tables()
    with time_machine.travel(local(DAY, "10:00:06"), tick=False):
        response = Client().post("/api/clock/notify/", body, content_type="application/x-www-form-urlencoded")
    assert response.content == b"fail" and tables() == before


def test_a_genuine_notification_about_no_payment_is_acknowledged_and_changes_nothing(alipay):
    order = ordered()
    closed = {
        "notify_time": alipay_time(local(DAY, "23:59:59")),
        "notify_type": "trade_status_sync",
        "notify_id": "2026112600222000000000001",
        "app_id": alipay.app_id,
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "trade_no": alipay.trades[order.order_no].trade_no,
        "out_trade_no": order.order_no,
        "seller_id": alipay.seller_id,
        "trade_status": "TRADE_CLOSED",  # unpaid and expired: Alipay tells, nothing moved
        "total_amount": "1.00",
        "gmt_create": alipay_time(local(DAY, "10:00:00")),
        "gmt_close": alipay_time(local(DAY, "23:59:59")),
    }
    before = tables()
    response = deliver_form(Client(), alipay.sign_notification(closed), local(DAY + timedelta(days=1), "00:00:01"))
    assert (response.status_code, response.content) == (200, b"success")
    assert tables() == before


def test_the_notification_after_a_refund_is_the_same_payment_again(alipay, paid_order):
    assert deliver_form(Client(), notification(alipay, paid_order), local(DAY, "10:00:06")).content == b"success"
    paid_order.refresh_from_db()
    refund = Transfer(
        f"{paid_order.order_no}R", 1, "demo-open-1", 100, DAY, "refund", paid_order.transaction_id, total=100
    )
    with time_machine.travel(local(DAY, "11:00:00"), tick=False):
        assert get_channel().transfer(refund)["result_code"] == "SUCCESS"
        refunded = alipay.payment_notification(paid_order.order_no)
    assert refunded["trade_status"] == "TRADE_CLOSED" and refunded["refund_fee"] == "1.00"
    before = tables()
    assert deliver_form(Client(), refunded, local(DAY, "11:00:01")).content == b"success"
    assert tables() == before


@pytest.mark.parametrize(
    ("change", "reason"),
    [({"amount": 99}, RefundReason.WRONG_AMOUNT), ({"buyer_id": "2088102177846880"}, RefundReason.WRONG_BUYER)],
)
def test_a_signed_payment_that_does_not_match_the_order_is_kept_for_refund(alipay, change, reason):
    order = ordered()
    with time_machine.travel(local(DAY, "10:00:05"), tick=False):
        alipay.pay(order.order_no, **change)
    assert deliver_form(Client(), notification(alipay, order), local(DAY, "10:00:06")).content == b"success"
    kept = ClockOrder.objects.exclude(pk=order.pk).get()
    assert (kept.refund_status, kept.refund_reason) == (RefundStatus.REFUNDING, reason)
    assert kept.pay_amount == change.get("amount", 100) and not Participation.objects.exists()


def test_a_lost_notification_is_found_by_the_sweep_with_alipays_payment_time(alipay):
    order = ordered()
    with time_machine.travel(local(DAY, "23:59:30"), tick=False):
        alipay.pay(order.order_no)
    with time_machine.travel(local(DAY + timedelta(days=1), "00:05:00"), tick=False):
        assert payments_sweep(DAY) == {"joined": 1}
    order.refresh_from_db()
    assert order.order_status == OrderStatus.PAID and order.pay_time == local(DAY, "23:59:30")
    assert Participation.objects.filter(clock_day=DAY).count() == 1
    late = deliver_form(
        Client(),
        notification(alipay, order, local(DAY + timedelta(days=1), "00:06:00")),
        local(DAY + timedelta(days=1), "00:06:00"),
    )
    assert late.content == b"success" and LedgerEntry.objects.count() == 1  # then a duplicate


def test_the_sweep_counts_an_order_alipay_cannot_answer_about_and_leaves_it_waiting(alipay):
    paid, unpaid = ordered(1), ordered(2)
    with time_machine.travel(local(DAY, "12:00:00"), tick=False):
        alipay.pay(paid.order_no)
    alipay.inject("alipay.trade.query", "system_error_before")
    with time_machine.travel(local(DAY + timedelta(days=1), "00:05:00"), tick=False):
        assert payments_sweep(DAY) == {"failed": 1, "unpaid": 1}
        alipay.inject("alipay.trade.query", "bad_signature")
        assert payments_sweep(DAY) == {"failed": 1, "unpaid": 1}
        assert payments_sweep(DAY) == {"joined": 1, "unpaid": 1}
    assert ClockOrder.objects.get(pk=unpaid.pk).order_status == OrderStatus.WAITING


@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_deliveries_of_one_notification_count_once(alipay, postgres):
    order = ordered()
    with time_machine.travel(local(DAY, "10:00:05"), tick=False):
        alipay.pay(order.order_no)
    fields = notification(alipay, order)
    with time_machine.travel(local(DAY, "10:00:06"), tick=False):
        answers = run_together(
            [
                lambda: (
                    Client()
                    .post(
                        "/api/clock/notify/", alipay.form_body(fields), content_type="application/x-www-form-urlencoded"
                    )
                    .content
                )
            ]
            * 16
        )
    assert answers == [b"success"] * 16
    assert ClockOrder.objects.get(pk=order.pk).order_status == OrderStatus.PAID
    assert LedgerEntry.objects.count() == 1 and Round.objects.get().user_num == 1
