"""Home summary (seed 3.1) and check status (seed 3.4) through the ClockCenter facade."""

from datetime import date

import pytest
import time_machine

from clock_app.facade import ClockCenter, Participator
from clock_app.models import Player, Round

from .conftest import local
from .factories import join

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)
FIELDS = {
    "is_remind",
    "clock_status",
    "user_num",
    "clock_user_num",
    "clock_money",
    "clock_time",
    "red_time",
    "zero_time",
    "is_start",
    "is_alert",
    "yest_money",
}
EXTRA = {"mobile": "13800000009", "nickname": "Nine", "openId": "open-9"}


def summary(uid, day, clock, extra=EXTRA):
    with time_machine.travel(local(day, clock), tick=False):
        result = ClockCenter().summary(uid, extra)
    assert result["status"] == 1, result
    return result["data"]["summary"]


def test_all_eleven_fields_are_integers():
    data = summary(9, DAY, "12:00:00")
    assert set(data) >= FIELDS
    assert all(type(data[f]) is int for f in FIELDS), data


def test_first_sight_creates_the_player_from_extra():
    summary(9, DAY, "12:00:00")
    player = Player.objects.get(uid=9)
    assert (player.mobile, player.nickname, player.source_uid) == ("13800000009", "Nine", "open-9")


def test_todays_view_for_a_newcomer():
    for uid in (1, 2):
        join(uid, DAY, "10:00:00")
    data = summary(9, DAY, "12:00:00")
    assert data["user_num"] == 2 and data["clock_money"] == 200
    assert data["clock_status"] == 0 and data["is_start"] == 1
    assert data["clock_time"] == 17 * 3600  # to 05:00 tomorrow
    assert data["zero_time"] == 12 * 3600  # to local midnight
    assert data["red_time"] == 0
    assert data["seed_hash"] == Round.objects.get(clock_day=DAY).seed_hash


@pytest.mark.parametrize(("clock", "shows_yesterday"), [("08:04:59", True), ("08:05:00", False)])
def test_0805_switch_for_yesterdays_participants(clock, shows_yesterday):
    join(9, DAY, "10:00:00")
    join(1, DAY, "10:00:00")
    with time_machine.travel(local("2026-11-27", "06:00:00"), tick=False):
        ClockCenter().clock(9)
    data = summary(9, "2026-11-27", clock)
    if shows_yesterday:
        assert data["clock_day"] == "2026-11-26"
        assert (data["user_num"], data["clock_money"], data["clock_user_num"]) == (2, 200, 1)
        assert data["clock_status"] == 2
        assert data["red_time"] == 1 and data["is_start"] == 0 and data["zero_time"] == 0
        assert data["clock_time"] == 0  # this morning's window is over
    else:
        assert data["clock_day"] == "2026-11-27"
        assert (data["user_num"], data["clock_money"], data["clock_status"]) == (0, 0, 0)
        assert data["is_start"] == 1 and data["red_time"] == 0
    assert data["yest_money"] == 200


def test_non_participant_sees_today_before_0805():
    join(1, DAY, "10:00:00")
    data = summary(9, "2026-11-27", "06:00:00")
    assert data["clock_day"] == "2026-11-27" and data["is_start"] == 1 and data["yest_money"] == 100


def test_countdown_to_the_window_and_zero_while_open():
    join(9, DAY, "10:00:00")
    assert summary(9, "2026-11-27", "04:00:00")["clock_time"] == 3600
    assert summary(9, "2026-11-27", "05:30:00")["clock_time"] == 0


def test_is_alert_until_the_toast_is_shown_today():
    assert summary(9, DAY, "09:00:00")["is_alert"] == 1
    with time_machine.travel(local(DAY, "09:01:00"), tick=False):
        assert Participator().show_toast(9)["data"] == {"is_setting": 1}
    assert summary(9, DAY, "23:59:59")["is_alert"] == 0
    assert summary(9, "2026-11-27", "00:00:00")["is_alert"] == 1


def test_is_remind_is_the_players_setting():
    assert summary(9, DAY, "09:00:00")["is_remind"] == 0
    assert ClockCenter().user_remind(9)["data"] == {"is_remind": 1}
    assert summary(9, DAY, "09:01:00")["is_remind"] == 1


def test_init_without_a_user():
    join(1, DAY, "10:00:00")
    with time_machine.travel(local(DAY, "12:00:00"), tick=False):
        result = ClockCenter().init()
    data = result["data"]["summary"]
    assert set(data) >= FIELDS
    assert (data["user_num"], data["clock_money"], data["is_alert"], data["is_remind"]) == (1, 100, 0, 0)


def test_totals_follow_payments_despite_the_cache(django_capture_on_commit_callbacks):
    join(1, DAY, "10:00:00")
    assert summary(9, DAY, "10:00:01")["user_num"] == 1
    with django_capture_on_commit_callbacks(execute=True):  # the payment commits: its cache entry goes
        join(2, DAY, "10:00:02")
    assert summary(9, DAY, "10:00:03")["user_num"] == 2


def test_check_user_clock_answers_for_the_round_checked_in_today():
    join(1, DAY, "10:00:00")
    with time_machine.travel(local("2026-11-27", "05:10:00"), tick=False):
        assert ClockCenter().check_user_clock(1)["data"] == {"is_check_in": 0}
        ClockCenter().clock(1)
        # The seed looked at today's round, which has no check-ins: it answered 0 here.
        assert ClockCenter().check_user_clock(1)["data"] == {"is_check_in": 1}


def test_bad_uid_is_an_envelope_not_an_exception():
    result = ClockCenter().summary(-1, EXTRA)
    assert (result["status"], result["code"]) == (0, "uid_invalid")


@pytest.mark.parametrize(
    ("day", "clock", "shown", "status"),
    [(DAY, "12:00:00", DAY, 1), ("2026-11-27", "06:00:00", DAY, 1), ("2026-11-27", "09:00:00", date(2026, 11, 27), 0)],
)
def test_a_warm_summary_costs_a_participant_one_query_and_a_visitor_none(
    django_assert_num_queries, day, clock, shown, status
):
    """The most-read endpoint (issue 15): once the rounds' totals are cached, a participant's summary is one
    query (their player row with their status in yesterday's and today's rounds), a visitor's none."""
    join(1, DAY)
    summary(1, day, clock)  # warms the cache (and a first visit may write the profile)
    with time_machine.travel(local(day, clock), tick=False):
        ClockCenter().init()
        with django_assert_num_queries(1):
            participant = ClockCenter().summary(1, EXTRA)["data"]["summary"]
        with django_assert_num_queries(0):
            visitor = ClockCenter().init()["data"]["summary"]
    assert (participant["clock_day"], participant["clock_status"]) == (shown.isoformat(), status)
    assert visitor["clock_status"] == 0
