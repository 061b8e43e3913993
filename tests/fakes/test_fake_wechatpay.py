"""The WeChat Pay fake checked against the client side of the real SDK (wechatpayv3): if the SDK's signed requests
pass, its signature checks accept every answer and its ``callback`` decrypts the notifications, the fake speaks the
protocol the app's adapter will meet in production."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import time_machine
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from wechatpayv3 import WeChatPay, WeChatPayType

from tests.fakes.keys import (
    certificate_pem,
    load_public_key_pem,
    new_rsa_private_key,
    private_key_pem,
    public_key_pem,
    self_signed_certificate,
    sign_sha256_rsa,
    verify_sha256_rsa,
)
from tests.fakes.wechatpay import (
    FUND_BILL_HEADER,
    SHANGHAI,
    TRADE_BILL_HEADER,
    FakeWeChatPay,
    Refused,
    meta_headers,
    rfc3339,
)

NOTIFY_URL = "https://clock.example.com/channels/wechat/notify"
RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00"
REPORTS = [{"info_type": "活动名称", "info_content": "早起打卡"}, {"info_type": "奖励说明", "info_content": "挑战奖金"}]


def sdk(fake: FakeWeChatPay, *, timeout: tuple[float, float] = (2, 5), private_key: str | None = None) -> WeChatPay:
    """A wechatpayv3 client in platform-public-key mode, configured only from the fake's public attributes."""
    client = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=fake.mchid,
        private_key=private_key or fake.merchant_private_key_pem,
        cert_serial_no=fake.merchant_serial_no,
        appid=fake.appid,
        apiv3_key=fake.apiv3_key,
        notify_url=NOTIFY_URL,
        public_key=fake.platform_public_key_pem,
        public_key_id=fake.public_key_id,
        timeout=timeout,
    )
    # wechatpayv3 hard-codes https://api.mch.weixin.qq.com and has no parameter for it: the private ``_gate_way``
    # attribute is the only way to point it at the fake.
    client._core._gate_way = fake.base_url
    return client


@pytest.fixture
def fake(fake_wechatpay: FakeWeChatPay) -> FakeWeChatPay:
    fake_wechatpay.hang_seconds = 1.5  # longer than the 1 s read timeout of the clients below, short for the suite
    return fake_wechatpay


@pytest.fixture
def wxpay(fake: FakeWeChatPay) -> WeChatPay:
    return sdk(fake)


def place(wxpay: WeChatPay, out_trade_no: str, total: int = 100, **extra: Any) -> tuple[int, dict[str, Any]]:
    code, text = wxpay.pay(description="早起挑战 第3天", out_trade_no=out_trade_no, amount={"total": total},
                           payer={"openid": "o-buyer-1"}, **extra)
    return code, json.loads(text)


def paid_order(wxpay: WeChatPay, fake: FakeWeChatPay, out_trade_no: str, total: int = 100) -> str:
    assert place(wxpay, out_trade_no, total)[0] == 200
    return fake.pay(out_trade_no)


def transfer(wxpay: WeChatPay, out_bill_no: str, amount: int = 200, **extra: Any) -> tuple[int, Any]:
    extra.setdefault("transfer_scene_report_infos", REPORTS)
    code, text = wxpay.mch_transfer_bills(out_bill_no, "1000", "o-winner-1", amount, "早起挑战奖金", **extra)
    return code, json.loads(text) if text else text


