"""The protocol a payment channel adapter implements (WeChat Pay v3, Alipay, the built-in sandbox).

A channel does these things for the app:

* ``prepay(order, expires_at=…)`` — what the client needs to pay a stake order, telling the channel the order
  expires at ``expires_at`` (23:59:59 of its round's day: a later payment cannot join the round);
* ``parse_notification(request, now)`` — verify the channel's signature and freshness on a payment callback
  (``notify/``) and return a :class:`~clock_app.services.orders.Notification` with the channel's payment
  time; raise :class:`InvalidNotification` for anything forged, stale or malformed (the view then changes
  nothing); None for a genuine callback that is about no payment (acknowledged, nothing changes — Alipay
  also notifies an unpaid trade's closing);
* ``parse_transfer_notification(request, now)`` — the same for the results of transfers and refunds
  (``transfer-notify/``, ``refund-notify/``), returning a :class:`TransferNotice`;
* ``acknowledge(accepted, message)`` — answer a callback in the channel's own format (so it stops or keeps
  retrying);
* ``transfer(transfer)`` and ``query(transfer)`` — send a red packet or a refund, and ask about one; the
  answers follow the payout contract of :mod:`clock_app.services.transfers` (``result_code`` SUCCESS,
  WAIT_USER_CONFIRM, PENDING, HELD, UNKNOWN, NOT_FOUND, anything else failed);
* ``query_payment(order)`` — ask whether an order was paid (notifications are not guaranteed): a
  ``Notification`` built as the callback would be, or None while it is not paid;
* ``bill(day)`` — the channel's own record of day ``day`` for reconciliation (:mod:`clock_app.reconcile`).

Every call to the channel has a timeout; an answer whose signature does not verify is never a success.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse

from ..exceptions import ClockError


class InvalidNotification(ClockError):
    """A callback whose signature, timestamp or body does not check out."""

    code = "invalid_notification"
    message = "支付回调验签失败"


@dataclass(frozen=True)
class BillLine:
    """One line of a channel's own bill (对账单), normalised across channels for reconciliation.

    ``kind`` is "payment", "refund" or "transfer"; ``number`` is our number at the channel (a payment's
    ``out_trade_no`` = ``order_no``; a refund's ``out_refund_no``/``out_request_no``; a transfer's
    ``out_bill_no``/``out_biz_no``); ``channel_id`` the channel's own id (transaction id, refund id, transfer
    bill no); ``amount`` in fen (a payment's order amount, not net of the channel's fee); ``status`` "SUCCESS"
    when the money moved, else the channel's word; ``at`` when it happened (aware); ``buyer_id`` the payer's
    id at the channel (payments); ``raw`` the line as the channel wrote it."""

    kind: str
    number: str
    channel_id: str
    amount: int
    status: str
    at: datetime
    buyer_id: str = ""
    raw: str = ""


@dataclass(frozen=True)
class TransferNotice:
    """A channel's verified notification about one transfer: ``kind`` "packet" or "refund", the channel-side
    ``number`` it was sent under, and ``answer`` in the payout contract's terms (``result_code`` …)."""

    kind: str
    number: str
    answer: Mapping[str, Any]


class PaymentChannel:
    """Base class of channel adapters; ``OPTIONS`` of ``CLOCK["PAYMENT_CHANNEL"]`` arrive as keyword args."""

    name = "base"

    def prepay(self, order: Any, *, expires_at: datetime) -> dict[str, Any]:
        """What the client needs to pay ``order``; the channel must refuse payment after ``expires_at``."""
        raise NotImplementedError

    def parse_notification(self, request: HttpRequest, now: datetime | None = None) -> Any | None:
        raise NotImplementedError

    def parse_transfer_notification(self, request: HttpRequest, now: datetime | None = None) -> TransferNotice:
        raise InvalidNotification("this channel sends no transfer notifications")

    def acknowledge(self, accepted: bool, message: str = "") -> HttpResponse:
        raise NotImplementedError

    def transfer(self, transfer: Any) -> Mapping[str, Any]:
        raise NotImplementedError

    def query(self, transfer: Any) -> Mapping[str, Any]:
        """Ask about a transfer; a channel that cannot tell answers UNKNOWN (never resent blindly)."""
        return {"result_code": "UNKNOWN", "err_code": "QUERY_NOT_SUPPORTED"}

    def query_payment(self, order: Any) -> Any | None:
        return None

    def bill(self, day: date) -> Iterator[BillLine]:
        """Every payment, refund and transfer of local day ``day`` as the channel's bills list them, streamed
        (a day of a million payments must not be held in memory); raises ChannelUnavailable when the bill
        cannot be had (not generated yet, a hash that does not match)."""
        raise NotImplementedError(f"the {self.name} channel has no bill to reconcile with")
