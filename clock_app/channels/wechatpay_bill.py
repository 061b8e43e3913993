"""WeChat Pay's daily bills as :class:`~clock_app.channels.base.BillLine` s, for reconciliation.

``GET /v3/bill/tradebill`` (payments and refunds) and ``GET /v3/bill/fundflowbill`` (the basic account's
money movements: transfers) answer ``{hash_type: "SHA1", hash_value, download_url}``; the file behind the URL
is gzip-compressed CSV, its SHA-1 (of the uncompressed file) is ``hash_value`` — and the download's own answer
is not signed, so the hash is the file's only proof. The SDK does not check it; here nothing is read from a
file before its hash matched: the file is streamed to a temporary file on disk while hashed, compared, then
parsed line by line (a day of a million payments costs disk, not memory).

File format: a header row, one row per record with every field prefixed by a backtick (`` ` ``), amounts in
yuan with two decimals, then a summary header and a summary row. Bills exist from about 10:00 the next day.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import hmac
import io
import tempfile
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import IO, TYPE_CHECKING
from urllib.parse import urlsplit

import requests
from django.utils import timezone

from ..conf import clock_settings
from ..exceptions import ChannelUnavailable
from .base import BillLine

if TYPE_CHECKING:
    from .wechatpay import WeChatPayChannel

CHUNK = 1 << 16
NOTHING_THAT_DAY = "NO_STATEMENT_EXIST"


def bill_lines(channel: WeChatPayChannel, day: date) -> Iterator[BillLine]:
    yield from _lines(channel, f"/v3/bill/tradebill?bill_date={day}&bill_type=ALL&tar_type=GZIP", _trade_line)
    yield from _lines(channel, f"/v3/bill/fundflowbill?bill_date={day}&account_type=BASIC&tar_type=GZIP", _fund_line)


def _lines(channel: WeChatPayChannel, path: str, read: Callable[[dict[str, str], str], BillLine | None]):
    from .wechatpay import Unverified

    try:
        reply = channel.request("GET", path)
    except (requests.RequestException, Unverified) as exc:
        raise ChannelUnavailable(f"WeChat Pay's bill could not be had: {exc}") from exc
    if reply.status == 400 and reply.data.get("code") == NOTHING_THAT_DAY:
        return  # nothing happened that day: an empty bill
    if reply.status != 200 or reply.data.get("hash_type") != "SHA1" or not reply.data.get("download_url"):
        raise ChannelUnavailable(f"WeChat Pay's bill is not available: {reply.text[:300]}")
    with tempfile.TemporaryFile() as stored:
        _download(channel, reply.data["download_url"], reply.data.get("hash_value", ""), stored)
        stored.seek(0)
        text = io.TextIOWrapper(stored, encoding="utf-8-sig", newline="")
        rows = csv.reader(text)
        header = [_column(name) for name in next(rows, [])]
        for row in rows:
            fields = [field.removeprefix("`") for field in row]
            if not fields or fields[0].startswith(("总", "资金流水总")):  # the summary rows end the details
                break
            line = read(dict(zip(header, fields, strict=False)), ",".join(row))
            if line is not None:
                yield line


def _download(channel: WeChatPayChannel, url: str, expected: str, into: IO[bytes]) -> None:
    """The file behind ``url`` (signed like any call, unsigned answer), un-gzipped into ``into`` while its
    SHA-1 is computed; ChannelUnavailable unless it matches ``expected``."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    sha1 = hashlib.sha1()
    try:
        with channel.send("GET", path, stream=True) as response:
            if response.status_code != 200:
                raise ChannelUnavailable(f"WeChat Pay's bill download answered {response.status_code}")
            raw = response.raw
            raw.decode_content = True
            body = gzip.GzipFile(fileobj=raw) if "gzip" in parts.query.lower() else raw
            while chunk := body.read(CHUNK):
                sha1.update(chunk)
                into.write(chunk)
    except (requests.RequestException, OSError, EOFError) as exc:
        raise ChannelUnavailable(f"WeChat Pay's bill download failed: {exc}") from exc
    if not hmac.compare_digest(sha1.hexdigest(), expected.lower()):
        raise ChannelUnavailable("WeChat Pay's bill does not match its hash_value: not read")


def _column(name: str) -> str:
    """Header names as WeChat writes them, whatever the width of their parentheses: ``收支金额(元)``."""
    return name.strip().replace("（", "(").replace("）", ")")


def fen(yuan: str) -> int:
    """``"12.34"`` → 1234, exactly (never through a float); ValueError for anything else."""
    try:
        value = Decimal(yuan.strip()) * 100
    except InvalidOperation:
        raise ValueError(f"not an amount: {yuan!r}") from None
    if value != value.to_integral_value():
        raise ValueError(f"more than two decimals: {yuan!r}")
    return int(value)


def _local(text: str) -> datetime:
    return timezone.make_aware(datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S"), clock_settings.time_zone)


def _trade_line(row: dict[str, str], raw: str) -> BillLine | None:
    state = row.get("交易状态", "")
    if state == "SUCCESS":
        return BillLine(
            kind="payment",
            number=row["商户订单号"],
            channel_id=row["微信订单号"],
            amount=fen(row["订单金额"]),
            status="SUCCESS",
            at=_local(row["交易时间"]),
            buyer_id=row.get("用户标识", ""),
            raw=raw,
        )
    if state == "REFUND":
        return BillLine(
            kind="refund",
            number=row["商户退款单号"],
            channel_id=row["微信退款单号"],
            amount=fen(row.get("申请退款金额") or row["退款金额"]),
            status=row.get("退款状态") or "SUCCESS",
            at=_local(row["交易时间"]),
            raw=raw,
        )
    return None


def _fund_line(row: dict[str, str], raw: str) -> BillLine | None:
    """Only transfers: payments and refunds are the trade bill's."""
    if row.get("业务类型") != "商家转账" or row.get("收支类型") != "支出":
        return None
    return BillLine(
        kind="transfer",
        number=row["业务凭证号"],
        channel_id=row["微信支付业务单号"],
        amount=fen(row["收支金额(元)"]),
        status="SUCCESS",
        at=_local(row["记账时间"]),
        raw=raw,
    )
