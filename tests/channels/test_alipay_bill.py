"""``AlipayChannel.bill(day)``: Alipay's trade and signcustomer bills read into BillLines for reconciliation —
what each line says, the day cut in ``CLOCK["TIME_ZONE"]``, and every way the bill cannot be had."""

import io
import zipfile
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.test import override_settings

from clock_app.channels import get_channel
from clock_app.channels.alipay_bill import BillUnreadable, bill_lines
from clock_app.exceptions import ChannelUnavailable
from clock_app.services.transfers import Transfer
from tests.fakes import alipay as fake_module

from .conftest import local

DAY = date(2030, 3, 1)
BUYER = "2088102177846880"


def order(number: str, fen: int = 100, buyer: str = BUYER) -> SimpleNamespace:
    return SimpleNamespace(order_no=number, pay_amount=fen, buyer_id=buyer)


def paid(fake, number: str, at, fen: int = 100) -> str:
    """A mini-program order made through the adapter and paid at ``at``; returns Alipay's trade_no."""
    with time_machine.travel(at, tick=False):
        get_channel().prepay(order(number, fen), expires_at=at + timedelta(hours=1))
        return fake.pay(number)


def bill(day: date, at) -> list:
    with time_machine.travel(at, tick=True):
        return list(get_channel().bill(day))


def test_a_days_payments_refunds_and_transfers(alipay):
    first = paid(alipay, "o1", local(DAY, "07:59:00"), 1234)
    second = paid(alipay, "o2", local(DAY, "08:30:00"), 100)
    with time_machine.travel(local(DAY, "09:00:00"), tick=False):
        refund = Transfer("o2-keptR", 0, BUYER, 100, DAY, "refund", second, total=100)
        assert get_channel().transfer(refund)["result_code"] == "SUCCESS"
        packet = Transfer("TTC2030030100000001P", 1, BUYER, 250, DAY, "packet")
        assert get_channel().transfer(packet)["result_code"] == "SUCCESS"
    order_id = alipay.transfers["TTC2030030100000001P"].order_id
    assert alipay.transfers["TTC2030030100000001P"].identity_type == "ALIPAY_USER_ID"  # a 2088… user id
    assert alipay.trades["o1"].buyer_id == BUYER and not alipay.trades["o1"].buyer_open_id
    paid(alipay, "o3", local(DAY + timedelta(days=1), "00:00:00"))  # the next day: not in this bill

    lines = bill(DAY, local(DAY + timedelta(days=1), "10:30:00"))
    assert [(line.kind, line.number, line.channel_id, line.amount, line.at, line.status) for line in lines] == [
        ("payment", "o1", first, 1234, local(DAY, "07:59:00"), "SUCCESS"),
        ("payment", "o2", second, 100, local(DAY, "08:30:00"), "SUCCESS"),
        ("refund", "o2-keptR", second, 100, local(DAY, "09:00:00"), "SUCCESS"),
        ("transfer", "TTC2030030100000001P", order_id, 250, local(DAY, "09:00:00"), "SUCCESS"),
    ]
    assert all(line.buyer_id == "" for line in lines)  # bills mask the buyer: ask query_payment for it
    assert lines[0].raw.startswith(f"{first}\t,o1\t,交易\t,") and "12.34" in lines[0].raw
    methods = [r.biz for r in alipay.calls("alipay.data.dataservice.bill.downloadurl.query")]
    assert methods == [
        {"bill_type": "trade", "bill_date": "2030-03-01"},
        {"bill_type": "signcustomer", "bill_date": "2030-03-01"},
    ]


def test_the_day_is_cut_in_the_games_time_zone_across_two_alipay_days(alipay, settings):
    paid(alipay, "before", local(DAY, "07:00:00"))  # 2030-02-28 23:00 UTC
    paid(alipay, "first", local(DAY, "09:00:00"))  # 2030-03-01 01:00 UTC
    paid(alipay, "last", local(DAY + timedelta(days=1), "07:59:59"))  # 2030-03-01 23:59:59 UTC
    paid(alipay, "after", local(DAY + timedelta(days=1), "08:00:00"))  # 2030-03-02 00:00 UTC
    with override_settings(CLOCK={**settings.CLOCK, "TIME_ZONE": "UTC"}):
        lines = bill(DAY, local(DAY + timedelta(days=2), "10:30:00"))
    assert [line.number for line in lines] == ["first", "last"]
    dates = {r.biz["bill_date"] for r in alipay.calls("alipay.data.dataservice.bill.downloadurl.query")}
    assert dates == {"2030-03-01", "2030-03-02"}


