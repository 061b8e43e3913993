"""WeChat Pay API v3 for mini-programs: JSAPI payments, refunds, merchant transfers (the 2025 商家转账 bills that
the user confirms), notifications and queries — in platform public-key mode (merchants since 2024).

Why not the ``wechatpayv3`` SDK at run time (it is pinned in the test extras, where it checks the fake WeChat
server speaks the real protocol): its ``Core.request`` verifies the signature of 2xx answers only and returns
no headers, so a 4xx answer — "INVALID_REQUEST", the one that would make us offer a new bill number while the
first may still pay — cannot be authenticated; its notification check reads no timestamp (a replay from 2001
passes) and fetches certificates over the network on an unknown serial, even in public-key mode; its gateway
is a private attribute. The protocol itself is small, so this module speaks it with ``requests`` and
``cryptography``, and checks every answer:

* every request is signed ``WECHATPAY2-SHA256-RSA2048`` (SHA256withRSA over
  ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`` with the merchant key);
* every answer — success or error — must carry WeChat Pay's signature by ``PUBLIC_KEY`` with serial
  ``PUBLIC_KEY_ID`` over ``TIMESTAMP\\nNONCE\\nBODY\\n``; one that does not verify is an *unknown* outcome,
  never a success nor a failure;
* a notification additionally needs a timestamp within ``TOLERANCE`` seconds, is refused when it is a
  ``WECHATPAY/SIGNTEST/`` probe, and has its ``resource`` decrypted (AEAD_AES_256_GCM under ``APIV3_KEY``).

Transfers follow WeChat's rules for the bills API: a timeout, 5xx, 429 or an unreadable answer is unknown (the
app asks by the same ``out_bill_no`` before anything else); a 4xx refusal is checked with a query by the same
number before it is called a failure (if the bill exists after all, its state decides); a new bill number is
used only after a bill is confirmed FAIL or CANCELLED (``transfers.channel_number``).
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import ImproperlyConfigured
from django.db.models import F, Q, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from .. import calendar
from ..conf import clock_settings
from ..exceptions import ChannelUnavailable
from ..models import LedgerEntry, MoneyType, Participation, RedStatus
from ..services.orders import Notification
from .base import BillLine, InvalidNotification, PaymentChannel, TransferNotice

logger = logging.getLogger(__name__)

SCHEME = "WECHATPAY2-SHA256-RSA2048"
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
DEFAULT_SCENE_REPORT_INFOS = (
    {"info_type": "活动名称", "info_content": "早起打卡"},
    {"info_type": "奖励说明", "info_content": "打卡瓜分红包"},
)
_BILL_STATES = {
    "SUCCESS": "SUCCESS",
    "WAIT_USER_CONFIRM": "WAIT_USER_CONFIRM",
    "FAIL": "FAIL",
    "CANCELLED": "FAIL",
    # accepted, not final
    "ACCEPTED": "PENDING",
    "PROCESSING": "PENDING",
    "TRANSFERING": "PENDING",
    "CANCELING": "PENDING",
}
_REFUND_STATES = {"SUCCESS": "SUCCESS", "PROCESSING": "PENDING", "ABNORMAL": "FAIL", "CLOSED": "FAIL"}
_PAID_TRADE_STATES = ("SUCCESS", "REFUND")  # REFUND: paid, then (partly) refunded — still a payment


class Unverified(Exception):
    """An answer or notification whose signature does not check out, or that cannot be read."""


@dataclass(frozen=True)
class Reply:
    status: int
    data: dict[str, Any]  # the JSON body ({} for 204)
    text: str


def _load_private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def _load_public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def rfc3339(moment: datetime) -> str:
    """WeChat's time format: ``2026-12-07T23:59:59+08:00`` (in the game's time zone)."""
    return moment.astimezone(clock_settings.time_zone).isoformat(timespec="seconds")


class WeChatPayChannel(PaymentChannel):
    """``CLOCK["PAYMENT_CHANNEL"] = {"BACKEND": "clock_app.channels.wechatpay.WeChatPayChannel", "OPTIONS": …}``
    with the OPTIONS names of DESIGN §7 (money in fen)."""

    name = "wechatpay"

    def __init__(
        self,
        MCHID: str,
        APPID: str,
        APIV3_KEY: str,
        PRIVATE_KEY: str,
        CERT_SERIAL_NO: str,
        PUBLIC_KEY: str,
        PUBLIC_KEY_ID: str,
        NOTIFY_URL: str,
        REFUND_NOTIFY_URL: str | None = None,
        TRANSFER_NOTIFY_URL: str | None = None,
        TRANSFER_SCENE_ID: str = "1000",
        TRANSFER_SCENE_REPORT_INFOS: list[Mapping[str, str]] | None = None,
        USER_RECV_PERCEPTION: str = "活动奖励",
        BASE_URL: str = "https://api.mch.weixin.qq.com",
        TIMEOUT: float = 10,
        TOLERANCE: int = 300,
        MIN_TRANSFER: int = 10,
        MAX_TRANSFER: int = 20000,
        USER_DAILY_CAP: int = 2000000,
        MERCHANT_DAILY_CAP: int = 10000000,
        DESCRIPTION: str = "早起打卡挑战金",
        TRANSFER_REMARK: str = "早起打卡红包",
    ) -> None:
        try:
            self.private_key = _load_private_key(PRIVATE_KEY)
            self.public_key = _load_public_key(PUBLIC_KEY)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ImproperlyConfigured(f"WeChat Pay PRIVATE_KEY / PUBLIC_KEY must be PEM text: {exc}") from None
        if not isinstance(APIV3_KEY, str) or len(APIV3_KEY.encode()) != 32:
            raise ImproperlyConfigured("WeChat Pay APIV3_KEY must be 32 characters")
        for name, value in (("MCHID", MCHID), ("APPID", APPID), ("CERT_SERIAL_NO", CERT_SERIAL_NO)):
            if not isinstance(value, str) or not value:
                raise ImproperlyConfigured(f"WeChat Pay {name} is required")
        if not str(PUBLIC_KEY_ID).startswith("PUB_KEY_ID_"):
            raise ImproperlyConfigured("WeChat Pay PUBLIC_KEY_ID looks like PUB_KEY_ID_…")
        if not str(NOTIFY_URL).startswith(("https://", "http://")):
            raise ImproperlyConfigured("WeChat Pay NOTIFY_URL must be the absolute URL of clock/notify/")
        self.mchid, self.appid, self.serial_no = MCHID, APPID, CERT_SERIAL_NO
        self.aead = AESGCM(APIV3_KEY.encode())
        self.public_key_id = PUBLIC_KEY_ID
        self.notify_url = NOTIFY_URL
        self.refund_notify_url = REFUND_NOTIFY_URL or NOTIFY_URL.replace("/notify/", "/refund-notify/")
        self.transfer_notify_url = TRANSFER_NOTIFY_URL or NOTIFY_URL.replace("/notify/", "/transfer-notify/")
        self.scene_id = str(TRANSFER_SCENE_ID)
        self.scene_report_infos = [dict(i) for i in (TRANSFER_SCENE_REPORT_INFOS or DEFAULT_SCENE_REPORT_INFOS)]
        self.recv_perception = USER_RECV_PERCEPTION
        self.base_url = BASE_URL.rstrip("/")
        self.timeout = (min(3.0, float(TIMEOUT)), float(TIMEOUT))
        self.tolerance = int(TOLERANCE)
        self.min_transfer, self.max_transfer = int(MIN_TRANSFER), int(MAX_TRANSFER)
        self.user_daily_cap, self.merchant_daily_cap = int(USER_DAILY_CAP), int(MERCHANT_DAILY_CAP)
        self.description, self.transfer_remark = DESCRIPTION, TRANSFER_REMARK
        self.session = requests.Session()
        self._merchant_day: tuple[date, int, float] | None = None  # (day, fen sent, when counted)
        self._merchant_lock = threading.Lock()

    # --- signatures ------------------------------------------------------------------------------------------

    def sign(self, *lines: str) -> str:
        """SHA256withRSA with the merchant key over ``line\\n`` for each line, base64 (requests, paySign)."""
        message = "".join(f"{line}\n" for line in lines).encode()
        return base64.b64encode(self.private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()

    def verify(self, headers: Mapping[str, str], body: str, *, now: datetime | None = None) -> None:
        """Raise :class:`Unverified` unless WeChat Pay signed ``body`` with the pinned public key (and, when
        ``now`` is given — notifications — the timestamp is fresh)."""
        signature = headers.get("Wechatpay-Signature", "")
        if signature.startswith(PROBE_PREFIX):
            raise Unverified("a signature probe (WECHATPAY/SIGNTEST/)")
        if headers.get("Wechatpay-Serial") != self.public_key_id:
            raise Unverified(f"serial {headers.get('Wechatpay-Serial')!r} is not PUBLIC_KEY_ID")
        if headers.get("Wechatpay-Signature-Type", SCHEME) != SCHEME:
            raise Unverified(f"signature type {headers.get('Wechatpay-Signature-Type')!r}")
        stamp, nonce = headers.get("Wechatpay-Timestamp", ""), headers.get("Wechatpay-Nonce", "")
        if not stamp.isdigit() or not nonce:
            raise Unverified("no timestamp or nonce")
        if now is not None and abs(int(now.timestamp()) - int(stamp)) > self.tolerance:
            raise Unverified(f"timestamp {stamp} is more than {self.tolerance} s from now")
        try:
            raw = base64.b64decode(signature, validate=True)
            self.public_key.verify(raw, f"{stamp}\n{nonce}\n{body}\n".encode(), padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError) as exc:
            raise Unverified("the signature does not verify") from exc

    def decrypt(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise Unverified(f"resource algorithm {resource.get('algorithm')!r}")
        try:
            plain = self.aead.decrypt(
                str(resource["nonce"]).encode(),
                base64.b64decode(resource["ciphertext"]),
                str(resource.get("associated_data") or "").encode(),
            )
            data = json.loads(plain)
        except (InvalidTag, KeyError, ValueError, TypeError) as exc:
            raise Unverified("the resource does not decrypt") from exc
        if not isinstance(data, dict):
            raise Unverified("the resource is not an object")
        return data

    # --- transport -------------------------------------------------------------------------------------------

    def send(self, method: str, path: str, body: Mapping[str, Any] | None = None, **kwargs: Any) -> requests.Response:
        """One call signed with the merchant key (``path`` with its query string, as signed); no check of the
        answer — :meth:`request` checks it, bill downloads are checked by their hash instead."""
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":")) if body is not None else ""
        stamp, nonce = str(int(time.time())), secrets.token_hex(16)
        signature = self.sign(method, path, stamp, nonce, text)
        authorization = (
            f'{SCHEME} mchid="{self.mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{stamp}",serial_no="{self.serial_no}"'
        )
        return self.session.request(
            method,
            self.base_url + path,
            data=text.encode() if body is not None else None,
            headers={
                "Authorization": authorization,
                "Accept": "application/json",
                "Content-Type": "application/json",
                "Wechatpay-Serial": self.public_key_id,
                "User-Agent": "clock_app (WeChat Pay API v3)",
            },
            timeout=self.timeout,
            **kwargs,
        )

    def request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Reply:
        """One signed call; the answer's signature is checked whatever its status. Raises
        :class:`Unverified` for an answer we cannot trust and ``requests.RequestException`` for no answer."""
        response = self.send(method, path, body)
        answer = response.content.decode("utf-8", errors="replace")
        self.verify(response.headers, answer)
        try:
            data = json.loads(answer) if answer else {}
        except ValueError as exc:
            raise Unverified("the answer is not JSON") from exc
        if not isinstance(data, dict):
            raise Unverified("the answer is not a JSON object")
        return Reply(response.status_code, data, answer)

    # --- money in --------------------------------------------------------------------------------------------

    def prepay(self, order: Any, *, expires_at: datetime) -> dict[str, Any]:
        """JSAPI/mini-program prepay; the client gets the signed ``wx.requestPayment`` parameters."""
        body = {
            "appid": self.appid,
            "mchid": self.mchid,
            "description": self.description,
            "out_trade_no": order.order_no,
            "time_expire": rfc3339(expires_at),
            "notify_url": self.notify_url,
            "amount": {"total": order.pay_amount, "currency": "CNY"},
            "payer": {"openid": order.buyer_id},
        }
        try:
            reply = self.request("POST", "/v3/pay/transactions/jsapi", body)
        except (requests.RequestException, Unverified) as exc:
            logger.warning("WeChat Pay prepay of %s: no trustworthy answer (%s)", order.order_no, exc)
            raise ChannelUnavailable() from exc
        prepay_id = reply.data.get("prepay_id")
        if reply.status != 200 or not prepay_id:
            logger.warning("WeChat Pay refused the prepay of %s: %s", order.order_no, reply.text)
            raise ChannelUnavailable(str(reply.data.get("message") or "微信支付下单失败"))
        stamp, nonce, package = str(int(time.time())), secrets.token_hex(16), f"prepay_id={prepay_id}"
        return {
            "channel": self.name,
            "time_expire": rfc3339(expires_at),
            "appId": self.appid,
            "timeStamp": stamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": self.sign(self.appid, stamp, nonce, package),
        }

    def _notification(self, transaction: Mapping[str, Any], content: str) -> Notification:
        if transaction.get("mchid") != self.mchid or transaction.get("appid") != self.appid:
            raise InvalidNotification("回调不属于本商户或本小程序")
        amount = transaction.get("amount") or {}
        return Notification(
            order_no=str(transaction.get("out_trade_no") or ""),
            amount=amount.get("total") if isinstance(amount, Mapping) else None,  # type: ignore[arg-type]
            buyer_id=str((transaction.get("payer") or {}).get("openid") or ""),
            transaction_id=str(transaction.get("transaction_id") or ""),
            notify_time=transaction.get("success_time"),
            content=content,
        )

    def _verified_event(self, request: HttpRequest, now: datetime | None) -> tuple[str, dict[str, Any], str]:
        """``(event_type, decrypted resource, plaintext)`` of a notification, or InvalidNotification."""
        headers = {
            name: request.headers.get(name, "")
            for name in (
                "Wechatpay-Signature",
                "Wechatpay-Serial",
                "Wechatpay-Timestamp",
                "Wechatpay-Nonce",
                "Wechatpay-Signature-Type",
            )
        }
        try:
            body = request.body.decode("utf-8")
            self.verify(headers, body, now=now or timezone.now())
            event = json.loads(body)
            if not isinstance(event, dict) or event.get("resource_type") != "encrypt-resource":
                raise Unverified("not an encrypted-resource notification")
            resource = self.decrypt(event.get("resource") or {})
        except (Unverified, UnicodeDecodeError, ValueError, AttributeError, RecursionError) as exc:
            raise InvalidNotification(f"微信支付回调验证失败：{exc}") from None
        return str(event.get("event_type")), resource, json.dumps(resource, ensure_ascii=False)

    def parse_notification(self, request: HttpRequest, now: datetime | None = None) -> Notification:
        event_type, transaction, content = self._verified_event(request, now)
        if event_type != "TRANSACTION.SUCCESS" or transaction.get("trade_state") != "SUCCESS":
            raise InvalidNotification(f"不是支付成功通知：{event_type}")
        return self._notification(transaction, content)

    def query_payment(self, order: Any) -> Notification | None:
        path = f"/v3/pay/transactions/out-trade-no/{quote(order.order_no, safe='')}?mchid={self.mchid}"
        reply = self.request("GET", path)
        if reply.status == 404:
            return None
        if reply.status != 200:
            raise ChannelUnavailable(f"WeChat Pay answered {reply.status}: {reply.text[:200]}")
        if reply.data.get("trade_state") not in _PAID_TRADE_STATES:
            return None
        return self._notification(reply.data, reply.text)

    def acknowledge(self, accepted: bool, message: str = "") -> HttpResponse:
        """v3 decides by the HTTP status: 204 received; 4xx + ``{"code": "FAIL"}`` resend."""
        if accepted:
            return HttpResponse(status=204)
        return JsonResponse({"code": "FAIL", "message": message or "失败"}, status=400)

    # --- money out -------------------------------------------------------------------------------------------

    def transfer(self, transfer: Any) -> Mapping[str, Any]:
        if transfer.kind == "refund":
            return self._refund(transfer)
        held = self._held(transfer)
        if held:
            return {"result_code": "HELD", "err_code": held, "out_bill_no": transfer.channel_no}
        body = {
            "appid": self.appid,
            "out_bill_no": transfer.channel_no,
            "transfer_scene_id": self.scene_id,
            "openid": transfer.openid,
            "transfer_amount": transfer.amount,
            "transfer_remark": self.transfer_remark,
            "notify_url": self.transfer_notify_url,
            "user_recv_perception": self.recv_perception,
            "transfer_scene_report_infos": self.scene_report_infos,
        }
        try:
            reply = self.request("POST", "/v3/fund-app/mch-transfer/transfer-bills", body)
        except (requests.RequestException, Unverified) as exc:
            return {"result_code": "UNKNOWN", "err_code": type(exc).__name__, "err_code_des": str(exc)[:200]}
        if reply.status == 200:
            return self._bill_answer(reply.data, with_package=True)
        if reply.status >= 500 or reply.status == 429:
            return {"result_code": "UNKNOWN", "err_code": reply.data.get("code"), "err_code_des": reply.text[:200]}
        # A refusal: WeChat says do not trust it blindly — ask by the same number; a bill that exists decides.
        asked = self.query(transfer)
        if asked["result_code"] != "NOT_FOUND":
            return asked
        return {"result_code": "FAIL", "err_code": reply.data.get("code"), "err_code_des": reply.data.get("message")}

    def query(self, transfer: Any) -> Mapping[str, Any]:
        if transfer.kind == "refund":
            path = f"/v3/refund/domestic/refunds/{quote(transfer.channel_no, safe='')}"
        else:
            path = f"/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{quote(transfer.channel_no, safe='')}"
        try:
            reply = self.request("GET", path)
        except (requests.RequestException, Unverified) as exc:
            return {"result_code": "UNKNOWN", "err_code": type(exc).__name__, "err_code_des": str(exc)[:200]}
        if reply.status == 404:
            return {"result_code": "NOT_FOUND", "err_code": reply.data.get("code")}
        if reply.status != 200:
            return {"result_code": "UNKNOWN", "err_code": reply.data.get("code"), "err_code_des": reply.text[:200]}
        if transfer.kind == "refund":
            return self._refund_answer(reply.data)
        return self._bill_answer(reply.data, with_package=False)

    def _bill_answer(self, bill: Mapping[str, Any], *, with_package: bool) -> dict[str, Any]:
        code = _BILL_STATES.get(str(bill.get("state")), "UNKNOWN")
        answer: dict[str, Any] = {
            "result_code": code,
            "state": bill.get("state"),
            "out_bill_no": bill.get("out_bill_no"),
            "transfer_bill_no": bill.get("transfer_bill_no"),
        }
        if code == "FAIL":
            answer["err_code"] = bill.get("fail_reason") or bill.get("state")
        if code == "WAIT_USER_CONFIRM" and with_package and bill.get("package_info"):
            answer["confirm"] = {"mchId": self.mchid, "appId": self.appid, "package": bill["package_info"]}
        return answer

    def _refund(self, transfer: Any) -> Mapping[str, Any]:
        body = {
            "transaction_id": transfer.transaction_id,
            "out_refund_no": transfer.channel_no,
            "reason": "早起打卡挑战金退款",
            "notify_url": self.refund_notify_url,
            "amount": {"refund": transfer.amount, "total": transfer.total or transfer.amount, "currency": "CNY"},
        }
        try:
            reply = self.request("POST", "/v3/refund/domestic/refunds", body)
        except (requests.RequestException, Unverified) as exc:
            return {"result_code": "UNKNOWN", "err_code": type(exc).__name__, "err_code_des": str(exc)[:200]}
        if reply.status == 200:
            return self._refund_answer(reply.data)
        if reply.status >= 500 or reply.status == 429:
            return {"result_code": "UNKNOWN", "err_code": reply.data.get("code"), "err_code_des": reply.text[:200]}
        asked = self.query(transfer)
        if asked["result_code"] != "NOT_FOUND":
            return asked
        return {"result_code": "FAIL", "err_code": reply.data.get("code"), "err_code_des": reply.data.get("message")}

    @staticmethod
    def _refund_answer(refund: Mapping[str, Any]) -> dict[str, Any]:
        status = str(refund.get("status") or refund.get("refund_status"))
        return {
            "result_code": _REFUND_STATES.get(status, "UNKNOWN"),
            "status": status,
            "out_refund_no": refund.get("out_refund_no"),
            "refund_id": refund.get("refund_id"),
        }

    def parse_transfer_notification(self, request: HttpRequest, now: datetime | None = None) -> TransferNotice:
        event_type, resource, _ = self._verified_event(request, now)
        if event_type == "MCHTRANSFER.BILL.FINISHED":
            if resource.get("mch_id") not in (None, self.mchid):
                raise InvalidNotification("回调不属于本商户")
            return TransferNotice(
                "packet", str(resource.get("out_bill_no")), self._bill_answer(resource, with_package=False)
            )
        if event_type.startswith("REFUND."):
            if resource.get("mchid") not in (None, self.mchid):
                raise InvalidNotification("回调不属于本商户")
            return TransferNotice("refund", str(resource.get("out_refund_no")), self._refund_answer(resource))
        raise InvalidNotification(f"不是转账或退款通知：{event_type}")

    # --- the channel's limits ----------------------------------------------------------------------------------

    def _held(self, transfer: Any) -> str:
        """Why WeChat would refuse this amount (held back and owed instead of sent to fail), or ''."""
        if transfer.amount < self.min_transfer:
            return "BELOW_MIN_TRANSFER"
        if transfer.amount > self.max_transfer:
            return "ABOVE_MAX_TRANSFER"
        today = calendar.day_span(calendar.today())
        others = Participation.objects.filter(source_uid=transfer.openid).exclude(payout_no=transfer.order_no)
        to_user = (
            others.filter(
                Q(red_status=RedStatus.AWAITING) | Q(red_status=RedStatus.PAID, red_time__gte=today[0])
            ).aggregate(s=Sum(F("order_money") + F("red_money")))["s"]
            or 0
        )
        if to_user + transfer.amount > self.user_daily_cap:
            return "USER_DAILY_CAP"
        if self._merchant_sent_today() + transfer.amount > self.merchant_daily_cap:
            return "MERCHANT_DAILY_CAP"
        return ""

    def _merchant_sent_today(self) -> int:
        """What the merchant paid out today (packets and refunds, from the ledger), counted at most once a
        minute per process: an approximation that keeps a 100,000-winner push from summing the day each time
        (WeChat enforces the real cap; this only avoids sending transfers it would refuse)."""
        today = calendar.today()
        with self._merchant_lock:
            if (
                self._merchant_day is None
                or self._merchant_day[0] != today
                or time.monotonic() - self._merchant_day[2] > 60
            ):
                start, _ = calendar.day_span(today)
                sent = LedgerEntry.objects.filter(
                    money_type__in=[MoneyType.RED_PACKET, MoneyType.REFUND],
                    clock_day__gte=today - timedelta(days=7),
                    create_time__gte=start,
                ).aggregate(s=Sum("change_money"))["s"]
                self._merchant_day = (today, sent or 0, time.monotonic())
            return self._merchant_day[1]

    # --- bills (reconciliation) --------------------------------------------------------------------------------

    def bill(self, day: date) -> Iterator[BillLine]:
        """The day's trade bill (payments and refunds) and fund-flow bill (transfers), streamed (see
        :mod:`clock_app.channels.wechatpay_bill`)."""
        from .wechatpay_bill import bill_lines

        return bill_lines(self, day)
