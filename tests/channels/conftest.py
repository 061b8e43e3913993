"""Channel adapters wired to the local fake servers (tests/fakes), through the example project's settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import time_machine
from django.test import override_settings
from django.urls import reverse

from tests.conftest import local
from tests.fakes.alipay import FakeAlipay, fake_alipay  # noqa: F401  (a fixture, used by name)
from tests.fakes.wechatpay import FakeWeChatPay, fake_wechatpay  # noqa: F401  (a fixture, used by name)

# WeChat accepts only https notification URLs without a query string; the test client ignores the host.
NOTIFY_URL = "https://clock.example.com/api/clock/notify/"


@pytest.fixture
def wechat(fake_wechatpay: FakeWeChatPay, settings) -> Iterator[FakeWeChatPay]:  # noqa: F811
    """The app's CLOCK with the WeChat Pay adapter pointed at the fake, and payouts through it."""
    with override_settings(
        CLOCK={
            **settings.CLOCK,
            "PAYMENT_CHANNEL": {
                "BACKEND": "clock_app.channels.wechatpay.WeChatPayChannel",
                "OPTIONS": {**fake_wechatpay.options(NOTIFY_URL), "TIMEOUT": 2},
            },
            "PAYOUT_HANDLER": "clock_app.channels.transfer",
            "PAYOUT_TIMEOUT": 5,
        }
    ):
        yield fake_wechatpay


@pytest.fixture
def alipay(fake_alipay: FakeAlipay, settings) -> Iterator[FakeAlipay]:  # noqa: F811
    """The app's CLOCK with the Alipay adapter (certificate mode, the seller pinned) pointed at the fake, and
    payouts through it."""
    with override_settings(
        CLOCK={
            **settings.CLOCK,
            "PAYMENT_CHANNEL": {
                "BACKEND": "clock_app.channels.alipay.AlipayChannel",
                "OPTIONS": {**fake_alipay.options(NOTIFY_URL), "SELLER_ID": fake_alipay.seller_id, "TIMEOUT": 2},
            },
            "PAYOUT_HANDLER": "clock_app.channels.transfer",
            "PAYOUT_TIMEOUT": 5,
        }
    ):
        yield fake_alipay


class Player:
    """One player driving the HTTP API with their own session (the example project's demo login)."""

    def __init__(self, client_class, uid: int) -> None:
        self.uid = uid
        self.client = client_class()
        self.client.post(reverse("demo_login"), {"uid": uid})

    def post(self, name: str, at, **kwargs):
        with time_machine.travel(at, tick=False):
            return self.client.post(reverse(f"clock_app:{name}"), content_type="application/json", **kwargs).json()

    def get(self, name: str, at, **params):
        with time_machine.travel(at, tick=False):
            return self.client.get(reverse(f"clock_app:{name}"), params).json()


def deliver(client, name: str, headers: dict[str, str], body: bytes, at):
    """The channel POSTs a notification to the app at ``at``."""
    with time_machine.travel(at, tick=False):
        return client.post(reverse(f"clock_app:{name}"), body, content_type="application/json", headers=headers)


def deliver_form(client, fields: dict[str, str], at, name: str = "notify"):
    """Alipay POSTs a notification (a form, as :meth:`FakeAlipay.deliver` sends it) to the app at ``at``."""
    with time_machine.travel(at, tick=False):
        return client.post(
            reverse(f"clock_app:{name}"),
            FakeAlipay.form_body(fields),
            content_type="application/x-www-form-urlencoded; charset=utf-8",
        )


__all__ = ["NOTIFY_URL", "Player", "deliver", "deliver_form", "local"]
