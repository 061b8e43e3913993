"""Alipay (支付宝开放平台) for mini-programs: JSAPI payments (``alipay.trade.create``), refunds, single transfers to
the winners' Alipay accounts (单笔转账, ``alipay.fund.trans.uni.transfer``), payment notifications, queries and
the daily bills.

Why not python-alipay-sdk at run time (it is pinned in the test extras, where it checks that the fake Alipay
gateway speaks the real protocol): it sends everything — biz_content and signature included — in a GET query
string; it raises on any answer it cannot verify, so the adapter could not tell an unsigned gateway refusal from
a lost answer; it never checks the ``alipay_cert_sn`` of an answer in certificate mode; it computes certificate
SNs with a pyOpenSSL API deprecated in pyOpenSSL 26; its gateway is a private attribute. The protocol is small,
so this module speaks it with ``requests`` and ``cryptography`` (as the WeChat Pay adapter does):

* every request is a form POST to ``GATEWAY`` signed RSA2 (SHA256withRSA) with the app's key over every non-empty
  parameter except ``sign``, sorted, ``k=v`` joined with ``&``; in certificate mode it names ``app_cert_sn`` and
  ``alipay_root_cert_sn``;
* every answer must carry Alipay's signature over the exact text of its ``<method>_response`` object (and, in
  certificate mode, the SN of the pinned ``ALIPAY_CERT``); one that does not verify — or an unsigned
  ``error_response`` — is an *unknown* outcome, never a success nor a failure;
* a notification must verify over every non-empty field except ``sign`` and ``sign_type``, name our ``APP_ID``
  (and ``SELLER_ID`` when set), and be a payment (``TRADE_SUCCESS``/``TRADE_FINISHED``, or a paid trade later
  closed by a full refund); the payment time is ``gmt_payment`` (Beijing time). A verified notification that
  is not about a payment (an unpaid trade closed) is answered ``success`` and changes nothing. Replays need no
  clock: a payment is counted once by its ``trade_no``.

Transfers follow Alipay's rules for ``out_biz_no``: a timeout, ``20000``, ``SYSTEM_ERROR`` or an answer that
cannot be verified is unknown (the app asks by the same number before anything else); any other refusal is
checked with a query by the same number before it counts as a failure (an existing transfer's status
decides); ``DEALING`` is pending and settled by a later query (Alipay sends no notification to ``notify_url``
for transfers). A refusal for a limit (``EXCEED_LIMIT_…``) is held back and owed, as are amounts outside
``MIN_TRANSFER``/``MAX_TRANSFER``, which are never sent. A refund is idempotent per ``out_request_no`` (the
refund key); ``fund_change`` ``N`` is confirmed by a refund query.

Amounts at Alipay are yuan strings with two decimals, formatted from and parsed to fen exactly
(:mod:`clock_app.money`); times at Alipay are Beijing time whatever ``CLOCK["TIME_ZONE"]`` is.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import IO, Any

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils import timezone

from .. import calendar
from ..exceptions import ChannelUnavailable
from ..money import fen, yuan
from ..services.orders import Notification
from . import alipay_bill, alipay_keys
from .alipay_wire import (
    SHANGHAI,
    Reply,
    Unverified,
    alipay_time,
    parse_alipay_time,
    response_members,
    signed_content,
)
from .base import BillLine, InvalidNotification, PaymentChannel

logger = logging.getLogger(__name__)

TRANSFER_PRODUCT = {"product_code": "TRANS_ACCOUNT_NO_PWD", "biz_scene": "DIRECT_TRANSFER"}
BILL_READY = timedelta(days=1, hours=10)  # a day's bill exists from 10:00 the next (Beijing) day
_USER_ID = re.compile(r"2088[0-9]{12}")  # an Alipay user id; anything else is an open_id (the newer identity)
_PAID = ("TRADE_SUCCESS", "TRADE_FINISHED")
_TRANSFER_STATES = {
    "SUCCESS": "SUCCESS",
    "DEALING": "PENDING",
    "WAIT_PAY": "PENDING",
    "FAIL": "FAIL",
    "CLOSED": "FAIL",
    "REFUND": "FAIL",  # 退票: the money came back
}


def _same_amount(text: Any, amount: int) -> bool:
    """Whether Alipay's yuan string is ``amount`` fen (an unreadable amount is not)."""
    try:
        return fen(text) == amount
    except ValueError:
        return False


