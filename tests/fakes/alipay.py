"""A local fake of Alipay's open platform (支付宝开放平台) for clock_app's tests: a real HTTP gateway on 127.0.0.1.

Alipay cannot be reached from the test machines, so the Alipay channel adapter is tested against this fake. It speaks
the real protocol rather than echoing what a caller expects: requests are verified with real RSA2 signatures (and,
in certificate mode, the certificate SNs), answers are signed the way python-alipay-sdk verifies them, states and
error codes are Alipay's, faults can be injected per API method, and the fake keeps its own ledger of money moved —
the ground truth a test compares the app's books against.

Protocol, as implemented here (sources: opendocs.alipay.com pages for each method, python-alipay-sdk 3.4.0):

* Requests go to ``gateway`` (``…/gateway.do``) as a GET query string (what python-alipay-sdk sends) or a form
  POST (what Alipay's official SDKs send; the common parameters may sit in the query string and biz_content in
  the body). Common parameters: app_id, method, format (JSON, optional), charset (utf-8), sign_type (RSA2),
  timestamp ``YYYY-MM-DD HH:MM:SS``, version 1.0, notify_url (optional), biz_content (JSON), sign, and in
  certificate mode app_cert_sn + alipay_root_cert_sn.
* The request signature is RSA2 (SHA256withRSA, PKCS#1 v1.5, base64) over every non-empty parameter except
  ``sign`` — ``sign_type`` included — sorted by name, ``k=v`` joined with ``&``, values unescaped.
* The answer is ``{"<method with . → _>_response": {…}, ["alipay_cert_sn": "…",] "sign": "…"}`` where ``sign`` is
  RSA2 over the exact JSON text of the response object, as it appears in the body.
* Asynchronous notifications are form POSTs signed over every field except ``sign`` and ``sign_type``.

Inside the fake every amount is integer fen; yuan strings exist only on the wire and are parsed with Decimal.
Times are Asia/Shanghai wall-clock strings; the fake reads ``datetime.now`` so time-machine moves it.

Guessed, for want of a documented answer (change here if production shows otherwise): the 40006
isv.insufficient-isv-permissions answer to a transfer in public-key mode; isv.invalid-app-cert-sn /
isv.invalid-alipay-root-cert-sn for wrong certificate SNs; isv.missing-parameter for a missing business parameter;
ACQ.DISCORDANT_REPEAT_REQUEST for a repeated out_request_no with another amount; closing a closed trade succeeds;
isp.bill_not_exist for today's bill (not generated until the next day); the bill summary files' layout, the
signcustomer 业务类型 names and the bill ZIP's download page; an expired bill URL answering 404; no service fees.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import itertools
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fakes.alipay_keys import AlipayKeyMaterial, generate_key_material, new_rsa_key

SHANGHAI = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

FAULTS = frozenset(
    {
        "timeout_before",
        "timeout_after",
        "system_error_before",
        "system_error_after",
        "business_system_error_before",
        "business_system_error_after",
        "bad_signature",
        "unreadable",
        "balance",
    }
)
"""Fault kinds for :meth:`FakeAlipay.inject`; ``_before`` faults do nothing, the others act first."""

TRANSFER_MIN_FEN = 10
"""Alipay refuses a single transfer under 0.1 yuan (EXCEED_LIMIT_SM_MIN_AMOUNT, 单笔最低转账金额0.1元)."""

BILL_URL_LIFETIME = timedelta(seconds=30)
"""Alipay's bill download URL stops working 30 s after it is handed out."""

_YUAN = re.compile(r"(0|[1-9]\d{0,10})(\.\d{1,2})?")
_USER_ID = re.compile(r"2088\d{12}")
_FUND_PREFIX = "alipay.fund."


def now() -> datetime:
    """The fake's clock: aware Asia/Shanghai time from ``datetime.now`` (so time-machine moves it)."""
    return datetime.now(SHANGHAI)


