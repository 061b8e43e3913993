"""The seed-parity facades: envelopes, field names, codes."""

from datetime import date

import pytest
import time_machine

from clock_app.facade import CashClock
from clock_app.models import ClockOrder, RefundStatus, Round

from .conftest import local

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)
EXTRA = {"mobile": "13800000001", "nickname": "Jason", "openId": "oq_pO5XHsq87Z3LLBc7p0"}


def test_generate_and_notify_envelopes():
    with time_machine.travel(local(DAY, "09:00:00"), tick=False):
        made = CashClock().generate_clock_order(1, EXTRA)
        assert made["status"] == 1 and isinstance(made["message"], str)
        assert set(made["data"]) >= {"order_id", "order_no"}
        assert "code" not in made
        order_no = made["data"]["order_no"]
    with time_machine.travel(local(DAY, "09:00:05"), tick=False):  # the notification comes after the payment
        paid = CashClock().notify_clock_order(
            order_no,
            {
                "amount": 100,
                "buyerId": EXTRA["openId"],
                "transactionId": "Wx2394446280110126",
                "notify_time": "2026-11-26 09:00:03",
                "content": "<xml>…</xml>",
                "nickname": "Jason",
                "mobile": "13800000001",
            },
        )
    assert paid["status"] == 1 and paid["data"]["outcome"] == "joined"
    order = ClockOrder.objects.get(order_no=order_no)
    assert order.pay_result == "<xml>…</xml>"
    assert order.pay_time == local(DAY, "09:00:03")  # naive notify_time is local to CLOCK["TIME_ZONE"]
    assert Round.objects.get().clock_money == 100


def test_failure_envelope_has_a_code_and_changes_nothing():
    with time_machine.travel(local(DAY), tick=False):
        result = CashClock().generate_clock_order(1, {"nickname": "x", "openId": "y"})
    assert result == {"status": 0, "message": result["message"], "data": {}, "code": "mobile_required"}
    assert not ClockOrder.objects.exists()


def test_notify_for_an_unknown_order_is_kept_for_review_not_refused():
    result = CashClock().notify_clock_order("TTC0", {"amount": 100, "buyerId": "b", "transactionId": "t"})
    assert (result["status"], result["data"]["outcome"]) == (1, "review")
    assert ClockOrder.objects.get().refund_status == RefundStatus.REVIEW


def test_notify_amount_in_yuan_float_is_refused():
    with time_machine.travel(local(DAY), tick=False):
        order_no = CashClock().generate_clock_order(1, EXTRA)["data"]["order_no"]
        result = CashClock().notify_clock_order(
            order_no, {"amount": 1.0, "buyerId": EXTRA["openId"], "transactionId": "t"}
        )
    assert (result["status"], result["code"]) == (0, "amount_invalid")


def test_extra_that_is_not_a_mapping_is_treated_as_empty():
    result = CashClock().generate_clock_order(1, None)
    assert (result["status"], result["code"]) == (0, "mobile_required")


def test_impossible_notify_time_falls_back_to_the_arrival_time():
    with time_machine.travel(local(DAY, "09:00:00"), tick=False):
        order_no = CashClock().generate_clock_order(1, EXTRA)["data"]["order_no"]
        result = CashClock().notify_clock_order(
            order_no,
            {"amount": 100, "buyerId": EXTRA["openId"], "transactionId": "t-1", "notify_time": "2026-02-30 10:00:00"},
        )
    assert result["status"] == 1
    assert ClockOrder.objects.get(order_no=order_no).pay_time == local(DAY, "09:00:00")


def test_inputs_that_cannot_be_stored_get_a_code_not_a_500():
    from clock_app.facade import ClockCenter, Participator

    assert ClockCenter().summary(2**63, {})["code"] == "uid_invalid"
    assert ClockCenter().record_clock(10**17, 100)["code"] == "page_invalid"
    assert Participator().money_float_items(1, 2000, 100)["code"] == "page_invalid"
    with time_machine.travel(local(DAY), tick=False):
        assert CashClock().generate_clock_order(1, {**EXTRA, "mobile": "1" * 21})["code"] == "mobile_invalid"
        assert CashClock().generate_clock_order(1, {**EXTRA, "nickname": "n" * 65})["code"] == "nickname_invalid"
        assert CashClock().generate_clock_order(1, {**EXTRA, "openId": "o\x00"})["code"] == "openid_invalid"
    assert not ClockOrder.objects.exists() and not Round.objects.exists()


def test_long_profile_values_from_a_channel_are_cut_to_fit():
    from clock_app.models import Participation

    with time_machine.travel(local(DAY, "09:00:00"), tick=False):
        order_no = CashClock().generate_clock_order(1, EXTRA)["data"]["order_no"]
        result = CashClock().notify_clock_order(
            order_no, {"amount": 100, "buyerId": EXTRA["openId"], "transactionId": "t-1", "nickname": "很" * 100}
        )
    assert result["status"] == 1
    assert Participation.objects.get().nickname == "很" * 64