class AlipayChannel(PaymentChannel):
    """``CLOCK["PAYMENT_CHANNEL"] = {"BACKEND": "clock_app.channels.alipay.AlipayChannel", "OPTIONS": …}`` with
    the OPTIONS names of DESIGN §7 (money in fen). ``APP_CERT``, ``ALIPAY_CERT`` and ``ALIPAY_ROOT_CERT`` (all
    three or none) switch every call to certificate mode, which transfers need; without them red packets are
    held back and owed (refunds and payments work in either mode)."""

    name = "alipay"

    def __init__(
        self,
        APP_ID: str,
        APP_PRIVATE_KEY: str,
        NOTIFY_URL: str,
        ALIPAY_PUBLIC_KEY: str | None = None,
        GATEWAY: str = "https://openapi.alipay.com/gateway.do",
        TIMEOUT: float = 10,
        APP_CERT: str | None = None,
        ALIPAY_CERT: str | None = None,
        ALIPAY_ROOT_CERT: str | None = None,
        SELLER_ID: str | None = None,
        OP_APP_ID: str | None = None,
        SUBJECT: str = "早起打卡挑战金",
        TRANSFER_TITLE: str = "早起打卡红包",
        REFUND_REASON: str = "早起打卡挑战金退款",
        MIN_TRANSFER: int = 10,
        MAX_TRANSFER: int = 5000000,
        BILL_TIMEOUT: float = 300,
    ) -> None:
        if not isinstance(APP_ID, str) or not APP_ID.isdigit():
            raise ImproperlyConfigured("Alipay APP_ID is the app's number (digits)")
        if not str(NOTIFY_URL).startswith(("https://", "http://")):
            raise ImproperlyConfigured("Alipay NOTIFY_URL must be the absolute URL of clock/notify/")
        if not str(GATEWAY).startswith(("https://", "http://")):
            raise ImproperlyConfigured("Alipay GATEWAY must be an absolute URL (…/gateway.do)")
        try:
            self.private_key = alipay_keys.load_private_key(APP_PRIVATE_KEY)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(f"Alipay APP_PRIVATE_KEY must be PEM or base64 RSA key text: {exc}") from None
        certificates = (APP_CERT, ALIPAY_CERT, ALIPAY_ROOT_CERT)
        self.cert_mode = any(certificates)
        if self.cert_mode and not all(certificates):
            raise ImproperlyConfigured("Alipay APP_CERT, ALIPAY_CERT and ALIPAY_ROOT_CERT go together (all or none)")
        self.public_key = self._public_key(ALIPAY_PUBLIC_KEY)
        if self.cert_mode:
            self._pin_certificates(APP_CERT, ALIPAY_CERT, ALIPAY_ROOT_CERT)  # type: ignore[arg-type]
        if self.public_key is None:
            raise ImproperlyConfigured("Alipay ALIPAY_PUBLIC_KEY (or, in certificate mode, ALIPAY_CERT) is required")
        self.app_id, self.notify_url, self.gateway = APP_ID, NOTIFY_URL, GATEWAY
        self.seller_id, self.op_app_id = SELLER_ID or "", OP_APP_ID or ""
        self.subject, self.transfer_title, self.refund_reason = SUBJECT, TRANSFER_TITLE, REFUND_REASON
        self.min_transfer, self.max_transfer = int(MIN_TRANSFER), int(MAX_TRANSFER)
        self.timeout = (min(3.0, float(TIMEOUT)), float(TIMEOUT))
        self.bill_timeout = float(BILL_TIMEOUT)
        self.session = requests.Session()

    @staticmethod
    def _public_key(text: str | None) -> rsa.RSAPublicKey | None:
        if not text:
            return None
        try:
            return alipay_keys.load_public_key(text)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(f"Alipay ALIPAY_PUBLIC_KEY must be PEM or base64 RSA key text: {exc}") from None

    def _pin_certificates(self, app_cert: str, alipay_cert: str, root_cert: str) -> None:
        try:
            app = alipay_keys.load_certificates(app_cert)[0]
            alipay = alipay_keys.load_certificates(alipay_cert)[0]
            roots = alipay_keys.load_certificates(root_cert)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(f"Alipay certificates must be PEM text: {exc}") from None
        key = alipay.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise ImproperlyConfigured("Alipay ALIPAY_CERT does not hold an RSA key")
        if self.public_key is not None and self.public_key.public_numbers() != key.public_numbers():
            raise ImproperlyConfigured("Alipay ALIPAY_PUBLIC_KEY is not the key of ALIPAY_CERT")
        app_key = app.public_key()
        if not isinstance(app_key, rsa.RSAPublicKey) or (
            app_key.public_numbers() != self.private_key.public_key().public_numbers()
        ):
            raise ImproperlyConfigured("Alipay APP_CERT is not the certificate of APP_PRIVATE_KEY")
        self.public_key = key
        self.app_cert_sn = alipay_keys.cert_sn(app)
        self.alipay_cert_sn = alipay_keys.cert_sn(alipay)
        self.root_cert_sn = alipay_keys.root_cert_sn(roots)
        if not self.root_cert_sn:
            raise ImproperlyConfigured("Alipay ALIPAY_ROOT_CERT holds no RSA root certificate")

    # --- signatures ------------------------------------------------------------------------------------------

    def sign(self, content: str) -> str:
        """RSA2 with the app's key, base64."""
        signature = self.private_key.sign(content.encode(), padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode()

    def verify(self, content: str, signature: str) -> None:
        """Raise :class:`Unverified` unless Alipay signed ``content`` (RSA2, the pinned key)."""
        try:
            raw = base64.b64decode(signature, validate=True)
            self.public_key.verify(raw, content.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
        except (InvalidSignature, ValueError, TypeError) as exc:
            raise Unverified("the signature does not verify") from exc

    # --- transport -------------------------------------------------------------------------------------------

    def call(self, method: str, biz: Mapping[str, Any], *, notify_url: str | None = None) -> Reply:
        """One signed gateway call; the answer's signature is checked whatever it says. Raises
        :class:`Unverified` for an answer we cannot trust and ``requests.RequestException`` for no answer."""
        params = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": alipay_time(timezone.now()),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
        }
        if notify_url:
            params["notify_url"] = notify_url
        if self.cert_mode:
            params["app_cert_sn"], params["alipay_root_cert_sn"] = self.app_cert_sn, self.root_cert_sn
        params["sign"] = self.sign(signed_content(params, leave_out=("sign",)))
        response = self.session.post(self.gateway, data=params, timeout=self.timeout)
        if response.status_code != 200:
            raise Unverified(f"HTTP {response.status_code}")
        return self.verified(method, response.content)

    def verified(self, method: str, body: bytes) -> Reply:
        """The ``<method>_response`` object of an answer, once its signature (and certificate) checks out."""
        try:
            text = body.decode("utf-8")
            members = response_members(text)
        except (UnicodeDecodeError, ValueError) as exc:
            raise Unverified(f"the answer is not JSON: {body[:200]!r}") from exc
        key = method.replace(".", "_") + "_response"
        if key not in members:
            raise Unverified(f"no {key} in the answer (unsigned gateway error?): {text[:300]}")
        data, raw = members[key]
        sign = members.get("sign", (None, ""))[0]
        if not isinstance(sign, str) or not sign:
            raise Unverified(f"the answer is not signed: {text[:300]}")
        if self.cert_mode and members.get("alipay_cert_sn", (None, ""))[0] != self.alipay_cert_sn:
            raise Unverified("the answer is signed under another certificate than ALIPAY_CERT (renewed?)")
        self.verify(raw, sign)
        if not isinstance(data, dict):
            raise Unverified("the response is not an object")
        return Reply(data, text)

    def _ask(self, method: str, biz: Mapping[str, Any]) -> Reply | dict[str, Any]:
        """A call whose failure to answer is an UNKNOWN outcome of the payout contract."""
        try:
            return self.call(method, biz)
        except (requests.RequestException, Unverified) as exc:
            logger.warning("Alipay %s: no trustworthy answer (%s)", method, exc)
            return {"result_code": "UNKNOWN", "err_code": type(exc).__name__, "err_code_des": str(exc)[:200]}

    # --- money in --------------------------------------------------------------------------------------------

    @staticmethod
    def _buyer(identity: str) -> tuple[str, str]:
        """``(field, value)`` naming the buyer: ``buyer_id`` for a 2088… user id, else ``buyer_open_id``."""
        return ("buyer_id", identity) if _USER_ID.fullmatch(identity) else ("buyer_open_id", identity)

    def prepay(self, order: Any, *, expires_at: datetime) -> dict[str, Any]:
        """The mini-program order; the client pays it with ``my.tradePay({tradeNO})``."""
        field, identity = self._buyer(order.buyer_id)
        biz = {
            "out_trade_no": order.order_no,
            "total_amount": yuan(order.pay_amount),
            "subject": self.subject,
            "product_code": "JSAPI_PAY",
            field: identity,
            "time_expire": alipay_time(expires_at),
        }
        if self.op_app_id:
            biz["op_app_id"] = self.op_app_id
        try:
            reply = self.call("alipay.trade.create", biz, notify_url=self.notify_url)
        except (requests.RequestException, Unverified) as exc:
            logger.warning("Alipay prepay of %s: no trustworthy answer (%s)", order.order_no, exc)
            raise ChannelUnavailable() from exc
        trade_no = reply.data.get("trade_no")
        if not reply.ok or not trade_no or reply.data.get("out_trade_no") != order.order_no:
            logger.warning("Alipay refused the prepay of %s: %s", order.order_no, reply.text[:500])
            raise ChannelUnavailable(reply.why or "支付宝下单失败")
        return {"channel": self.name, "tradeNO": trade_no, "time_expire": alipay_time(expires_at)}

    def _payment(self, fields: Mapping[str, Any], *, buyer: str, paid: str, content: str) -> Notification:
        """A :class:`Notification` from a notification's or a query's fields (the names differ: ``buyer``,
        ``paid`` say which field holds the payer and the payment time)."""
        try:
            amount = fen(fields.get("total_amount"))  # type: ignore[arg-type]
        except ValueError:
            raise InvalidNotification(f"支付宝金额无法识别：{fields.get('total_amount')!r}") from None
        return Notification(
            order_no=str(fields.get("out_trade_no") or ""),
            amount=amount,
            buyer_id=str(fields.get("buyer_open_id") or fields.get(buyer) or ""),
            transaction_id=str(fields.get("trade_no") or ""),
            notify_time=parse_alipay_time(fields.get(paid)),
            content=content,
        )

    def parse_notification(self, request: HttpRequest, now: datetime | None = None) -> Notification | None:
        """A verified payment notification, or None for a verified one about no payment (answered success)."""
        fields, content = self._verified_fields(request)
        if fields.get("app_id") != self.app_id or (self.seller_id and fields.get("seller_id") != self.seller_id):
            raise InvalidNotification("回调不属于本应用或本商户")
        status = fields.get("trade_status")
        if fields.get("notify_type") != "trade_status_sync" or not (
            status in _PAID or (status == "TRADE_CLOSED" and fields.get("gmt_payment"))  # paid, then refunded
        ):
            logger.info("Alipay notification %s about %s: nothing to record", fields.get("notify_id"), status)
            return None
        return self._payment(fields, buyer="buyer_id", paid="gmt_payment", content=content)

    def _verified_fields(self, request: HttpRequest) -> tuple[dict[str, str], str]:
        try:
            content = request.body.decode("utf-8")
            form = QueryDict(content, encoding="utf-8")
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidNotification(f"支付宝回调格式错误：{exc}") from None
        if any(len(values) > 1 for _, values in form.lists()):
            raise InvalidNotification("支付宝回调字段重复")
        fields = form.dict()
        if fields.get("sign_type") != "RSA2" or fields.get("charset", "utf-8").lower() != "utf-8":
            raise InvalidNotification("支付宝回调签名类型或字符集不符")
        try:
            self.verify(signed_content(fields, leave_out=("sign", "sign_type")), fields.get("sign", ""))
        except Unverified:
            raise InvalidNotification("支付宝回调验签失败") from None
        return fields, content

    def query_payment(self, order: Any) -> Notification | None:
        """``alipay.trade.query`` by ``order.order_no``: the payment as its notification would say it, or None
        while it is unpaid or unknown to Alipay; ChannelUnavailable when Alipay cannot be asked."""
        try:
            reply = self.call("alipay.trade.query", {"out_trade_no": order.order_no})
        except (requests.RequestException, Unverified) as exc:
            raise ChannelUnavailable(f"Alipay trade query of {order.order_no}: {exc}") from exc
        if not reply.ok:
            if reply.sub_code == "ACQ.TRADE_NOT_EXIST":
                return None
            raise ChannelUnavailable(f"Alipay answered {reply.sub_code or reply.data.get('code')}: {reply.why}")
        if reply.data.get("out_trade_no") != order.order_no:
            raise ChannelUnavailable(f"Alipay answered about order {reply.data.get('out_trade_no')!r}")
        status = reply.data.get("trade_status")
        if status not in _PAID and not (status == "TRADE_CLOSED" and reply.data.get("send_pay_date")):
            return None
        return self._payment(reply.data, buyer="buyer_user_id", paid="send_pay_date", content=reply.text)

    def acknowledge(self, accepted: bool, message: str = "") -> HttpResponse:
        """Alipay stops resending when the body is exactly ``success``; anything else is resent (~25 h)."""
        if accepted:
            return HttpResponse("success", content_type="text/plain; charset=utf-8")
        return HttpResponse("fail", content_type="text/plain; charset=utf-8", status=400)

    # --- money out -------------------------------------------------------------------------------------------

    def transfer(self, transfer: Any) -> Mapping[str, Any]:
        if transfer.kind == "refund":
            return self._refund(transfer)
        held = self._held(transfer)
        if held:
            return {"result_code": "HELD", "err_code": held, "out_biz_no": transfer.channel_no}
        field, identity = self._buyer(transfer.openid)
        biz = {
            "out_biz_no": transfer.channel_no,
            "trans_amount": yuan(transfer.amount),
            **TRANSFER_PRODUCT,
            "order_title": self.transfer_title,
            "payee_info": {
                "identity": identity,
                "identity_type": "ALIPAY_USER_ID" if field == "buyer_id" else "ALIPAY_OPEN_ID",
            },
        }
        reply = self._ask("alipay.fund.trans.uni.transfer", biz)
        if not isinstance(reply, Reply):
            return reply
        if reply.ok:
            return self._transfer_answer(reply.data, transfer)
        if reply.unsure:
            return {"result_code": "UNKNOWN", "err_code": reply.sub_code, "err_code_des": reply.why}
        # A refusal: ask by the same number before believing it (a transfer that exists decides).
        asked = self.query(transfer)
        if asked["result_code"] != "NOT_FOUND":
            return asked
        if reply.sub_code.startswith("EXCEED_LIMIT"):
            return {"result_code": "HELD", "err_code": reply.sub_code, "err_code_des": reply.why}
        return reply.refusal()

    def query(self, transfer: Any) -> Mapping[str, Any]:
        if transfer.kind == "refund":
            return self._refund_query(transfer)
        reply = self._ask("alipay.fund.trans.common.query", {"out_biz_no": transfer.channel_no, **TRANSFER_PRODUCT})
        if not isinstance(reply, Reply):
            return reply
        if reply.ok:
            return self._transfer_answer(reply.data, transfer)
        if reply.sub_code == "ORDER_NOT_EXIST":
            return {"result_code": "NOT_FOUND", "err_code": reply.sub_code}
        return {
            "result_code": "UNKNOWN",
            "err_code": reply.sub_code or reply.data.get("code"),
            "err_code_des": reply.why,
        }

    @staticmethod
    def _transfer_answer(data: Mapping[str, Any], transfer: Any) -> dict[str, Any]:
        status = str(data.get("status"))
        answer = {
            "result_code": _TRANSFER_STATES.get(status, "UNKNOWN"),
            "status": status,
            "out_biz_no": data.get("out_biz_no"),
            "order_id": data.get("order_id"),
        }
        if data.get("out_biz_no") != transfer.channel_no:
            answer.update(result_code="UNKNOWN", err_code="OTHER_TRANSFER")
        elif "trans_amount" in data and not _same_amount(data["trans_amount"], transfer.amount):
            answer.update(result_code="UNKNOWN", err_code="AMOUNT_MISMATCH", trans_amount=data["trans_amount"])
        elif answer["result_code"] == "FAIL":
            answer["err_code"] = data.get("error_code") or status
            answer["err_code_des"] = data.get("fail_reason") or ""
        return answer

    def _refund(self, transfer: Any) -> Mapping[str, Any]:
        biz = {
            "trade_no": transfer.transaction_id,
            "refund_amount": yuan(transfer.amount),
            "out_request_no": transfer.channel_no,
            "refund_reason": self.refund_reason,
        }
        reply = self._ask("alipay.trade.refund", biz)
        if not isinstance(reply, Reply):
            return reply
        if reply.ok and reply.data.get("fund_change") == "Y":
            return {
                "result_code": "SUCCESS",
                "out_request_no": transfer.channel_no,
                "trade_no": reply.data.get("trade_no"),
            }
        if reply.unsure:
            return {"result_code": "UNKNOWN", "err_code": reply.sub_code, "err_code_des": reply.why}
        # fund_change N (a repeat, or no money moved) or a refusal: the refund query decides.
        asked = self._refund_query(transfer)
        if asked["result_code"] != "NOT_FOUND":
            return asked
        if reply.ok:  # accepted without moving money and not found: ask again later, same number
            return {"result_code": "UNKNOWN", "err_code": "REFUND_NOT_FOUND"}
        return reply.refusal()

    def _refund_query(self, transfer: Any) -> dict[str, Any]:
        """Alipay: a refund query that returns the refund (``refund_status`` empty or REFUND_SUCCESS) means it
        succeeded; one that returns no refund means it did not — retry with the same out_request_no."""
        biz = {"trade_no": transfer.transaction_id, "out_request_no": transfer.channel_no}
        reply = self._ask("alipay.trade.fastpay.refund.query", biz)
        if not isinstance(reply, Reply):
            return reply
        if not reply.ok:
            if reply.sub_code == "ACQ.TRADE_NOT_EXIST":
                return {"result_code": "NOT_FOUND", "err_code": reply.sub_code}
            return {
                "result_code": "UNKNOWN",
                "err_code": reply.sub_code or reply.data.get("code"),
                "err_code_des": reply.why,
            }
        if reply.data.get("out_request_no") != transfer.channel_no:
            return {"result_code": "NOT_FOUND"}
        status = reply.data.get("refund_status") or "REFUND_SUCCESS"
        if status != "REFUND_SUCCESS":
            return {"result_code": "PENDING", "refund_status": status}
        if not _same_amount(reply.data.get("refund_amount"), transfer.amount):
            return {
                "result_code": "UNKNOWN",
                "err_code": "AMOUNT_MISMATCH",
                "refund_amount": reply.data.get("refund_amount"),
            }
        return {"result_code": "SUCCESS", "refund_status": status, "out_request_no": transfer.channel_no}

    def _held(self, transfer: Any) -> str:
        """Why this packet is not sent (held back and owed instead of sent to fail), or ''."""
        if not self.cert_mode:
            logger.error("Alipay transfers need certificate mode: set APP_CERT, ALIPAY_CERT and ALIPAY_ROOT_CERT")
            return "CERTIFICATE_MODE_REQUIRED"
        if transfer.amount < self.min_transfer:
            return "BELOW_MIN_TRANSFER"
        if transfer.amount > self.max_transfer:
            return "ABOVE_MAX_TRANSFER"
        return ""

    # --- reconciliation --------------------------------------------------------------------------------------

    def bill(self, day: date) -> Iterator[BillLine]:
        """Payments and refunds (``trade`` bill) and transfers (``signcustomer`` bill) of local day ``day``.

        Alipay's bills are by Beijing day; the day ``day`` in ``CLOCK["TIME_ZONE"]`` may span two of them, which
        are both read and cut to the day. Every bill is downloaded before this returns (a URL lives 30 s; a bill
        that cannot be had raises ChannelUnavailable here), onto a temporary file, and read line by line.
        ``isp.bill_not_exist`` for a Beijing day whose bill should exist by now (10:00 the next day) means Alipay
        had nothing that day."""
        start, end = calendar.day_span(day)
        first, last = start.astimezone(SHANGHAI).date(), (end - timedelta(microseconds=1)).astimezone(SHANGHAI).date()
        files: list[tuple[IO[bytes], str]] = []
        try:
            for offset in range((last - first).days + 1):
                for bill_type in (alipay_bill.TRADE, alipay_bill.SIGNCUSTOMER):
                    archive = self._bill_archive(bill_type, first + timedelta(days=offset))
                    if archive is not None:
                        files.append((archive, bill_type))
        except BaseException:
            for archive, _ in files:
                archive.close()
            raise
        return self._bill_lines(files, start, end)

    @staticmethod
    def _bill_lines(files: list[tuple[IO[bytes], str]], start: datetime, end: datetime) -> Iterator[BillLine]:
        try:
            for archive, bill_type in files:
                for line in alipay_bill.bill_lines(archive, bill_type):
                    if start <= line.at < end:
                        yield line
        finally:
            for archive, _ in files:
                archive.close()

    def _bill_archive(self, bill_type: str, beijing_day: date) -> IO[bytes] | None:
        """The day's bill ZIP on a temporary file, or None when Alipay had nothing that day."""
        method = "alipay.data.dataservice.bill.downloadurl.query"
        try:
            reply = self.call(method, {"bill_type": bill_type, "bill_date": beijing_day.isoformat()})
        except (requests.RequestException, Unverified) as exc:
            raise ChannelUnavailable(f"Alipay {bill_type} bill of {beijing_day}: {exc}") from exc
        if not reply.ok:
            ready = datetime.combine(beijing_day, datetime.min.time(), SHANGHAI) + BILL_READY
            if reply.sub_code == "isp.bill_not_exist" and timezone.now() >= ready:
                logger.info("Alipay has no %s bill of %s: nothing happened that day", bill_type, beijing_day)
                return None
            raise ChannelUnavailable(f"Alipay {bill_type} bill of {beijing_day}: {reply.sub_code} {reply.why}")
        url = reply.data.get("bill_download_url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ChannelUnavailable(f"Alipay {bill_type} bill of {beijing_day}: no download URL")
        # Handed over to the caller, which closes it once the lines are read (not a with block here).
        archive = tempfile.SpooledTemporaryFile(max_size=8 * 2**20)  # noqa: SIM115
        try:
            self._download(url, archive)
        except BaseException:
            archive.close()
            raise
        archive.seek(0)
        return archive

    def _download(self, url: str, archive: IO[bytes]) -> None:
        deadline = time.monotonic() + self.bill_timeout
        try:
            with self.session.get(url, stream=True, timeout=self.timeout) as response:
                if response.status_code != 200:
                    raise ChannelUnavailable(f"Alipay bill download answered HTTP {response.status_code}")
                for chunk in response.iter_content(chunk_size=2**16):
                    archive.write(chunk)
                    if time.monotonic() > deadline:
                        raise ChannelUnavailable(f"Alipay bill download took longer than {self.bill_timeout} s")
        except requests.RequestException as exc:
            raise ChannelUnavailable(f"Alipay bill download failed: {exc}") from exc
