"""The fake Alipay gateway checked against the real client: python-alipay-sdk's ``AliPay`` and ``DCAliPay``.

If these pass, the fake accepts exactly what the SDK signs and the SDK accepts exactly what the fake signs — so an
adapter written on the SDK and tested against the fake talks the protocol the SDK talks to Alipay.

The SDK has no gateway parameter: ``client._gateway = fake.gateway`` is the only way to point it elsewhere. Methods
the SDK has no helper for (``alipay.fund.trans.common.query``, the bill URL query, transfers to an open_id) go
through its generic ``server_api(method, biz_content)``. ``DCAliPay`` takes no ``config``; its timeout is set with
``client._config = AliPayConfig(timeout=…)``.
"""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import time_machine
from alipay import AliPay, DCAliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig
from cryptography.hazmat.primitives import serialization

from tests.fakes import alipay as fake_module
from tests.fakes.alipay import SHANGHAI, FakeAlipay, PaymentRefused, parse_yuan, yuan
from tests.fakes.alipay_keys import generate_key_material, new_rsa_key, private_key_pem

fake_alipay = fake_module.fake_alipay

# DCAliPay computes certificate SNs with pyOpenSSL's X509.get_issuer, deprecated in pyOpenSSL 26: the SDK's noise.
pytestmark = pytest.mark.filterwarnings("ignore:X509.get_issuer is deprecated:DeprecationWarning")

BUYER = "2088102177846880"
BUYER_OPEN_ID = "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"
TRANSFER = {"product_code": "TRANS_ACCOUNT_NO_PWD", "biz_scene": "DIRECT_TRANSFER"}


def key_client(fake: FakeAlipay, *, timeout: float = 3, private_key: str | None = None) -> AliPay:
    client = AliPay(
        appid=fake.app_id,
        app_notify_url="https://example.com/alipay/notify",
        app_private_key_string=private_key or fake.app_private_key_pem,
        alipay_public_key_string=fake.alipay_public_key_pem,
        sign_type="RSA2",
        config=AliPayConfig(timeout=timeout),
    )
    client._gateway = fake.gateway
    return client


def cert_client(fake: FakeAlipay, *, timeout: float = 3) -> DCAliPay:
    client = DCAliPay(
        appid=fake.app_id,
        app_private_key_string=fake.app_private_key_pem,
        app_public_key_cert_string=fake.app_cert_pem,
        alipay_public_key_cert_string=fake.alipay_cert_pem,
        alipay_root_cert_string=fake.root_cert_pem,
    )
    client._gateway = fake.gateway
    client._config = AliPayConfig(timeout=timeout)
    return client


def create(client: AliPay, out_trade_no: str, amount: str = "10.00", **extra: Any) -> dict[str, Any]:
    return client.api_alipay_trade_create(
        "早起挑战 押金", out_trade_no, amount, product_code="JSAPI_PAY", buyer_id=BUYER, **extra
    )


def transfer(client: DCAliPay, out_biz_no: str, amount: str = "1.00", identity: str = BUYER) -> dict[str, Any]:
    return client.api_alipay_fund_trans_uni_transfer(out_biz_no, "ALIPAY_USER_ID", identity, amount, order_title="奖励")


def transfer_query(client: AliPay, **biz: str) -> dict[str, Any]:
    return client.server_api("alipay.fund.trans.common.query", biz)


def signed_params(client: AliPay, method: str, biz: dict[str, Any]) -> dict[str, str]:
    """The parameters the SDK would send, signed, as a dict."""
    return dict(urllib.parse.parse_qsl(client.sign_data(client.build_body(method, biz))))


