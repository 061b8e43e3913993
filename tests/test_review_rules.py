"""The rules an independent review found broken (issue 10), each tested where it is enforced: the HTTP prepay,
the sandbox channel, the payout handler contract, the admin, the audit, the beat."""

import json
from datetime import date, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from clock_app.audit import audit, audit_players
from clock_app.channels.base import InvalidNotification
from clock_app.channels.sandbox import OrderExpired, SandboxChannel
from clock_app.exceptions import EntryClosed
from clock_app.facade import CashClock, ClockCenter
from clock_app.models import (
    ClockOrder,
    ClockStatus,
    LedgerEntry,
    MoneyType,
    Participation,
    PayoutError,
    Player,
    RedStatus,
    RefundStatus,
    Round,
)
from clock_app.services.orders import order_payment_deadline
from clock_app.services.payouts import Outcome, packet_pay, round_push
from clock_app.services.settlement import round_settle, rounds_settle_due

from .conftest import SHANGHAI, local
from .factories import Channel, order_for, pay, play_round

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)
NEXT = DAY + timedelta(days=1)


def settle(day=DAY):
    with time_machine.travel(local(day + timedelta(days=1), "08:05:00"), tick=False):
        return round_settle(day)


# --- 1. the channel is told when an order expires; a closed round's order is never offered -----------------


def test_the_channel_is_told_the_order_expires_at_235959_of_its_round(client):
    client.force_login(User.objects.create_user("me", password="pw"))
    with time_machine.travel(local(DAY, "23:58:00"), tick=False):
        made = client.post(reverse("clock_app:prepay"), content_type="application/json").json()
    assert made["status"] == 1, made
    expires = made["data"]["payment"]["time_expire"]
    assert expires == local(DAY, "23:59:59").isoformat()


def test_an_order_of_a_round_whose_entry_closed_is_not_sent_to_the_channel():
    order = order_for(1, local(DAY, "23:59:59"))
    with time_machine.travel(local(DAY, "23:59:59"), tick=False):
        assert order_payment_deadline(order) == local(DAY, "23:59:59")
    with time_machine.travel(local(NEXT, "00:00:00"), tick=False), pytest.raises(EntryClosed):
        order_payment_deadline(order)


def test_the_sandbox_takes_no_payment_after_the_order_expired():
    order = order_for(1, local(DAY, "23:00:00"))
    sandbox = SandboxChannel(SECRET="s")
    assert sandbox.payment_notification(order, paid_at=local(DAY, "23:59:59"), now=local(DAY, "23:59:59"))
    with pytest.raises(OrderExpired):
        sandbox.payment_notification(order, paid_at=local(NEXT, "00:00:00"), now=local(NEXT, "00:00:01"))


# --- 3. whatever a handler returns or raises, the row ends defined and the push goes on --------------------


class Opaque:
    def __repr__(self):
        raise RuntimeError("no repr either")


@pytest.mark.parametrize(
    ("answer", "state"),
    [
        ({b"result_code": b"SUCCESS"}, RedStatus.FAILED),  # bytes keys: not a success, and it is recorded
        ({"result_code": "SUCCESS", "raw": object()}, RedStatus.PAID),
        ({"result_code": "SUCCESS", b"\x00raw": Opaque()}, RedStatus.PAID),  # an unserialisable paid answer
        ({"result_code": "FAIL", "why": "nul \x00 inside"}, RedStatus.FAILED),
        (Opaque(), RedStatus.FAILED),
        (None, RedStatus.FAILED),
    ],
    ids=["bytes-keys", "object-value", "unprintable-success", "nul-char", "unprintable", "none"],
)
def test_any_handler_answer_leaves_the_row_in_a_defined_state_and_the_push_goes_on(answer, state):
    play_round(DAY, 4, 3)
    settle()
    first = Participation.objects.filter(clock_status=ClockStatus.CLOCKED_IN).order_by("pk").first()
    honest = Channel()

    def odd_for_the_first(transfer):
        return answer if transfer.order_no == first.payout_no else honest(transfer)

    with time_machine.travel(local(NEXT, "09:00:00"), tick=False):
        report = round_push(DAY, handler=odd_for_the_first)
    first.refresh_from_db()
    assert first.red_status == state and first.pay_result
    assert len(honest.calls) == 2  # the winners after the odd one were paid
    assert Participation.objects.filter(red_status=RedStatus.PAID).count() == 2 + (state == RedStatus.PAID)
    assert report.outcomes.get("error", 0) == 0


@override_settings(CLOCK={"PAYOUT_TIMEOUT": 0.3})
def test_a_hanging_handler_is_an_unknown_outcome_after_the_payout_timeout():
    import threading

    release = threading.Event()
    play_round(DAY, 3, 2)
    settle()
    part = Participation.objects.filter(clock_status=ClockStatus.CLOCKED_IN).order_by("pk").first()

    def hang(transfer):
        release.wait(10)
        return {"result_code": "SUCCESS"}

    try:
        with time_machine.travel(local(NEXT, "09:00:00"), tick=False):
            assert packet_pay(part.pk, handler=hang).outcome == Outcome.UNKNOWN
            result = CashClock().user_open_red(part.uid, handler=hang)
    finally:
        release.set()
    part.refresh_from_db()
    assert part.red_status == RedStatus.PAYING  # sent, outcome unknown: retried later with the same payout_no
    assert "no answer within 0.3 s" in part.pay_result
    assert result["code"] == "payout_in_progress"