def test_a_day_without_activity_is_empty_once_its_bill_should_exist(alipay):
    with pytest.raises(ChannelUnavailable, match="bill_not_exist"):
        bill(DAY, local(DAY + timedelta(days=1), "09:59:00"))  # not generated yet
    assert bill(DAY, local(DAY + timedelta(days=1), "10:00:00")) == []


def test_todays_bill_is_not_there_yet(alipay):
    paid(alipay, "o1", local(DAY, "08:00:00"))
    with pytest.raises(ChannelUnavailable, match="bill_not_exist"):
        bill(DAY, local(DAY, "23:00:00"))


@pytest.mark.parametrize("fault", ["bad_signature", "system_error_before", "unreadable"])
def test_a_bill_url_without_a_trustworthy_answer_is_channel_unavailable(alipay, fault):
    paid(alipay, "o1", local(DAY, "08:00:00"))
    alipay.inject("alipay.data.dataservice.bill.downloadurl.query", fault)
    with pytest.raises(ChannelUnavailable):
        bill(DAY, local(DAY + timedelta(days=1), "10:30:00"))


def test_an_expired_download_url_is_channel_unavailable(alipay, monkeypatch):
    paid(alipay, "o1", local(DAY, "08:00:00"))
    monkeypatch.setattr(fake_module, "BILL_URL_LIFETIME", timedelta(seconds=-1))
    with pytest.raises(ChannelUnavailable, match="HTTP 404"):
        bill(DAY, local(DAY + timedelta(days=1), "10:30:00"))


def _zip(members: dict[str, str]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text.encode("gbk"))
    buffer.seek(0)
    return buffer


HEADER = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,订单金额（元）,退款批次号/请求号"


@pytest.mark.parametrize(
    ("archive", "problem"),
    [
        (io.BytesIO(b"<html>no</html>"), "ZIP"),
        (_zip({"x_业务明细(汇总).csv": "合计"}), "明细文件"),
        (_zip({"x_业务明细.csv": "#支付宝业务明细查询\n商户订单号,业务类型\n"}), "表头"),
        (_zip({"x_业务明细.csv": "支付宝交易号,商户订单号,业务类型\n"}), "缺少列"),
        (
            _zip({"x_业务明细.csv": f"{HEADER}\n1\t,o1\t,交易\t,s,2030-03-01 08:00:00,2030-03-01 08:00:01,1.001,\t\n"}),
            "1.001",
        ),
        (_zip({"x_业务明细.csv": f"{HEADER}\n1\t,o1\t,交易\t,s,2030-03-01 08:00:00,yesterday,1.00,\t\n"}), "yesterday"),
    ],
    ids=["not-a-zip", "no-detail", "no-header", "missing-column", "bad-amount", "bad-time"],
)
def test_an_unreadable_bill_is_refused_not_guessed(archive, problem):
    with pytest.raises(BillUnreadable, match=problem):
        list(bill_lines(archive, "trade"))


def test_rows_other_than_payments_refunds_and_transfers_are_left_out():
    archive = _zip(
        {
            "x_业务明细.csv": f"{HEADER}\n1\t,o1\t,交易\t,s,2030-03-01 08:00:00,2030-03-01 08:00:01,1.00,\t\n"
            "#-----业务明细列表结束-----\n2\t,o2\t,交易\t,s,2030-03-01 08:00:00,2030-03-01 08:00:01,1.00,\t\n",
        }
    )
    assert [line.number for line in bill_lines(archive, "trade")] == ["o1"]  # nothing read past the end marker
    account = _zip(
        {
            "x_账务明细.csv": "账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,"
            "收入金额（+元）,支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注\n"
            "1\t,t1\t,o1\t,s\t,2030-03-01 08:00:01,b\t,1.00,0.00,1.00,支付宝,在线支付,\n"
            "2\t,t2\t,s1\t,s\t,2030-03-01 08:00:02,b\t,0.00,-0.06,0.94,支付宝,收费,\n"
            "3\t,t3\t,b1\t,s\t,2030-03-01 08:00:03,b\t,0.00,-0.50,0.44,支付宝,转账,\n"
        }
    )
    [transfer] = bill_lines(account, "signcustomer")
    assert (transfer.kind, transfer.number, transfer.channel_id, transfer.amount) == ("transfer", "b1", "t3", 50)
