"""The protocol a payment channel adapter implements (WeChat Pay v3, Alipay, the built-in sandbox).

A channel does four things for the app:

* ``prepay(order, expires_at=…)`` — what the client needs to pay a stake order, telling the channel the order
  expires at ``expires_at`` (23:59:59 of its round's day: a later payment cannot join the round);
* ``parse_notification(request, now)`` — verify the channel's signature and freshness on the payment
  callback and return a :class:`~clock_app.services.orders.Notification`; raise :class:`InvalidNotification`
  for anything forged, stale or malformed (the view then changes nothing);
* ``acknowledge(accepted, message)`` — answer the callback in the channel's own format (so it stops or keeps
  retrying);
* ``transfer(transfer)`` — send money to a user (a red packet or a refund) and answer with a mapping whose
  ``result_code`` (and ``return_code``) say ``"SUCCESS"`` only when the channel confirmed it. Use
  ``transfer.order_no`` as the channel's idempotency key (WeChat: ``out_batch_no``/``out_detail_no``; a
  refund: ``out_refund_no`` against ``transfer.transaction_id``); raise on a timeout — the payout is then
  retried later with the same key. If the channel needs a fresh number after a *confirmed* failure, derive
  it from ``order_no`` (``f"{order_no}-2"``) and keep the mapping on your side.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse

from ..exceptions import ClockError


class InvalidNotification(ClockError):
    """A payment callback whose signature, timestamp or body does not check out."""

    code = "invalid_notification"
    message = "支付回调验签失败"


class PaymentChannel:
    """Base class of channel adapters; ``OPTIONS`` of ``CLOCK["PAYMENT_CHANNEL"]`` arrive as keyword args."""

    name = "base"

    def __init__(self, **options: Any) -> None:
        self.options = options

    def prepay(self, order: Any, *, expires_at: datetime) -> dict[str, Any]:
        """What the client needs to pay ``order``; the channel must refuse payment after ``expires_at``."""
        raise NotImplementedError

    def parse_notification(self, request: HttpRequest, now: datetime | None = None) -> Any:
        raise NotImplementedError

    def acknowledge(self, accepted: bool, message: str = "") -> HttpResponse:
        raise NotImplementedError

    def transfer(self, transfer: Any) -> Mapping[str, Any]:
        raise NotImplementedError
