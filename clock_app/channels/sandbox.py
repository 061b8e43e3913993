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
string, default ``"0"``; chosen by a hash of the transfer's key and attempt, so runs are reproducible),
``CONFIRM`` (default False): answer packets the way WeChat's transfer bills do — accepted and waiting for the
user's confirmation, with a ``package`` the client hands back (``transfer-notify/``) when the user confirms;
:meth:`SandboxChannel.cancel` plays a bill left unconfirmed until WeChat cancels it.

The sandbox remembers its transfers and bills in the process (enough for ``runserver``, tests and
simulations); ``query`` answers from that memory.

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
from .base import InvalidNotification, PaymentChannel, TransferNotice


class OrderExpired(Exception):
    """The sandbox refuses a payment after the order's ``time_expire`` (as WeChat closes the order)."""


SIGNED_NOTIFY_FIELDS = ("order_no", "amount", "buyer_id", "transaction_id", "paid_at", "timestamp")


class SandboxChannel(PaymentChannel):
    name = "sandbox"

    def __init__(
        self, SECRET: str | None = None, TOLERANCE: int = 300, FAIL_RATE: str = "0", CONFIRM: bool = False
    ) -> None:
        self.secret = (SECRET or salted_hmac("clock_app.sandbox", "secret").hexdigest()).encode()
        self.tolerance = int(TOLERANCE)
        self.fail_rate = Decimal(str(FAIL_RATE))
        self.confirm_mode = bool(CONFIRM)
        self._attempts: dict[str, int] = {}
        self._paid: set[str] = set()
        self._bills: dict[str, str] = {}  # channel number -> WAIT_USER_CONFIRM | SUCCESS | CANCELLED

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
        except (ValueError, UnicodeDecodeError, RecursionError):
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
    def _refused(self, key: str) -> bool:
        attempt = self._attempts[key] = self._attempts.get(key, 0) + 1
        draw = int.from_bytes(hashlib.sha256(f"{key}:{attempt}".encode()).digest()[:8], "big")
        return Decimal(draw) / Decimal(2**64) < self.fail_rate

    def _bank(self, transfer: Any, now: datetime | None = None) -> dict[str, Any]:
        """The sandbox's side of a transfer: decide, and answer signed. Like a real channel it is idempotent per
        number: a transfer once paid is answered SUCCESS again, a bill once issued is the same bill again."""
        number = transfer.channel_no
        fields: dict[str, Any] = {"return_code": "SUCCESS", "order_no": transfer.order_no, "amount": transfer.amount}
        if self.confirm_mode and transfer.kind == "packet":
            state = self._bills.get(number)
            if state is None:
                state = self._bills[number] = "FAIL" if self._refused(number) else "WAIT_USER_CONFIRM"
            code = {"CANCELLED": "FAIL"}.get(state, state)
            fields.update(result_code=code, err_code="SANDBOX_CANCELLED" if state == "CANCELLED" else "")
            if code == "WAIT_USER_CONFIRM":
                fields["confirm"] = {"mchId": "sandbox", "appId": "sandbox", "package": self.bill_package(transfer)}
        else:
            refused = number not in self._paid and self._refused(number)
            if not refused:
                self._paid.add(number)
            fields.update(result_code="FAIL" if refused else "SUCCESS", err_code="SANDBOX_REFUSED" if refused else "")
        fields["payment_no"] = f"SBXPAY{number}"
        return self.signed(fields, now)

    def transfer(self, transfer: Any) -> Mapping[str, Any]:
        answer = self._bank(transfer)
        # Trust an answer only if the channel signed it, for this transfer, and recently.
        self.check(answer)
        if answer["order_no"] != transfer.order_no or answer["amount"] != transfer.amount:
            raise InvalidNotification("转账应答与请求不符")
        return answer

    def query(self, transfer: Any) -> Mapping[str, Any]:
        number = transfer.channel_no
        if number in self._paid:
            return {"result_code": "SUCCESS", "order_no": transfer.order_no}
        state = self._bills.get(number)
        if state is None:
            return {"result_code": "NOT_FOUND", "order_no": transfer.order_no}
        return {"result_code": {"CANCELLED": "FAIL"}.get(state, state), "order_no": transfer.order_no}

    # --- the user's confirmation of a bill (confirmation mode)
    def bill_package(self, transfer: Any) -> str:
        """What the client hands back when the user confirms: the bill's number and amount, signed (it stands
        for the user's act, so it carries no timestamp; a cancelled bill's package is refused)."""
        bill = {"bill": transfer.channel_no, "amount": transfer.amount}
        return json.dumps({**bill, "sign": self.sign(bill)}, sort_keys=True, separators=(",", ":"))

    def cancel(self, number: str) -> None:
        """A bill left unconfirmed: cancelled, as WeChat closes one after 24 hours."""
        if self._bills.get(number) == "WAIT_USER_CONFIRM":
            self._bills[number] = "CANCELLED"

    def parse_transfer_notification(self, request: HttpRequest, now: datetime | None = None) -> TransferNotice:
        """The user confirmed a bill: ``{"package": …}`` as handed out by :meth:`bill_package`."""
        try:
            package = json.loads(json.loads(request.body or b"{}").get("package") or "")
        except (ValueError, UnicodeDecodeError, AttributeError, TypeError, RecursionError):
            raise InvalidNotification("确认参数格式错误") from None
        if not isinstance(package, dict) or set(package) != {"bill", "amount", "sign"}:
            raise InvalidNotification("确认参数不全")
        if not hmac.compare_digest(str(package["sign"]), self.sign(package)):
            raise InvalidNotification("签名错误")
        number = str(package["bill"])
        if self._bills.get(number) in ("CANCELLED", "FAIL"):
            raise InvalidNotification("该转账单已关闭")
        self._bills[number] = "SUCCESS"
        self._paid.add(number)
        return TransferNotice("packet", number, {"result_code": "SUCCESS", "bill": number, "amount": package["amount"]})
