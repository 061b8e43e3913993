"""Participator pages, user_remind and the leaderboards through the facades."""

import json
from datetime import date

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clock_app.facade import CashClock, ClockCenter, Participator
from clock_app.models import ClockStatus, Participation, Player, Round
from clock_app.selectors import mask_mobile

from .conftest import local
from .factories import join, profile

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)


def at(day, clock):
    return time_machine.travel(local(day, clock), tick=False)


def test_information_in_fen_and_creates_player():
    result = Participator().information(5, {"mobile": "13900000005", "nickname": "Five", "openId": "o5"})
    assert result["data"] == {"info": {"spend_money": 0, "income_money": 0, "clock_day_num": 0}}
    join(5, DAY)
    assert Participator().information(5, {})["data"]["info"]["spend_money"] == 100


def test_money_float_items_newest_first_with_titles_and_pages():
    join(1, DAY, "10:00:00")
    join(1, date(2026, 11, 28), "10:00:00")
    join(1, date(2026, 11, 30), "10:00:00")
    first = Participator().money_float_items(1, 0, 2)["data"]
    assert first["total_counts"] == 3
    assert [i["clock_day"] for i in first["items"]] == ["2026-11-30", "2026-11-28"]
    item = first["items"][0]
    assert set(item) >= {"clock_day", "money_type", "change_money", "create_time", "title"}
    assert (item["money_type"], item["change_money"], item["title"]) == (1, 100, "参与挑战")
    second = Participator().money_float_items(1, 1, 2)["data"]
    assert [i["clock_day"] for i in second["items"]] == ["2026-11-26"]


@pytest.mark.parametrize(
    ("page", "limit", "code"),
    [(-1, 10, "page_invalid"), (0, 0, "limit_invalid"), (0, 1000, "limit_invalid"), ("1", 10, "page_invalid")],
)
def test_money_float_items_bad_paging(page, limit, code):
    result = Participator().money_float_items(1, page, limit)
    assert (result["status"], result["code"]) == (0, code)


def test_yesterday_clock():
    part = join(1, DAY)
    mine = {"clock_day": "2026-11-26", "pseudonym": part.pseudonym, "order_no": part.order_no}
    with at("2026-11-27", "06:00:00"):
        assert Participator().yesterday_clock(1)["data"] == {"yesterday": {"clock_status": 1, "red_status": 1, **mine}}
        ClockCenter().clock(1)
        assert Participator().yesterday_clock(1)["data"] == {"yesterday": {"clock_status": 2, "red_status": 1, **mine}}
        nobody = {"clock_status": 0, "red_status": 1, "clock_day": "2026-11-26", "pseudonym": "", "order_no": ""}
        assert Participator().yesterday_clock(2)["data"] == {"yesterday": nobody}


def test_user_remind_turns_on_and_stays_on():
    assert ClockCenter().user_remind(3)["data"] == {"is_remind": 1}
    assert ClockCenter().user_remind(3)["data"] == {"is_remind": 1}
    assert Player.objects.get(uid=3).is_remind is True


@pytest.mark.parametrize(
    ("mobile", "masked"),
    [
        ("13812341234", "138****1234"),
        ("+8613812341234", "+86*******1234"),
        ("12345678", "12****78"),  # review: short numbers showed 7 of 8 digits
        ("12345", "1****"),
        ("1234", "****"),
        ("", ""),
    ],
)
def test_mask_mobile_shows_at_most_3_plus_4_and_hides_at_least_4(mobile, masked):
    assert mask_mobile(mobile) == masked
    assert sum(c != "*" for c in masked) <= 7 and masked.count("*") >= min(4, len(mobile))


def test_record_clock_by_income_masked():
    for uid, income in ((1, 500), (2, 900), (3, 100)):
        join(uid, DAY)
        Player.objects.filter(uid=uid).update(income_money=income, clock_day_num=uid)
    Player.objects.create(uid=4, income_money=10_000)  # no mobile: not listed
    records = ClockCenter().record_clock(0, 2)["data"]["records"]
    assert records["total_counts"] == 3
    assert records["items"] == [
        {"nickname": "player2", "mobile": "138****0002", "clockDayCount": 2, "incomeMoney": 900},
        {"nickname": "player1", "mobile": "138****0001", "clockDayCount": 1, "incomeMoney": 500},
    ]


def test_leaderboards_are_cached_ten_minutes():
    join(1, DAY)
    with at(DAY, "12:00:00"):
        ClockCenter().record_clock()
        ClockCenter().top_clock()
        with CaptureQueriesContext(connection) as queries:
            ClockCenter().record_clock()
            ClockCenter().top_clock()
    assert len(queries) == 0


def test_top_clock_placeholders_when_empty():
    with at(DAY, "12:00:00"):
        talent = ClockCenter().top_clock()["data"]["talent"]
    assert set(talent) == {"persistent", "lucky", "early"}
    for kind, card in zip(("persistent", "lucky", "early"), (1, 2, 3), strict=True):
        assert talent[kind] == {"type": card, "uid": "", "icon": "", "nickname": "", "mobile": "", "desc": "虚席以待"}


def test_top_clock_talents():
    for uid in (1, 2, 3):
        join(uid, DAY, "10:00:00")
    with at("2026-11-27", "05:00:30"):
        ClockCenter().clock(2)
    with at("2026-11-27", "05:10:00"):
        ClockCenter().clock(3)
    # A settled round with packets (settlement itself is tested with its service).
    Round.objects.filter(clock_day=DAY).update(settled_at=timezone.now())
    Participation.objects.filter(uid=3).update(red_money=123)
    with at("2026-11-27", "09:00:00"):
        talent = ClockCenter().top_clock()["data"]["talent"]
    assert talent["early"]["uid"] == 2 and talent["early"]["desc"] == "05:00:30打卡"
    assert talent["early"]["mobile"] == "138****0002"
    assert talent["lucky"]["uid"] == 3 and talent["lucky"]["desc"] == "分到了1.23元"
    assert talent["persistent"]["desc"] == "连续打卡1次"
    assert {k for k in talent["early"]} == {"type", "uid", "icon", "nickname", "mobile", "desc"}


def test_broken_streak_is_not_current():
    join(1, DAY, "10:00:00")
    with at("2026-11-27", "06:00:00"):
        ClockCenter().clock(1)
    with at("2026-11-30", "09:00:00"):
        assert ClockCenter().top_clock()["data"]["talent"]["persistent"]["desc"] == "虚席以待"


def test_no_response_contains_a_full_mobile_number():
    for uid in range(1, 6):
        join(uid, DAY, "10:00:00")
    with at("2026-11-27", "05:30:00"):
        for uid in range(1, 4):
            ClockCenter().clock(uid)
    Round.objects.update(settled_at=timezone.now())
    Participation.objects.filter(clock_status=ClockStatus.CLOCKED_IN).update(red_money=50)
    with at("2026-11-27", "09:00:00"):
        responses = [
            ClockCenter().init(),
            ClockCenter().top_clock(),
            ClockCenter().record_clock(0, 50),
            ClockCenter().check_user_clock(1),
            ClockCenter().user_remind(1),
            Participator().money_float_items(1),
            Participator().yesterday_clock(1),
            Participator().show_toast(1),
            CashClock().generate_clock_order(1, profile(1)),
        ]
    text = json.dumps(responses, ensure_ascii=False, default=str)
    for uid in range(1, 6):
        assert profile(uid)["mobile"] not in text
