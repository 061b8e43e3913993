"""The sandbox channel: a payment channel that moves no money but behaves like one — signed callbacks with a
timestamp and a tolerance window, signed transfer answers — so every flow runs and is tested end to end.

Signature: ``HMAC-SHA256(secret, canonical)`` as hex, where ``canonical`` is the message without ``sign`` as
canonical JSON (keys sorted, separators ``,`` and ``:``, ASCII). Unlike ``name=value`` pairs joined with ``&``
(the sandbox's first format), JSON cannot be re-split: a value containing ``&order_no=…`` stays one string,
so no signed message can be re-read as another. ``timestamp`` (Unix seconds) must be within ``TOLERANCE``
seconds of the receiver's clock.

Like a real channel, the sandbox is told when an order expires (``time_expire``: 23:59:59 of its round's
day) and refuses to take a payment after that.

Options (``CLOCK["PAYMENT_CHANNEL"]["OPTIONS"]``): ``SECRET`` (default: derived from ``settings.SECRET_KEY``),
``TOLERANCE`` (seconds, default 300), ``FAIL_RATE`` (share of transfers the sandbox refuses, a decimal
string, default ``"0"``; chosen by a hash of the transfer's key and attempt, so runs are reproducible).

Never use it in production: it pays nobody, and ``prepay`` hands the client a signed notification to deliver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .. import calendar
from ..services.orders import Notification
from .base import InvalidNotification, PaymentChannel


class OrderExpired(Exception):
    """The sandbox refuses a payment after the order's ``time_expire`` (as WeChat closes the order)."""


SIGNED_NOTIFY_FIELDS = ("order_no", "amount", "buyer_id", "transaction_id", "paid_at", "timestamp")


class SandboxChannel(PaymentChannel):
    name = "sandbox"

    def __init__(self, SECRET: str | None = None, TOLERANCE: int = 300, FAIL_RATE: str = "0") -> None:
        super().__init__(SECRET=SECRET, TOLERANCE=TOLERANCE, FAIL_RATE=FAIL_RATE)
        self.secret = (SECRET or salted_hmac("clock_app.sandbox", "secret").hexdigest()).encode()
        self.tolerance = int(TOLERANCE)
        self.fail_rate = Decimal(str(FAIL_RATE))
        self._attempts: dict[str, int] = {}
        self._paid: set[str] = set()

    # --- signatures
    def sign(self, fields: Mapping[str, Any]) -> str:
        canonical = json.dumps(
            {name: value for name, value in fields.items() if name != "sign"},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
        )
        return hmac.new(self.secret, canonical.encode("ascii"), hashlib.sha256).hexdigest()

    def signed(self, fields: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
        message = {**fields, "timestamp": int((now or timezone.now()).timestamp())}
        return {**message, "sign": self.sign(message)}

    def check(self, message: Mapping[str, Any], now: datetime | None = None) -> None:
        """Raise :class:`InvalidNotification` unless ``message`` is signed with our secret and fresh."""
        sign = message.get("sign")
        if not isinstance(sign, str) or not hmac.compare_digest(sign, self.sign(message)):
            raise InvalidNotification("签名错误")
        try:
            stamp = int(message["timestamp"])
        except (KeyError, TypeError, ValueError):
            raise InvalidNotification("缺少时间戳") from None
        if abs(int((now or timezone.now()).timestamp()) - stamp) > self.tolerance:
            raise InvalidNotification("回调已过期")

    # --- money in
    def payment_notification(
        self,
        order: Any,
        *,
        transaction_id: str | None = None,
        paid_at: datetime | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """The callback the sandbox channel sends (at ``now``; every delivery is signed afresh) for ``order``
        paid at ``paid_at`` (default: now). The sandbox takes no payment after the order expired."""
        now = now or timezone.now()
        if (paid_at or now) > calendar.payment_deadline(order.clock_day):
            raise OrderExpired(f"order {order.order_no} expired at {calendar.payment_deadline(order.clock_day)}")
        return self.signed(
            {
                "order_no": order.order_no,
                "amount": order.pay_amount,
                "buyer_id": order.buyer_id,
                "transaction_id": transaction_id or f"SBX{order.order_no}",
                "paid_at": (paid_at or now).isoformat(),
            },
            now,
        )

    def prepay(self, order: Any, *, expires_at: datetime) -> dict[str, Any]:
        # A real channel returns parameters for its payment sheet; the sandbox lets the client deliver the
        # callback itself, which is what makes the demo page payable without a bank.
        return {
            "channel": self.name,
            "time_expire": expires_at.isoformat(),
            "notification": self.payment_notification(order),
        }

    def parse_notification(self, request: HttpRequest, now: datetime | None = None) -> Notification:
        try:
            message = json.loads(request.body or b"")
        except (ValueError, UnicodeDecodeError):
            raise InvalidNotification("回调格式错误") from None
        return self.notification_from(message, raw=request.body.decode(), now=now)

    def notification_from(self, message: Any, *, raw: str, now: datetime | None = None) -> Notification:
        """Check a decoded callback and turn it into a :class:`Notification` (``raw`` is kept as pay_result)."""
        if not isinstance(message, dict) or any(name not in message for name in SIGNED_NOTIFY_FIELDS):
            raise InvalidNotification("回调字段不全")
        self.check(message, now)
        return Notification(
            order_no=str(message["order_no"]),
            amount=message["amount"],
            buyer_id=str(message["buyer_id"]),
            transaction_id=str(message["transaction_id"]),
            notify_time=str(message["paid_at"]),
            content=raw,
        )

    def acknowledge(self, accepted: bool, message: str = "") -> JsonResponse:
        # WeChat Pay v3 style: 200 {"code": "SUCCESS"} stops the retries; anything else asks for a retry.
        if accepted:
            return JsonResponse({"code": "SUCCESS", "message": message or "OK"})
        return JsonResponse({"code": "FAIL", "message": message or "FAIL"}, status=400)

    # --- money out
    def _bank(self, transfer: Any, now: datetime | None = None) -> dict[str, Any]:
        """The sandbox's side of a transfer: decide, and answer signed. Like a real channel it is idempotent per
        key: a transfer once paid is answered SUCCESS again, never paid or refused a second time."""
        if transfer.order_no in self._paid:
            refused = False
        else:
            attempt = self._attempts[transfer.order_no] = self._attempts.get(transfer.order_no, 0) + 1
            draw = int.from_bytes(hashlib.sha256(f"{transfer.order_no}:{attempt}".encode()).digest()[:8], "big")
            refused = Decimal(draw) / Decimal(2**64) < self.fail_rate
            if not refused:
                self._paid.add(transfer.order_no)
        return self.signed(
            {
                "return_code": "SUCCESS",
                "result_code": "FAIL" if refused else "SUCCESS",
                "err_code": "SANDBOX_REFUSED" if refused else "",
                "order_no": transfer.order_no,
                "amount": transfer.amount,
                "payment_no": f"SBXPAY{transfer.order_no}",
            },
            now,
        )

    def transfer(self, transfer: Any) -> Mapping[str, Any]:
        answer = self._bank(transfer)
        # Trust an answer only if the channel signed it, for this transfer, and recently.
        self.check(answer)
        if answer["order_no"] != transfer.order_no or answer["amount"] != transfer.amount:
            raise InvalidNotification("转账应答与请求不符")
        return answer
