"""Reading Alipay's daily bills (对账单) into :class:`~clock_app.channels.base.BillLine`, one line at a time.

``alipay.data.dataservice.bill.downloadurl.query`` hands out, for one Beijing-time day, a URL (valid 30 s) of a
ZIP whose member names are GBK bytes and whose CSV files are GBK text:

* ``trade`` bill, member ``…_业务明细.csv``: one row per payment (业务类型 ``交易``) and refund (``退款``, negative
  amounts) completed that day, with the order amount (订单金额, before Alipay's fee), our numbers (商户订单号,
  退款批次号/请求号) and Alipay's trade number;
* ``signcustomer`` bill, member ``…_账务明细.csv``: every movement of the merchant's balance — read here for the
  transfers (业务类型 ``转账``), whose out_biz_no is the 商户订单号.

Rows sit between ``#`` comment lines (title, account, period, and after the rows the totals); cells carry a
trailing tab so spreadsheets keep long numbers as text. Columns are found by their header names, not
positions. Buyers are masked in bills (``**(2088****6880)``), so a payment line carries no ``buyer_id``: ask
the channel (``query_payment``) for the payer.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import IO

from ..exceptions import ChannelUnavailable
from ..money import fen
from .alipay_wire import SHANGHAI, TIME_FORMAT
from .base import BillLine

TRADE, SIGNCUSTOMER = "trade", "signcustomer"
_MEMBER = {TRADE: "_业务明细.csv", SIGNCUSTOMER: "_账务明细.csv"}
_FIRST_COLUMN = {TRADE: "支付宝交易号", SIGNCUSTOMER: "账务流水号"}
_COLUMNS = {
    TRADE: ("支付宝交易号", "商户订单号", "业务类型", "完成时间", "订单金额（元）", "退款批次号/请求号"),
    SIGNCUSTOMER: ("业务流水号", "商户订单号", "业务类型", "发生时间", "支出金额（-元）"),
}


class BillUnreadable(ChannelUnavailable):
    """A bill whose archive or layout is not what Alipay ships (reconciliation cannot trust it)."""

    code = "bill_unreadable"
    message = "支付宝账单无法读取"


def bill_lines(archive_file: IO[bytes], bill_type: str) -> Iterator[BillLine]:
    """The lines of one downloaded bill ZIP (``bill_type`` ``trade`` or ``signcustomer``), streamed: the
    archive stays on disk and its CSV is decoded row by row."""
    try:
        archive = zipfile.ZipFile(archive_file, metadata_encoding="gbk")
    except (zipfile.BadZipFile, OSError) as exc:
        raise BillUnreadable(f"支付宝{bill_type}账单不是有效的ZIP：{exc}") from exc
    with archive:
        names = [name for name in archive.namelist() if name.endswith(_MEMBER[bill_type])]
        if len(names) != 1:
            raise BillUnreadable(f"支付宝{bill_type}账单中没有唯一的明细文件：{archive.namelist()}")
        with archive.open(names[0]) as member:
            text = io.TextIOWrapper(member, encoding="gb18030", newline="")
            yield from _rows(text, bill_type)


def _rows(text: IO[str], bill_type: str) -> Iterator[BillLine]:
    columns: dict[str, int] | None = None
    for raw in text:
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        cells = [cell.strip() for cell in next(csv.reader([line]))]
        if columns is None:
            if cells[0] == _FIRST_COLUMN[bill_type]:
                columns = {name: i for i, name in enumerate(cells)}
                missing = [name for name in _COLUMNS[bill_type] if name not in columns]
                if missing:
                    raise BillUnreadable(f"支付宝{bill_type}账单缺少列：{missing}")
            continue
        if line.startswith("#"):  # the end of the rows: totals and the export time follow
            return
        row = {name: cells[i] if i < len(cells) else "" for name, i in columns.items()}
        try:
            found = _trade_line(row, line) if bill_type == TRADE else _account_line(row, line)
        except ValueError as exc:
            raise BillUnreadable(f"支付宝{bill_type}账单行无法读取（{exc}）：{line[:200]}") from exc
        if found is not None:
            yield found
    if columns is None:
        raise BillUnreadable(f"支付宝{bill_type}账单没有表头")


def _time(text: str) -> datetime:
    """A bill's time: Beijing time, always (a row with another time is unreadable, not guessed)."""
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=SHANGHAI)


def _trade_line(row: dict[str, str], raw: str) -> BillLine | None:
    kind = {"交易": "payment", "退款": "refund"}.get(row["业务类型"])
    if kind is None:
        return None
    number = row["商户订单号"]
    if kind == "refund":  # a refund without out_request_no is known by the order's number
        number = row["退款批次号/请求号"] or number
    return BillLine(
        kind=kind,
        number=number,
        channel_id=row["支付宝交易号"],
        amount=abs(fen(row["订单金额（元）"])),
        status="SUCCESS",
        at=_time(row["完成时间"]),
        raw=raw,
    )


def _account_line(row: dict[str, str], raw: str) -> BillLine | None:
    if "转账" not in row["业务类型"]:
        return None  # payments and refunds are read from the trade bill
    return BillLine(
        kind="transfer",
        number=row["商户订单号"],
        channel_id=row["业务流水号"],
        amount=abs(fen(row["支出金额（-元）"])),
        status="SUCCESS",
        at=_time(row["发生时间"]),
        raw=raw,
    )
