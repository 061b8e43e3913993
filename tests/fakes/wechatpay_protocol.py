"""The wire side of the fake WeChat Pay API v3: time format, error answers, field validation, request and answer
signatures, notification encryption and the HTTP plumbing. The states and money live in ``wechatpay.py``; this
module only knows how WeChat Pay v3 talks.

Protocol facts used here (WeChat Pay v3 interface rules, and the wechatpayv3 SDK's client side):

* A request carries ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",
  timestamp="…",serial_no="…"``, the signature SHA256withRSA (PKCS#1 v1.5) by the merchant key over
  ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n``; a timestamp more than 5 minutes off is refused.
* An answer (errors too) and a notification carry ``Wechatpay-Timestamp/-Nonce/-Serial/-Signature/-Signature-Type``,
  the signature by the platform key over ``TIMESTAMP\\nNONCE\\nBODY\\n``; only bill downloads are unsigned.
* A notification's ``resource`` is AEAD_AES_256_GCM under the 32-byte APIv3 key with a 12-character nonce and the
  ``associated_data`` given in clear; sensitive request fields (user_name) are RSA-OAEP(SHA-1) encrypted with the
  platform public key named by the request's ``Wechatpay-Serial``.
* Times are RFC 3339 in Beijing time; errors are ``{"code": …, "message": …}`` with an HTTP status.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.fakes.keys import sign_sha256_rsa, verify_sha256_rsa

SHANGHAI = ZoneInfo("Asia/Shanghai")
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
MAX_CLOCK_SKEW = timedelta(minutes=5)
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"  # signature-probe traffic WeChat sends to test that merchants verify

_ALNUM = string.ascii_letters + string.digits
_AUTH_FIELD = re.compile(r'(\w+)="([^"]*)"')


def utc_now() -> datetime:
    """The default clock: read at every call, so time-machine moves it."""
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """WeChat's time format: RFC 3339 in Beijing time, e.g. ``2026-12-07T10:00:00+08:00``."""
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds")


def meta_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The same headers as Django's ``request.META`` names them (``HTTP_WECHATPAY_SIGNATURE`` …)."""
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


def json_bytes(obj: Any) -> bytes:
    """Compact UTF-8 JSON, Chinese unescaped, as WeChat writes it."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def random_text(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


# ---------------------------------------------------------------------------------------------- errors and fields


class ApiError(Exception):
    """An error answer: ``{"code": …, "message": …}`` with its HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def param_error(message: str) -> ApiError:
    return ApiError(400, "PARAM_ERROR", message)


def invalid_request(message: str) -> ApiError:
    return ApiError(400, "INVALID_REQUEST", message)


def optional_text(obj: Mapping[str, Any], name: str, max_len: int,
                  pattern: re.Pattern[str] | None = None) -> str | None:
    """A string field if present, checked like WeChat's schema validation (type, length, characters)."""
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= max_len or (pattern and not pattern.fullmatch(value)):
        raise param_error(f"参数 {name} 格式错误")
    return value


def text(obj: Mapping[str, Any], name: str, max_len: int, pattern: re.Pattern[str] | None = None) -> str:
    """A required string field."""
    value = optional_text(obj, name, max_len, pattern)
    if value is None:
        raise param_error(f"缺少参数 {name}")
    return value


def fen(obj: Mapping[str, Any], name: str) -> int:
    """A positive integer amount in fen (JSON booleans and floats are refused, as by WeChat)."""
    value = obj.get(name)
    if type(value) is not int or value < 1:
        raise param_error(f"参数 {name} 必须为正整数（单位：分）")
    return value


def https_url(obj: Mapping[str, Any], name: str) -> None:
    """A notify URL, if present, must be https and carry no query string (WeChat's notify_url rules)."""
    url = optional_text(obj, name, 255)
    if url is not None and (not url.startswith("https://") or "?" in url):
        raise param_error(f"参数 {name} 必须为https地址且不能携带参数")


# ---------------------------------------------------------------------------------------------- requests and answers


@dataclass(frozen=True)
class Request:
    """A routed API request: ``target`` is the path and query exactly as sent (and signed), ``args`` the URL-decoded
    path parameters."""

    method: str
    target: str
    args: tuple[str, ...]
    query: dict[str, str]
    headers: Mapping[str, str]
    text: str

    def json(self) -> dict[str, Any]:
        try:
            body = json.loads(self.text)
        except ValueError:
            raise param_error("请求体不是合法的JSON") from None
        if not isinstance(body, dict):
            raise param_error("请求体必须为JSON对象")
        return body