# --- 5. no admin URL reveals an unsettled round's seed ------------------------------------------------------


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def test_no_admin_url_reveals_an_unsettled_rounds_seed(staff):
    play_round(DAY, 3, 2)
    the_round = Round.objects.get()
    seed = the_round.split_seed
    changelist = reverse("admin:clock_app_round_changelist")
    pages = [
        (changelist, {}),
        (changelist, {"q": seed[:4]}),
        (changelist, {"o": "1"}),
        (reverse("admin:clock_app_round_change", args=[the_round.pk]), {}),
        (reverse("admin:clock_app_round_history", args=[the_round.pk]), {}),
        (reverse("admin:clock_app_round_delete", args=[the_round.pk]), {}),
        (reverse("admin:clock_app_participation_changelist"), {}),
    ]
    for path, query in pages:
        response = staff.get(path, query)
        assert seed not in response.content.decode(), path
    # Filtering by the seed, in any form, is refused: no count can be read one hex digit at a time.
    for lookup in ("split_seed", "split_seed__startswith", "split_seed__gte", "split_seed__regex", "split_seed__in"):
        for guess in (seed[0], "0", seed):
            response = staff.get(changelist, {lookup: guess})
            assert response.status_code == 400, (lookup, response.status_code)
            assert seed not in response.content.decode()
    assert staff.get(changelist, {"seed_hash__startswith": the_round.seed_hash[:2]}).status_code == 200


# --- 6. the audit re-derives every stored money figure ------------------------------------------------------


def sql(statement, *params):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def kept_for_refund(n=2):
    """Two payments of round DAY kept for refund (paid after its entry closed)."""
    orders = [order_for(10 + i, local(DAY, "23:50:00")) for i in range(n)]
    for i, order in enumerate(orders):
        pay(order, local(NEXT, "01:00:00"), f"wx-late-{i}")
    return orders


def audit_fails_naming(day_or_player: str) -> None:
    with pytest.raises(CommandError, match=day_or_player):
        call_command("clock_audit", stdout=StringIO())


def test_the_audit_catches_one_fen_moved_between_two_refunding_orders():
    play_round(DAY, 3, 2)
    a, b = kept_for_refund()
    call_command("clock_audit", stdout=StringIO())
    sql("UPDATE pay_clock_order SET pay_amount = 101 WHERE id = %s", a.pk)
    sql("UPDATE pay_clock_order SET pay_amount = 99 WHERE id = %s", b.pk)
    report = audit(DAY)[0]
    assert any("stake ledger row" in p for p in report.problems), report.problems
    audit_fails_naming("2026-11-26")


def test_the_audit_catches_a_joined_orders_amount_differing_from_its_stake():
    play_round(DAY, 3, 2)
    order = ClockOrder.objects.order_by("pk").first()
    sql("UPDATE pay_clock_order SET pay_amount = pay_amount + 1 WHERE id = %s", order.pk)
    sql("UPDATE pay_clock_user_log SET change_money = change_money + 1 WHERE reference = %s", order.order_no)
    report = audit(DAY)[0]
    assert any("differs from their participation" in p for p in report.problems), report.problems
    audit_fails_naming("2026-11-26")


def test_the_audit_catches_a_refund_that_paid_one_fen_more():
    play_round(DAY, 3, 2)
    (order,) = kept_for_refund(1)
    with time_machine.travel(local(NEXT, "09:00:00"), tick=False):
        round_push(DAY, handler=Channel())
    assert ClockOrder.objects.get(pk=order.pk).refund_status == RefundStatus.REFUNDED
    call_command("clock_audit", stdout=StringIO())
    sql("UPDATE pay_clock_user_log SET change_money = 101 WHERE money_type = 3")
    assert any("refund" in p for p in audit(DAY)[0].problems)
    audit_fails_naming("2026-11-26")


@pytest.mark.parametrize("column", ["spend_money", "income_money", "clock_max_money"])
def test_the_audit_catches_a_changed_player_total_naming_the_player(column):
    play_round(DAY, 3, 2)
    settle()
    with time_machine.travel(local(NEXT, "09:00:00"), tick=False):
        round_push(DAY, handler=Channel())
    assert audit_players().ok
    sql(f"UPDATE pay_clock_user SET {column} = {column} + 1 WHERE uid = 2")
    report = audit_players()
    assert report.problems == [report.problems[0]] and report.problems[0].startswith("player 2:")
    assert column in report.problems[0]
    audit_fails_naming("player totals")


# --- 8. the sandbox signs an encoding that cannot be re-split -----------------------------------------------


