import re
from datetime import date

import pytest
import time_machine
from django.db import IntegrityError
from django.test import override_settings

from clock_app.exceptions import AlreadyJoined, EntryNotOpen, InvalidInput, OrderNumberExhausted
from clock_app.models import ClockOrder, OrderStatus, Player, Round
from clock_app.services import orders as orders_module
from clock_app.services.orders import order_generate

from ..conftest import local
from ..factories import join, order_for, profile

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)


def generate(uid, at, **overrides):
    p = {**profile(1), **overrides}
    with time_machine.travel(at, tick=False):
        return order_generate(uid=uid, mobile=p["mobile"], nickname=p["nickname"], open_id=p["openId"])


def test_order_number_is_prefix_day_and_ten_random_digits():
    order = order_for(1, local(DAY, "23:59:59"))
    assert re.fullmatch(r"TTC20261126\d{10}", order.order_no)
    assert order.clock_day == DAY
    assert order.pay_amount == 100
    assert order.order_status == OrderStatus.WAITING
    assert order.buyer_id == "open-1"


def test_order_after_local_midnight_belongs_to_the_next_round():
    order = order_for(1, local("2026-11-27", "00:00:00"))
    assert order.clock_day == date(2026, 11, 27)
    assert order.order_no.startswith("TTC20261127")


@pytest.mark.parametrize(
    ("field", "code"), [("mobile", "mobile_required"), ("nickname", "nickname_required"), ("openId", "openid_required")]
)
@pytest.mark.parametrize("missing", [None, "", "   "])
def test_required_profile_fields(field, code, missing):
    with pytest.raises(InvalidInput) as caught:
        generate(1, local(DAY), **{field: missing})
    assert caught.value.code == code
    assert not ClockOrder.objects.exists()
    assert not Round.objects.exists()
    assert not Player.objects.exists()


@pytest.mark.parametrize("uid", [0, -5, True, "7", None])
def test_bad_uid_is_refused(uid):
    with pytest.raises(InvalidInput) as caught:
        generate(uid, local(DAY))
    assert caught.value.code == "uid_invalid"
    assert not ClockOrder.objects.exists()


def test_waiting_order_is_returned_again_not_piled_up():
    first = order_for(1, local(DAY, "09:00:00"))
    again = order_for(1, local(DAY, "10:00:00"))
    assert again.pk == first.pk and again.order_no == first.order_no
    assert ClockOrder.objects.filter(user_id=1).count() == 1


def test_waiting_order_keeps_the_buyer_it_was_made_for():
    """A payment already made with the first id must still match when it is notified."""
    first = order_for(1, local(DAY, "09:00:00"))
    again = generate(1, local(DAY, "10:00:00"), openId="open-1-new")
    assert again.pk == first.pk
    assert ClockOrder.objects.get(pk=first.pk).buyer_id == "open-1"


def test_already_paid_for_this_round_is_refused():
    join(1, DAY, "09:00:00")
    with pytest.raises(AlreadyJoined) as caught:
        order_for(1, local(DAY, "10:00:00"))
    assert caught.value.code == "already_joined"
    assert ClockOrder.objects.filter(user_id=1).count() == 1


@pytest.mark.parametrize(("clock", "allowed"), [("08:04:59", False), ("08:05:00", True)])
def test_yesterdays_participant_waits_for_0805(clock, allowed):
    join(1, DAY, "20:00:00")
    at = local("2026-11-27", clock)
    if allowed:
        assert order_for(1, at).clock_day == date(2026, 11, 27)
    else:
        with pytest.raises(EntryNotOpen) as caught:
            order_for(1, at)
        assert caught.value.code == "entry_not_open"
        assert not ClockOrder.objects.filter(clock_day=date(2026, 11, 27)).exists()


def test_non_participant_of_yesterday_may_join_before_0805():
    join(1, DAY, "20:00:00")
    assert order_for(2, local("2026-11-27", "06:00:00")).clock_day == date(2026, 11, 27)


def test_first_order_opens_the_round_with_rules_and_commitment():
    with override_settings(CLOCK={"PARTICIPATE_MONEY": 200, "SERVICE_RATIO": "0.1"}):
        order = order_for(1, local(DAY))
    the_round = Round.objects.get(clock_day=DAY)
    assert order.pay_amount == 200
    assert the_round.participate_money == 200
    assert str(the_round.service_ratio) == "0.1000"
    assert re.fullmatch(r"[0-9a-f]{64}", the_round.seed_hash)
    # Later orders of the round pay the frozen stake, whatever the settings say now.
    assert order_for(2, local(DAY, "13:00:00")).pay_amount == 200


def test_first_order_records_the_player_profile():
    order_for(7, local(DAY))
    player = Player.objects.get(uid=7)
    assert (player.mobile, player.nickname, player.source_uid) == ("13800000007", "player7", "open-7")


def test_order_number_collision_draws_again(monkeypatch):
    order_for(1, local(DAY))
    taken = ClockOrder.objects.get(user_id=1).order_no
    digits = iter([int(taken[-10:]), int(taken[-10:]), 42])
    monkeypatch.setattr(orders_module.secrets, "randbelow", lambda n: next(digits))
    order = order_for(2, local(DAY))
    assert order.order_no == "TTC20261126" + "0000000042"


def test_order_number_exhaustion_is_a_clear_error(monkeypatch):
    order_for(1, local(DAY))
    taken = int(ClockOrder.objects.get(user_id=1).order_no[-10:])
    monkeypatch.setattr(orders_module.secrets, "randbelow", lambda n: taken)
    with pytest.raises(OrderNumberExhausted):
        order_for(2, local(DAY))
    assert ClockOrder.objects.count() == 1


def test_database_allows_one_waiting_order_per_user_and_round():
    order = order_for(1, local(DAY))
    with pytest.raises(IntegrityError):
        ClockOrder.objects.create(order_no="X1", clock_day=DAY, user_id=1, buyer_id="b", pay_amount=order.pay_amount)
