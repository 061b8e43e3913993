"""A local fake of WeChat Pay API v3 (直连商户, platform public-key mode) for testing the app's channel adapter.

WeChat Pay has no sandbox and cannot be reached from the test machines, and a mock that answers whatever the caller
expects proves nothing. So this fake is a real HTTP server on 127.0.0.1 that speaks the real protocol: it verifies the
merchant's SHA256withRSA ``Authorization`` on every request, signs every answer with a platform key, encrypts
notifications with AES-256-GCM under the APIv3 key, keeps WeChat's states and error codes, and records the money it
moved in its own ledger, so a test can assert "paid out once" from the channel's side. Faults (timeouts before or
after the work, 5xx, 429, bad signatures, unreadable answers, NOT_ENOUGH) are injected per request.

The fake reads time through ``now()`` (by default ``datetime.now(UTC)`` at call time), so ``time-machine`` moves it
together with the SDK's ``time.time()``. Ids come from counters, so a run is reproducible given the calls; only keys
and nonces are random.

Use it through the ``fake_wechatpay`` fixture or as a context manager; point wechatpayv3 at it with
``wxpay._core._gate_way = fake.base_url`` (the SDK has no base-URL parameter; that private attribute is the only way).

Quick reference:

* Identity (per instance): ``mchid appid apiv3_key merchant_private_key_pem merchant_serial_no
  platform_public_key_pem public_key_id base_url``; ``options(notify_url)`` gives them under the app's OPTIONS names.
* Settings (constructor keywords and attributes): ``hang_seconds auto_complete_refunds confirm_required
  settle_transfers_at_once max_transfer balance clock``, plus the attribute ``min_transfer``.
* The user's side and time (refusals raise ``Refused``): ``pay pay_unknown_order complete_refund confirm user_cancel
  expire fail hold_transfer process_transfers``.
* Notifications, as ``(headers, body)``: ``payment_notification refund_notification transfer_notification
  build_notification``; bad headers from ``notification_headers(body, timestamp=, serial=, probe=, foreign_key=)``;
  ``deliver(url, headers, body)`` posts one; ``meta_headers`` renames headers as Django's request.META.
* Assertions: ``ledger money_in() money_out() paid_out_by_key()``, ``transaction() refund() transfer()`` (as the
  queries answer), ``requests stats faults_injected errors``.
* Faults: ``inject(method, path_prefix, fault, times=1)`` with a name from ``FAULTS``; ``tamper_bill_hash()``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import secrets
import string
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import cached_property
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes import wechatpay_protocol as wire
from tests.fakes.keys import new_rsa_private_key, private_key_pem, public_key_pem
from tests.fakes.wechatpay_protocol import SHANGHAI, meta_headers, rfc3339

__all__ = [
    "FAULTS", "FUND_BILL_HEADER", "FUND_BILL_SUMMARY_HEADER", "SHANGHAI", "TRADE_BILL_HEADER",
    "TRADE_BILL_SUMMARY_HEADER", "FakeWeChatPay", "Refused", "fake_wechatpay", "meta_headers", "rfc3339",
]

#: Fault names accepted by ``FakeWeChatPay.inject``.
FAULTS = ("timeout_before", "timeout_after", "5xx_before", "5xx_after", "429", "bad_signature", "unreadable",
          "not_enough")
# Faults answered instead of doing anything: (HTTP status, code, message).
_REFUSALS = {
    "5xx_before": (500, "SYSTEM_ERROR", "系统错误"),
    "429": (429, "FREQUENCY_LIMITED", "频率超限"),
    "not_enough": (403, "NOT_ENOUGH", "资金不足"),
}

_OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
_OUT_REFUND_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")
_OUT_BILL_NO = re.compile(r"[0-9A-Za-z]{5,32}")

_PAID = ("SUCCESS", "REFUND")
_TRADE_STATE_DESC = {"NOTPAY": "订单未支付", "SUCCESS": "支付成功", "CLOSED": "订单已关闭", "REFUND": "转入退款"}
_REFUND_EVENTS = {"SUCCESS": ("REFUND.SUCCESS", "退款成功"), "ABNORMAL": ("REFUND.ABNORMAL", "退款异常"),
                  "CLOSED": ("REFUND.CLOSED", "退款关闭")}
_TRANSFER_OPEN = ("ACCEPTED", "PROCESSING", "WAIT_USER_CONFIRM", "TRANSFERING", "CANCELING")
_TRANSFER_FINAL = ("SUCCESS", "FAIL", "CANCELLED")

TRADE_BILL_HEADER = ",".join((
    "交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型",
    "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "微信退款单号", "商户退款单号", "退款金额",
    "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额",
    "费率备注"))
TRADE_BILL_SUMMARY_HEADER = ",".join((
    "总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额"))
FUND_BILL_HEADER = ("记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,"
                    "资金变更提交申请人,备注,业务凭证号")
FUND_BILL_SUMMARY_HEADER = "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额"


def _yuan(fen: int) -> str:
    """Bills show yuan with two decimals."""
    return f"{fen // 100}.{fen % 100:02d}"


class Refused(Exception):
    """A test hook asked for something WeChat would not do (pay a closed order, confirm a cancelled transfer …)."""


@dataclass
class _QueuedFault:
    method: str
    path_prefix: str
    fault: str
    remaining: int


@dataclass
class _Order:
    out_trade_no: str
    appid: str
    description: str
    total: int
    openid: str
    params: dict[str, Any] | None  # the JSAPI request body, compared on repeats; None for an order the app never made
    prepay_id: str | None = None
    attach: str = ""
    time_expire: datetime | None = None
    state: str = "NOTPAY"
    transaction_id: str | None = None
    success_time: datetime | None = None
    payer_openid: str = ""
    paid: int = 0  # fen the payer really paid (a test may make it differ from ``total``)


@dataclass
class _Refund:
    out_refund_no: str
    refund_id: str
    order: _Order
    refund: int
    created: datetime
    status: str = "PROCESSING"
    success_time: datetime | None = None


@dataclass
class _Transfer:
    out_bill_no: str
    transfer_bill_no: str
    params: dict[str, Any]  # the request body with user_name decrypted, compared on repeats
    openid: str
    amount: int
    remark: str
    created: datetime
    updated: datetime
    state: str
    package_info: str
    fail_reason: str | None = None


_ROUTES = [
    ("POST", re.compile(r"/v3/pay/transactions/jsapi"), "jsapi"),
    ("GET", re.compile(r"/v3/pay/transactions/out-trade-no/([^/]+)"), "query"),
    ("GET", re.compile(r"/v3/pay/transactions/id/([^/]+)"), "query_by_id"),
    ("POST", re.compile(r"/v3/pay/transactions/out-trade-no/([^/]+)/close"), "close"),
    ("POST", re.compile(r"/v3/refund/domestic/refunds"), "refund"),
    ("GET", re.compile(r"/v3/refund/domestic/refunds/([^/]+)"), "refund_query"),
    ("POST", re.compile(r"/v3/fund-app/mch-transfer/transfer-bills"), "transfer"),
    ("GET", re.compile(r"/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/([^/]+)"), "transfer_query"),
    ("GET", re.compile(r"/v3/fund-app/mch-transfer/transfer-bills/transfer-bill-no/([^/]+)"), "transfer_query_by_no"),
    ("POST", re.compile(r"/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/([^/]+)/cancel"), "transfer_cancel"),
    ("GET", re.compile(r"/v3/bill/tradebill"), "tradebill"),
    ("GET", re.compile(r"/v3/bill/fundflowbill"), "fundflowbill"),
    ("GET", re.compile(r"/v3/billdownload/file"), "download"),
]


class FakeWeChatPay:
    """WeChat Pay API v3 on 127.0.0.1: JSAPI/mini-program payments, refunds, merchant transfers (商家转账, 2025 API),
    trade and fund-flow bills, notifications, a ledger and fault injection. See the module docstring."""

    def __init__(
        self,
        *,
        hang_seconds: float = 3.0,
        auto_complete_refunds: bool = False,
        confirm_required: bool = True,
        settle_transfers_at_once: bool = False,
        max_transfer: int = 20_000,
        balance: int = 10**12,
        clock: Callable[[], datetime] = wire.utc_now,
    ) -> None:
        self.hang_seconds = hang_seconds
        self.auto_complete_refunds = auto_complete_refunds
        self.confirm_required = confirm_required
        self.settle_transfers_at_once = settle_transfers_at_once
        self.max_transfer = max_transfer
        self.min_transfer = 10  # 0.1 yuan, WeChat's floor for a transfer to a user
        self.balance = balance  # fen in the merchant's basic account; payments add, refunds and transfers take
        self.clock = clock
        self._tamper_hash = False

        self.mchid = "1900000109"
        self.appid = "wx" + secrets.token_hex(8)
        self.apiv3_key = wire.random_text(32)
        merchant_key = new_rsa_private_key()
        self.merchant_private_key_pem = private_key_pem(merchant_key)
        self.merchant_serial_no = secrets.token_hex(20).upper()
        self._merchant_public_key = merchant_key.public_key()
        self._platform_key = new_rsa_private_key()
        self.platform_public_key_pem = public_key_pem(self._platform_key)
        self.public_key_id = f"PUB_KEY_ID_01{self.mchid}{self.now().astimezone(SHANGHAI):%Y%m%d}" + "".join(
            secrets.choice(string.digits) for _ in range(14)
        )

        self.requests: list[dict[str, Any]] = []
        self.stats: Counter[str] = Counter()
        self.faults_injected: Counter[str] = Counter()
        self.errors: list[str] = []  # tracebacks of the fake's own bugs; the fixture fails the test if any
        self.ledger: list[dict[str, Any]] = []
        self._balance_after: list[int] = []  # the account balance after each ledger entry, for the fund-flow bill
        self._faults: list[_QueuedFault] = []
        self._orders: dict[str, _Order] = {}
        self._refunds: dict[str, _Refund] = {}
        self._transfers: dict[str, _Transfer] = {}
        self._downloads: dict[str, tuple[bytes, datetime]] = {}
        self._event_ids: dict[tuple[str, str], str] = {}
        self._sequence: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: wire.Server | None = None
        self._thread: threading.Thread | None = None

    @cached_property
    def _foreign_key(self) -> rsa.RSAPrivateKey:
        """A key that is not WeChat's, for notifications signed by someone else (made only when needed)."""
        return new_rsa_private_key()

    # ------------------------------------------------------------------ lifecycle and configuration

    def start(self) -> FakeWeChatPay:
        """Bind an ephemeral port on 127.0.0.1 and serve from a daemon thread."""
        self._server = wire.Server(self._handle)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-wechatpay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; handlers hanging for a timeout fault are woken and drop their connection."""
        self._stopping.set()
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()

    def __enter__(self) -> FakeWeChatPay:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def now(self) -> datetime:
        """The fake's time: ``clock()`` (settable; the default follows time-machine), in whole seconds like every
        WeChat time. Request timestamps are checked against it, so a clock far from the client's makes every request
        a SIGN_ERROR, as at WeChat."""
        return self.clock().replace(microsecond=0)

    def _at(self, at: datetime | None) -> datetime:
        """A hook's ``at`` (default now), in whole seconds."""
        return (at or self.now()).replace(microsecond=0)

    def options(self, notify_url: str) -> dict[str, str]:
        """The app's channel OPTIONS that make its adapter talk to this fake."""
        return {
            "MCHID": self.mchid,
            "APPID": self.appid,
            "APIV3_KEY": self.apiv3_key,
            "PRIVATE_KEY": self.merchant_private_key_pem,
            "CERT_SERIAL_NO": self.merchant_serial_no,
            "PUBLIC_KEY": self.platform_public_key_pem,
            "PUBLIC_KEY_ID": self.public_key_id,
            "NOTIFY_URL": notify_url,
            "BASE_URL": self.base_url,
        }

    def inject(self, method: str, path_prefix: str, fault: str, times: int = 1) -> None:
        """Queue ``fault`` for the next ``times`` requests whose method and path (without query) match; queued faults
        are consumed in the order injected. See ``FAULTS``."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        with self._lock:
            self._faults.append(_QueuedFault(method.upper(), path_prefix, fault, times))

    def tamper_bill_hash(self, tampered: bool = True) -> None:
        """From now on, bill answers carry a hash_value that does not match the file."""
        self._tamper_hash = tampered

    # ------------------------------------------------------------------ ledger

    def money_in(self) -> int:
        """Fen received from payers."""
        with self._lock:
            return sum(e["amount"] for e in self.ledger if e["kind"] == "payment")

    def money_out(self) -> int:
        """Fen that left the merchant: refunds and transfers."""
        with self._lock:
            return sum(e["amount"] for e in self.ledger if e["kind"] != "payment")

    def paid_out_by_key(self) -> dict[str, int]:
        """Fen paid out per out_refund_no / out_bill_no; a key paid twice would show twice its amount."""
        totals: Counter[str] = Counter()
        with self._lock:
            for entry in self.ledger:
                if entry["kind"] != "payment":
                    totals[entry["key"]] += entry["amount"]
        return dict(totals)

    def _move_money(self, kind: str, key: str, amount: int, at: datetime, ident: str) -> None:
        self.ledger.append({"kind": kind, "key": key, "amount": amount, "at": at, "id": ident})
        self.balance += amount if kind == "payment" else -amount
        self._balance_after.append(self.balance)

    # ------------------------------------------------------------------ ids (counters, so runs are reproducible)

    def _next(self, kind: str) -> int:
        self._sequence[kind] += 1
        return self._sequence[kind]

    def _local(self, moment: datetime | None = None) -> datetime:
        return (moment or self.now()).astimezone(SHANGHAI)

    def _event_id(self, event_type: str, key: str) -> str:
        """One id per event: WeChat re-delivers the same notification id with a fresh signature."""
        if (event_type, key) not in self._event_ids:
            self._event_ids[event_type, key] = f"EV-{self._local():%Y%m%d%H%M%S}{self._next('event'):07d}"
        return self._event_ids[event_type, key]

    # ------------------------------------------------------------------ user-side and time hooks: payments

    def pay(self, out_trade_no: str, *, at: datetime | None = None, payer_openid: str | None = None,
            amount: int | None = None) -> str:
        """The user pays the order in WeChat: SUCCESS, a transaction_id, money in the ledger. ``payer_openid`` and
        ``amount`` let a test make a payment a real channel would not (another buyer, another amount).
        Raises ``Refused`` for an order that is not NOTPAY or is past its time_expire. Returns the transaction_id."""
        with self._lock:
            order = self._order(out_trade_no)
            at = self._at(at)
            if order.state != "NOTPAY":
                raise Refused(f"order {out_trade_no} is {order.state}")
            if order.time_expire is not None and at > order.time_expire:
                raise Refused(f"order {out_trade_no} expired at {rfc3339(order.time_expire)}")
            return self._settle_order(order, at, payer_openid or order.openid, amount or order.total)

    def pay_unknown_order(self, out_trade_no: str, amount: int, openid: str, at: datetime | None = None) -> str:
        """A successful payment of an order number the app never created (it shows in queries, notifications and
        bills). Returns the transaction_id."""
        with self._lock:
            if out_trade_no in self._orders:
                raise ValueError(f"order {out_trade_no} exists")
            at = self._at(at)
            order = _Order(out_trade_no, self.appid, "", amount, openid, params=None)
            self._orders[out_trade_no] = order
            return self._settle_order(order, at, openid, amount)

    def _settle_order(self, order: _Order, at: datetime, openid: str, amount: int) -> str:
        n = self._next("transaction")
        order.transaction_id = f"4200{n:08d}{self._local(at):%Y%m%d}{n:08d}"
        order.state, order.success_time, order.payer_openid, order.paid = "SUCCESS", at, openid, amount
        self._move_money("payment", order.out_trade_no, amount, at, order.transaction_id)
        return order.transaction_id

    def complete_refund(self, out_refund_no: str, status: str = "SUCCESS", *, at: datetime | None = None) -> None:
        """Finish a PROCESSING refund as SUCCESS (money out, in the ledger), ABNORMAL or CLOSED."""
        with self._lock:
            refund = self._refund(out_refund_no)
            if refund.status != "PROCESSING":
                raise Refused(f"refund {out_refund_no} is {refund.status}")
            if status not in _REFUND_EVENTS:
                raise ValueError(f"a refund ends SUCCESS, ABNORMAL or CLOSED, not {status!r}")
            refund.status = status
            if status == "SUCCESS":
                refund.success_time = self._at(at)
                self._move_money("refund", out_refund_no, refund.refund, refund.success_time, refund.refund_id)

    # ------------------------------------------------------------------ user-side and time hooks: transfers

    def confirm(self, out_bill_no: str, *, at: datetime | None = None) -> None:
        """The user confirms receipt in the mini-program: WAIT_USER_CONFIRM → SUCCESS, money out (once)."""
        self._transfer_hook(out_bill_no, ("WAIT_USER_CONFIRM",), "SUCCESS", at)

    def user_cancel(self, out_bill_no: str, *, at: datetime | None = None) -> None:
        """The user declines the transfer: WAIT_USER_CONFIRM → CANCELLED."""
        self._transfer_hook(out_bill_no, ("WAIT_USER_CONFIRM",), "CANCELLED", at)

    def expire(self, out_bill_no: str, *, at: datetime | None = None) -> None:
        """Not confirmed within 24 h: WAIT_USER_CONFIRM → CANCELLED (WeChat closes it and returns the money)."""
        self._transfer_hook(out_bill_no, ("WAIT_USER_CONFIRM",), "CANCELLED", at)

    def fail(self, out_bill_no: str, reason: str = "PAYEE_ACCOUNT_ABNORMAL", *, at: datetime | None = None) -> None:
        """The transfer fails (any open state → FAIL with ``fail_reason``)."""
        with self._lock:
            self._transfer_hook(out_bill_no, _TRANSFER_OPEN, "FAIL", at)
            self._transfers[out_bill_no].fail_reason = reason

    def hold_transfer(self, out_bill_no: str, state: str) -> None:
        """Put an open bill in another open state (e.g. PROCESSING, TRANSFERING) so a test sees how the app reads it."""
        if state not in _TRANSFER_OPEN:
            raise ValueError(f"{state!r} is not an open transfer state")
        self._transfer_hook(out_bill_no, _TRANSFER_OPEN, state, None)

    def process_transfers(self, *, at: datetime | None = None) -> list[str]:
        """WeChat's back office catches up: ACCEPTED, PROCESSING and TRANSFERING bills succeed, CANCELING ones are
        CANCELLED. Returns the out_bill_nos that moved."""
        moved = []
        with self._lock:
            for bill in self._transfers.values():
                if bill.state in ("ACCEPTED", "PROCESSING", "TRANSFERING"):
                    self._move_transfer(bill, "SUCCESS", self._at(at))
                elif bill.state == "CANCELING":
                    self._move_transfer(bill, "CANCELLED", self._at(at))
                else:
                    continue
                moved.append(bill.out_bill_no)
        return moved

    def _transfer_hook(self, out_bill_no: str, allowed: tuple[str, ...], state: str, at: datetime | None) -> None:
        with self._lock:
            bill = self._transfer(out_bill_no)
            if bill.state not in allowed:
                raise Refused(f"transfer {out_bill_no} is {bill.state}")
            self._move_transfer(bill, state, self._at(at))

    def _move_transfer(self, bill: _Transfer, state: str, at: datetime) -> None:
        bill.state, bill.updated = state, at
        if state == "SUCCESS":
            self._move_money("transfer", bill.out_bill_no, bill.amount, at, bill.transfer_bill_no)

    # ------------------------------------------------------------------ read-only views for assertions

    def transaction(self, out_trade_no: str) -> dict[str, Any]:
        """The order as the query API returns it."""
        with self._lock:
            return self._transaction_view(self._order(out_trade_no))

    def refund(self, out_refund_no: str) -> dict[str, Any]:
        """The refund as the query API returns it."""
        with self._lock:
            return self._refund_view(self._refund(out_refund_no))

    def transfer(self, out_bill_no: str) -> dict[str, Any]:
        """The transfer bill as the query API returns it (no package_info)."""
        with self._lock:
            return self._transfer_view(self._transfer(out_bill_no))

    def _order(self, out_trade_no: str) -> _Order:
        if out_trade_no not in self._orders:
            raise KeyError(f"no order {out_trade_no}")
        return self._orders[out_trade_no]

    def _refund(self, out_refund_no: str) -> _Refund:
        if out_refund_no not in self._refunds:
            raise KeyError(f"no refund {out_refund_no}")
        return self._refunds[out_refund_no]

    def _transfer(self, out_bill_no: str) -> _Transfer:
        if out_bill_no not in self._transfers:
            raise KeyError(f"no transfer {out_bill_no}")
        return self._transfers[out_bill_no]

    def _transaction_view(self, order: _Order) -> dict[str, Any]:
        view: dict[str, Any] = {
            "appid": order.appid,
            "mchid": self.mchid,
            "out_trade_no": order.out_trade_no,
            "trade_type": "JSAPI",
            "trade_state": order.state,
            "trade_state_desc": _TRADE_STATE_DESC[order.state],
            "attach": order.attach,
        }
        if order.success_time is None:
            view["amount"] = {"total": order.total, "currency": "CNY", "payer_currency": "CNY"}
            return view
        view.update({
            "transaction_id": order.transaction_id,
            "bank_type": "OTHERS",
            "success_time": rfc3339(order.success_time),
            "payer": {"openid": order.payer_openid},
            "amount": {"total": order.paid, "payer_total": order.paid, "currency": "CNY", "payer_currency": "CNY"},
        })
        return view

    def _refund_view(self, refund: _Refund) -> dict[str, Any]:
        order = refund.order
        view: dict[str, Any] = {
            "refund_id": refund.refund_id,
            "out_refund_no": refund.out_refund_no,
            "transaction_id": order.transaction_id,
            "out_trade_no": order.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": rfc3339(refund.created),
            "status": refund.status,
            "funds_account": "AVAILABLE",
            "amount": {
                "total": order.paid, "refund": refund.refund, "payer_total": order.paid, "payer_refund": refund.refund,
                "settlement_total": order.paid, "settlement_refund": refund.refund, "discount_refund": 0,
                "currency": "CNY", "refund_fee": 0, "from": [],
            },
            "promotion_detail": [],
        }
        if refund.success_time is not None:
            view["success_time"] = rfc3339(refund.success_time)
        return view

    def _transfer_view(self, bill: _Transfer) -> dict[str, Any]:
        view: dict[str, Any] = {
            "mch_id": self.mchid,
            "out_bill_no": bill.out_bill_no,
            "transfer_bill_no": bill.transfer_bill_no,
            "appid": self.appid,
            "state": bill.state,
            "transfer_amount": bill.amount,
            "transfer_remark": bill.remark,
            "openid": bill.openid,
            "create_time": rfc3339(bill.created),
            "update_time": rfc3339(bill.updated),
        }
        if bill.fail_reason is not None:
            view["fail_reason"] = bill.fail_reason
        return view

    # ------------------------------------------------------------------ notifications (WeChat → app)

    def payment_notification(self, out_trade_no: str, *, at: datetime | None = None) -> tuple[dict[str, str], bytes]:
        """TRANSACTION.SUCCESS for a paid order, its resource the transaction the query returns. ``at`` is when
        WeChat sends it (the signed timestamp); every call signs afresh, like a re-delivery."""
        with self._lock:
            order = self._order(out_trade_no)
            if order.success_time is None:
                raise Refused(f"order {out_trade_no} is not paid; WeChat only notifies payments")
            resource = self._transaction_view(order) | {"trade_state": "SUCCESS", "trade_state_desc": "支付成功"}
            event_id = self._event_id("TRANSACTION.SUCCESS", out_trade_no)
            return self.build_notification("TRANSACTION.SUCCESS", "支付成功", "transaction", resource,
                                           create_time=order.success_time, event_id=event_id, at=at)

    def refund_notification(self, out_refund_no: str, *, at: datetime | None = None) -> tuple[dict[str, str], bytes]:
        """REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED for a finished refund."""
        with self._lock:
            refund = self._refund(out_refund_no)
            if refund.status not in _REFUND_EVENTS:
                raise Refused(f"refund {out_refund_no} is {refund.status}; WeChat notifies finished refunds")
            event_type, summary = _REFUND_EVENTS[refund.status]
            order = refund.order
            resource: dict[str, Any] = {
                "mchid": self.mchid,
                "out_trade_no": order.out_trade_no,
                "transaction_id": order.transaction_id,
                "out_refund_no": refund.out_refund_no,
                "refund_id": refund.refund_id,
                "refund_status": refund.status,
                "user_received_account": "支付用户零钱",
                "amount": {"total": order.paid, "refund": refund.refund, "payer_total": order.paid,
                           "payer_refund": refund.refund},
            }
            if refund.success_time is not None:
                resource["success_time"] = rfc3339(refund.success_time)
            return self.build_notification(event_type, summary, "refund", resource,
                                           create_time=refund.success_time or self.now(),
                                           event_id=self._event_id(event_type, out_refund_no), at=at)

    def transfer_notification(self, out_bill_no: str, *, at: datetime | None = None) -> tuple[dict[str, str], bytes]:
        """MCHTRANSFER.BILL.FINISHED for a bill in a final state (SUCCESS, FAIL, CANCELLED)."""
        with self._lock:
            bill = self._transfer(out_bill_no)
            if bill.state not in _TRANSFER_FINAL:
                raise Refused(f"transfer {out_bill_no} is {bill.state}; WeChat notifies final states")
            resource: dict[str, Any] = {
                "out_bill_no": bill.out_bill_no,
                "transfer_bill_no": bill.transfer_bill_no,
                "state": bill.state,
                "mch_id": self.mchid,
                "transfer_amount": bill.amount,
                "openid": bill.openid,
                "create_time": rfc3339(bill.created),
                "update_time": rfc3339(bill.updated),
            }
            if bill.fail_reason is not None:
                resource["fail_reason"] = bill.fail_reason
            return self.build_notification("MCHTRANSFER.BILL.FINISHED", "商家转账单据终态通知", "mch_payment", resource,
                                           create_time=bill.updated,
                                           event_id=self._event_id("MCHTRANSFER.BILL.FINISHED", out_bill_no), at=at)

    def build_notification(self, event_type: str, summary: str, original_type: str, resource: Mapping[str, Any], *,
                           create_time: datetime, event_id: str | None = None, at: datetime | None = None,
                           apiv3_key: str | None = None) -> tuple[dict[str, str], bytes]:
        """Any notification, ``resource`` encrypted under the APIv3 key (or ``apiv3_key``, to forge one) and the body
        signed with the platform key as of ``at`` (default now). Returns ``(headers, body)``."""
        with self._lock:
            body = wire.json_bytes({
                "id": event_id or f"EV-{self._local():%Y%m%d%H%M%S}{self._next('event'):07d}",
                "create_time": rfc3339(create_time),
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": summary,
                "resource": wire.encrypt_resource(apiv3_key or self.apiv3_key, resource, original_type),
            })
        return self.notification_headers(body, timestamp=int(self._at(at).timestamp())), body

    def notification_headers(self, body: bytes, *, timestamp: int | None = None, serial: str | None = None,
                             probe: bool = False, foreign_key: bool = False) -> dict[str, str]:
        """Wechatpay-* headers for ``body``, signed over ``timestamp\\nnonce\\nbody\\n`` with the platform key. For
        bad ones: ``timestamp`` (epoch seconds, e.g. stale), ``serial`` (another Wechatpay-Serial), ``probe`` (a
        WECHATPAY/SIGNTEST/ probe signature), ``foreign_key`` (signed by a key that is not WeChat's)."""
        return wire.signature_headers(
            self._foreign_key if foreign_key else self._platform_key, body,
            timestamp=int(self.now().timestamp()) if timestamp is None else timestamp,
            serial=serial or self.public_key_id, signature=wire.probe_signature() if probe else None)

    @staticmethod
    def deliver(url: str, headers: Mapping[str, str], body: bytes, *, timeout: float = 5.0) -> requests.Response:
        """POST a notification to a live server as WeChat does (JSON body, the Wechatpay-* headers)."""
        return requests.post(url, data=body, timeout=timeout,
                             headers={"Content-Type": "application/json", "User-Agent": "Mozilla/4.0", **headers})

    # ------------------------------------------------------------------ HTTP plumbing

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        """Record the request, apply an injected fault, route, authenticate and answer."""
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        split = urlsplit(handler.path)
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        record: dict[str, Any] = {"method": handler.command, "path": handler.path, "headers": dict(handler.headers),
                                  "body": body, "json": parsed, "status": None, "fault": None}
        with self._lock:
            self.requests.append(record)
            fault = record["fault"] = self._take_fault(handler.command, split.path)
        if fault == "timeout_before":
            self._stopping.wait(self.hang_seconds)
            return
        if fault in _REFUSALS:
            answer = wire.error_answer(*_REFUSALS[fault])
        else:
            request = wire.Request(handler.command, handler.path, (), dict(parse_qsl(split.query)), handler.headers,
                                   body)
            with self._lock:
                answer = self._dispatch(request, split.path)
        if fault == "timeout_after":
            self._stopping.wait(self.hang_seconds)
            return
        if fault == "5xx_after":
            answer = wire.error_answer(500, "SYSTEM_ERROR", "系统错误")
        elif fault == "unreadable":
            answer = wire.Answer(200, answer.body[: len(answer.body) // 2] or b"<html>502 Bad Gateway</html>")
        with self._lock:
            record["status"] = answer.status  # before sending: the client may look at the record as soon as it reads
            headers = {"Request-ID": f"08F{self._next('request'):029X}"}
        if answer.signed:
            signed_body = answer.body + (b" tampered" if fault == "bad_signature" else b"")
            headers |= wire.signature_headers(self._platform_key, signed_body, timestamp=int(self.now().timestamp()),
                                              serial=self.public_key_id)
        wire.send(handler, answer, headers)

    def _take_fault(self, method: str, path: str) -> str | None:
        """The first queued fault matching the request, consumed."""
        for queued in self._faults:
            if queued.method == method and path.startswith(queued.path_prefix):
                queued.remaining -= 1
                if queued.remaining == 0:
                    self._faults.remove(queued)
                self.faults_injected[queued.fault] += 1
                return queued.fault
        return None

    def _dispatch(self, request: wire.Request, path: str) -> wire.Answer:
        """Route, authenticate, run the endpoint. ``stats`` counts requests that reached an endpoint, by its name,
        plus ``sign_error`` and ``not_found``."""
        route = next(((name, match.groups()) for method, pattern, name in _ROUTES
                      if method == request.method and (match := pattern.fullmatch(path))), None)
        if route is None:
            self.stats["not_found"] += 1
            return wire.error_answer(404, "NOT_FOUND", "请求的资源不存在")
        name, groups = route
        request = replace(request, args=tuple(unquote(group) for group in groups))
        try:
            wire.verify_authorization(request, mchid=self.mchid, serial_no=self.merchant_serial_no,
                                      public_key=self._merchant_public_key, now=self.now())
        except wire.ApiError as error:
            self.stats["sign_error"] += 1
            return wire.error_answer(error.status, error.code, error.message)
        self.stats[name] += 1
        try:
            return getattr(self, "_api_" + name)(request)
        except wire.ApiError as error:
            return wire.error_answer(error.status, error.code, error.message)
        except Exception:  # a bug in the fake: answered, and reported by the fixture so it cannot pass for a fault
            self.errors.append(traceback.format_exc())
            return wire.error_answer(500, "SYSTEM_ERROR", "fake WeChat Pay internal error (see fake.errors)")

    # ------------------------------------------------------------------ API: payments

    def _api_jsapi(self, request: wire.Request) -> wire.Answer:
        body = request.json()
        appid, mchid = wire.text(body, "appid", 32), wire.text(body, "mchid", 32)
        if appid != self.appid or mchid != self.mchid:
            raise wire.ApiError(400, "APPID_MCHID_NOT_MATCH", "AppID和mch_id不匹配")
        description = wire.text(body, "description", 127)
        out_trade_no = wire.text(body, "out_trade_no", 32, pattern=_OUT_TRADE_NO)
        wire.text(body, "notify_url", 255)
        wire.https_url(body, "notify_url")
        attach = wire.optional_text(body, "attach", 128) or ""
        amount, payer = body.get("amount"), body.get("payer")
        if not isinstance(amount, dict) or amount.get("currency", "CNY") != "CNY":
            raise wire.param_error("参数 amount 格式错误")
        total = wire.fen(amount, "total")
        if not isinstance(payer, dict):
            raise wire.param_error("缺少参数 payer")
        openid = wire.text(payer, "openid", 128)
        time_expire = self._time(body, "time_expire")
        existing = self._orders.get(out_trade_no)
        if existing is not None:
            if existing.state in _PAID:
                raise wire.ApiError(400, "ORDERPAID", "该订单已支付")
            if existing.state == "CLOSED":
                raise wire.ApiError(400, "ORDER_CLOSED", "订单已关闭")
            if existing.params != body:
                raise wire.invalid_request("201 商户订单号重复")
            return wire.json_answer({"prepay_id": existing.prepay_id})
        if time_expire is not None and time_expire <= self.now():
            raise wire.param_error("time_expire 已过期")
        order = _Order(out_trade_no, self.appid, description, total, openid, params=body, attach=attach,
                       time_expire=time_expire)
        order.prepay_id = f"wx{self._local():%d%H%M%S}{self._next('prepay'):026d}"
        self._orders[out_trade_no] = order
        return wire.json_answer({"prepay_id": order.prepay_id})

    @staticmethod
    def _time(body: Mapping[str, Any], name: str) -> datetime | None:
        raw = wire.optional_text(body, name, 64)
        if raw is None:
            return None
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None or "T" not in raw:
            raise wire.param_error(f"参数 {name} 应为 RFC 3339 格式，如 2026-12-07T10:00:00+08:00")
        return moment

    def _check_mchid(self, value: str | None) -> None:
        if value is None:
            raise wire.param_error("缺少参数 mchid")
        if value != self.mchid:
            raise wire.param_error("参数 mchid 与请求商户号不一致")

    def _api_query(self, request: wire.Request) -> wire.Answer:
        self._check_mchid(request.query.get("mchid"))
        order = self._orders.get(request.args[0])
        if order is None:
            raise wire.ApiError(404, "ORDER_NOT_EXIST", "订单不存在")
        return wire.json_answer(self._transaction_view(order))

    def _api_query_by_id(self, request: wire.Request) -> wire.Answer:
        self._check_mchid(request.query.get("mchid"))
        for order in self._orders.values():
            if order.transaction_id == request.args[0]:
                return wire.json_answer(self._transaction_view(order))
        raise wire.ApiError(404, "ORDER_NOT_EXIST", "订单不存在")

    def _api_close(self, request: wire.Request) -> wire.Answer:
        self._check_mchid(request.json().get("mchid"))
        order = self._orders.get(request.args[0])
        if order is not None:
            if order.state in _PAID:
                raise wire.ApiError(400, "ORDERPAID", "订单已支付")
            order.state = "CLOSED"
        # Closing is idempotent, and WeChat answers 204 even for an order number it does not know.
        return wire.Answer(204, content_type=None)

    # ------------------------------------------------------------------ API: refunds

    def _api_refund(self, request: wire.Request) -> wire.Answer:
        body = request.json()
        out_refund_no = wire.text(body, "out_refund_no", 64, pattern=_OUT_REFUND_NO)
        transaction_id = wire.optional_text(body, "transaction_id", 32)
        out_trade_no = wire.text(body, "out_trade_no", 32) if transaction_id is None else None
        wire.optional_text(body, "reason", 80)
        wire.https_url(body, "notify_url")
        amount = body.get("amount")
        if not isinstance(amount, dict) or amount.get("currency", "CNY") != "CNY":
            raise wire.param_error("参数 amount 格式错误")
        refund_fen, total = wire.fen(amount, "refund"), wire.fen(amount, "total")
        order = self._paid_order(transaction_id, out_trade_no)
        if order is None:
            raise wire.ApiError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        existing = self._refunds.get(out_refund_no)
        if existing is not None:
            if existing.order is not order or existing.refund != refund_fen or total != order.paid:
                raise wire.invalid_request("退款单号已存在，但与之前请求的订单或金额不一致")
            return wire.json_answer(self._refund_view(existing))
        if total != order.paid:
            raise wire.param_error("订单金额 total 与原订单金额不一致")
        committed = sum(r.refund for r in self._refunds.values() if r.order is order and r.status != "CLOSED")
        if refund_fen > order.paid - committed:
            raise wire.invalid_request("申请退款金额超过订单可退金额")
        n = self._next("refund")
        refund = _Refund(out_refund_no, f"5030{n:07d}{self._local():%Y%m%d}{n:010d}", order, refund_fen, self.now())
        self._refunds[out_refund_no] = refund
        order.state = "REFUND"
        answer = wire.json_answer(self._refund_view(refund))
        if self.auto_complete_refunds:  # answered as accepted, then WeChat finishes it
            self.complete_refund(out_refund_no)
        return answer

    def _paid_order(self, transaction_id: str | None, out_trade_no: str | None) -> _Order | None:
        """The paid order a refund names, by transaction_id if given, else by out_trade_no."""
        for order in self._orders.values():
            key = order.transaction_id if transaction_id else order.out_trade_no
            if order.success_time is not None and key == (transaction_id or out_trade_no):
                return order
        return None

    def _api_refund_query(self, request: wire.Request) -> wire.Answer:
        refund = self._refunds.get(request.args[0])
        if refund is None:
            raise wire.ApiError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return wire.json_answer(self._refund_view(refund))

    # ------------------------------------------------------------------ API: merchant transfers (商家转账)

    def _api_transfer(self, request: wire.Request) -> wire.Answer:
        body = request.json()
        if wire.text(body, "appid", 32) != self.appid:
            raise wire.invalid_request("appid 与商户号不存在绑定关系")
        out_bill_no = wire.text(body, "out_bill_no", 32, pattern=_OUT_BILL_NO)
        scene = wire.text(body, "transfer_scene_id", 36)
        openid = wire.text(body, "openid", 64)
        amount = wire.fen(body, "transfer_amount")
        remark = wire.text(body, "transfer_remark", 32)
        wire.optional_text(body, "user_recv_perception", 32)
        wire.https_url(body, "notify_url")
        reports = body.get("transfer_scene_report_infos") or []
        if not isinstance(reports, list) or not all(
                isinstance(r, dict) and isinstance(r.get("info_type"), str) and isinstance(r.get("info_content"), str)
                for r in reports):
            raise wire.param_error("参数 transfer_scene_report_infos 格式错误")
        if scene == "1000" and not {"活动名称", "奖励说明"} <= {r["info_type"] for r in reports}:
            raise wire.param_error("转账场景 1000（现金营销）须报备“活动名称”和“奖励说明”")
        params = dict(body)
        if body.get("user_name") is not None:
            if request.headers.get("Wechatpay-Serial") != self.public_key_id:
                raise wire.param_error("Wechatpay-Serial 缺失或与加密 user_name 所用的微信支付公钥不一致")
            params["user_name"] = wire.decrypt_sensitive(self._platform_key, str(body["user_name"]))
        elif amount >= 200_000:
            raise wire.param_error("转账金额 >= 2000 元时必须填写收款用户姓名 user_name")
        existing = self._transfers.get(out_bill_no)
        if existing is not None:
            if existing.params != params:
                raise wire.invalid_request("单号已存在但信息不一致，请查单后比较确认")
            return wire.json_answer(self._transfer_answer(existing))
        if amount < self.min_transfer:
            raise wire.invalid_request("转账金额低于单笔最低限额")
        if amount > self.max_transfer:
            raise wire.invalid_request("超过单笔转账上下限")
        reserved = sum(b.amount for b in self._transfers.values() if b.state in _TRANSFER_OPEN)
        if amount > self.balance - reserved:
            raise wire.ApiError(403, "NOT_ENOUGH", "资金不足")
        now = self.now()
        number = f"1330{self.mchid}{self._local(now):%Y%m%d}{self._next('transfer'):018d}"
        package = "ABBQO+oYAAABAAAAAAB" + hashlib.sha256(f"{self.appid}:{number}".encode()).hexdigest()
        state = "WAIT_USER_CONFIRM" if self.confirm_required else "ACCEPTED"
        bill = _Transfer(out_bill_no, number, params, openid, amount, remark, now, now, state, package)
        self._transfers[out_bill_no] = bill
        if not self.confirm_required and self.settle_transfers_at_once:
            self._move_transfer(bill, "SUCCESS", now)
        return wire.json_answer(self._transfer_answer(bill))

    @staticmethod
    def _transfer_answer(bill: _Transfer) -> dict[str, Any]:
        answer: dict[str, Any] = {"out_bill_no": bill.out_bill_no, "transfer_bill_no": bill.transfer_bill_no,
                                  "create_time": rfc3339(bill.created), "state": bill.state}
        if bill.state == "WAIT_USER_CONFIRM":
            answer["package_info"] = bill.package_info
        if bill.fail_reason is not None:
            answer["fail_reason"] = bill.fail_reason
        return answer

    def _api_transfer_query(self, request: wire.Request) -> wire.Answer:
        bill = self._transfers.get(request.args[0])
        if bill is None:
            raise wire.ApiError(404, "NOT_FOUND", "记录不存在")
        return wire.json_answer(self._transfer_view(bill))

    def _api_transfer_query_by_no(self, request: wire.Request) -> wire.Answer:
        for bill in self._transfers.values():
            if bill.transfer_bill_no == request.args[0]:
                return wire.json_answer(self._transfer_view(bill))
        raise wire.ApiError(404, "NOT_FOUND", "记录不存在")

    def _api_transfer_cancel(self, request: wire.Request) -> wire.Answer:
        bill = self._transfers.get(request.args[0])
        if bill is None:
            raise wire.ApiError(404, "NOT_FOUND", "记录不存在")
        if bill.state in ("WAIT_USER_CONFIRM", "ACCEPTED"):
            self._move_transfer(bill, "CANCELING", self.now())
        elif bill.state not in ("CANCELING", "CANCELLED"):
            raise wire.invalid_request(f"单据状态为 {bill.state}，不支持撤销")
        return wire.json_answer({"out_bill_no": bill.out_bill_no, "transfer_bill_no": bill.transfer_bill_no,
                                 "state": bill.state, "update_time": rfc3339(bill.updated)})

    # ------------------------------------------------------------------ API: bills

    def _statement_day(self, query: Mapping[str, str]) -> date:
        """The requested day, if its bill exists yet: WeChat builds day D's bills from 09:00 on D+1 and advises
        fetching after 10:00; a future day is an invalid request."""
        raw = query.get("bill_date", "")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise wire.param_error("参数 bill_date 应为 YYYY-MM-DD")
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise wire.param_error("参数 bill_date 不是合法日期") from None
        local_now = self._local()
        if day > local_now.date():
            raise wire.invalid_request("账单日期不能晚于当前日期")
        if local_now < datetime.combine(day + timedelta(days=1), time(10), tzinfo=SHANGHAI):
            raise wire.ApiError(400, "STATEMENT_CREATING", "账单生成中")
        return day

    def _api_tradebill(self, request: wire.Request) -> wire.Answer:
        day = self._statement_day(request.query)
        bill_type = request.query.get("bill_type", "ALL")
        if bill_type not in ("ALL", "SUCCESS", "REFUND"):
            raise wire.param_error("参数 bill_type 取值应为 ALL、SUCCESS 或 REFUND")
        payments = [o for o in self._orders.values() if bill_type != "REFUND" and self._on_day(o.success_time, day)]
        refunds = [r for r in self._refunds.values() if bill_type != "SUCCESS" and self._on_day(r.success_time, day)]
        rows = sorted([(o.success_time, self._trade_row(o, None)) for o in payments]
                      + [(r.success_time, self._trade_row(r.order, r)) for r in refunds], key=lambda row: row[0])
        paid, refunded = sum(o.paid for o in payments), sum(r.refund for r in refunds)
        summary = [str(len(rows)), _yuan(paid), _yuan(refunded), "0.00", "0.00000", _yuan(paid), _yuan(refunded)]
        return self._statement_file(TRADE_BILL_HEADER, [row for _, row in rows], TRADE_BILL_SUMMARY_HEADER, summary,
                                    request.query)

    def _on_day(self, moment: datetime | None, day: date) -> bool:
        return moment is not None and self._local(moment).date() == day

    def _trade_row(self, order: _Order, refund: _Refund | None) -> list[str]:
        """One detail row, amounts in yuan: a payment (交易状态 SUCCESS) or a refund of it (REFUND, carrying the
        refund amounts and not the order amount again). Fees are not modelled: always zero."""
        when = refund.success_time if refund else order.success_time
        paid = 0 if refund else order.paid
        refunded = refund.refund if refund else 0
        return [
            self._local(when).strftime("%Y-%m-%d %H:%M:%S"), order.appid, self.mchid, "0", "",
            order.transaction_id or "", order.out_trade_no, order.payer_openid, "JSAPI",
            "REFUND" if refund else "SUCCESS", "OTHERS", "CNY", _yuan(paid), "0.00",
            refund.refund_id if refund else "0", refund.out_refund_no if refund else "0", _yuan(refunded), "0.00",
            "ORIGINAL" if refund else "", "SUCCESS" if refund else "", order.description, order.attach,
            "0.00000", "0.00%", _yuan(paid), _yuan(refunded), "",
        ]

    def _api_fundflowbill(self, request: wire.Request) -> wire.Answer:
        day = self._statement_day(request.query)
        account = request.query.get("account_type", "BASIC")
        if account not in ("BASIC", "OPERATION", "FEES"):
            raise wire.param_error("参数 account_type 取值应为 BASIC、OPERATION 或 FEES")
        # The fake has one account, the basic one; the others never see money (so their bills do not exist).
        entries = [(i, e) for i, e in enumerate(self.ledger) if account == "BASIC" and self._on_day(e["at"], day)]
        names = {"payment": ("交易", "交易", "收入"), "refund": ("退款", "退款", "支出"),
                 "transfer": ("商家转账", "商家转账", "支出")}
        details = [[
            self._local(entry["at"]).strftime("%Y-%m-%d %H:%M:%S"), entry["id"],
            f"{self.mchid}{day:%Y%m%d}{index + 1:012d}", *names[entry["kind"]], _yuan(entry["amount"]),
            _yuan(self._balance_after[index]), "system" if entry["kind"] == "payment" else self.mchid, "",
            entry["key"],
        ] for index, entry in entries]
        incomes = [e["amount"] for _, e in entries if e["kind"] == "payment"]
        outgoings = [e["amount"] for _, e in entries if e["kind"] != "payment"]
        summary = [str(len(entries)), str(len(incomes)), _yuan(sum(incomes)), str(len(outgoings)),
                   _yuan(sum(outgoings))]
        return self._statement_file(FUND_BILL_HEADER, details, FUND_BILL_SUMMARY_HEADER, summary, request.query)

    def _statement_file(self, header: str, details: list[list[str]], summary_header: str, summary: list[str],
                        query: Mapping[str, str]) -> wire.Answer:
        """Store the file behind a download token and answer WeChat's {hash_type, hash_value, download_url}. Fields
        are backtick-prefixed as in WeChat's files; the SHA1 is of the uncompressed file."""
        if not details:
            raise wire.ApiError(400, "NO_STATEMENT_EXIST", "请求的账单文件不存在")
        tar_type = query.get("tar_type")
        if tar_type not in (None, "GZIP"):
            raise wire.param_error("参数 tar_type 只能为 GZIP")
        lines = [header, *(",".join("`" + field for field in row) for row in details), summary_header,
                 ",".join("`" + field for field in summary)]
        content = ("\r\n".join(lines) + "\r\n").encode("utf-8")
        digest = hashlib.sha1(content + (b"tampered" if self._tamper_hash else b"")).hexdigest()
        token = f"FAKEBILL{self._next('download'):024d}"
        self._downloads[token] = (gzip.compress(content, mtime=0) if tar_type else content, self.now())
        url = f"{self.base_url}/v3/billdownload/file?token={token}" + ("&tartype=gzip" if tar_type else "")
        return wire.json_answer({"hash_type": "SHA1", "hash_value": digest, "download_url": url})

    def _api_download(self, request: wire.Request) -> wire.Answer:
        """The file itself, unsigned like WeChat's downloads; the URL is valid for 5 minutes."""
        stored = self._downloads.get(request.query.get("token", ""))
        if stored is None or self.now() - stored[1] > timedelta(minutes=5):
            raise wire.invalid_request("下载链接无效或已过期")
        return wire.Answer(200, stored[0], content_type="application/octet-stream", signed=False)


@pytest.fixture
def fake_wechatpay() -> Iterator[FakeWeChatPay]:
    """A started fake, stopped after the test; the test fails if the fake itself crashed while answering."""
    with FakeWeChatPay() as fake:
        yield fake
    if fake.errors:
        pytest.fail("the fake WeChat Pay server crashed:\n" + "\n".join(fake.errors))
