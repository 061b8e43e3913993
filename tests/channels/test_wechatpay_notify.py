"""WeChat Pay payment callbacks against the fake server: the real signature, freshness, serial and encryption;
anything forged, stale, re-serialised or malformed changes nothing."""

import json
from datetime import date, timedelta

import pytest
import time_machine
from django.test import Client

from clock_app.models import ClockOrder, LedgerEntry, OrderStatus, Participation, Player, Round

from .conftest import Player as Payer
from .conftest import deliver, local

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)


def notification(fake, order, at=None):
    """WeChat's notification of ``order``'s payment, as sent at ``at`` (signed then)."""
    with time_machine.travel(at or local(DAY, "10:00:06"), tick=False):
        return fake.payment_notification(order.order_no)


def tables():
    return (
        list(ClockOrder.objects.values().order_by("pk")),
        list(Round.objects.values().order_by("pk")),
        list(Participation.objects.values().order_by("pk")),
        list(Player.objects.values().order_by("pk")),
        list(LedgerEntry.objects.values().order_by("pk")),
    )


@pytest.fixture
def paid_order(wechat):
    """Player 1 ordered through the HTTP API and paid in the WeChat client; the notification is not sent yet."""
    payer = Payer(Client, 1)
    made = payer.post("prepay", local(DAY, "10:00:00"))
    assert made["status"] == 1, made
    order = ClockOrder.objects.get(order_no=made["data"]["order_no"])
    with time_machine.travel(local(DAY, "10:00:05"), tick=False):
        wechat.pay(order.order_no)
    return order


def test_prepay_gives_the_signed_request_payment_parameters_and_the_expiry(wechat):
    payer = Payer(Client, 1)
    made = payer.post("prepay", local(DAY, "10:00:00"))
    payment = made["data"]["payment"]
    assert set(payment) >= {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert payment["signType"] == "RSA" and payment["package"].startswith("prepay_id=")
    placed = wechat.requests[-1]
    assert placed["json"]["time_expire"] == "2026-11-26T23:59:59+08:00"
    assert placed["json"]["amount"] == {"total": 100, "currency": "CNY"}
    assert placed["json"]["payer"]["openid"] == "demo-open-1"
    # paySign is SHA256withRSA by the merchant key over appId, timeStamp, nonceStr, package (one per line).
    from clock_app.channels import get_channel

    message = "".join(f"{payment[k]}\n" for k in ("appId", "timeStamp", "nonceStr", "package"))
    assert get_channel().sign(*message.splitlines()) == payment["paySign"]


def test_a_genuine_notification_joins_once_and_answers_204(wechat, paid_order):
    headers, body = notification(wechat, paid_order)
    client = Client()
    for _ in range(3):  # WeChat re-sends; the app answers success each time and counts it once
        assert deliver(client, "notify", headers, body, local(DAY, "10:00:06")).status_code == 204
    paid_order.refresh_from_db()
    assert paid_order.order_status == OrderStatus.PAID
    assert paid_order.pay_time == local(DAY, "10:00:05")  # WeChat's success_time, not the arrival
    assert Round.objects.get().clock_money == 100 and LedgerEntry.objects.count() == 1


def _reserialised(body: bytes) -> bytes:
    return json.dumps(json.loads(body), indent=1).encode()


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda fake, h, b: ({**h, "Wechatpay-Signature": "AAAA" + h["Wechatpay-Signature"][4:]}, b), id="forged"
        ),
        pytest.param(lambda fake, h, b: (fake.notification_headers(b, foreign_key=True), b), id="other-key"),
        pytest.param(lambda fake, h, b: (fake.notification_headers(b, serial="PUB_KEY_ID_0000"), b), id="wrong-serial"),
        pytest.param(lambda fake, h, b: (fake.notification_headers(b, probe=True), b), id="signtest-probe"),
        pytest.param(lambda fake, h, b: (h, _reserialised(b)), id="reserialised"),
        pytest.param(lambda fake, h, b: ({k: v for k, v in h.items() if k != "Wechatpay-Signature"}, b), id="unsigned"),
        pytest.param(lambda fake, h, b: (h, b"{not json"), id="malformed"),
        pytest.param(lambda fake, h, b: (h, b"[" * 1000 + b"]" * 1000), id="nested"),
    ],
)
def test_a_forged_or_malformed_notification_is_refused_and_changes_nothing(wechat, paid_order, forge):
    headers, body = notification(wechat, paid_order)
    with time_machine.travel(local(DAY, "10:00:06"), tick=False):
        headers, body = forge(wechat, headers, body)
    before = tables()
    response = deliver(Client(), "notify", headers, body, local(DAY, "10:00:06"))
    assert response.status_code == 400 and response.json()["code"] == "FAIL"
    assert tables() == before


@pytest.mark.parametrize(("skew", "accepted"), [(-301, False), (301, False), (-299, True), (299, True)])
def test_a_notification_older_or_newer_than_the_tolerance_is_refused(wechat, paid_order, skew, accepted):
    sent = local(DAY, "10:00:10")
    headers, body = notification(wechat, paid_order, sent)
    with time_machine.travel(sent, tick=False):
        headers = wechat.notification_headers(body, timestamp=int(sent.timestamp()))
    before = tables()
    response = deliver(Client(), "notify", headers, body, sent + timedelta(seconds=-skew))
    assert (response.status_code == 204) is accepted
    assert (tables() == before) is not accepted


def test_a_notification_encrypted_under_another_key_is_refused(wechat, paid_order):
    record = wechat.transaction(paid_order.order_no)
    with time_machine.travel(local(DAY, "10:00:06"), tick=False):
        headers, body = wechat.build_notification(
            "TRANSACTION.SUCCESS",
            "支付成功",
            "transaction",
            record,
            create_time=local(DAY, "10:00:05"),
            apiv3_key="x" * 32,
        )
    before = tables()
    assert deliver(Client(), "notify", headers, body, local(DAY, "10:00:06")).status_code == 400
    assert tables() == before