def alipay_time(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in Asia/Shanghai; a naive datetime is taken as Shanghai wall-clock time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment.astimezone(SHANGHAI).strftime(TIME_FORMAT)


def _local(moment: datetime | None) -> datetime:
    if moment is None:
        return now()
    if moment.tzinfo is None:
        return moment.replace(tzinfo=SHANGHAI)
    return moment.astimezone(SHANGHAI)


def yuan(fen: int) -> str:
    """Integer fen as Alipay's yuan string: 100 → "1.00", -5 → "-0.05"."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def parse_yuan(text: Any) -> int | None:
    """A yuan string with at most two decimals as integer fen ("1.00" → 100), or None if it is not one."""
    if not isinstance(text, str) or not _YUAN.fullmatch(text):
        return None
    return int(Decimal(text) * 100)


def rsa2_sign(key: rsa.RSAPrivateKey, content: str) -> str:
    """SHA256withRSA, PKCS#1 v1.5, base64 — Alipay's RSA2."""
    return base64.b64encode(key.sign(content.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa2_verify(key: rsa.RSAPublicKey, content: str, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), content.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def request_sign_content(params: dict[str, str]) -> str:
    """What a request signs: every non-empty parameter except ``sign`` (``sign_type`` stays), sorted, ``k=v&…``."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != "")


def notification_sign_content(fields: dict[str, str]) -> str:
    """What an async notification signs: every non-empty field except ``sign`` and ``sign_type``, sorted."""
    return "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if k not in ("sign", "sign_type") and v != "")


class PaymentRefused(Exception):
    """A test hook asked for something Alipay's app would not let the user do (pay a closed order, …)."""


class _Answer(Exception):
    """Stops handling a request with a non-success answer: ``code``/``msg``/``sub_code``/``sub_msg`` + fields."""

    MESSAGES = {
        "20000": "Service Currently Unavailable",
        "40001": "Missing Required Arguments",
        "40002": "Invalid Arguments",
        "40004": "Business Failed",
        "40006": "Insufficient Permissions",
    }

    def __init__(self, code: str, sub_code: str, sub_msg: str, **fields: str) -> None:
        super().__init__(f"{code} {sub_code}")
        self.body = {"code": code, "msg": self.MESSAGES[code], "sub_code": sub_code, "sub_msg": sub_msg, **fields}


def _missing(name: str) -> _Answer:
    return _Answer("40002", "isv.missing-parameter", f"缺少必选参数{name}")


def _invalid(name: str, detail: str = "") -> _Answer:
    return _Answer("40002", "isv.invalid-parameter", f"参数有误{name}{detail}")


@dataclass
class RecordedRequest:
    """One HTTP request the fake received, and what it did with it."""

    at: datetime
    http_method: str
    path: str
    params: dict[str, str]
    query_keys: tuple[str, ...]
    body_keys: tuple[str, ...]
    method: str | None = None
    biz: dict[str, Any] | None = None
    cert_mode: bool = False
    signature_valid: bool | None = None
    fault: str | None = None
    answer: dict[str, Any] | None = None
    raw_answer: bytes | None = None


@dataclass
class Trade:
    """A 收单 trade as Alipay keeps it (amounts in fen, times aware Asia/Shanghai)."""

    out_trade_no: str
    trade_no: str
    total_fen: int
    subject: str
    product_code: str
    buyer_id: str
    buyer_open_id: str
    op_app_id: str
    created_at: datetime
    time_expire: datetime | None
    notify_url: str
    status: str = "WAIT_BUYER_PAY"
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    refunded_fen: int = 0

    def identity(self) -> tuple[Any, ...]:
        """What must match when the same out_trade_no is created again."""
        return (self.total_fen, self.subject, self.product_code, self.buyer_id, self.buyer_open_id, self.op_app_id)


@dataclass
class Refund:
    """One refund, keyed by (out_trade_no, out_request_no) — the scope of Alipay's refund idempotency."""

    out_trade_no: str
    trade_no: str
    out_request_no: str
    amount_fen: int
    reason: str
    at: datetime


@dataclass
class Transfer:
    """One single transfer (单笔转账) to an Alipay user, keyed by out_biz_no."""

    out_biz_no: str
    order_id: str
    pay_fund_order_id: str
    amount_fen: int
    identity_type: str
    identity: str
    name: str | None
    order_title: str
    remark: str
    created_at: datetime
    status: str
    settled_at: datetime | None = None
    error_code: str = ""
    fail_reason: str = ""

    def identity_key(self) -> tuple[Any, ...]:
        """What must match when the same out_biz_no is sent again."""
        return (self.amount_fen, self.identity_type, self.identity, self.name)


@dataclass
class Delivery:
    """One asynchronous notification POSTed by :meth:`FakeAlipay.deliver`; Alipay stops retrying on ``success``."""

    url: str
    fields: dict[str, str]
    status: int
    body: str

    @property
    def acknowledged(self) -> bool:
        return self.status == 200 and self.body == "success"


class FakeAlipay:
    """Alipay's gateway, async notifications, daily bills and the merchant's balance — local and inspectable.

    Use as a context manager (or the ``fake_alipay`` fixture); see the module docstring for the protocol and
    tests/fakes/test_fake_alipay.py for every behaviour shown through python-alipay-sdk.
    """

    def __init__(
        self,
        *,
        transfer_mode: str = "success",
        balance: int = 10_000_000_00,
        hang_seconds: float = 2.0,
        max_transfer_fen: int = 50_000_00,
        keys: AlipayKeyMaterial | None = None,
    ) -> None:
        if transfer_mode not in ("success", "dealing"):
            raise ValueError("transfer_mode is 'success' or 'dealing'")
        self.transfer_mode = transfer_mode
        self.balance = balance
        """The merchant's available fen: payments add, refunds and transfers (DEALING ones too) draw on it."""
        self.hang_seconds = hang_seconds
        self.max_transfer_fen = max_transfer_fen
        self.unknown_payees: set[str] = set()
        """Payee identities Alipay does not know (transfers to them answer PAYEE_NOT_EXIST)."""

        number = next(FakeAlipay._numbers)
        self.app_id = f"2021{number:012d}"
        self.seller_id = f"2088{number:012d}"
        keys = keys or generate_key_material()
        self.app_private_key_pem = keys.app_private_key_pem
        self.app_public_key_pem = keys.app_public_key_pem
        self.alipay_public_key_pem = keys.alipay_public_key_pem
        self.root_cert_pem = keys.root_cert_pem
        self.app_cert_pem = keys.app_cert_pem
        self.alipay_cert_pem = keys.alipay_cert_pem
        self.app_cert_sn = keys.app_cert_sn
        self.alipay_cert_sn = keys.alipay_cert_sn
        self.alipay_root_cert_sn = keys.alipay_root_cert_sn
        self._alipay_key = serialization.load_pem_private_key(keys.alipay_private_key_pem.encode(), None)
        self._app_public_key = serialization.load_pem_public_key(keys.app_public_key_pem.encode())

        self.requests: list[RecordedRequest] = []
        self.ledger: list[dict[str, Any]] = []
        self.deliveries: list[Delivery] = []
        self.faults_injected: Counter[str] = Counter()
        self.trades: dict[str, Trade] = {}
        self.refunds: dict[tuple[str, str], Refund] = {}
        self.transfers: dict[str, Transfer] = {}

        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._faults: dict[str, deque[str]] = {}
        self._counter = 0
        self._notify_ids: dict[tuple[Any, ...], str] = {}
        self._bills: dict[str, tuple[str, date, datetime]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._methods: dict[str, Callable[[dict[str, Any], RecordedRequest], dict[str, Any]]] = {
            "alipay.trade.create": self._trade_create,
            "alipay.trade.query": self._trade_query,
            "alipay.trade.close": self._trade_close,
            "alipay.trade.refund": self._trade_refund,
            "alipay.trade.fastpay.refund.query": self._refund_query,
            "alipay.fund.trans.uni.transfer": self._transfer,
            "alipay.fund.trans.common.query": self._transfer_query,
            "alipay.data.dataservice.bill.downloadurl.query": self._bill_url,
        }

    _numbers = itertools.count(1)
    """Each fake is another merchant: its own app_id and seller_id."""

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> FakeAlipay:
        """Listen on 127.0.0.1, a free port, in a daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        serve = functools.partial(self._server.serve_forever, poll_interval=0.05)  # stop() waits one poll at most
        threading.Thread(target=serve, name="fake-alipay", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening; a request hanging in a timeout fault is released and dropped."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeAlipay:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def gateway(self) -> str:
        return self.base_url + "/gateway.do"

    def options(self, notify_url: str) -> dict[str, str]:
        """The app's Alipay OPTIONS pointing at this fake."""
        return {
            "APP_ID": self.app_id,
            "APP_PRIVATE_KEY": self.app_private_key_pem,
            "ALIPAY_PUBLIC_KEY": self.alipay_public_key_pem,
            "GATEWAY": self.gateway,
            "NOTIFY_URL": notify_url,
            "APP_CERT": self.app_cert_pem,
            "ALIPAY_CERT": self.alipay_cert_pem,
            "ALIPAY_ROOT_CERT": self.root_cert_pem,
        }

    # -- inspection -------------------------------------------------------------------------------------------

    def calls(self, method: str) -> list[RecordedRequest]:
        """The gateway requests for one API method, in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.method == method]

    def money_in(self) -> int:
        """Fen received from buyers."""
        with self._lock:
            return sum(e["amount"] for e in self.ledger if e["kind"] == "payment")

    def money_out(self) -> int:
        """Fen paid out: refunds plus transfers."""
        with self._lock:
            return sum(e["amount"] for e in self.ledger if e["kind"] != "payment")

    def paid_out_by_key(self) -> dict[str, int]:
        """Fen paid out per out_request_no (refunds) / out_biz_no (transfers)."""
        totals: Counter[str] = Counter()
        with self._lock:
            for entry in self.ledger:
                if entry["kind"] != "payment":
                    totals[entry["key"]] += entry["amount"]
        return dict(totals)

    # -- fault injection --------------------------------------------------------------------------------------

    def inject(self, method: str, fault: str, times: int = 1) -> None:
        """Queue ``fault`` for the next ``times`` valid requests of API ``method`` (faults fire in queue order).

        A fault fires only for a request that passed the gateway's checks (signature, app, certificates).
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {sorted(FAULTS)}")
        with self._lock:
            self._faults.setdefault(method, deque()).extend([fault] * times)

    def _next_fault(self, method: str) -> str | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue.popleft()
        self.faults_injected[fault] += 1
        return fault

    # -- ids and money ----------------------------------------------------------------------------------------

    def _next_id(self, middle: str, width: int) -> str:
        """Deterministic Alipay-shaped ids: today's date, a fixed middle, a counter."""
        self._counter += 1
        return f"{now():%Y%m%d}{middle}{self._counter:0{width}d}"

    def _move_money(self, kind: str, key: str, amount: int, at: datetime, ref: str) -> None:
        """Append to the ledger exactly when money moves (the balance is kept by the caller)."""
        self.ledger.append(
            {"kind": kind, "key": key, "amount": amount, "at": at, "id": self._next_id("0156", 12), "ref": ref}
        )

    # -- user-side hooks --------------------------------------------------------------------------------------

    def pay(
        self, out_trade_no: str, *, at: datetime | None = None, buyer_id: str | None = None, amount: int | None = None
    ) -> str:
        """The buyer pays order ``out_trade_no`` in the Alipay app; returns trade_no.

        ``buyer_id`` / ``amount`` (fen) override who paid and how much, for the app's mismatch checks.
        Refused (PaymentRefused) if the order is unknown, closed, already paid or past its time_expire.
        """
        moment = _local(at)
        with self._lock:
            trade = self.trades.get(out_trade_no)
            if trade is None:
                raise PaymentRefused(f"no order {out_trade_no}")
            if self._status(trade, moment) != "WAIT_BUYER_PAY":
                raise PaymentRefused(f"order {out_trade_no} is {self._status(trade, moment)}")
            if buyer_id is not None:
                trade.buyer_id, trade.buyer_open_id = buyer_id, ""
            if amount is not None:
                trade.total_fen = amount
            trade.status, trade.paid_at = "TRADE_SUCCESS", moment
            self.balance += trade.total_fen
            self._move_money("payment", out_trade_no, trade.total_fen, moment, trade.trade_no)
            return trade.trade_no

    def pay_unknown(
        self, out_trade_no: str, amount_fen: int, buyer_id: str, at: datetime | None = None, *, subject: str = "付款"
    ) -> str:
        """A paid trade under an order number the app never created (money the app must reconcile)."""
        moment = _local(at)
        with self._lock:
            if out_trade_no in self.trades:
                raise PaymentRefused(f"order {out_trade_no} exists")
            trade_no = self._next_id("22001", 15)
            self.trades[out_trade_no] = Trade(
                out_trade_no, trade_no, amount_fen, subject, "JSAPI_PAY", buyer_id, "", "", moment, None, ""
            )
        return self.pay(out_trade_no, at=moment)

    def finish_trade(self, out_trade_no: str) -> None:
        """The refund period is over: a paid trade becomes TRADE_FINISHED and can no longer be refunded."""
        with self._lock:
            trade = self.trades[out_trade_no]
            if trade.status != "TRADE_SUCCESS":
                raise PaymentRefused(f"order {out_trade_no} is {trade.status}")
            trade.status = "TRADE_FINISHED"

    def settle_transfer(
        self,
        out_biz_no: str,
        status: str = "SUCCESS",
        reason: str = "收款账号状态异常",
        error_code: str = "PAYEE_ACCOUNT_STATUS_ERROR",
        at: datetime | None = None,
    ) -> None:
        """A DEALING transfer (``transfer_mode="dealing"``) ends as SUCCESS (money out) or FAIL (reserve released)."""
        if status not in ("SUCCESS", "FAIL"):
            raise ValueError("status is SUCCESS or FAIL")
        moment = _local(at)
        with self._lock:
            transfer = self.transfers[out_biz_no]
            if transfer.status != "DEALING":
                raise PaymentRefused(f"transfer {out_biz_no} is {transfer.status}")
            transfer.status, transfer.settled_at = status, moment
            if status == "SUCCESS":
                self._move_money("transfer", out_biz_no, transfer.amount_fen, moment, transfer.order_id)
            else:
                self.balance += transfer.amount_fen
                transfer.error_code, transfer.fail_reason = error_code, reason

    # -- asynchronous notifications ---------------------------------------------------------------------------

    def payment_notification(self, out_trade_no: str, *, at: datetime | None = None) -> dict[str, str]:
        """The form fields Alipay POSTs to notify_url about a paid trade (trade_status_sync), signed.

        ``notify_id`` is the same for every re-delivery of one state of the trade, ``notify_time`` is ``at``/now.
        After refunds the same notification carries refund_fee, gmt_refund and out_biz_no (the last refund).
        """
        with self._lock:
            trade = self.trades[out_trade_no]
            if trade.paid_at is None:
                raise ValueError(f"order {out_trade_no} is not paid; Alipay only notifies paid trades here")
            status = self._status(trade, now())
            event = (out_trade_no, status, trade.refunded_fen)
            if event not in self._notify_ids:
                self._notify_ids[event] = self._next_id("00222", 15)
            fields = {
                "notify_time": alipay_time(_local(at)),
                "notify_type": "trade_status_sync",
                "notify_id": self._notify_ids[event],
                "app_id": self.app_id,
                "auth_app_id": self.app_id,
                "charset": "utf-8",
                "version": "1.0",
                "sign_type": "RSA2",
                "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "seller_id": self.seller_id,
                "trade_status": status,
                "total_amount": yuan(trade.total_fen),
                "receipt_amount": yuan(trade.total_fen),
                "invoice_amount": yuan(trade.total_fen),
                "buyer_pay_amount": yuan(trade.total_fen),
                "point_amount": "0.00",
                "fund_bill_list": json.dumps(
                    [{"amount": yuan(trade.total_fen), "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")
                ),
                "subject": trade.subject,
                "gmt_create": alipay_time(trade.created_at),
                "gmt_payment": alipay_time(trade.paid_at),
            }
            fields["buyer_id" if trade.buyer_id else "buyer_open_id"] = trade.buyer_id or trade.buyer_open_id
            refunds = sorted((r for r in self.refunds.values() if r.out_trade_no == out_trade_no), key=lambda r: r.at)
            if refunds:
                fields["refund_fee"] = yuan(trade.refunded_fen)
                fields["gmt_refund"] = alipay_time(refunds[-1].at) + ".000"
                fields["out_biz_no"] = refunds[-1].out_request_no
            if trade.closed_at is not None:
                fields["gmt_close"] = alipay_time(trade.closed_at)
        return self.sign_notification(fields)

    def sign_notification(self, fields: dict[str, str]) -> dict[str, str]:
        """``fields`` with a valid ``sign`` by Alipay's key (to build validly signed but wrong notifications)."""
        signed = {k: v for k, v in fields.items() if k != "sign"}
        signed["sign"] = rsa2_sign(self._alipay_key, notification_sign_content(signed))
        return signed

    def tampered_notification(self, out_trade_no: str, **changes: str) -> dict[str, str]:
        """A notification whose fields were changed after signing (default: total_amount one fen higher)."""
        fields = self.payment_notification(out_trade_no)
        if not changes:
            changes = {"total_amount": yuan(parse_yuan(fields["total_amount"]) + 1)}
        return fields | changes

    def notification_signed_by_other_key(self, out_trade_no: str) -> dict[str, str]:
        """A well-formed notification signed with a key that is not Alipay's."""
        fields = self.payment_notification(out_trade_no)
        return fields | {"sign": rsa2_sign(new_rsa_key(), notification_sign_content(fields))}

    @staticmethod
    def form_body(fields: dict[str, str]) -> bytes:
        """The notification as Alipay's POST body (application/x-www-form-urlencoded; charset=utf-8)."""
        return urllib.parse.urlencode(fields).encode()

    def deliver(self, url: str, fields: dict[str, str], timeout: float = 5.0) -> Delivery:
        """POST a notification to a live server; Alipay counts it delivered only if the body is ``success``."""
        request = urllib.request.Request(
            url,
            data=self.form_body(fields),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                delivery = Delivery(url, fields, response.status, response.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as error:
            delivery = Delivery(url, fields, error.code, error.read().decode("utf-8", "replace"))
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    # -- the gateway ------------------------------------------------------------------------------------------

    def _handle_gateway(self, record: RecordedRequest) -> bytes | None:
        """Check and run one gateway request; returns the answer's body, or None to drop the connection."""
        params = record.params
        method = params.get("method", "")
        record.method = method or None
        response_key = method.replace(".", "_") + "_response" if method in self._methods else "error_response"
        try:
            self._check_gateway(record)
        except _Answer as answer:
            signed = params.get("app_id") == self.app_id
            return self._body(response_key, answer.body, record, signed=signed)

        with self._lock:
            fault = self._next_fault(method) or ""
        record.fault = fault or None
        if fault == "timeout_before":
            return None
        if fault in ("system_error_before", "business_system_error_before", "balance"):
            return self._body(response_key, self._fault_answer(method, fault), record)

        with self._lock:
            try:
                answer = {"code": "10000", "msg": "Success", **self._methods[method](record.biz or {}, record)}
            except _Answer as refused:
                answer = refused.body
        if fault == "timeout_after":
            record.answer = answer
            return None
        if fault in ("system_error_after", "business_system_error_after"):
            answer = self._fault_answer(method, fault)
        if fault == "unreadable":
            record.answer = answer
            return b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        return self._body(response_key, answer, record, corrupt=fault == "bad_signature")

    @staticmethod
    def _fault_answer(method: str, fault: str) -> dict[str, str]:
        fund = method.startswith(_FUND_PREFIX)
        if fault.startswith("system_error"):
            return _Answer("20000", "isp.unknow-error", "系统繁忙").body
        if fault.startswith("business_system_error"):
            return _Answer("40004", "SYSTEM_ERROR" if fund else "ACQ.SYSTEM_ERROR", "系统繁忙").body
        if fund:
            return _Answer("40004", "PAYER_BALANCE_NOT_ENOUGH", "付款方余额不足").body
        return _Answer("40004", "ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足").body

    def _check_gateway(self, record: RecordedRequest) -> None:
        """The gateway's own checks — missing, then invalid parameters, certificates, signature; raises its answer."""
        params = record.params
        for name, sub_code in (
            ("method", "isv.missing-method"),
            ("app_id", "isv.missing-app-id"),
            ("sign_type", "isv.missing-signature-type"),
            ("sign", "isv.missing-signature"),
            ("timestamp", "isv.missing-timestamp"),
            ("version", "isv.missing-version"),
        ):
            if not params.get(name):
                raise _Answer("40001", sub_code, f"缺少{name}参数")
        if params["method"] not in self._methods:
            raise _Answer("40002", "isv.invalid-method", f"不存在的方法名（本地假网关未实现 {params['method']}）")
        if params["app_id"] != self.app_id:
            raise _Answer("40002", "isv.invalid-app-id", "无效的AppID参数")
        if params.get("format", "JSON").upper() != "JSON":
            raise _Answer("40002", "isv.invalid-format", "无效的数据格式")
        if params.get("charset", "utf-8").lower() != "utf-8":
            raise _Answer("40002", "isv.invalid-charset", "本地假网关只支持utf-8")
        if params["sign_type"] != "RSA2":
            raise _Answer("40002", "isv.invalid-signature-type", "无效的签名类型")
        try:
            datetime.strptime(params["timestamp"], TIME_FORMAT)
        except ValueError:
            raise _Answer("40002", "isv.invalid-timestamp", "非法的时间戳参数") from None
        if params["version"] != "1.0":
            raise _Answer("40002", "isv.invalid-parameter", "无效的版本号")
        record.cert_mode = "app_cert_sn" in params or "alipay_root_cert_sn" in params
        if record.cert_mode:
            if params.get("app_cert_sn") != self.app_cert_sn:
                raise _Answer("40002", "isv.invalid-app-cert-sn", "应用公钥证书序列号不匹配")
            if params.get("alipay_root_cert_sn") != self.alipay_root_cert_sn:
                raise _Answer("40002", "isv.invalid-alipay-root-cert-sn", "支付宝根证书序列号不匹配")
        content = request_sign_content(params)
        record.signature_valid = rsa2_verify(self._app_public_key, content, params["sign"])
        if not record.signature_valid:
            raise _Answer(
                "40002",
                "isv.invalid-signature",
                f"验签出错，建议检查签名字符串或签名私钥与应用公钥证书是否匹配，网关生成的验签字符串为：{content}",
            )
        if params["method"] == "alipay.fund.trans.uni.transfer" and not record.cert_mode:
            raise _Answer("40006", "isv.insufficient-isv-permissions", "ISV权限不足，该接口只支持公钥证书方式调用")
        try:
            biz = json.loads(params.get("biz_content") or "{}")
        except json.JSONDecodeError:
            raise _invalid("biz_content", "（不是JSON）") from None
        if not isinstance(biz, dict):
            raise _invalid("biz_content", "（不是JSON对象）")
        record.biz = biz

    def _body(
        self,
        response_key: str,
        answer: dict[str, Any],
        record: RecordedRequest,
        *,
        signed: bool = True,
        corrupt: bool = False,
    ) -> bytes:
        """The answer as Alipay writes it; the signature covers exactly the response object's JSON text."""
        record.answer = answer
        text = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
        body = f'{{"{response_key}":{text}'
        if signed:
            signature = rsa2_sign(self._alipay_key, text + " " if corrupt else text)
            if record.cert_mode:
                body += f',"alipay_cert_sn":"{self.alipay_cert_sn}"'
            body += f',"sign":"{signature}"'
        return (body + "}").encode()

    # -- trade APIs (收单) -------------------------------------------------------------------------------------

    def _status(self, trade: Trade, moment: datetime) -> str:
        """Trade status at ``moment``: an unpaid trade past its time_expire is closed by Alipay."""
        if trade.status == "WAIT_BUYER_PAY" and trade.time_expire is not None and moment > trade.time_expire:
            trade.status, trade.closed_at = "TRADE_CLOSED", trade.time_expire
        return trade.status

    def _find_trade(self, biz: dict[str, Any]) -> Trade:
        out_trade_no, trade_no = biz.get("out_trade_no"), biz.get("trade_no")
        if not out_trade_no and not trade_no:
            raise _missing("out_trade_no/trade_no")
        for trade in self.trades.values():
            if (trade_no and trade.trade_no == trade_no) or (not trade_no and trade.out_trade_no == out_trade_no):
                return trade
        raise _Answer("40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")

    @staticmethod
    def _buyer_fields(trade: Trade) -> dict[str, str]:
        return {"buyer_user_id": trade.buyer_id} if trade.buyer_id else {"buyer_open_id": trade.buyer_open_id}

    def _trade_create(self, biz: dict[str, Any], record: RecordedRequest) -> dict[str, Any]:
        """alipay.trade.create: the mini-program order the buyer then pays with my.tradePay(trade_no)."""
        for name in ("out_trade_no", "total_amount", "subject"):
            if not biz.get(name):
                raise _missing(name)
        total = parse_yuan(biz["total_amount"])
        if total is None or total < 1 or total > 100_000_000_00:
            raise _invalid("total_amount", "（金额为元，最多两位小数，范围[0.01,100000000]）")
        product_code = biz.get("product_code", "JSAPI_PAY")
        if product_code != "JSAPI_PAY":
            raise _Answer("40004", "ACQ.ACCESS_FORBIDDEN", f"无权限使用接口（只签约了JSAPI_PAY，收到{product_code}）")
        buyer_id, buyer_open_id = biz.get("buyer_id") or "", biz.get("buyer_open_id") or ""
        if not buyer_id and not buyer_open_id:
            raise _Answer("40004", "ACQ.INVALID_PARAMETER", "参数无效，buyer_id与buyer_open_id不能同时为空")
        moment = now()
        time_expire = None
        if biz.get("time_expire"):
            try:
                time_expire = datetime.strptime(biz["time_expire"], TIME_FORMAT).replace(tzinfo=SHANGHAI)
            except (TypeError, ValueError):
                raise _invalid("time_expire", "（格式为yyyy-MM-dd HH:mm:ss）") from None
        trade = Trade(
            biz["out_trade_no"], "", total, biz["subject"], product_code, buyer_id, buyer_open_id,
            biz.get("op_app_id") or "", moment, time_expire, record.params.get("notify_url", ""),
        )  # fmt: skip
        existing = self.trades.get(trade.out_trade_no)
        if existing is not None:
            status = self._status(existing, moment)
            if status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
                raise _Answer("40004", "ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
            if status == "TRADE_CLOSED":
                raise _Answer("40004", "ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
            if existing.identity() != trade.identity():
                raise _Answer("40004", "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
            return {"out_trade_no": existing.out_trade_no, "trade_no": existing.trade_no}
        trade.trade_no = self._next_id("22001", 15)
        self.trades[trade.out_trade_no] = trade
        return {"out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no}

    def _trade_query(self, biz: dict[str, Any], record: RecordedRequest) -> dict[str, Any]:
        trade = self._find_trade(biz)
        status = self._status(trade, now())
        paid = trade.paid_at is not None
        answer: dict[str, Any] = {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "trade_status": status,
            "total_amount": yuan(trade.total_fen),
            "buyer_pay_amount": yuan(trade.total_fen if paid else 0),
            "receipt_amount": yuan(trade.total_fen if paid else 0),
            "point_amount": "0.00",
            "invoice_amount": yuan(trade.total_fen if paid else 0),
            **self._buyer_fields(trade),
        }
        if trade.paid_at is not None:
            answer["send_pay_date"] = alipay_time(trade.paid_at)
            answer["fund_bill_list"] = [{"amount": yuan(trade.total_fen), "fund_channel": "ALIPAYACCOUNT"}]
        return answer

    def _trade_close(self, biz: dict[str, Any], record: RecordedRequest) -> dict[str, Any]:
        """Close an unpaid trade; closing a closed one again answers success (idempotent)."""
        trade = self._find_trade(biz)
        moment = now()
        status = self._status(trade, moment)
        if status == "WAIT_BUYER_PAY":
            trade.status, trade.closed_at = "TRADE_CLOSED", moment
        elif status != "TRADE_CLOSED" or trade.paid_at is not None:
            raise _Answer("40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        return {"trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}

    def _refund_answer(self, trade: Trade, refund: Refund, fund_change: str) -> dict[str, Any]:
        return {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "fund_change": fund_change,
            "refund_fee": yuan(trade.refunded_fen),
            "gmt_refund_pay": alipay_time(refund.at),
            **self._buyer_fields(trade),
        }

    def _trade_refund(self, biz: dict[str, Any], record: RecordedRequest) -> dict[str, Any]:
        """alipay.trade.refund, idempotent per (trade, out_request_no): a repeat answers fund_change "N"."""
        if not biz.get("refund_amount"):
            raise _missing("refund_amount")
        amount = parse_yuan(biz["refund_amount"])
        if amount is None or amount < 1:
            raise _invalid("refund_amount", "（金额为元，最多两位小数）")
        trade = self._find_trade(biz)
        out_request_no = biz.get("out_request_no") or trade.out_trade_no
        existing = self.refunds.get((trade.out_trade_no, out_request_no))
        if existing is not None:
            if existing.amount_fen != amount:
                raise _Answer("40004", "ACQ.DISCORDANT_REPEAT_REQUEST", "不一致的请求")
            return self._refund_answer(trade, existing, "N")
        status = self._status(trade, now())
        if status == "TRADE_FINISHED":
            raise _Answer("40004", "ACQ.TRADE_HAS_FINISHED", "交易已完结")
        if status != "TRADE_SUCCESS":
            raise _Answer("40004", "ACQ.TRADE_STATUS_ERROR", "交易状态非法")
        if not biz.get("out_request_no") and amount != trade.total_fen:
            raise _Answer("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
        if amount > trade.total_fen - trade.refunded_fen:
            raise _Answer("40004", "ACQ.REASON_TRADE_REFUND_FEE_ERR", "退款金额无效")
        if amount > self.balance:
            raise _Answer("40004", "ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足")
        moment = now()
        reason = biz.get("refund_reason", "")
        refund = Refund(trade.out_trade_no, trade.trade_no, out_request_no, amount, reason, moment)
        self.refunds[(trade.out_trade_no, out_request_no)] = refund
        trade.refunded_fen += amount
        self.balance -= amount
        self._move_money("refund", out_request_no, amount, moment, trade.trade_no)
        if trade.refunded_fen == trade.total_fen:
            trade.status, trade.closed_at = "TRADE_CLOSED", moment
        return self._refund_answer(trade, refund, "Y")

    def _refund_query(self, biz: dict[str, Any], record: RecordedRequest) -> dict[str, Any]:
        """A refund that does not exist answers 10000 with no refund data (Alipay: "未返回…表示退款未成功")."""
        trade = self._find_trade(biz)
        if not biz.get("out_request_no"):
            raise _missing("out_request_no")
        refund = self.refunds.get((trade.out_trade_no, biz["out_request_no"]))
        if refund is None:
            return {}
        return {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "out_request_no": refund.out_request_no,
            "refund_reason": refund.reason,
            "total_amount": yuan(trade.total_fen),
            "refund_amount": yuan(refund.amount_fen),
            "refund_status": "REFUND_SUCCESS",
        }

    # -- transfer APIs (单笔转账) ------------------------------------------------------------------------------

    @staticmethod
    def _transfer_answer(transfer: Transfer) -> dict[str, Any]:
        answer = {"out_biz_no": transfer.out_biz_no, "order_id": transfer.order_id, "status": transfer.status}
        if transfer.status == "SUCCESS":
            answer["pay_fund_order_id"] = transfer.pay_fund_order_id
        answer["trans_date"] = alipay_time(transfer.created_at)
        return answer

    def _transfer(self, biz: dict[str, Any], record: RecordedRequest) -> dict[str, Any]:
        """alipay.fund.trans.uni.transfer, idempotent per out_biz_no (certificate mode only)."""
        for name in ("out_biz_no", "trans_amount", "product_code", "biz_scene", "payee_info"):
            if not biz.get(name):
                raise _missing(name)
        if biz["product_code"] != "TRANS_ACCOUNT_NO_PWD" or biz["biz_scene"] != "DIRECT_TRANSFER":
            raise _Answer("40004", "INVALID_PARAMETER", "参数有误，单笔无密转账为TRANS_ACCOUNT_NO_PWD/DIRECT_TRANSFER")
        amount = parse_yuan(biz["trans_amount"])
        if amount is None:
            raise _invalid("trans_amount", "（金额为元，最多两位小数）")
        payee = biz["payee_info"]
        if not isinstance(payee, dict) or not payee.get("identity") or not payee.get("identity_type"):
            raise _missing("payee_info.identity/identity_type")
        transfer = Transfer(
            biz["out_biz_no"], "", "", amount, payee["identity_type"], payee["identity"], payee.get("name") or None,
            biz.get("order_title", ""), biz.get("remark", ""), now(), "",
        )  # fmt: skip
        existing = self.transfers.get(transfer.out_biz_no)
        if existing is not None:
            if existing.identity_key() != transfer.identity_key():
                raise _Answer("40004", "PAYMENT_INFO_INCONSISTENCY", "两次请求商户单号一样，但是参数不一致")
            return self._transfer_answer(existing)
        if transfer.identity_type not in ("ALIPAY_USER_ID", "ALIPAY_OPEN_ID", "ALIPAY_LOGON_ID"):
            raise _Answer("40004", "INVALID_PARAMETER", "参数有误，identity_type不支持")
        if transfer.identity_type == "ALIPAY_LOGON_ID" and not transfer.name:
            raise _Answer("40004", "INVALID_PARAMETER", "参数有误，identity_type为ALIPAY_LOGON_ID时name必填")
        if amount < TRANSFER_MIN_FEN:
            raise _Answer("40004", "EXCEED_LIMIT_SM_MIN_AMOUNT", "单笔最低转账金额0.1元")
        if amount > self.max_transfer_fen:
            raise _Answer("40004", "EXCEED_LIMIT_SM_AMOUNT", "单笔额度超限")
        bad_user_id = transfer.identity_type == "ALIPAY_USER_ID" and not _USER_ID.fullmatch(transfer.identity)
        if bad_user_id or transfer.identity in self.unknown_payees:
            raise _Answer("40004", "PAYEE_NOT_EXIST", "收款账号不存在")
        if amount > self.balance:
            raise _Answer("40004", "PAYER_BALANCE_NOT_ENOUGH", "付款方余额不足")
        transfer.order_id = self._next_id("110070000", 15)
        transfer.pay_fund_order_id = self._next_id("110070001", 15)
        self.balance -= amount
        self.transfers[transfer.out_biz_no] = transfer
        if self.transfer_mode == "dealing":
            transfer.status = "DEALING"
        else:
            transfer.status, transfer.settled_at = "SUCCESS", transfer.created_at
            self._move_money("transfer", transfer.out_biz_no, amount, transfer.created_at, transfer.order_id)
        return self._transfer_answer(transfer)

    def _transfer_query(self, biz: dict[str, Any], record: RecordedRequest) -> dict[str, Any]:
        """alipay.fund.trans.common.query by order_id, or by out_biz_no with product_code and biz_scene."""
        transfer = None
        if biz.get("order_id"):
            transfer = next((t for t in self.transfers.values() if t.order_id == biz["order_id"]), None)
        elif biz.get("out_biz_no"):
            if biz.get("product_code") != "TRANS_ACCOUNT_NO_PWD" or biz.get("biz_scene") != "DIRECT_TRANSFER":
                raise _Answer("40004", "INVALID_PARAMETER", "参数有误，传out_biz_no时product_code与biz_scene必传")
            transfer = self.transfers.get(biz["out_biz_no"])
        else:
            raise _missing("out_biz_no/order_id")
        if transfer is None:
            raise _Answer("40004", "ORDER_NOT_EXIST", "转账订单不存在")
        answer = {"order_id": transfer.order_id, "out_biz_no": transfer.out_biz_no, "status": transfer.status}
        if transfer.status == "SUCCESS":
            answer |= {
                "pay_fund_order_id": transfer.pay_fund_order_id,
                "trans_amount": yuan(transfer.amount_fen),
                "pay_date": alipay_time(transfer.settled_at or transfer.created_at),
                "order_fee": "0.00",
            }
        if transfer.status == "FAIL":
            answer |= {"error_code": transfer.error_code, "fail_reason": transfer.fail_reason}
        return answer

    # -- bills (对账单) ----------------------------------------------------------------------------------------

    def _bill_url(self, biz: dict[str, Any], record: RecordedRequest) -> dict[str, Any]:
        """A download URL valid for 30 s; today's bill (and a day without records) does not exist yet."""
        bill_type, bill_date = biz.get("bill_type"), biz.get("bill_date")
        if bill_type not in ("trade", "signcustomer"):
            raise _invalid("bill_type", "（trade或signcustomer）")
        try:
            day = date.fromisoformat(bill_date) if isinstance(bill_date, str) and len(bill_date) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise _invalid("bill_date", "（本地假网关只提供日账单yyyy-MM-dd）")
        kinds = ("payment", "refund") if bill_type == "trade" else ("payment", "refund", "transfer")
        if day >= now().date() or not self._day_entries(day, kinds):
            raise _Answer("40004", "isp.bill_not_exist", "账单不存在")
        file_id = self._next_id("bill", 8)
        self._bills[file_id] = (bill_type, day, now())
        query = urllib.parse.urlencode(
            {
                "bizType": bill_type,
                "userId": self.seller_id,
                "fileType": "csv.zip",
                "bizDates": f"{day:%Y%m%d}",
                "downloadFileName": f"{self._account}_{day:%Y%m%d}.csv.zip",
                "fileId": file_id,
            }
        )
        return {"bill_download_url": f"{self.base_url}/downloadBillFile.resource?{query}"}

    @property
    def _account(self) -> str:
        """The merchant's account as bills write it: PID + 0156 (its RMB balance account)."""
        return self.seller_id + "0156"

    def _day_entries(self, day: date, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
        return [e for e in self.ledger if e["kind"] in kinds and e["at"].astimezone(SHANGHAI).date() == day]

    def bill_zip(self, bill_type: str, day: date) -> bytes:
        """The ZIP Alipay serves for one day's bill, built from the fake's own records (no notification needed).

        Member names are GBK bytes without the UTF-8 flag and CSV content is GBK, as Alipay ships them
        (read it with ``zipfile.ZipFile(…, metadata_encoding="gbk")`` and ``.decode("gbk")``).
        """
        with self._lock:
            if bill_type == "trade":
                files = {"业务明细": self._trade_detail(day), "业务明细(汇总)": self._trade_summary(day)}
            else:
                files = {"账务明细": self._account_detail(day), "账务明细(汇总)": self._account_summary(day)}
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for suffix, text in files.items():
                archive.writestr(_GbkName(f"{self._account}_{day:%Y%m%d}_{suffix}.csv"), text.encode("gbk", "replace"))
        return buffer.getvalue()

    def _bill_header(self, title: str, day: date, list_name: str) -> list[str]:
        start = f"{day:%Y年%m月%d日} 00:00:00"
        end = f"{day + timedelta(days=1):%Y年%m月%d日} 00:00:00"
        return [
            f"#{title}",
            f"#账号：[{self._account}]",
            f"#起始日期：[{start}]   终止日期：[{end}]",
            f"#-----------------------------------------{list_name}列表----------------------------------------",
        ]

    @staticmethod
    def _rows(rows: list[list[str]]) -> list[str]:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        return buffer.getvalue().splitlines()

    def _masked_buyer(self, trade: Trade) -> str:
        buyer = trade.buyer_id or trade.buyer_open_id
        return f"**({buyer[:4]}****{buyer[-4:]})"

    def _trade_detail(self, day: date) -> str:
        """业务明细: one row per payment (交易) and refund (退款, negative) completed that day."""
        header = (
            "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
            "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
            "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
        )
        rows, totals = [], {"payment": [0, 0], "refund": [0, 0]}
        for entry in self._day_entries(day, ("payment", "refund")):
            trade = next(t for t in self.trades.values() if t.trade_no == entry["ref"])
            refund = entry["kind"] == "refund"
            amount = -entry["amount"] if refund else entry["amount"]
            totals[entry["kind"]][0] += 1
            totals[entry["kind"]][1] += amount
            rows.append(
                [
                    trade.trade_no + "\t", trade.out_trade_no + "\t", "退款\t" if refund else "交易\t", trade.subject,
                    alipay_time(trade.created_at), alipay_time(entry["at"]), "\t", "\t", "\t", "\t",
                    self._masked_buyer(trade) + "\t", yuan(amount), yuan(amount), "0.00", "0.00", "0.00", "0.00",
                    "0.00", "", "0.00\t", "0.00", (entry["key"] if refund else "") + "\t", "0.00", "0.00",
                    trade.subject,
                ]
            )  # fmt: skip
        lines = [
            *self._bill_header("支付宝业务明细查询", day, "业务明细"),
            header,
            *self._rows(rows),
            "#-----------------------------------------业务明细列表结束------------------------------------",
            f"#交易合计：{totals['payment'][0]}笔，商家实收共{yuan(totals['payment'][1])}元，商家优惠共0.00元",
            f"#退款合计：{totals['refund'][0]}笔，商家实收退款共{yuan(totals['refund'][1])}元，商家优惠退款共0.00元",
            f"#导出时间：[{now():%Y年%m月%d日 %H:%M:%S}]",
        ]
        return "\n".join(lines) + "\n"

    def _trade_summary(self, day: date) -> str:
        """业务明细(汇总): the day's totals (layout guessed from merchants' parsers: a ``合计`` row)."""
        entries = self._day_entries(day, ("payment", "refund"))
        paid = sum(e["amount"] for e in entries if e["kind"] == "payment")
        refunded = sum(e["amount"] for e in entries if e["kind"] == "refund")
        count = Counter(e["kind"] for e in entries)
        lines = [
            "#支付宝业务汇总查询",
            f"#账号：[{self._account}]",
            f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[{day + timedelta(days=1):%Y年%m月%d日} 00:00:00]",
            "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,"
            "卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）",
            f"合计,,{count['payment']},{count['refund']},{yuan(paid - refunded)},{yuan(paid - refunded)},0.00,0.00,"
            f"0.00,0.00,0.00,{yuan(paid - refunded)}",
            f"#导出时间：[{now():%Y年%m月%d日 %H:%M:%S}]",
        ]
        return "\n".join(lines) + "\n"

    def _account_detail(self, day: date) -> str:
        """账务明细 (signcustomer): every balance movement that day — payments in, refunds and transfers out."""
        header = (
            "账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,账户余额（元）,"
            "交易渠道,业务类型,备注"
        )

        def signed(entry: dict[str, Any]) -> int:
            return entry["amount"] if entry["kind"] == "payment" else -entry["amount"]

        # The book balance counts DEALING transfers as not yet paid; walk back from it to before the first entry.
        reserved = sum(t.amount_fen for t in self.transfers.values() if t.status == "DEALING")
        running = self.balance + reserved - sum(signed(e) for e in self.ledger)
        rows, income, expense = [], [0, 0], [0, 0]
        for entry in self.ledger:
            running += signed(entry)
            if entry["at"].astimezone(SHANGHAI).date() != day:
                continue
            if entry["kind"] == "transfer":
                transfer = self.transfers[entry["key"]]
                business, order, title = transfer.order_id, transfer.out_biz_no, transfer.order_title
                counterpart, kind = transfer.identity, "转账"
            else:
                trade = next(t for t in self.trades.values() if t.trade_no == entry["ref"])
                business, order, title = trade.trade_no, trade.out_trade_no, trade.subject
                counterpart = self._masked_buyer(trade)
                kind = "在线支付" if entry["kind"] == "payment" else "交易退款"
            bucket = income if entry["kind"] == "payment" else expense
            bucket[0] += 1
            bucket[1] += signed(entry)
            rows.append(
                [
                    entry["id"] + "\t", business + "\t", order + "\t", title + "\t", alipay_time(entry["at"]),
                    counterpart + "\t", yuan(max(signed(entry), 0)), yuan(min(signed(entry), 0)), yuan(running),
                    "支付宝", kind, entry["key"] if entry["kind"] == "refund" else "",
                ]
            )  # fmt: skip
        lines = [
            *self._bill_header("支付宝账务明细查询", day, "账务明细"),
            header,
            *self._rows(rows),
            "#-----------------------------------------账务明细列表结束------------------------------------",
            f"#支出合计：{expense[0]}笔，共{yuan(expense[1])}元",
            f"#收入合计：{income[0]}笔，共{yuan(income[1])}元",
            f"#导出时间：[{now():%Y年%m月%d日 %H:%M:%S}]",
        ]
        return "\n".join(lines) + "\n"

    def _account_summary(self, day: date) -> str:
        """账务明细(汇总): per business type and in total (layout guessed)."""
        names = {"payment": "在线支付", "refund": "交易退款", "transfer": "转账"}
        entries = self._day_entries(day, tuple(names))
        lines = [
            "#支付宝账务汇总查询",
            f"#账号：[{self._account}]",
            f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[{day + timedelta(days=1):%Y年%m月%d日} 00:00:00]",
            "业务类型,收入笔数,收入金额（+元）,支出笔数,支出金额（-元）,总金额（元）",
        ]
        for label, kinds in [*((names[k], (k,)) for k in names), ("合计", tuple(names))]:
            chosen = [e for e in entries if e["kind"] in kinds]
            ins = [e["amount"] for e in chosen if e["kind"] == "payment"]
            outs = [-e["amount"] for e in chosen if e["kind"] != "payment"]
            lines.append(
                f"{label},{len(ins)},{yuan(sum(ins))},{len(outs)},{yuan(sum(outs))},{yuan(sum(ins) + sum(outs))}"
            )
        lines.append(f"#导出时间：[{now():%Y年%m月%d日 %H:%M:%S}]")
        return "\n".join(lines) + "\n"

    def _download(self, query: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        """GET of a bill URL: unsigned, a ZIP; an unknown or expired fileId answers 404 (the real page is guessed)."""
        with self._lock:
            bill = self._bills.get(query.get("fileId", ""))
            if bill is None or now() - bill[2] > BILL_URL_LIFETIME:
                return 404, "账单下载地址无效或已过期".encode(), {"Content-Type": "text/plain;charset=utf-8"}
            bill_type, day, _ = bill
        name = urllib.parse.quote(f"{self._account}_{day:%Y%m%d}.csv.zip")
        headers = {"Content-Type": "application/oct-stream", "Content-Disposition": f"attachment; filename={name}"}
        return 200, self.bill_zip(bill_type, day), headers

    # -- HTTP plumbing ----------------------------------------------------------------------------------------

    def _hang(self) -> None:
        """A timeout fault: keep the client waiting (until ``hang_seconds`` pass or the fake stops), then drop."""
        self._stopping.wait(self.hang_seconds)

    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(record)


class _GbkName(zipfile.ZipInfo):
    """A ZIP member whose name is stored as GBK bytes without the UTF-8 flag, like Alipay's bill archives."""

    def __init__(self, filename: str) -> None:
        super().__init__(filename, date_time=now().timetuple()[:6])
        self.compress_type = zipfile.ZIP_DEFLATED

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:  # zipfile's hook for how the name is written
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def _handler_class(fake: FakeAlipay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeAlipay/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            return

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, http_method: str) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            body: dict[str, str] = {}
            content_type = self.headers.get("Content-Type", "")
            if raw_body and content_type.startswith("application/x-www-form-urlencoded"):
                body = dict(urllib.parse.parse_qsl(raw_body.decode("utf-8", "replace"), keep_blank_values=True))
            record = RecordedRequest(now(), http_method, url.path, query | body, tuple(query), tuple(body))
            fake._record(record)
            if url.path == "/downloadBillFile.resource" and http_method == "GET":
                self._send(*fake._download(query))
                return
            if url.path != "/gateway.do":
                self._send(404, b"not found", {"Content-Type": "text/plain"})
                return
            if (raw_body and not body) or set(query) & set(body):
                record.method = query.get("method") or body.get("method")
                answer = _Answer("40002", "isv.invalid-parameter", "请求体须为表单，且参数不能在URL与表单中重复")
                self._send(200, fake._body("error_response", answer.body, record, signed=False), _JSON)
                return
            answer_body = fake._handle_gateway(record)
            if answer_body is None:
                fake._hang()
                self.close_connection = True
                return
            record.raw_answer = answer_body
            self._send(200, answer_body, _JSON)

        def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


_JSON = {"Content-Type": "text/html;charset=utf-8"}
"""Alipay's gateway labels its JSON answers text/html;charset=utf-8."""


@pytest.fixture
def fake_alipay() -> Iterator[FakeAlipay]:
    """A started FakeAlipay, stopped after the test."""
    with FakeAlipay() as fake:
        yield fake
