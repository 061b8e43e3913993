"""CSV exports of rounds from the admin: participants (masked), money flow, payouts — streamed."""

import csv
import io
from datetime import date

import pytest
import time_machine
from django.contrib.auth.models import Permission, User
from django.http import StreamingHttpResponse
from django.urls import reverse

from clock_app import csv_exports
from clock_app.audit import audit_round
from clock_app.csv_exports import FLOW_COLUMNS, PARTICIPANT_COLUMNS, PAYOUT_COLUMNS, participants_csv
from clock_app.models import Participation, Round
from clock_app.services.payouts import packet_open
from clock_app.services.settlement import round_settle

from .factories import Channel, play_round
from .reminders import morning

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def settled_round(day: date = DAY, payers: int = 6, clockers: int = 4, first_uid: int = 1) -> Round:
    play_round(day, payers, clockers, first_uid=first_uid)
    round_settle(day, now=morning(day, "08:05:00"))
    return Round.objects.get(clock_day=day)


def export(client, action: str, *rounds: Round):
    """POST the admin action as the change list (or the dashboard's button) does."""
    response = client.post(
        reverse("admin:clock_app_round_changelist"),
        {"action": action, "_selected_action": [r.pk for r in rounds]},
    )
    assert response.status_code == 200, response
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return response, list(csv.DictReader(io.StringIO(text[1:])))


def test_participants_with_masked_mobiles(staff):
    the_round = settled_round()
    Participation.objects.filter(uid=2).update(nickname='=HYPERLINK("http://evil")')
    response, rows = export(staff, "export_participants", the_round)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="clock-participants-2026-11-26.csv"'
    assert list(rows[0]) == list(PARTICIPANT_COLUMNS)
    assert len(rows) == 6
    first = rows[0]
    assert first["mobile"] == "138****0001" and first["uid"] == "1" and first["stake_fen"] == "100"
    assert first["clock_status"] == "clocked_in" and first["clock_time"] == "2026-11-27T06:00:00+08:00"
    assert rows[5]["clock_status"] == "joined" and rows[5]["payout_state"] == ""
    assert rows[1]["nickname"] == '\'=HYPERLINK("http://evil")'  # not a formula in a spreadsheet
    body = "".join(str(row) for row in rows)
    assert all(mobile not in body for mobile in Participation.objects.values_list("mobile", flat=True))


def test_payouts_of_every_winner(staff):
    the_round = settled_round()
    with time_machine.travel(morning(DAY, "09:00:00"), tick=False):
        packet_open(uid=1, handler=Channel())
    _, rows = export(staff, "export_payouts", the_round)
    assert list(rows[0]) == list(PAYOUT_COLUMNS)
    assert [row["uid"] for row in rows] == ["1", "2", "3", "4"]
    paid = Participation.objects.get(uid=1)
    assert rows[0]["payout_state"] == "paid" and rows[0]["paid_fen"] == str(paid.clock_money)
    assert rows[0]["amount_fen"] == str(paid.order_money + paid.red_money) and rows[0]["paid_at"]
    assert {row["payout_state"] for row in rows[1:]} == {"owed"} and rows[1]["paid_fen"] == "0"
    assert sum(int(row["packet_fen"]) for row in rows) == the_round.bonus_money - the_round.rollover_out


def test_money_flow_one_line_per_round_with_the_audits_terms(staff):
    first = settled_round()
    second = settled_round(date(2026, 11, 27), 5, 5, first_uid=100)
    response, rows = export(staff, "export_money_flow", second, first)
    assert response["Content-Disposition"].endswith('clock-money-flow-2026-11-26_2026-11-27.csv"')
    assert list(rows[0]) == list(FLOW_COLUMNS)
    assert [row["clock_day"] for row in rows] == ["2026-11-26", "2026-11-27"]
    for row, the_round in zip(rows, (first, second), strict=True):
        equation = audit_round(the_round).equation
        expected = (
            f"stakes {row['stakes_fen']} + rollover_in {row['rollover_in_fen']} = winners' stakes "
            f"{row['winner_stakes_fen']} + packets {row['packets_fen']} + fee {row['service_fee_fen']} + "
            f"rollover_out {row['rollover_out_fen']}"
        )
        assert equation.startswith(expected)
        assert row["balances"] == "1" and row["owed_winners"] == row["winners"]


def test_several_rounds_in_one_participants_file(staff):
    first = settled_round()
    second = settled_round(date(2026, 11, 27), 3, 1, first_uid=50)
    _, rows = export(staff, "export_participants", first, second)
    assert len(rows) == 9 and rows[-1]["clock_day"] == "2026-11-27"


def test_the_dashboards_buttons_are_these_actions(staff):
    settled_round()
    body = staff.get(reverse("admin:clock_app_round_dashboard")).content.decode()
    for action in ("export_participants", "export_money_flow", "export_payouts"):
        assert f'name="action" value="{action}"' in body


def test_exports_need_the_rounds_view_permission(client):
    the_round = settled_round()
    clerk = User.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(clerk)
    url = reverse("admin:clock_app_round_changelist")
    assert client.post(url, {"action": "export_participants", "_selected_action": [the_round.pk]}).status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_round"))
    assert client.post(url, {"action": "export_participants", "_selected_action": [the_round.pk]}).status_code == 200


def test_the_export_is_a_generator_of_pieces(monkeypatch):
    monkeypatch.setattr(csv_exports, "PIECE", 4)
    settled_round()
    pieces = participants_csv([DAY])
    assert next(pieces).startswith("\ufeffclock_day,")
    assert [piece.count("\n") for piece in pieces] == [4, 2]  # the rows 4 at a time, never the whole file