def authorization(fake: FakeWeChatPay, method: str, target: str, body: str = "", *, key: Any = None,
                  mchid: str | None = None, serial: str | None = None, timestamp: int | None = None) -> str:
    """An Authorization header built by hand, so single parts of it can be wrong."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = "593BEC0C930BF1AFEB40B4A08C8FB242"
    key = key or load_pem_private_key(fake.merchant_private_key_pem.encode(), None)
    signature = sign_sha256_rsa(key, f"{method}\n{target}\n{stamp}\n{nonce}\n{body}\n".encode())
    return (f'WECHATPAY2-SHA256-RSA2048 mchid="{mchid or fake.mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{stamp}",serial_no="{serial or fake.merchant_serial_no}"')


def signed_get(fake: FakeWeChatPay, target: str) -> requests.Response:
    return requests.get(fake.base_url + target, headers={"Authorization": authorization(fake, "GET", target)},
                        timeout=5)


def answer_verifies(fake: FakeWeChatPay, response: requests.Response) -> bool:
    h = response.headers
    assert h["Wechatpay-Serial"] == fake.public_key_id
    assert h["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048" and h["Request-ID"]
    message = f"{h['Wechatpay-Timestamp']}\n{h['Wechatpay-Nonce']}\n".encode() + response.content + b"\n"
    return verify_sha256_rsa(load_public_key_pem(fake.platform_public_key_pem), message, h["Wechatpay-Signature"])


# ---------------------------------------------------------------------------------------------- keys and identity


def test_key_helpers_round_trip() -> None:
    key = new_rsa_private_key()
    assert key.key_size == 2048
    assert private_key_pem(key).startswith("-----BEGIN PRIVATE KEY-----")
    assert private_key_pem(key, pkcs1=True).startswith("-----BEGIN RSA PRIVATE KEY-----")
    loaded = load_pem_private_key(private_key_pem(key, pkcs1=True).encode(), None)
    assert public_key_pem(loaded) == public_key_pem(key) == public_key_pem(key.public_key())
    signature = sign_sha256_rsa(key, "待签名".encode())
    assert verify_sha256_rsa(load_public_key_pem(public_key_pem(key)), "待签名".encode(), signature)
    assert not verify_sha256_rsa(key.public_key(), b"other", signature)
    assert not verify_sha256_rsa(key.public_key(), b"x", "WECHATPAY/SIGNTEST/not base64!")

    certificate = x509.load_pem_x509_certificate(
        certificate_pem(self_signed_certificate(key, "Fake Platform", serial_number=0x5157F09E, days=30)).encode())
    assert certificate.serial_number == 0x5157F09E
    assert certificate.issuer == certificate.subject
    assert public_key_pem(certificate.public_key()) == public_key_pem(key)
    certificate.verify_directly_issued_by(certificate)
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == timedelta(days=30)


def test_identity_and_adapter_options(fake: FakeWeChatPay) -> None:
    assert fake.mchid == "1900000109"
    assert len(fake.appid) == 18 and fake.appid.startswith("wx") and int(fake.appid[2:], 16) >= 0
    assert len(fake.apiv3_key) == 32 and fake.apiv3_key.isascii()
    assert len(fake.merchant_serial_no) == 40 and fake.merchant_serial_no == fake.merchant_serial_no.upper()
    assert fake.public_key_id.startswith("PUB_KEY_ID_01" + fake.mchid) and len(fake.public_key_id) == 45
    assert fake.base_url.startswith("http://127.0.0.1:")
    options = fake.options(NOTIFY_URL)
    assert options == {
        "MCHID": fake.mchid, "APPID": fake.appid, "APIV3_KEY": fake.apiv3_key,
        "PRIVATE_KEY": fake.merchant_private_key_pem, "CERT_SERIAL_NO": fake.merchant_serial_no,
        "PUBLIC_KEY": fake.platform_public_key_pem, "PUBLIC_KEY_ID": fake.public_key_id, "NOTIFY_URL": NOTIFY_URL,
        "BASE_URL": fake.base_url,
    }


# ---------------------------------------------------------------------------------------------- signatures


def test_sdk_requests_pass_and_every_answer_is_signed(fake: FakeWeChatPay, wxpay: WeChatPay) -> None:
    code, answer = place(wxpay, "CLK20261207A")  # the SDK verified the answer's signature or it would have raised
    assert code == 200 and answer["prepay_id"].startswith("wx")
    recorded = fake.requests[-1]
    assert (recorded["method"], recorded["path"], recorded["status"]) == ("POST", "/v3/pay/transactions/jsapi", 200)
    assert recorded["json"]["amount"] == {"total": 100} and recorded["json"]["notify_url"] == NOTIFY_URL
    assert recorded["headers"]["Authorization"].startswith('WECHATPAY2-SHA256-RSA2048 mchid="1900000109"')
    assert fake.stats["jsapi"] == 1

    for target in ("/v3/pay/transactions/out-trade-no/CLK20261207A?mchid=1900000109",
                   "/v3/pay/transactions/out-trade-no/NOSUCHORDER?mchid=1900000109"):  # errors are signed too
        response = signed_get(fake, target)
        assert answer_verifies(fake, response)
    assert response.status_code == 404 and response.json() == {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}
    assert wxpay.close("CLK20261207A") == (204, b"")  # an empty 204, signed over the empty body


def test_tampered_authorization_is_refused_and_changes_nothing(fake: FakeWeChatPay) -> None:
    def post(out_trade_no: str, **wrong: Any) -> requests.Response:
        body = json.dumps({"appid": fake.appid, "mchid": fake.mchid, "description": "早起",
                           "out_trade_no": out_trade_no, "notify_url": NOTIFY_URL, "amount": {"total": 100},
                           "payer": {"openid": "o-1"}})
        signed_body = wrong.pop("signed_body", body)
        headers = {"Authorization": authorization(fake, "POST", "/v3/pay/transactions/jsapi", signed_body, **wrong),
                   "Content-Type": "application/json"}
        return requests.post(fake.base_url + "/v3/pay/transactions/jsapi", data=body.encode(), headers=headers,
                             timeout=5)

    refused = {
        "OTHERKEY01": {"key": new_rsa_private_key()},
        "OTHERMCH01": {"mchid": "1900000110"},
        "OTHERSER01": {"serial": "0" * 40},
        "STALE30101": {"timestamp": int(time.time()) - 301},
        "FUTURE3101": {"timestamp": int(time.time()) + 310},  # margins: the fake's clock may be a second further
        "BODYCHANGE": {"signed_body": "{}"},
    }
    for out_trade_no, wrong in refused.items():
        response = post(out_trade_no, **wrong)
        assert response.status_code == 401 and response.json()["code"] == "SIGN_ERROR", out_trade_no
        assert answer_verifies(fake, response)
    no_header = requests.get(fake.base_url + "/v3/pay/transactions/out-trade-no/X?mchid=1900000109", timeout=5)
    assert no_header.status_code == 401 and no_header.json()["code"] == "SIGN_ERROR"
    assert post("SKEW290001", timestamp=int(time.time()) - 290).status_code == 200
    assert fake.stats["sign_error"] == len(refused) + 1 and fake.stats["jsapi"] == 1
    for out_trade_no in refused:
        with pytest.raises(KeyError):
            fake.transaction(out_trade_no)

    stranger = sdk(fake, private_key=private_key_pem(new_rsa_private_key()))
    code, error = place(stranger, "STRANGER01")  # the SDK only checks 2xx answers, so it hands back the 401
    assert code == 401 and error["code"] == "SIGN_ERROR"


def test_bad_signature_fault_makes_the_sdk_raise_after_the_work_is_done(fake: FakeWeChatPay,
                                                                          wxpay: WeChatPay) -> None:
    fake.inject("POST", "/v3/pay/transactions/jsapi", "bad_signature")
    with pytest.raises(Exception, match="failed to verify the signature"):
        place(wxpay, "BADSIG0001")
    assert fake.transaction("BADSIG0001")["trade_state"] == "NOTPAY"  # the order exists
    code, answer = place(wxpay, "BADSIG0001")  # the retry finds it (same parameters)
    assert code == 200 and place(wxpay, "BADSIG0001") == (200, answer)
    assert fake.faults_injected == {"bad_signature": 1} and fake.stats["jsapi"] == 3


def test_a_fake_clock_far_from_the_client_makes_requests_fail_like_at_wechat(fake: FakeWeChatPay,
                                                                              wxpay: WeChatPay) -> None:
    fake.clock = lambda: datetime(2030, 1, 1, tzinfo=UTC)
    assert fake.now() == datetime(2030, 1, 1, tzinfo=UTC)
    code, error = place(wxpay, "SKEWED0001")
    assert code == 401 and error["code"] == "SIGN_ERROR" and "5分钟" in error["message"]


def test_a_bug_in_the_fake_is_an_answer_and_a_recorded_error(fake: FakeWeChatPay, wxpay: WeChatPay,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(request: Any) -> None:
        raise RuntimeError("bug in the fake")

    monkeypatch.setattr(fake, "_api_query", broken)
    code, text = wxpay.query(out_trade_no="ANYORDER01")
    assert code == 500 and json.loads(text)["code"] == "SYSTEM_ERROR"
    assert len(fake.errors) == 1 and "bug in the fake" in fake.errors[0]
    fake.errors.clear()  # else the fixture fails this test at teardown, as it should for a real bug


# ---------------------------------------------------------------------------------------------- payments


def test_payment_lifecycle(fake: FakeWeChatPay, wxpay: WeChatPay) -> None:
    code, first = place(wxpay, "PAY0000001", attach="round=3")
    assert code == 200 and len(first["prepay_id"]) == 36
    assert place(wxpay, "PAY0000001", attach="round=3") == (200, first)  # same parameters: same prepay_id
    code, error = place(wxpay, "PAY0000001", 101, attach="round=3")
    assert (code, error["code"]) == (400, "INVALID_REQUEST") and "订单号重复" in error["message"]

    code, text = wxpay.query(out_trade_no="PAY0000001")
    unpaid = json.loads(text)
    assert unpaid["trade_state"] == "NOTPAY" and "transaction_id" not in unpaid and "success_time" not in unpaid
    assert unpaid["amount"]["total"] == 100

    paid_at = fake.now() - timedelta(seconds=5)
    transaction_id = fake.pay("PAY0000001", at=paid_at)
    assert len(transaction_id) == 28 and transaction_id.isdigit()
    code, text = wxpay.query(out_trade_no="PAY0000001")
    paid = json.loads(text)
    assert code == 200 and paid == {
        "appid": fake.appid, "mchid": fake.mchid, "out_trade_no": "PAY0000001", "transaction_id": transaction_id,
        "trade_type": "JSAPI", "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS",
        "attach": "round=3", "success_time": rfc3339(paid_at), "payer": {"openid": "o-buyer-1"},
        "amount": {"total": 100, "payer_total": 100, "currency": "CNY", "payer_currency": "CNY"},
    }
    assert paid["success_time"].endswith("+08:00")
    assert json.loads(wxpay.query(transaction_id=transaction_id)[1]) == paid
    with pytest.raises(Refused):
        fake.pay("PAY0000001")  # a paid order cannot be paid again
    code, error = place(wxpay, "PAY0000001", attach="round=3")
    assert (code, error["code"]) == (400, "ORDERPAID")
    code, text = wxpay.close("PAY0000001")
    assert (code, json.loads(text)["code"]) == (400, "ORDERPAID")
    assert fake.ledger == [{"kind": "payment", "key": "PAY0000001", "amount": 100, "at": paid_at.replace(microsecond=0),
                            "id": transaction_id}]
    assert fake.money_in() == 100 and fake.money_out() == 0


def test_closed_expired_and_unknown_orders(fake: FakeWeChatPay, wxpay: WeChatPay) -> None:
    place(wxpay, "CLOSE00001")
    assert wxpay.close("CLOSE00001") == (204, b"")
    assert wxpay.close("CLOSE00001") == (204, b"")  # closing is idempotent
    assert json.loads(wxpay.query(out_trade_no="CLOSE00001")[1])["trade_state"] == "CLOSED"
    with pytest.raises(Refused):
        fake.pay("CLOSE00001")
    code, error = place(wxpay, "CLOSE00001")
    assert (code, error["code"]) == (400, "ORDER_CLOSED")

    expire = fake.now() + timedelta(minutes=15)
    place(wxpay, "EXPIRE0001", time_expire=rfc3339(expire))
    with pytest.raises(Refused):
        fake.pay("EXPIRE0001", at=expire + timedelta(seconds=1))
    fake.pay("EXPIRE0001", at=expire)

    assert wxpay.close("NEVERMADE1") == (204, b"")  # WeChat answers 204 for an order it does not know
    code, text = wxpay.query(out_trade_no="NEVERMADE1")
    assert (code, json.loads(text)["code"]) == (404, "ORDER_NOT_EXIST")
    code, text = wxpay.query(transaction_id="4200000000000000000000000000")
    assert (code, json.loads(text)["code"]) == (404, "ORDER_NOT_EXIST")
    assert [e["key"] for e in fake.ledger] == ["EXPIRE0001"]


def test_prepay_validation(fake: FakeWeChatPay, wxpay: WeChatPay) -> None:
    cases = {
        "APPID00001": ({"appid": "wx0000000000000000"}, "APPID_MCHID_NOT_MATCH"),
        "ZERO000001": ({"total": 0}, "PARAM_ERROR"),
        "A1": ({}, "PARAM_ERROR"),
        "HTTPNOTIFY": ({"notify_url": "http://clock.example.com/notify"}, "PARAM_ERROR"),
        "NAIVETIME1": ({"time_expire": "2026-12-07T10:00:00"}, "PARAM_ERROR"),
        "PASTTIME01": ({"time_expire": rfc3339(fake.now() - timedelta(minutes=1))}, "PARAM_ERROR"),
    }
    for out_trade_no, (extra, expected) in cases.items():
        total = extra.pop("total", 100)
        code, error = place(wxpay, out_trade_no, total, **extra)
        assert (code, error["code"]) == (400, expected), out_trade_no
        with pytest.raises(KeyError):
            fake.transaction(out_trade_no)


def test_payment_from_another_buyer_or_amount_and_of_an_unknown_order(fake: FakeWeChatPay, wxpay: WeChatPay) -> None:
    place(wxpay, "ODD0000001")
    fake.pay("ODD0000001", payer_openid="o-someone-else", amount=99)
    odd = json.loads(wxpay.query(out_trade_no="ODD0000001")[1])
    assert odd["payer"] == {"openid": "o-someone-else"} and odd["amount"]["total"] == odd["amount"]["payer_total"] == 99
    transaction_id = fake.pay_unknown_order("GHOST00001", 300, "o-ghost")
    ghost = json.loads(wxpay.query(out_trade_no="GHOST00001")[1])
    assert ghost["transaction_id"] == transaction_id and ghost["trade_state"] == "SUCCESS"
    assert wxpay.callback(*fake.payment_notification("GHOST00001"))["resource"] == ghost
    assert fake.money_in() == 399


# ---------------------------------------------------------------------------------------------- notifications


def test_payment_notification_decrypts_to_the_queried_transaction(fake: FakeWeChatPay, wxpay: WeChatPay) -> None:
    place(wxpay, "NOTIFY0001")
    with pytest.raises(Refused):
        fake.payment_notification("NOTIFY0001")  # WeChat notifies payments only
    fake.pay("NOTIFY0001")
    queried = json.loads(wxpay.query(out_trade_no="NOTIFY0001")[1])
    headers, body = fake.payment_notification("NOTIFY0001")
    event = json.loads(body)
    assert event["event_type"] == "TRANSACTION.SUCCESS" and event["resource_type"] == "encrypt-resource"
    assert event["summary"] == "支付成功" and re.fullmatch(RFC3339, event["create_time"])
    resource = event["resource"]
    assert (resource["original_type"], resource["algorithm"], resource["associated_data"]) == (
        "transaction", "AEAD_AES_256_GCM", "transaction")
    assert len(resource["nonce"]) == 12

    decoded = wxpay.callback(headers, body)
    assert decoded["resource"] == queried and decoded["id"] == event["id"]
    assert wxpay.callback(meta_headers(headers), body)["resource"] == queried  # Django request.META style
    assert wxpay.callback({k.lower(): v for k, v in headers.items()}, body)["resource"] == queried

    again_headers, again_body = fake.payment_notification("NOTIFY0001")  # a re-delivery: same event, signed afresh
    assert json.loads(again_body)["id"] == event["id"]
    assert again_headers["Wechatpay-Nonce"] != headers["Wechatpay-Nonce"]
    assert again_headers["Wechatpay-Signature"] != headers["Wechatpay-Signature"]
    assert wxpay.callback(again_headers, again_body)["resource"] == queried


def test_bad_notifications(fake: FakeWeChatPay, wxpay: WeChatPay) -> None:
    place(wxpay, "BADNOTE001")
    fake.pay("BADNOTE001")
    headers, body = fake.payment_notification("BADNOTE001")

    old = int(time.time()) - 301
    stale = fake.notification_headers(body, timestamp=old)
    assert stale["Wechatpay-Timestamp"] == str(old)
    assert wxpay.callback(stale, body) is not None  # wechatpayv3 does not check freshness: the adapter must
    sent_at = fake.now() - timedelta(minutes=10)
    late_headers, _ = fake.payment_notification("BADNOTE001", at=sent_at)
    assert late_headers["Wechatpay-Timestamp"] == str(int(sent_at.timestamp()))

    assert wxpay.callback(fake.notification_headers(body, foreign_key=True), body) is None
    probe = fake.notification_headers(body, probe=True)
    assert probe["Wechatpay-Signature"].startswith("WECHATPAY/SIGNTEST/")
    assert wxpay.callback(probe, body) is None
    assert wxpay.callback(headers, body.replace(b'"summary":"', b'"summary":"!')) is None  # body changed after signing
    forged_headers, forged_body = fake.build_notification(
        "TRANSACTION.SUCCESS", "支付成功", "transaction", fake.transaction("BADNOTE001"),
        create_time=fake.now(), apiv3_key="0" * 32)
    assert wxpay.callback(forged_headers, forged_body) is None  # signed by WeChat, but not under our APIv3 key

    # Any other serial makes the SDK fetch /v3/certificates while handling the notification (in public-key mode it
    # holds no certificates, so even a non-hex serial gets that far), then refuse it.
    before = fake.stats["not_found"]
    for serial in ("5157F09EFDC096DE15EBE81A47057A7232F1B8E1", "PUB_KEY_ID_0119000001092025010100000000000000"):
        assert wxpay.callback(fake.notification_headers(body, serial=serial), body) is None
        assert fake.requests[-1]["path"] == "/v3/certificates"
    assert fake.stats["not_found"] == before + 2


def test_deliver_posts_a_notification_to_a_live_server(fake: FakeWeChatPay, wxpay: WeChatPay) -> None:
    received: dict[str, Any] = {}

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received["headers"] = dict(self.headers)
            received["body"] = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        place(wxpay, "DELIVER001")
        fake.pay("DELIVER001")
        headers, body = fake.payment_notification("DELIVER001")
        response = fake.deliver(f"http://127.0.0.1:{server.server_address[1]}/notify", headers, body)
    finally:
        server.shutdown()
        server.server_close()
    assert response.status_code == 204 and received["body"] == body
    assert received["headers"]["Content-Type"] == "application/json"
    assert wxpay.callback(received["headers"], received["body"])["resource"]["out_trade_no"] == "DELIVER001"


# ---------------------------------------------------------------------------------------------- refunds


def refund(wxpay: WeChatPay, out_refund_no: str, amount: int, total: int = 100, **target: Any) -> tuple[int, Any]:
    target = target or {"out_trade_no": "REFUNDED01"}
    code, text = wxpay.refund(out_refund_no, {"refund": amount, "total": total, "currency": "CNY"},
                              reason="当日已满员", **target)
    return code, json.loads(text)


def test_refunds_are_idempotent_per_out_refund_no(fake: FakeWeChatPay, wxpay: WeChatPay) -> None:
    transaction_id = paid_order(wxpay, fake, "REFUNDED01")
    answers = [refund(wxpay, "RF-REFUNDED01", 60) for _ in range(2)]
    answers.append(refund(wxpay, "RF-REFUNDED01", 60, transaction_id=transaction_id))
    assert all(code == 200 for code, _ in answers)
    first = answers[0][1]
    assert {a["refund_id"] for _, a in answers} == {first["refund_id"]}
    assert (first["status"], first["channel"], first["transaction_id"]) == ("PROCESSING", "ORIGINAL", transaction_id)
    assert first["amount"]["refund"] == 60 and first["amount"]["total"] == 100
    assert re.fullmatch(RFC3339, first["create_time"])
    assert json.loads(wxpay.query(out_trade_no="REFUNDED01")[1])["trade_state"] == "REFUND"

    assert fake.ledger[-1]["kind"] == "payment"  # accepted is not paid
    fake.complete_refund("RF-REFUNDED01")
    with pytest.raises(Refused):
        fake.complete_refund("RF-REFUNDED01")
    code, done = refund(wxpay, "RF-REFUNDED01", 60)
    assert code == 200 and done["status"] == "SUCCESS" and done["refund_id"] == first["refund_id"]
    assert json.loads(wxpay.query_refund("RF-REFUNDED01")[1]) == done
    [money_back] = [e for e in fake.ledger if e["kind"] == "refund"]
    assert (money_back["key"], money_back["amount"], money_back["id"]) == ("RF-REFUNDED01", 60, first["refund_id"])
    assert rfc3339(money_back["at"]) == done["success_time"]
    assert fake.paid_out_by_key() == {"RF-REFUNDED01": 60}

    code, error = refund(wxpay, "RF-REFUNDED01", 50)
    assert (code, error["code"]) == (400, "INVALID_REQUEST")  # same number, other amount: never a second refund
    code, error = refund(wxpay, "RF-REFUNDED02", 41)
    assert (code, error["code"]) == (400, "INVALID_REQUEST")  # 60 of 100 already refunded
    code, error = refund(wxpay, "RF-REFUNDED02", 40, total=99)
    assert (code, error["code"]) == (400, "PARAM_ERROR")
    code, error = refund(wxpay, "RF-UNKNOWN", 10, out_trade_no="NEVERPAID1")
    assert (code, error["code"]) == (404, "RESOURCE_NOT_EXISTS")
    place(wxpay, "UNPAID0001")
    code, error = refund(wxpay, "RF-UNPAID", 10, out_trade_no="UNPAID0001")
    assert (code, error["code"]) == (404, "RESOURCE_NOT_EXISTS")
    code, text = wxpay.query_refund("RF-NOSUCH")
    assert (code, json.loads(text)["code"]) == (404, "RESOURCE_NOT_EXISTS")
    assert fake.money_out() == 60


def test_closed_refunds_free_the_amount_and_notifications_match_queries(fake: FakeWeChatPay,
                                                                        wxpay: WeChatPay) -> None:
    paid_order(wxpay, fake, "REFUNDED01")
    refund(wxpay, "RF-CLOSED", 100)
    with pytest.raises(Refused):
        fake.refund_notification("RF-CLOSED")  # WeChat notifies finished refunds only
    fake.complete_refund("RF-CLOSED", "CLOSED")
    assert wxpay.callback(*fake.refund_notification("RF-CLOSED"))["event_type"] == "REFUND.CLOSED"
    assert refund(wxpay, "RF-ABNORMAL", 100)[0] == 200  # the closed one no longer counts
    fake.complete_refund("RF-ABNORMAL", "ABNORMAL")
    assert refund(wxpay, "RF-THIRD", 1)[1]["code"] == "INVALID_REQUEST"  # an abnormal refund still holds its amount

    paid_order(wxpay, fake, "REFUNDED02", 300)
    refund(wxpay, "RF-OK", 120, total=300, out_trade_no="REFUNDED02")
    fake.complete_refund("RF-OK")
    decoded = wxpay.callback(*fake.refund_notification("RF-OK"))
    queried = json.loads(wxpay.query_refund("RF-OK")[1])
    assert decoded["event_type"] == "REFUND.SUCCESS" and decoded["summary"] == "退款成功"
    resource = decoded["resource"]
    assert resource["refund_status"] == queried["status"] == "SUCCESS"
    for name in ("out_refund_no", "refund_id", "transaction_id", "out_trade_no", "success_time",
                 "user_received_account"):
        assert resource[name] == queried[name], name
    assert resource["mchid"] == fake.mchid
    assert resource["amount"] == {k: queried["amount"][k] for k in ("total", "refund", "payer_total", "payer_refund")}
    assert fake.paid_out_by_key() == {"RF-OK": 120}


def test_parallel_refund_requests_make_one_refund(fake: FakeWeChatPay, wxpay: WeChatPay) -> None:
    paid_order(wxpay, fake, "REFUNDED01")
    fake.auto_complete_refunds = True
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: refund(sdk(fake), "RF-RACE", 100), range(16)))
    assert {code for code, _ in answers} == {200}
    assert len({a["refund_id"] for _, a in answers}) == 1
    assert json.loads(wxpay.query_refund("RF-RACE")[1])["status"] == "SUCCESS"
    assert fake.paid_out_by_key() == {"RF-RACE": 100} and fake.stats["refund"] == 16


# ---------------------------------------------------------------------------------------------- transfers


def test_transfer_bill_waits_for_the_user_and_pays_once(fake: FakeWeChatPay, wxpay: WeChatPay) -> None:
    code, created = transfer(wxpay, "PAYOUT20261207U1")
    assert code == 200 and created["state"] == "WAIT_USER_CONFIRM"
    assert created["package_info"].startswith("ABBQO+oYAAABAAAAAAB") and len(created["transfer_bill_no"]) == 40
    assert transfer(wxpay, "PAYOUT20261207U1") == (200, created)  # same bill, same package, same create_time
    code, error = transfer(wxpay, "PAYOUT20261207U1", 201)
    assert (code, error["code"]) == (400, "INVALID_REQUEST") and "单号已存在但信息不一致" in error["message"]
    assert fake.stats["transfer"] == 3

    code, text = wxpay.mch_transfer_bills_query(out_bill_no="PAYOUT20261207U1")
    queried = json.loads(text)
    assert code == 200 and "package_info" not in queried
    assert queried == {
        "mch_id": fake.mchid, "out_bill_no": "PAYOUT20261207U1", "transfer_bill_no": created["transfer_bill_no"],
        "appid": fake.appid, "state": "WAIT_USER_CONFIRM", "transfer_amount": 200, "transfer_remark": "早起挑战奖金",
        "openid": "o-winner-1", "create_time": created["create_time"], "update_time": created["create_time"],
    }
    assert json.loads(wxpay.mch_transfer_bills_query(transfer_bill_no=created["transfer_bill_no"])[1]) == queried
    with pytest.raises(Refused):
        fake.transfer_notification("PAYOUT20261207U1")  # not final yet

    fake.confirm("PAYOUT20261207U1")
    with pytest.raises(Refused):
        fake.confirm("PAYOUT20261207U1")
    code, again = transfer(wxpay, "PAYOUT20261207U1")
    assert code == 200 and again["state"] == "SUCCESS" and "package_info" not in again
    assert again["transfer_bill_no"] == created["transfer_bill_no"]
    assert fake.paid_out_by_key() == {"PAYOUT20261207U1": 200}
    assert [e["kind"] for e in fake.ledger] == ["transfer"] and fake.ledger[0]["id"] == created["transfer_bill_no"]

    queried = json.loads(wxpay.mch_transfer_bills_query(out_bill_no="PAYOUT20261207U1")[1])
    decoded = wxpay.callback(*fake.transfer_notification("PAYOUT20261207U1"))
    assert decoded["event_type"] == "MCHTRANSFER.BILL.FINISHED"
    assert decoded["resource"] == {k: queried[k] for k in ("out_bill_no", "transfer_bill_no", "state", "mch_id",
                                                           "transfer_amount", "openid", "create_time", "update_time")}
    assert json.loads(fake.transfer_notification("PAYOUT20261207U1")[1])["resource"]["original_type"] == "mch_payment"


def test_transfer_cancel_expire_and_fail(fake: FakeWeChatPay, wxpay: WeChatPay) -> None:
    def cancel(out_bill_no: str) -> tuple[int, dict[str, Any]]:
        code, text = wxpay.mch_transfer_bills_cancel(out_bill_no)
        return code, json.loads(text)

    def state(out_bill_no: str) -> str:
        return json.loads(wxpay.mch_transfer_bills_query(out_bill_no=out_bill_no)[1])["state"]

    for out_bill_no in ("CANCEL01", "EXPIRE01", "DECLINE01", "PAID01", "FAILED01"):
        assert transfer(wxpay, out_bill_no)[0] == 200
    code, answer = cancel("CANCEL01")
    assert code == 200 and answer["state"] == "CANCELING" and set(answer) == {
        "out_bill_no", "transfer_bill_no", "state", "update_time"}
    assert state("CANCEL01") == "CANCELING"
    with pytest.raises(Refused):
        fake.confirm("CANCEL01")
    assert fake.process_transfers() == ["CANCEL01"]
    assert state("CANCEL01") == "CANCELLED" and cancel("CANCEL01")[1]["state"] == "CANCELLED"

    fake.expire("EXPIRE01")
    fake.user_cancel("DECLINE01")
    assert state("EXPIRE01") == state("DECLINE01") == "CANCELLED"
    assert wxpay.callback(*fake.transfer_notification("EXPIRE01"))["resource"]["state"] == "CANCELLED"

    fake.confirm("PAID01")
    code, error = cancel("PAID01")
    assert (code, error["code"]) == (400, "INVALID_REQUEST")
    code, error = cancel("NOSUCHBILL")
    assert (code, error["code"]) == (404, "NOT_FOUND")
    code, text = wxpay.mch_transfer_bills_query(out_bill_no="NOSUCHBILL")
    assert (code, json.loads(text)["code"]) == (404, "NOT_FOUND")

    fake.fail("FAILED01", reason="ACCOUNT_FROZEN")
    failed = json.loads(wxpay.mch_transfer_bills_query(out_bill_no="FAILED01")[1])
    assert failed["state"] == "FAIL" and failed["fail_reason"] == "ACCOUNT_FROZEN"
    assert wxpay.callback(*fake.transfer_notification("FAILED01"))["resource"]["fail_reason"] == "ACCOUNT_FROZEN"
    assert fake.paid_out_by_key() == {"PAID01": 200}


def test_transfer_limits_and_validation(fake: FakeWeChatPay, wxpay: WeChatPay) -> None:
    refused = {
        "LOW00001": (9, {}, 400, "INVALID_REQUEST", "低于单笔最低限额"),
        "HIGH0001": (20_001, {}, 400, "INVALID_REQUEST", "超过单笔转账上下限"),
        "NOREPORT1": (100, {"transfer_scene_report_infos": []}, 400, "PARAM_ERROR", "活动名称"),
        "AB1": (100, {}, 400, "PARAM_ERROR", "out_bill_no"),
        "BAD-NO-0001": (100, {}, 400, "PARAM_ERROR", "out_bill_no"),
        "OTHERAPP1": (100, {"appid": "wx0000000000000000"}, 400, "INVALID_REQUEST", "appid"),
        "HTTPNOTE1": (100, {"notify_url": "http://clock.example.com/t"}, 400, "PARAM_ERROR", "notify_url"),
    }
    for out_bill_no, (amount, extra, status, code_name, words) in refused.items():
        code, error = transfer(wxpay, out_bill_no, amount, **extra)
        assert (code, error["code"]) == (status, code_name) and words in error["message"], out_bill_no
    assert transfer(wxpay, "MAX00001", 20_000)[0] == 200
    assert transfer(wxpay, "MIN00001", 10)[0] == 200
    fake.max_transfer = 50_000
    assert transfer(wxpay, "RAISED01", 30_000)[0] == 200

    fake.balance = 20_000 + 10 + 30_000 + 100  # open bills hold their amount until they end
    assert transfer(wxpay, "FITS0001", 100)[0] == 200
    code, error = transfer(wxpay, "NOMONEY1", 10)
    assert (code, error["code"]) == (403, "NOT_ENOUGH")
    for out_bill_no in [*refused, "NOMONEY1"]:
        with pytest.raises(KeyError):
            fake.transfer(out_bill_no)


def test_transfer_user_name_is_encrypted_and_compared_in_clear(fake: FakeWeChatPay, wxpay: WeChatPay) -> None:
    code, created = transfer(wxpay, "NAMED0001", 500, user_name="张三")
    assert code == 200
    sent = fake.requests[-1]
    assert sent["json"]["user_name"] != "张三" and sent["headers"]["Wechatpay-Serial"] == fake.public_key_id
    assert transfer(wxpay, "NAMED0001", 500, user_name="张三") == (200, created)  # new ciphertext, same name
    assert fake.requests[-1]["json"]["user_name"] != sent["json"]["user_name"]
    code, error = transfer(wxpay, "NAMED0001", 500, user_name="李四")
    assert (code, error["code"]) == (400, "INVALID_REQUEST")


def test_transfer_modes_without_user_confirmation(fake: FakeWeChatPay, wxpay: WeChatPay) -> None:
    fake.confirm_required = False
    code, accepted = transfer(wxpay, "ACCEPTED01")
    assert code == 200 and accepted["state"] == "ACCEPTED" and "package_info" not in accepted
    transfer(wxpay, "PROCESS01")
    fake.hold_transfer("PROCESS01", "PROCESSING")
    assert fake.transfer("PROCESS01")["state"] == "PROCESSING"
    with pytest.raises(ValueError):
        fake.hold_transfer("PROCESS01", "SUCCESS")
    assert fake.ledger == []
    assert fake.process_transfers() == ["ACCEPTED01", "PROCESS01"]
    assert json.loads(wxpay.mch_transfer_bills_query(out_bill_no="ACCEPTED01")[1])["state"] == "SUCCESS"
    fake.settle_transfers_at_once = True
    assert transfer(wxpay, "ATONCE01")[1]["state"] == "SUCCESS"
    assert fake.paid_out_by_key() == {"ACCEPTED01": 200, "PROCESS01": 200, "ATONCE01": 200}
    assert fake.money_out() == 600


# ---------------------------------------------------------------------------------------------- bills


def download(wxpay: WeChatPay, answer: str) -> tuple[dict[str, str], bytes]:
    meta = json.loads(answer)
    code, content = wxpay.download_bill(meta["download_url"])
    assert code == 200 and isinstance(content, bytes)
    return meta, content


def rows(content: bytes) -> list[list[str]]:
    return [line.split(",") for line in content.decode("utf-8").split("\r\n") if line]


def test_bills_are_built_from_the_fakes_own_records(fake: FakeWeChatPay) -> None:
    day = date(2026, 3, 2)
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI), tick=True) as traveller:
        assert abs(fake.now() - datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)) < timedelta(seconds=5)
        wxpay = sdk(fake)  # the SDK's timestamps and the fake's clock travel together
        silent = paid_order(wxpay, fake, "BILL000001", 100)  # paid, and no notification ever sent
        paid_order(wxpay, fake, "BILL000002", 300)
        refund(wxpay, "RF-BILL2", 120, total=300, out_trade_no="BILL000002")
        fake.complete_refund("RF-BILL2")
        transfer(wxpay, "PRIZE0001", 250)
        fake.confirm("PRIZE0001")

        code, text = wxpay.trade_bill(day.isoformat())
        assert (code, json.loads(text)["code"]) == (400, "STATEMENT_CREATING")  # built from 10:00 the next day
        code, text = wxpay.trade_bill((day + timedelta(days=1)).isoformat())
        assert (code, json.loads(text)["code"]) == (400, "INVALID_REQUEST")

        traveller.move_to(datetime(2026, 3, 3, 10, 30, tzinfo=SHANGHAI))
        meta, packed = download(wxpay, wxpay.trade_bill(day.isoformat())[1])
        content = gzip.decompress(packed)
        assert meta["hash_type"] == "SHA1" and meta["hash_value"] == hashlib.sha1(content).hexdigest()
        assert meta["download_url"].startswith(fake.base_url + "/v3/billdownload/file?token=")
        table = rows(content)
        assert ",".join(table[0]) == TRADE_BILL_HEADER and len(table[0]) == 27
        details = table[1:-2]
        assert all(field.startswith("`") for row in [*details, table[-1]] for field in row)
        by_state = {(row[6][1:], row[9][1:]): row for row in details}
        assert set(by_state) == {("BILL000001", "SUCCESS"), ("BILL000002", "SUCCESS"), ("BILL000002", "REFUND")}
        assert by_state["BILL000001", "SUCCESS"][5] == "`" + silent
        assert re.fullmatch(r"`2026-03-02 09:00:\d\d", by_state["BILL000001", "SUCCESS"][0])
        assert by_state["BILL000001", "SUCCESS"][12] == "`1.00"
        assert [by_state["BILL000002", "REFUND"][i] for i in (15, 16, 19)] == ["`RF-BILL2", "`1.20", "`SUCCESS"]
        assert table[-2][0] == "总交易单数" and table[-1][:3] == ["`3", "`4.00", "`1.20"]

        code, text = wxpay.trade_bill(day.isoformat(), bill_type="REFUND")
        refunds_only = rows(gzip.decompress(download(wxpay, text)[1]))[1:-2]
        assert [row[9] for row in refunds_only] == ["`REFUND"]
        plain = signed_get(fake, f"/v3/bill/tradebill?bill_date={day}&bill_type=SUCCESS")
        assert answer_verifies(fake, plain)
        meta, content = download(wxpay, plain.text)
        assert "tartype" not in meta["download_url"] and hashlib.sha1(content).hexdigest() == meta["hash_value"]
        assert len(rows(content)) == 2 + 3

        meta, packed = download(wxpay, wxpay.fundflow_bill(day.isoformat())[1])
        content = gzip.decompress(packed)
        assert meta["hash_value"] == hashlib.sha1(content).hexdigest()
        table = rows(content)
        assert ",".join(table[0]) == FUND_BILL_HEADER
        flows = [(row[5], row[6], row[10]) for row in table[1:-2]]
        assert flows == [("`收入", "`1.00", "`BILL000001"), ("`收入", "`3.00", "`BILL000002"),
                         ("`支出", "`1.20", "`RF-BILL2"), ("`支出", "`2.50", "`PRIZE0001")]
        balances = [int(row[7][1:].replace(".", "")) for row in table[1:-2]]
        start = fake.balance - 100 - 300 + 120 + 250
        assert balances == [start + 100, start + 400, start + 280, start + 30] and balances[-1] == fake.balance
        assert table[-1] == ["`4", "`2", "`4.00", "`2", "`3.70"]

        code, text = wxpay.trade_bill((day - timedelta(days=1)).isoformat())
        assert (code, json.loads(text)["code"]) == (400, "NO_STATEMENT_EXIST")
        code, text = wxpay.fundflow_bill(day.isoformat(), account_type="OPERATION")
        assert (code, json.loads(text)["code"]) == (400, "NO_STATEMENT_EXIST")

        fake.tamper_bill_hash(True)
        meta, packed = download(wxpay, wxpay.trade_bill(day.isoformat())[1])
        assert meta["hash_value"] != hashlib.sha1(gzip.decompress(packed)).hexdigest()
        traveller.shift(timedelta(minutes=6))
        code, text = wxpay.download_bill(meta["download_url"])
        assert code == 400 and json.loads(text)["code"] == "INVALID_REQUEST"  # download URLs last 5 minutes


# ---------------------------------------------------------------------------------------------- faults


def test_timeouts_before_and_after_the_work(fake: FakeWeChatPay) -> None:
    impatient = sdk(fake, timeout=(2, 1))
    fake.inject("POST", "/v3/fund-app/mch-transfer/transfer-bills", "timeout_before")
    with pytest.raises(requests.exceptions.Timeout):
        transfer(impatient, "TIMEOUT01")
    with pytest.raises(KeyError):
        fake.transfer("TIMEOUT01")  # nothing was done

    fake.inject("POST", "/v3/fund-app/mch-transfer/transfer-bills", "timeout_after")
    with pytest.raises(requests.exceptions.Timeout):
        transfer(impatient, "TIMEOUT02")
    code, text = impatient.mch_transfer_bills_query(out_bill_no="TIMEOUT02")  # the bill was made: query, not re-issue
    assert code == 200 and json.loads(text)["state"] == "WAIT_USER_CONFIRM"
    code, again = transfer(impatient, "TIMEOUT02")  # the same number and parameters find the same bill
    assert code == 200 and again["transfer_bill_no"] == json.loads(text)["transfer_bill_no"]
    assert fake.faults_injected == {"timeout_before": 1, "timeout_after": 1}
    assert [r["status"] for r in fake.requests[:2]] == [None, None]
    assert [r["fault"] for r in fake.requests[:2]] == ["timeout_before", "timeout_after"]


@pytest.mark.parametrize(("fault", "status", "code", "done"), [
    ("5xx_before", 500, "SYSTEM_ERROR", False),
    ("5xx_after", 500, "SYSTEM_ERROR", True),
    ("429", 429, "FREQUENCY_LIMITED", False),
    ("not_enough", 403, "NOT_ENOUGH", False),
])
def test_error_faults(fake: FakeWeChatPay, wxpay: WeChatPay, fault: str, status: int, code: str, done: bool) -> None:
    fake.inject("post", "/v3/fund-app/", fault)
    answer = transfer(wxpay, "FAULTY001")
    assert answer[0] == status and answer[1]["code"] == code
    if done:
        assert fake.transfer("FAULTY001")["state"] == "WAIT_USER_CONFIRM"
    else:
        with pytest.raises(KeyError):
            fake.transfer("FAULTY001")
    assert transfer(wxpay, "FAULTY001")[0] == 200  # the fault was consumed; a retry with the same number works
    assert fake.faults_injected == {fault: 1}


def test_unreadable_answer_after_the_work(fake: FakeWeChatPay, wxpay: WeChatPay) -> None:
    fake.inject("POST", "/v3/fund-app/mch-transfer/transfer-bills", "unreadable")
    code, text = wxpay.mch_transfer_bills("UNREAD001", "1000", "o-winner-1", 200, "奖金",
                                          transfer_scene_report_infos=REPORTS)
    assert code == 200  # the SDK accepted the signature: the garbage is signed
    with pytest.raises(ValueError):
        json.loads(text)
    assert fake.transfer("UNREAD001")["state"] == "WAIT_USER_CONFIRM"


def test_faults_are_consumed_in_order_by_matching_requests_only(fake: FakeWeChatPay, wxpay: WeChatPay) -> None:
    fake.inject("POST", "/v3/fund-app/mch-transfer/transfer-bills", "429", times=2)
    fake.inject("POST", "/v3/fund-app/mch-transfer/transfer-bills", "5xx_before")
    assert place(wxpay, "UNTOUCHED1")[0] == 200  # another path
    assert wxpay.mch_transfer_bills_query(out_bill_no="QUEUED001")[0] == 404  # another method
    assert [transfer(wxpay, "QUEUED001")[0] for _ in range(4)] == [429, 429, 500, 200]
    assert fake.faults_injected == {"429": 2, "5xx_before": 1}
    with pytest.raises(ValueError, match="unknown fault"):
        fake.inject("POST", "/v3/", "teapot")