def test_two_messages_that_join_to_the_same_pairs_have_different_signatures():
    """With ``name=value`` pairs joined by ``&``, a user-chosen value could carry ``&order_no=…`` and the
    signed text re-split into another message. Canonical JSON keeps each value whole."""
    sandbox = SandboxChannel(SECRET="s")
    honest = {"amount": 100, "buyer_id": "me&order_no=TTC-VICTIM", "order_no": "TTC-MINE", "timestamp": 1}
    resplit = {"amount": 100, "buyer_id": "me", "order_no": "TTC-VICTIM&order_no=TTC-MINE", "timestamp": 1}

    def pairs(fields):
        return "&".join(f"{name}={fields[name]}" for name in sorted(fields))

    assert pairs(honest) == pairs(resplit)  # the first format signed both messages alike
    assert sandbox.sign(honest) != sandbox.sign(resplit)
    forged = {**resplit, "sign": sandbox.sign(honest)}
    with pytest.raises(InvalidNotification):
        sandbox.check(forged, now=datetime.fromtimestamp(1, SHANGHAI))


# --- 9. the payer's identity comes from the profile resolver, never the body --------------------------------


def test_the_prepay_takes_the_openid_from_the_profile_resolver_not_the_body(client):
    client.force_login(User.objects.create_user("me", password="pw"))
    body = {"openId": "attacker-openid", "mobile": "13900000000", "nickname": "Evil"}
    with time_machine.travel(local(DAY, "12:00:00"), tick=False):
        made = client.post(reverse("clock_app:prepay"), json.dumps(body), content_type="application/json").json()
    order = ClockOrder.objects.get(order_no=made["data"]["order_no"])
    uid = User.objects.get(username="me").pk
    assert order.buyer_id == f"demo-open-{uid}" != body["openId"]
    assert Player.objects.get(uid=uid).nickname == f"玩家{uid}"


@override_settings(CLOCK={"PROFILE_RESOLVER": None})
def test_without_a_profile_resolver_the_prepay_answers_profile_unavailable(client):
    client.force_login(User.objects.create_user("me", password="pw"))
    body = {"openId": "o", "mobile": "13900000000", "nickname": "n"}
    with time_machine.travel(local(DAY, "12:00:00"), tick=False):
        made = client.post(reverse("clock_app:prepay"), json.dumps(body), content_type="application/json").json()
    assert (made["status"], made["code"]) == (0, "profile_unavailable")
    assert not ClockOrder.objects.exists()


# --- also: paged statements, settling at each round's frozen time, verify's checks -------------------------


def test_the_json_statement_is_paged_and_points_to_the_file(client):
    play_round(DAY, 30, 25)
    settle()
    url = reverse("clock_app:statement", kwargs={"day": "2026-11-26"})
    first = client.get(url, {"limit": 10}).json()["data"]["statement"]
    assert len(first["packets"]) == 10 and first["next_page"] == 1
    last = client.get(url, {"page": 2, "limit": 10}).json()["data"]["statement"]
    assert len(last["packets"]) == 5 and last["next_page"] is None
    whole = [
        json.loads(line)
        for line in b"".join(
            client.get(reverse("clock_app:statement_file", kwargs={"day": "2026-11-26"})).streaming_content
        ).split()
    ]
    assert [p["pseudonym"] for p in first["packets"]] == [line["pseudonym"] for line in whole[1:11]]
    assert client.get(url, {"limit": 5000}).json()["code"] == "limit_invalid"


def test_each_round_is_settled_at_its_own_frozen_red_open_time():
    with override_settings(CLOCK={"RED_OPEN": "08:30"}):
        play_round(DAY, 5, 3)  # the round opened with 08:30
    assert Round.objects.get().red_open.isoformat() == "08:30:00"
    with time_machine.travel(local(NEXT, "08:05:00"), tick=False):
        assert rounds_settle_due() == []  # the setting says 08:05 now; the round says 08:30
    with time_machine.travel(local(NEXT, "08:30:00"), tick=False):
        (result,) = rounds_settle_due()
    assert result.clock_day == DAY and Round.objects.get().is_settled
    with time_machine.travel(local(NEXT, "08:35:00"), tick=False):
        assert [r.already_settled for r in rounds_settle_due()] == []


def test_verify_reports_a_stake_that_is_not_the_rounds(tmp_path):
    play_round(DAY, 5, 3)
    settle()
    out = StringIO()
    call_command("clock_statement", "--day", "2026-11-26", stdout=out, stderr=StringIO())
    head, *lines = out.getvalue().splitlines()
    changed = json.loads(lines[0])
    changed["stake"] += 1
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join([head, json.dumps(changed), *lines[1:]]) + "\n")
    result = StringIO()
    with pytest.raises(CommandError):
        call_command("clock_verify", str(path), stdout=result)
    assert "is not the round's stake 100" in result.getvalue()


def test_the_ledger_and_error_log_name_conflicts_once():
    first = order_for(1, local(DAY))
    pay(first, local(DAY), "wx-shared")
    second = order_for(2, local(DAY))
    for _ in range(3):
        pay(second, local(DAY), "wx-shared")
    assert PayoutError.objects.count() == 1
    assert LedgerEntry.objects.filter(money_type=MoneyType.STAKE).count() == 1
    assert ClockCenter().round_statement(DAY)["status"] == 1
