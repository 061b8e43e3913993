"""Every table has a working admin; money shows as yuan; the books are read-only."""

from datetime import date

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from clock_app.models import ClockOrder, LedgerEntry, LuckySetting, Participation, PayoutError, Player, Round

from .factories import join

pytestmark = pytest.mark.django_db

MODELS = [Round, Participation, ClockOrder, Player, LedgerEntry, LuckySetting, PayoutError]


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def url(model, action="changelist", *args):
    return reverse(f"admin:clock_app_{model._meta.model_name}_{action}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.db_table)
def test_changelist_renders(staff, model):
    join(1, date(2026, 11, 26))
    response = staff.get(url(model))
    assert response.status_code == 200


def test_money_is_shown_in_yuan(staff):
    join(1, date(2026, 11, 26))
    body = staff.get(url(ClockOrder)).content.decode()
    assert "1.00" in body


@pytest.mark.parametrize(
    ("model", "term"),
    [(ClockOrder, "order_no"), (ClockOrder, "transaction_id"), (Participation, "mobile"), (Player, "uid")],
)
def test_search(staff, model, term):
    part = join(4242, date(2026, 11, 26))
    order = ClockOrder.objects.get(order_no=part.order_no)
    value = {"order_no": order.order_no, "transaction_id": order.transaction_id, "mobile": part.mobile, "uid": "4242"}[
        term
    ]
    assert staff.get(url(model), {"q": value}).context["cl"].result_count == 1
    assert staff.get(url(model), {"q": "no-such-thing"}).context["cl"].result_count == 0


@pytest.mark.parametrize("model", [LedgerEntry, ClockOrder])
def test_books_are_read_only(staff, model):
    join(1, date(2026, 11, 26))
    obj = model.objects.first()
    assert staff.get(url(model, "add")).status_code == 403
    assert staff.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    page = staff.get(url(model, "change", obj.pk))
    assert page.status_code == 200
    assert 'type="submit" value="Save"' not in page.content.decode()


def test_round_page_hides_the_seed_until_settlement(staff):
    join(1, date(2026, 11, 26), "09:00:00")
    the_round = Round.objects.get()
    body = staff.get(url(Round, "change", the_round.pk)).content.decode()
    assert the_round.seed_hash in body
    assert the_round.split_seed not in body


def test_filters_by_round_and_status(staff):
    join(1, date(2026, 11, 26))
    assert staff.get(url(Participation), {"clock_day": "2026-11-26", "red_status__exact": "1"}).status_code == 200
    assert staff.get(url(ClockOrder), {"order_status__exact": "2"}).status_code == 200


def test_error_log_actions_retry_and_mark_repaired(staff):
    import time_machine
    from django.test import override_settings

    from clock_app.models import ErrorStatus, RedStatus
    from clock_app.services.payouts import packet_open

    from .conftest import local
    from .factories import play_round

    play_round(date(2026, 11, 26), 4, 2)
    with time_machine.travel(local("2026-11-27", "08:06:00"), tick=False):
        for uid in (1, 2):
            with pytest.raises(Exception, match="账号"):
                packet_open(uid=uid, handler=lambda transfer: {"result_code": "FAIL"})
    first, second = PayoutError.objects.order_by("pk")
    with override_settings(CLOCK={"PAYOUT_HANDLER": "tests.handlers.succeed"}):
        response = staff.post(url(PayoutError), {"action": "retry_payout", "_selected_action": [first.pk]}, follow=True)
    assert "1 paid" in response.content.decode()
    assert Participation.objects.get(pk=first.clock_day_id).red_status == RedStatus.PAID
    assert PayoutError.objects.get(pk=first.pk).status == ErrorStatus.REPAIRED
    staff.post(url(PayoutError), {"action": "mark_repaired", "_selected_action": [second.pk]})
    assert PayoutError.objects.get(pk=second.pk).status == ErrorStatus.REPAIRED
    assert Participation.objects.get(pk=second.clock_day_id).red_status == RedStatus.FAILED


def test_retry_without_a_handler_says_so(staff, settings):
    settings.CLOCK = {"PAYOUT_HANDLER": None}
    PayoutError.objects.create(clock_day_id=1, clock_day=date(2026, 11, 26), red_money=100, order_no="X", uid=1)
    response = staff.post(
        url(PayoutError), {"action": "retry_payout", "_selected_action": [PayoutError.objects.get().pk]}, follow=True
    )
    assert "PAYOUT_HANDLER" in response.content.decode()


def test_round_page_shows_the_settlement_record(staff):
    import time_machine

    from clock_app.services.settlement import round_settle

    from .conftest import local
    from .factories import play_round

    play_round(date(2026, 11, 26), 4, 2)
    with time_machine.travel(local("2026-11-27", "08:05:00"), tick=False):
        round_settle(date(2026, 11, 26))
    the_round = Round.objects.get()
    body = staff.get(url(Round, "change", the_round.pk)).content.decode()
    for text in ("Settlement", the_round.statement_hash, the_round.split_seed, "Bonus money"):
        assert text in body


def test_money_rows_cannot_be_saved_from_the_admin(staff):
    part = join(1, date(2026, 11, 26))
    the_round = Round.objects.get()
    for model, obj in ((Round, the_round), (Participation, part)):
        page = staff.get(url(model, "change", obj.pk))
        assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
        assert staff.post(url(model, "change", obj.pk), {}).status_code == 403


def test_saving_a_player_keeps_totals_counted_meanwhile(staff):
    from django.db.models import F

    join(1, date(2026, 11, 26))
    player = Player.objects.get(uid=1)
    staff.get(url(Player, "change", player.pk))  # the operator opens the page…
    Player.objects.filter(pk=player.pk).update(income_money=F("income_money") + 500)  # …a payout lands…
    response = staff.post(
        url(Player, "change", player.pk),
        {  # …and the operator saves a new nickname
            "nickname": "renamed",
            "mobile": player.mobile,
            "source_uid": player.source_uid,
            "is_remind": "on",
        },
    )
    assert response.status_code == 302
    player.refresh_from_db()
    assert (player.nickname, player.is_remind, player.income_money, player.spend_money) == ("renamed", True, 500, 100)


# --- one unit, one time zone ---------------------------------------------------------------------------


def _field_row(body: str, label: str) -> str:
    """The text of the admin's read-only row labelled ``label`` on a change/view page."""
    import re

    match = re.search(rf"<label>{re.escape(label)}:</label>\s*<div class=\"readonly\">(.*?)</div>", body, re.S)
    assert match, f"no row {label!r}"
    return match.group(1).strip()


def test_change_and_view_pages_show_money_in_yuan_like_the_lists(staff):
    import time_machine

    from clock_app.services.settlement import round_settle

    from .conftest import local
    from .factories import play_round

    play_round(date(2026, 11, 26), 4, 2)
    with time_machine.travel(local("2026-11-27", "08:05:00"), tick=False):
        round_settle(date(2026, 11, 26))
    winner = Participation.objects.filter(red_money__gt=0).first()
    body = staff.get(url(Participation, "change", winner.pk)).content.decode()
    assert _field_row(body, "Order money (¥)") == "1.00"
    assert _field_row(body, "Red money (¥)") == f"{winner.red_money // 100}.{winner.red_money % 100:02d}"
    assert "Order money:" not in body  # the fen column itself is not shown beside it
    the_round = Round.objects.get()
    body = staff.get(url(Round, "change", the_round.pk)).content.decode()
    assert _field_row(body, "Clock money (¥)") == "4.00" and _field_row(body, "Participate money (¥)") == "1.00"
    assert _field_row(body, "Max packet (¥)") == "98.00"
    player = Player.objects.get(uid=1)
    body = staff.get(url(Player, "change", player.pk)).content.decode()
    assert _field_row(body, "Spend money (¥)") == "1.00" and 'name="spend_money"' not in body
    order = ClockOrder.objects.first()
    assert _field_row(staff.get(url(ClockOrder, "change", order.pk)).content.decode(), "Pay amount (¥)") == "1.00"
    ledger = LedgerEntry.objects.first()
    assert _field_row(staff.get(url(LedgerEntry, "change", ledger.pk)).content.decode(), "Change money (¥)") == "1.00"


def test_times_are_shown_in_the_games_time_zone_and_the_pages_say_so(staff, settings):
    from .conftest import local
    from .factories import clock

    assert settings.TIME_ZONE == "UTC"
    join(1, date(2026, 11, 26))
    clock(1, date(2026, 11, 26), "07:43:00")  # 23:43 UTC the day before
    part = Participation.objects.get()
    assert part.clock_time == local("2026-11-27", "07:43:00")
    listing = staff.get(url(Participation)).content.decode()
    page = staff.get(url(Participation, "change", part.pk)).content.decode()
    for body in (listing, page):
        assert "7:43 a.m." in body and "11:43 p.m." not in body
        assert "Times are shown in Asia/Shanghai" in body and "money in yuan" in body


def test_a_period_typed_in_the_admin_is_read_in_the_games_time_zone(staff):
    from .conftest import local

    response = staff.post(
        url(LuckySetting, "add"),
        {
            "start_time_0": "2026-11-26",
            "start_time_1": "08:00:00",
            "end_time_0": "2026-11-27",
            "end_time_1": "08:00:00",
            "money_proportion": "30",
            "red_num": "3",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert LuckySetting.objects.get().start_time == local("2026-11-26", "08:00:00")