@dataclass(frozen=True)
class Answer:
    """What the fake sends back; ``signed=False`` only for bill downloads, which WeChat does not sign."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json; charset=utf-8"
    signed: bool = True


def json_answer(obj: Any, status: int = 200) -> Answer:
    return Answer(status, json_bytes(obj))


def error_answer(status: int, code: str, message: str) -> Answer:
    return json_answer({"code": code, "message": message}, status)


# ---------------------------------------------------------------------------------------------- signatures, encryption


def verify_authorization(request: Request, *, mchid: str, serial_no: str, public_key: rsa.RSAPublicKey,
                         now: datetime) -> None:
    """Check a request's ``Authorization`` header; any failure is a 401 SIGN_ERROR."""
    scheme, _, rest = request.headers.get("Authorization", "").partition(" ")
    fields = dict(_AUTH_FIELD.findall(rest))
    if scheme != SIGNATURE_TYPE or not {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} <= set(fields):
        raise ApiError(401, "SIGN_ERROR", "Authorization 缺失或格式错误")
    if fields["mchid"] != mchid:
        raise ApiError(401, "SIGN_ERROR", "Authorization 中的商户号不存在")
    if fields["serial_no"] != serial_no:
        raise ApiError(401, "SIGN_ERROR", "商户证书序列号有误")
    stamp = fields["timestamp"]
    if not stamp.isdigit() or abs(now.timestamp() - int(stamp)) > MAX_CLOCK_SKEW.total_seconds():
        raise ApiError(401, "SIGN_ERROR", "Authorization 中的时间戳与系统时间相差超过5分钟")
    message = f"{request.method}\n{request.target}\n{stamp}\n{fields['nonce_str']}\n{request.text}\n"
    if not verify_sha256_rsa(public_key, message.encode("utf-8"), fields["signature"]):
        raise ApiError(401, "SIGN_ERROR", "签名验证不通过")


def signature_headers(key: rsa.RSAPrivateKey, body: bytes, *, timestamp: int, serial: str,
                      signature: str | None = None) -> dict[str, str]:
    """``Wechatpay-*`` headers signing ``body`` (or carrying the given ``signature`` instead, for probes)."""
    nonce = random_text(32)
    if signature is None:
        signature = sign_sha256_rsa(key, f"{timestamp}\n{nonce}\n".encode() + body + b"\n")
    return {
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature": signature,
        "Wechatpay-Signature-Type": SIGNATURE_TYPE,
    }


def probe_signature() -> str:
    """A signature of WeChat's signature-probe traffic: it never verifies."""
    return PROBE_PREFIX + base64.b64encode(secrets.token_bytes(48)).decode("ascii")


def encrypt_resource(apiv3_key: str, resource: Mapping[str, Any], original_type: str) -> dict[str, str]:
    """A notification's ``resource`` object: the JSON of ``resource`` encrypted with AES-256-GCM."""
    nonce = random_text(12)
    ciphertext = AESGCM(apiv3_key.encode("utf-8")).encrypt(nonce.encode("utf-8"), json_bytes(resource),
                                                            original_type.encode("utf-8"))
    return {
        "original_type": original_type,
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
        "associated_data": original_type,
        "nonce": nonce,
    }


def decrypt_sensitive(key: rsa.RSAPrivateKey, ciphertext: str) -> str:
    """A sensitive field encrypted with the platform public key (RSA-OAEP with SHA-1, as WeChat specifies)."""
    try:
        plain = key.decrypt(base64.b64decode(ciphertext), padding.OAEP(mgf=padding.MGF1(hashes.SHA1()),
                                                                        algorithm=hashes.SHA1(), label=None))
        return plain.decode("utf-8")
    except ValueError:
        raise param_error("敏感字段解密失败，请使用微信支付公钥加密") from None


# ---------------------------------------------------------------------------------------------- HTTP


class Handler(BaseHTTPRequestHandler):
    """Hands every request to the server's ``on_request``. HTTP/1.0: each connection carries one request, so returning
    without an answer closes it, which is how a timeout fault looks to the client."""

    server: Server

    def do_GET(self) -> None:
        self.server.on_request(self)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fake records its requests instead of logging them."""


class Server(ThreadingHTTPServer):
    """127.0.0.1, an ephemeral port, a thread per request."""

    daemon_threads = True
    block_on_close = False  # a handler hanging for a timeout fault must not hold up stopping
    request_queue_size = 128  # tests fire dozens of concurrent requests; the default backlog of 5 drops connects

    def __init__(self, on_request: Callable[[BaseHTTPRequestHandler], None]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.on_request = on_request


def send(handler: BaseHTTPRequestHandler, answer: Answer, headers: Mapping[str, str]) -> None:
    """Write the answer with ``headers`` (Request-ID, signature headers)."""
    handler.send_response(answer.status)
    if answer.body and answer.content_type:
        handler.send_header("Content-Type", answer.content_type)
    handler.send_header("Content-Length", str(len(answer.body)))
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(answer.body)