def send(fake: FakeAlipay, query: dict[str, str], form: dict[str, str] | None = None) -> str:
    """A raw request to the gateway: ``query`` in the URL, ``form`` (if any) as a form POST body."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(fake.gateway + "?" + urllib.parse.urlencode(query), data=data)
    with urllib.request.urlopen(request, timeout=3) as response:
        return response.read().decode()


def local(day: date, clock: str) -> datetime:
    return datetime.combine(day, datetime.strptime(clock, "%H:%M:%S").time(), tzinfo=SHANGHAI)


# -- keys, certificates, signatures -----------------------------------------------------------------------------


def test_certificate_sns_match_the_sdk(fake_alipay):
    client = cert_client(fake_alipay)
    assert client.app_cert_sn == fake_alipay.app_cert_sn
    assert client.alipay_root_cert_sn == fake_alipay.alipay_root_cert_sn
    assert DCAliPay.get_cert_sn(fake_alipay.alipay_cert_pem) == fake_alipay.alipay_cert_sn
    # Two RSA roots joined by "_"; the ECDSA root (production: SM2) in between is skipped.
    assert fake_alipay.root_cert_pem.count("BEGIN CERTIFICATE") == 3
    assert len(fake_alipay.alipay_root_cert_sn.split("_")) == 2
    # The SDK verifies answers with the key inside Alipay's certificate: the fake's key.
    assert client.alipay_public_key.export_key().decode() == fake_alipay.alipay_public_key_pem.strip()


def test_identity_and_options(fake_alipay):
    assert len(fake_alipay.app_id) == 16 and fake_alipay.app_id.isdigit()
    assert fake_alipay.seller_id.startswith("2088") and len(fake_alipay.seller_id) == 16
    assert fake_alipay.gateway.startswith("http://127.0.0.1:") and fake_alipay.gateway.endswith("/gateway.do")
    options = fake_alipay.options("https://example.com/notify")
    assert options["APP_ID"] == fake_alipay.app_id and options["GATEWAY"] == fake_alipay.gateway
    assert options["NOTIFY_URL"] == "https://example.com/notify"
    assert {"APP_PRIVATE_KEY", "ALIPAY_PUBLIC_KEY", "APP_CERT", "ALIPAY_CERT", "ALIPAY_ROOT_CERT"} <= set(options)


def test_the_sdks_signed_get_passes_and_is_recorded(fake_alipay):
    answer = create(key_client(fake_alipay), "order-1")
    assert answer["code"] == "10000" and answer["msg"] == "Success" and answer["out_trade_no"] == "order-1"
    assert len(answer["trade_no"]) == 28
    [request] = fake_alipay.calls("alipay.trade.create")
    assert request.http_method == "GET" and request.body_keys == ()
    assert {"app_id", "method", "charset", "sign_type", "timestamp", "version", "biz_content", "sign"} <= set(
        request.query_keys
    )
    assert "format" not in request.params  # the SDK omits it (JSON is the default) and the fake accepts that
    assert request.params["notify_url"] == "https://example.com/alipay/notify"
    assert request.signature_valid and not request.cert_mode
    assert request.biz == {
        "subject": "早起挑战 押金",
        "out_trade_no": "order-1",
        "total_amount": "10.00",
        "product_code": "JSAPI_PAY",
        "buyer_id": BUYER,
    }


def test_a_tampered_request_is_refused_with_a_signed_invalid_signature(fake_alipay):
    client = key_client(fake_alipay)
    params = signed_params(client, "alipay.trade.create", {"subject": "s", "out_trade_no": "o", "total_amount": "1.00"})
    params["biz_content"] = params["biz_content"].replace("1.00", "0.01")
    raw = send(fake_alipay, params)
    answer = client._verify_and_return_sync_response(raw, "alipay_trade_create_response")  # the answer is signed
    assert answer["code"] == "40002" and answer["msg"] == "Invalid Arguments"
    assert answer["sub_code"] == "isv.invalid-signature" and answer["sub_msg"].startswith("验签出错")
    assert fake_alipay.requests[-1].signature_valid is False and fake_alipay.trades == {}

    stranger = key_client(fake_alipay, private_key=private_key_pem(new_rsa_key()))
    assert create(stranger, "o")["sub_code"] == "isv.invalid-signature"
    assert fake_alipay.trades == {}


def test_sign_type_is_part_of_what_a_request_signs(fake_alipay):
    client = key_client(fake_alipay)
    params = signed_params(client, "alipay.trade.query", {"out_trade_no": "x"})
    app_key = serialization.load_pem_private_key(fake_alipay.app_private_key_pem.encode(), None)
    without_sign_type = {k: v for k, v in params.items() if k != "sign_type"}
    params["sign"] = fake_module.rsa2_sign(app_key, fake_module.request_sign_content(without_sign_type))
    assert json.loads(send(fake_alipay, params))["alipay_trade_query_response"]["sub_code"] == "isv.invalid-signature"
    params["sign"] = fake_module.rsa2_sign(app_key, fake_module.request_sign_content(params))
    assert json.loads(send(fake_alipay, params))["alipay_trade_query_response"]["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    params["sign_type"] = "RSA"
    assert json.loads(send(fake_alipay, params))["alipay_trade_query_response"]["sub_code"] == (
        "isv.invalid-signature-type"
    )


def test_a_form_post_is_accepted_alone_or_with_the_common_parameters_in_the_url(fake_alipay):
    client = key_client(fake_alipay)
    params = signed_params(
        client, "alipay.trade.create", {"subject": "s", "out_trade_no": "p1", "total_amount": "1", "buyer_id": BUYER}
    )
    raw = send(fake_alipay, {}, form=params)
    assert client._verify_and_return_sync_response(raw, "alipay_trade_create_response")["code"] == "10000"
    assert fake_alipay.requests[-1].http_method == "POST" and fake_alipay.requests[-1].query_keys == ()

    params = signed_params(client, "alipay.trade.query", {"out_trade_no": "p1"})
    biz_content = params.pop("biz_content")
    raw = send(fake_alipay, params, form={"biz_content": biz_content})  # how Alipay's official SDKs send
    assert client._verify_and_return_sync_response(raw, "alipay_trade_query_response")["trade_status"] == (
        "WAIT_BUYER_PAY"
    )
    assert fake_alipay.requests[-1].body_keys == ("biz_content",)


def test_gateway_errors(fake_alipay):
    client = key_client(fake_alipay)
    client._appid = "2021999999999999"
    with pytest.raises(AliPayException, match=r"isv\.invalid-app-id"):  # unsigned answer: the SDK raises
        client.api_alipay_trade_query(out_trade_no="x")
    client = key_client(fake_alipay)
    with pytest.raises(AliPayException, match=r"isv\.invalid-method"):  # error_response: the SDK raises
        client.server_api("alipay.trade.pay", {"out_trade_no": "x"})
    params = signed_params(client, "alipay.trade.query", {"out_trade_no": "x"})
    del params["sign"]
    assert json.loads(send(fake_alipay, params))["alipay_trade_query_response"]["code"] == "40001"


def test_every_answer_verifies_and_a_bad_signature_fault_raises(fake_alipay):
    client = key_client(fake_alipay)
    create(client, "o1")
    raw = fake_alipay.requests[-1].raw_answer.decode()
    body = json.loads(raw)
    assert list(body) == ["alipay_trade_create_response", "sign"]
    assert raw.startswith('{"alipay_trade_create_response":{"code":"10000","msg":"Success",')
    fake_alipay.inject("alipay.trade.create", "bad_signature")
    with pytest.raises(AliPayValidationError):
        create(client, "o2")
    assert "o2" in fake_alipay.trades  # it acted, only the answer's signature is wrong
    assert fake_alipay.faults_injected["bad_signature"] == 1


# -- trades -----------------------------------------------------------------------------------------------------


def test_trade_create_is_idempotent_per_out_trade_no(fake_alipay):
    client = key_client(fake_alipay)
    first = create(client, "o1", "12.34", time_expire="2099-01-01 00:00:00")
    assert create(client, "o1", "12.34", time_expire="2099-01-01 00:00:00")["trade_no"] == first["trade_no"]
    changed = create(client, "o1", "12.35")
    assert (changed["code"], changed["sub_code"]) == ("40004", "ACQ.CONTEXT_INCONSISTENT")
    fake_alipay.pay("o1")
    assert create(client, "o1", "12.34")["sub_code"] == "ACQ.TRADE_HAS_SUCCESS"
    by_open_id = client.api_alipay_trade_create(
        "s", "o2", "1.00", product_code="JSAPI_PAY", buyer_open_id=BUYER_OPEN_ID, op_app_id="2021004100000000"
    )
    assert by_open_id["code"] == "10000"
    assert client.api_alipay_trade_query(out_trade_no="o2")["buyer_open_id"] == BUYER_OPEN_ID


def test_trade_create_refuses_a_bad_amount(fake_alipay):
    client = key_client(fake_alipay)
    for amount in ("1.001", "abc", "0.00", "-1.00", "1e2", "01.00", ""):
        answer = create(client, "o1", amount)
        assert answer["code"] == "40002", amount
        assert answer["sub_code"] == ("isv.missing-parameter" if amount == "" else "isv.invalid-parameter")
        assert "total_amount" in answer["sub_msg"]
    assert fake_alipay.trades == {}


def test_trade_create_needs_a_buyer_and_jsapi_pay(fake_alipay):
    client = key_client(fake_alipay)
    assert client.api_alipay_trade_create("s", "o1", "1.00", product_code="JSAPI_PAY")["sub_code"] == (
        "ACQ.INVALID_PARAMETER"
    )
    answer = client.api_alipay_trade_create("s", "o1", "1.00", product_code="QUICK_WAP_WAY", buyer_id=BUYER)
    assert answer["sub_code"] == "ACQ.ACCESS_FORBIDDEN"


def test_pay_then_query(fake_alipay):
    client = key_client(fake_alipay)
    trade_no = create(client, "o1", "10.00")["trade_no"]
    waiting = client.api_alipay_trade_query(out_trade_no="o1")
    assert waiting["trade_status"] == "WAIT_BUYER_PAY" and "send_pay_date" not in waiting
    at = datetime.now(SHANGHAI).replace(microsecond=0) - timedelta(minutes=1)
    assert fake_alipay.pay("o1", at=at) == trade_no
    paid = client.api_alipay_trade_query(trade_no=trade_no)
    assert paid["trade_status"] == "TRADE_SUCCESS" and paid["total_amount"] == "10.00"
    assert paid["buyer_user_id"] == BUYER and paid["out_trade_no"] == "o1" and paid["trade_no"] == trade_no
    assert paid["send_pay_date"] == at.strftime("%Y-%m-%d %H:%M:%S")
    assert fake_alipay.ledger == [
        {"kind": "payment", "key": "o1", "amount": 1000, "at": at, "id": fake_alipay.ledger[0]["id"], "ref": trade_no}
    ]
    missing = client.api_alipay_trade_query(out_trade_no="nope")
    assert (missing["code"], missing["msg"], missing["sub_code"]) == ("40004", "Business Failed", "ACQ.TRADE_NOT_EXIST")
    with pytest.raises(PaymentRefused):
        fake_alipay.pay("o1")


def test_pay_overrides_and_unknown_orders(fake_alipay):
    client = key_client(fake_alipay)
    create(client, "o1", "10.00")
    fake_alipay.pay("o1", buyer_id="2088000000000077", amount=999)
    paid = client.api_alipay_trade_query(out_trade_no="o1")
    assert paid["total_amount"] == "9.99" and paid["buyer_user_id"] == "2088000000000077"
    trade_no = fake_alipay.pay_unknown("stray-1", 500, BUYER)
    assert client.api_alipay_trade_query(out_trade_no="stray-1")["trade_no"] == trade_no
    assert fake_alipay.money_in() == 999 + 500


def test_expiry_and_close(fake_alipay):
    client = key_client(fake_alipay)
    start = datetime(2030, 3, 1, 9, 0, tzinfo=SHANGHAI)
    with time_machine.travel(start, tick=True):
        create(client, "o1", time_expire="2030-03-01 09:15:00")
        create(client, "o2")
        create(client, "o3")
    with time_machine.travel(start + timedelta(minutes=16), tick=True):
        assert client.api_alipay_trade_query(out_trade_no="o1")["trade_status"] == "TRADE_CLOSED"
        with pytest.raises(PaymentRefused):
            fake_alipay.pay("o1")
        assert create(client, "o1", time_expire="2030-03-01 09:15:00")["sub_code"] == "ACQ.TRADE_HAS_CLOSE"
        assert client.api_alipay_trade_close(out_trade_no="o2")["code"] == "10000"
        assert client.api_alipay_trade_close(out_trade_no="o2")["code"] == "10000"
        assert client.api_alipay_trade_query(out_trade_no="o2")["trade_status"] == "TRADE_CLOSED"
        with pytest.raises(PaymentRefused):
            fake_alipay.pay("o2")
        fake_alipay.pay("o3")
        assert client.api_alipay_trade_close(out_trade_no="o3")["sub_code"] == "ACQ.TRADE_STATUS_ERROR"
        fake_alipay.finish_trade("o3")
        assert client.api_alipay_trade_query(out_trade_no="o3")["trade_status"] == "TRADE_FINISHED"
        answer = client.api_alipay_trade_refund("1.00", out_trade_no="o3", out_request_no="r")
        assert answer["sub_code"] == "ACQ.TRADE_HAS_FINISHED"


# -- asynchronous notifications ---------------------------------------------------------------------------------


def test_the_sdk_verifies_the_notification_and_rejects_bad_ones(fake_alipay):
    client = key_client(fake_alipay)
    create(client, "o1", "10.00")
    paid_at = datetime(2030, 3, 1, 8, 1, 2, tzinfo=SHANGHAI)
    fake_alipay.pay("o1", at=paid_at)
    with time_machine.travel(paid_at + timedelta(seconds=5), tick=False):
        first = fake_alipay.payment_notification("o1")
    with time_machine.travel(paid_at + timedelta(minutes=4), tick=False):
        again = fake_alipay.payment_notification("o1")
    assert first["notify_id"] == again["notify_id"] and first["notify_time"] != again["notify_time"]
    assert first["notify_time"] == "2030-03-01 08:01:07" and first["gmt_payment"] == "2030-03-01 08:01:02"
    assert first["trade_status"] == "TRADE_SUCCESS" and first["total_amount"] == "10.00"
    assert first["app_id"] == fake_alipay.app_id and first["seller_id"] == fake_alipay.seller_id
    assert first["buyer_id"] == BUYER and first["notify_type"] == "trade_status_sync" and first["sign_type"] == "RSA2"

    data = dict(first)
    assert client.verify(data, data.pop("sign"))  # the README's way: pop sign, verify() pops sign_type itself
    tampered = fake_alipay.tampered_notification("o1")
    assert tampered["total_amount"] == "10.01"
    assert not client.verify(tampered, tampered.pop("sign"))
    foreign = fake_alipay.notification_signed_by_other_key("o1")
    assert not client.verify(foreign, foreign.pop("sign"))
    data = dict(first)
    assert cert_client(fake_alipay).verify(data, data.pop("sign"))  # certificate mode verifies with the cert's key
    wrong_seller = fake_alipay.sign_notification(first | {"seller_id": "2088999999999999"})
    assert client.verify(wrong_seller, wrong_seller.pop("sign"))  # validly signed: the app must check seller_id

    assert dict(urllib.parse.parse_qsl(fake_alipay.form_body(first).decode())) == first


def test_notification_after_a_refund_is_a_new_notification(fake_alipay):
    client = key_client(fake_alipay)
    create(client, "o1", "10.00")
    fake_alipay.pay("o1")
    paid = fake_alipay.payment_notification("o1")
    client.api_alipay_trade_refund("10.00", out_trade_no="o1", out_request_no="r1")
    refunded = fake_alipay.payment_notification("o1")
    assert refunded["notify_id"] != paid["notify_id"]
    assert refunded["trade_status"] == "TRADE_CLOSED" and refunded["refund_fee"] == "10.00"
    assert refunded["out_biz_no"] == "r1" and "gmt_close" in refunded
    assert client.verify(refunded, refunded.pop("sign"))
    create(client, "o2")
    with pytest.raises(ValueError, match="not paid"):
        fake_alipay.payment_notification("o2")


def test_deliver_posts_the_notification_to_a_live_server(fake_alipay):
    client = key_client(fake_alipay)
    received: list[dict[str, str]] = []

    class Notify(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            fields = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            received.append(dict(fields))
            ok = self.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
            ok = ok and client.verify(fields, fields.pop("sign"))
            body = b"success" if ok else b"fail"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Notify)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/alipay/notify"
        create(client, "o1")
        fake_alipay.pay("o1")
        assert fake_alipay.deliver(url, fake_alipay.payment_notification("o1")).acknowledged
        assert not fake_alipay.deliver(url, fake_alipay.tampered_notification("o1")).acknowledged
        assert received[0]["out_trade_no"] == "o1" and len(fake_alipay.deliveries) == 2
    finally:
        server.shutdown()
        server.server_close()


# -- refunds ----------------------------------------------------------------------------------------------------


def test_refund_is_idempotent_per_out_request_no(fake_alipay):
    client = key_client(fake_alipay)
    trade_no = create(client, "o1", "10.00")["trade_no"]
    assert client.api_alipay_trade_refund("1.00", out_trade_no="o1", out_request_no="r1")["sub_code"] == (
        "ACQ.TRADE_STATUS_ERROR"
    )
    fake_alipay.pay("o1")
    answers = [client.api_alipay_trade_refund("3.00", out_trade_no="o1", out_request_no="r1") for _ in range(3)]
    assert [a["fund_change"] for a in answers] == ["Y", "N", "N"]
    assert {a["refund_fee"] for a in answers} == {"3.00"} and answers[0]["trade_no"] == trade_no
    assert answers[0]["buyer_user_id"] == BUYER and answers[0]["gmt_refund_pay"]
    assert [e["kind"] for e in fake_alipay.ledger] == ["payment", "refund"]
    assert fake_alipay.paid_out_by_key() == {"r1": 300}

    changed = client.api_alipay_trade_refund("4.00", out_trade_no="o1", out_request_no="r1")
    assert changed["sub_code"] == "ACQ.DISCORDANT_REPEAT_REQUEST"
    too_much = client.api_alipay_trade_refund("7.01", trade_no=trade_no, out_request_no="r2")
    assert too_much["sub_code"] == "ACQ.REASON_TRADE_REFUND_FEE_ERR"
    rest = client.api_alipay_trade_refund("7.00", trade_no=trade_no, out_request_no="r2")
    assert rest["fund_change"] == "Y" and rest["refund_fee"] == "10.00"
    assert client.api_alipay_trade_query(out_trade_no="o1")["trade_status"] == "TRADE_CLOSED"
    assert fake_alipay.money_out() == 1000
    assert client.api_alipay_trade_refund("3.00", out_trade_no="o1", out_request_no="r1")["fund_change"] == "N"


def test_a_refund_without_out_request_no_is_a_full_refund(fake_alipay):
    client = key_client(fake_alipay)
    create(client, "o1", "10.00")
    fake_alipay.pay("o1")
    assert client.api_alipay_trade_refund("5.00", out_trade_no="o1")["sub_code"] == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    assert client.api_alipay_trade_refund("10.00", out_trade_no="o1")["fund_change"] == "Y"
    assert fake_alipay.paid_out_by_key() == {"o1": 1000}


def test_refund_query(fake_alipay):
    client = key_client(fake_alipay)
    create(client, "o1", "10.00")
    fake_alipay.pay("o1")
    client.api_alipay_trade_refund("2.50", out_trade_no="o1", out_request_no="r1", refund_reason="迟到")
    done = client.api_alipay_trade_fastpay_refund_query("r1", out_trade_no="o1")
    assert done["refund_status"] == "REFUND_SUCCESS" and done["refund_amount"] == "2.50"
    assert done["total_amount"] == "10.00" and done["out_request_no"] == "r1" and done["refund_reason"] == "迟到"
    # Alipay: code 10000 only means the query worked; no refund data means no refund (retry with the same number).
    assert client.api_alipay_trade_fastpay_refund_query("r2", out_trade_no="o1") == {"code": "10000", "msg": "Success"}
    missing = client.api_alipay_trade_fastpay_refund_query("r1", out_trade_no="nope")
    assert missing["sub_code"] == "ACQ.TRADE_NOT_EXIST"


def test_refunds_draw_on_the_balance(fake_alipay):
    client = key_client(fake_alipay)
    create(client, "o1", "10.00")
    fake_alipay.pay("o1")
    fake_alipay.balance = 100
    answer = client.api_alipay_trade_refund("2.00", out_trade_no="o1", out_request_no="r1")
    assert answer["sub_code"] == "ACQ.SELLER_BALANCE_NOT_ENOUGH" and fake_alipay.money_out() == 0


def test_concurrent_identical_refunds_move_money_once(fake_alipay):
    create(key_client(fake_alipay), "o1", "10.00")
    fake_alipay.pay("o1")

    def refund(_: int) -> str:
        return key_client(fake_alipay).api_alipay_trade_refund("5.00", out_trade_no="o1", out_request_no="r1")[
            "fund_change"
        ]

    with ThreadPoolExecutor(max_workers=16) as pool:
        changes = list(pool.map(refund, range(16)))
    assert sorted(changes) == ["N"] * 15 + ["Y"]
    assert fake_alipay.paid_out_by_key() == {"r1": 500}


# -- transfers --------------------------------------------------------------------------------------------------


def test_transfer_is_idempotent_per_out_biz_no(fake_alipay):
    client = cert_client(fake_alipay)
    first = transfer(client, "b1", "1.23")
    assert first["code"] == "10000" and first["status"] == "SUCCESS" and first["out_biz_no"] == "b1"
    assert first["order_id"] and first["pay_fund_order_id"] and first["trans_date"]
    raw = json.loads(fake_alipay.requests[-1].raw_answer)
    assert raw["alipay_cert_sn"] == fake_alipay.alipay_cert_sn and fake_alipay.requests[-1].cert_mode
    assert fake_alipay.requests[-1].biz["payee_info"] == {
        "identity": BUYER,
        "identity_type": "ALIPAY_USER_ID",
        "name": None,
    }
    again = transfer(client, "b1", "1.23")
    assert again["order_id"] == first["order_id"] and again["status"] == "SUCCESS"
    assert [e["key"] for e in fake_alipay.ledger] == ["b1"] and fake_alipay.paid_out_by_key() == {"b1": 123}
    assert transfer(client, "b1", "1.24")["sub_code"] == "PAYMENT_INFO_INCONSISTENCY"
    assert transfer(client, "b1", "1.23", identity="2088000000000001")["sub_code"] == "PAYMENT_INFO_INCONSISTENCY"

    by_number = transfer_query(client, out_biz_no="b1", **TRANSFER)
    assert by_number["status"] == "SUCCESS" and by_number["trans_amount"] == "1.23"
    assert by_number["order_id"] == first["order_id"] and by_number["pay_date"]
    assert transfer_query(client, order_id=first["order_id"])["out_biz_no"] == "b1"
    assert transfer_query(client, out_biz_no="nope", **TRANSFER)["sub_code"] == "ORDER_NOT_EXIST"
    assert transfer_query(client, out_biz_no="b1")["sub_code"] == "INVALID_PARAMETER"
    assert transfer_query(key_client(fake_alipay), out_biz_no="b1", **TRANSFER)["status"] == "SUCCESS"


def test_transfer_needs_certificate_mode(fake_alipay):
    biz = {
        "out_biz_no": "b1",
        "trans_amount": "1.00",
        **TRANSFER,
        "payee_info": {"identity": BUYER, "identity_type": "ALIPAY_USER_ID"},
    }
    answer = key_client(fake_alipay).server_api("alipay.fund.trans.uni.transfer", biz)
    assert (answer["code"], answer["sub_code"]) == ("40006", "isv.insufficient-isv-permissions")
    assert fake_alipay.transfers == {}
    client = cert_client(fake_alipay)
    client._app_cert_sn = generate_key_material().app_cert_sn
    assert transfer(client, "b1")["sub_code"] == "isv.invalid-app-cert-sn"


def test_transfer_business_failures(fake_alipay):
    client = cert_client(fake_alipay)
    assert transfer(client, "b1", "0.09")["sub_code"] == "EXCEED_LIMIT_SM_MIN_AMOUNT"
    assert transfer(client, "b2", "50000.01")["sub_code"] == "EXCEED_LIMIT_SM_AMOUNT"
    assert transfer(client, "b3", "1.00", identity="12345")["sub_code"] == "PAYEE_NOT_EXIST"
    fake_alipay.unknown_payees.add("2088000000000404")
    assert transfer(client, "b4", "1.00", identity="2088000000000404")["sub_code"] == "PAYEE_NOT_EXIST"
    fake_alipay.balance = 99
    assert transfer(client, "b5", "1.00")["sub_code"] == "PAYER_BALANCE_NOT_ENOUGH"
    assert transfer(client, "b6", "1.001")["sub_code"] == "isv.invalid-parameter"
    by_logon = client.api_alipay_fund_trans_uni_transfer("b7", "ALIPAY_LOGON_ID", "someone@example.com", "1.00")
    assert by_logon["sub_code"] == "INVALID_PARAMETER"  # a logon id needs the payee's real name
    assert fake_alipay.ledger == [] and fake_alipay.transfers == {}
    fake_alipay.balance = 10_000
    open_id = client.server_api(
        "alipay.fund.trans.uni.transfer",
        {"out_biz_no": "b8", "trans_amount": "0.10", **TRANSFER,
         "payee_info": {"identity": BUYER_OPEN_ID, "identity_type": "ALIPAY_OPEN_ID"}},
    )  # fmt: skip
    assert open_id["status"] == "SUCCESS" and fake_alipay.balance == 10_000 - 10
    named = client.api_alipay_fund_trans_uni_transfer("b9", "ALIPAY_LOGON_ID", "someone@example.com", "1.00", "张三")
    assert named["status"] == "SUCCESS" and fake_alipay.paid_out_by_key() == {"b8": 10, "b9": 100}


def test_dealing_transfers_settle_later():
    with FakeAlipay(transfer_mode="dealing", balance=1_000) as fake:
        client = cert_client(fake)
        answer = transfer(client, "b1", "3.00")
        assert answer["status"] == "DEALING" and "pay_fund_order_id" not in answer
        assert fake.ledger == [] and fake.balance == 700
        assert transfer_query(client, out_biz_no="b1", **TRANSFER)["status"] == "DEALING"
        fake.settle_transfer("b1")
        assert transfer(client, "b1", "3.00")["status"] == "SUCCESS"
        assert fake.paid_out_by_key() == {"b1": 300}

        transfer(client, "b2", "2.00")
        fake.settle_transfer("b2", status="FAIL", reason="收款账户被冻结")
        failed = transfer_query(client, out_biz_no="b2", **TRANSFER)
        assert failed["status"] == "FAIL" and failed["fail_reason"] == "收款账户被冻结" and "trans_amount" not in failed
        assert fake.balance == 700 and fake.money_out() == 300
        with pytest.raises(PaymentRefused):
            fake.settle_transfer("b2")


# -- bills ------------------------------------------------------------------------------------------------------


def read_zip(url: str) -> dict[str, str]:
    with urllib.request.urlopen(url, timeout=3) as response:
        data = response.read()
    with zipfile.ZipFile(io.BytesIO(data), metadata_encoding="gbk") as archive:
        assert all(not info.flag_bits & 0x800 for info in archive.infolist())  # GBK names, no UTF-8 flag
        return {name: archive.read(name).decode("gbk") for name in archive.namelist()}


def test_bills_list_what_happened_that_day_even_without_a_notification(fake_alipay):
    client, dc = key_client(fake_alipay), cert_client(fake_alipay)
    day = date(2030, 3, 1)
    with time_machine.travel(local(day, "07:59:00"), tick=True):
        create(client, "o1", "10.00")
        create(client, "o2", "20.00")
        fake_alipay.pay("o1")  # nobody ever delivers its notification
        fake_alipay.pay("o2")
        client.api_alipay_trade_refund("20.00", out_trade_no="o2", out_request_no="o2-refund")
        transfer(dc, "b1", "1.50")
    with time_machine.travel(local(day + timedelta(days=1), "09:30:00"), tick=True):
        query = {"bill_type": "trade", "bill_date": "2030-03-01"}
        answer = client.server_api("alipay.data.dataservice.bill.downloadurl.query", query)
        assert answer["code"] == "10000" and answer["bill_download_url"].startswith(fake_alipay.base_url)
        files = read_zip(answer["bill_download_url"])
        account = fake_alipay.seller_id + "0156"
        detail = files[f"{account}_20300301_业务明细.csv"]
        assert f"{account}_20300301_业务明细(汇总).csv" in files
        lines = detail.splitlines()
        assert lines[:3] == [
            "#支付宝业务明细查询",
            f"#账号：[{account}]",
            "#起始日期：[2030年03月01日 00:00:00]   终止日期：[2030年03月02日 00:00:00]",
        ]
        assert lines[4].startswith("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间")
        rows = [line.split(",") for line in lines[5:] if not line.startswith("#")]
        assert [(r[1], r[2], r[11], r[21]) for r in rows] == [
            ("o1\t", "交易\t", "10.00", "\t"),
            ("o2\t", "交易\t", "20.00", "\t"),
            ("o2\t", "退款\t", "-20.00", "o2-refund\t"),
        ]
        assert "#交易合计：2笔，商家实收共30.00元，商家优惠共0.00元" in lines
        assert "#退款合计：1笔，商家实收退款共-20.00元，商家优惠退款共0.00元" in lines

        query = {"bill_type": "signcustomer", "bill_date": "2030-03-01"}
        files = read_zip(
            client.server_api("alipay.data.dataservice.bill.downloadurl.query", query)["bill_download_url"]
        )
        flow = files[f"{account}_20300301_账务明细.csv"]
        rows = [line.split(",") for line in flow.splitlines()[5:] if not line.startswith("#")]
        assert [(r[2], r[6], r[7], r[10]) for r in rows] == [
            ("o1\t", "10.00", "0.00", "在线支付"),
            ("o2\t", "20.00", "0.00", "在线支付"),
            ("o2\t", "0.00", "-20.00", "交易退款"),
            ("b1\t", "0.00", "-1.50", "转账"),
        ]
        balances = [parse_yuan(r[8]) for r in rows]
        start = balances[0] - 1000
        assert balances == [start + 1000, start + 3000, start + 1000, start + 850]
        assert balances[-1] == fake_alipay.balance
        assert f"{account}_20300301_账务明细(汇总).csv" in files

        for missing in ("2030-02-28", "2030-03-02"):  # nothing that day / today's bill is not made yet
            answer = client.server_api(
                "alipay.data.dataservice.bill.downloadurl.query", {"bill_type": "trade", "bill_date": missing}
            )
            assert (answer["code"], answer["sub_code"]) == ("40004", "isp.bill_not_exist")
        url = client.server_api("alipay.data.dataservice.bill.downloadurl.query", query)["bill_download_url"]
    with time_machine.travel(local(day + timedelta(days=1), "09:31:00"), tick=True):
        with pytest.raises(urllib.error.HTTPError) as expired:
            read_zip(url)
        assert expired.value.code == 404


# -- faults -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "acts", "outcome"),
    [
        ("timeout_before", False, OSError),
        ("timeout_after", True, OSError),
        ("system_error_before", False, ("20000", "isp.unknow-error")),
        ("system_error_after", True, ("20000", "isp.unknow-error")),
        ("business_system_error_before", False, ("40004", "ACQ.SYSTEM_ERROR")),
        ("business_system_error_after", True, ("40004", "ACQ.SYSTEM_ERROR")),
        ("bad_signature", True, AliPayValidationError),
        ("unreadable", True, ValueError),
        ("balance", False, ("40004", "ACQ.SELLER_BALANCE_NOT_ENOUGH")),
    ],
)
def test_faults_on_refund(fake_alipay, fault, acts, outcome):
    fake_alipay.hang_seconds = 1.0
    client = key_client(fake_alipay, timeout=0.3)
    create(client, "o1", "10.00")
    fake_alipay.pay("o1")
    fake_alipay.inject("alipay.trade.refund", fault)
    if isinstance(outcome, tuple):
        answer = client.api_alipay_trade_refund("1.00", out_trade_no="o1", out_request_no="r1")
        assert (answer["code"], answer["sub_code"]) == outcome
    else:
        with pytest.raises(outcome):
            client.api_alipay_trade_refund("1.00", out_trade_no="o1", out_request_no="r1")
    assert fake_alipay.money_out() == (100 if acts else 0)
    assert fake_alipay.faults_injected == {fault: 1}
    assert fake_alipay.calls("alipay.trade.refund")[-1].fault == fault
    # The fault is spent; the retry with the same number settles it, and money moves at most once.
    retry = key_client(fake_alipay).api_alipay_trade_refund("1.00", out_trade_no="o1", out_request_no="r1")
    assert retry["fund_change"] == ("N" if acts else "Y") and fake_alipay.paid_out_by_key() == {"r1": 100}


@pytest.mark.parametrize(
    ("fault", "sub_code"),
    [("business_system_error_before", "SYSTEM_ERROR"), ("balance", "PAYER_BALANCE_NOT_ENOUGH")],
)
def test_fund_faults_use_the_fund_codes(fake_alipay, fault, sub_code):
    fake_alipay.inject("alipay.fund.trans.uni.transfer", fault)
    answer = transfer(cert_client(fake_alipay), "b1")
    assert (answer["code"], answer["sub_code"]) == ("40004", sub_code) and fake_alipay.transfers == {}


def test_a_transfer_that_timed_out_after_acting_is_not_repeated(fake_alipay):
    fake_alipay.hang_seconds = 1.0
    fake_alipay.inject("alipay.fund.trans.uni.transfer", "timeout_after", times=2)
    with pytest.raises(OSError):
        transfer(cert_client(fake_alipay, timeout=0.3), "b1", "2.00")
    with pytest.raises(OSError):
        transfer(cert_client(fake_alipay, timeout=0.3), "b1", "2.00")
    client = cert_client(fake_alipay)
    assert transfer_query(client, out_biz_no="b1", **TRANSFER)["status"] == "SUCCESS"
    assert transfer(client, "b1", "2.00")["status"] == "SUCCESS"
    assert fake_alipay.paid_out_by_key() == {"b1": 200} and fake_alipay.faults_injected == {"timeout_after": 2}


def test_faults_fire_in_queue_order_per_method(fake_alipay):
    client = key_client(fake_alipay)
    fake_alipay.inject("alipay.trade.query", "system_error_before")
    fake_alipay.inject("alipay.trade.query", "business_system_error_before")
    create(client, "o1")  # another method: untouched
    assert client.api_alipay_trade_query(out_trade_no="o1")["code"] == "20000"
    assert client.api_alipay_trade_query(out_trade_no="o1")["sub_code"] == "ACQ.SYSTEM_ERROR"
    assert client.api_alipay_trade_query(out_trade_no="o1")["code"] == "10000"
    with pytest.raises(ValueError, match="unknown fault"):
        fake_alipay.inject("alipay.trade.query", "slow")


def test_money_helpers():
    assert [yuan(f) for f in (0, 1, 100, 12345, -5)] == ["0.00", "0.01", "1.00", "123.45", "-0.05"]
    assert [parse_yuan(t) for t in ("1", "1.5", "1.05", "0.01", "99999999.99")] == [100, 150, 105, 1, 9999999999]
    assert [parse_yuan(t) for t in ("1.001", "abc", "1.", ".5", "-1", "1,00", None, 1)] == [None] * 8
