"""The operator's round dashboard: the audit's numbers, set-based queries, permissions and links."""

import re
from datetime import date
from io import StringIO

import pytest
import time_machine
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clock_app import dashboard
from clock_app.audit import audit, audit_round
from clock_app.dashboard import PAYOUT_STATES, Reconciliation, money_flow
from clock_app.exceptions import PayoutFailed
from clock_app.models import AuditVerdict, ClockStatus, Participation, RedStatus, Round
from clock_app.money import yuan
from clock_app.services.payouts import packet_open, round_owing
from clock_app.services.reminders import reminders_send
from clock_app.services.settlement import round_settle

from .conftest import local
from .factories import Channel, clock, join, order_for, pay, play_round
from .reminders import Recorder, morning

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)
EQUATION = re.compile(
    r"stakes (\d+) \+ rollover_in (\d+) = winners' stakes (\d+) \+ packets (\d+) \+ fee (\d+) \+ rollover_out (\d+)"
)


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def page(client, day=None):
    url = (
        reverse("admin:clock_app_round_dashboard_day", args=[day])
        if day
        else reverse("admin:clock_app_round_dashboard")
    )
    return client.get(url)


def test_the_dashboard_of_a_simulated_run_shows_the_audits_numbers(staff):
    """``make demo`` plays 3 rounds with 1,000 players; here 60, the same code."""
    call_command(
        "clock_simulate", "--users", "60", "--days", "3", "--seed", "4", "--start", "2026-11-20", stdout=StringIO()
    )
    reports = audit()
    assert len(reports) == 3 and all(r.ok for r in reports)
    for report in reports:
        the_round = Round.objects.get(clock_day=report.clock_day)
        terms = [int(n) for n in EQUATION.match(report.equation).groups()]
        flow = money_flow(the_round)
        assert [
            flow.stakes,
            flow.rollover_in,
            flow.winner_stakes,
            flow.packets,
            flow.service_fee,
            flow.rollover_out,
        ] == terms
        assert flow.balances
        assert flow.payers == the_round.user_num and flow.winners == the_round.success_user_num
        paid = Participation.objects.filter(clock_day=report.clock_day, red_status=RedStatus.PAID)
        assert flow.payouts["paid"] == (paid.count(), sum(paid.values_list("clock_money", flat=True)))
        owing = round_owing(report.clock_day)
        for state in PAYOUT_STATES[1:]:
            assert flow.payouts[state] == owing.get(state, (0, 0))

        body = page(staff, report.clock_day.isoformat()).content.decode()
        assert f'<code class="equation" id="equation">{flow.equation.replace(chr(39), "&#x27;")}</code>' in body
        assert report.equation.split(";")[0].replace("'", "&#x27;") in body  # the recorded verdict's equation
        assert '<span class="ok">ok</span>' in body  # the simulation recorded clock_audit's verdict
        for fen in terms:
            assert f">{yuan(fen)}<" in body
        assert f"{the_round.user_num} payer(s)" in body


def test_an_unsettled_round_shows_its_stakes_and_no_payouts(staff):
    play_round(DAY, 5, 3)
    flow = money_flow(Round.objects.get())
    assert not flow.settled and flow.equation == "stakes 500 in 5 payers (not settled)"
    assert flow.winners == 3 and flow.winner_stakes == 0
    assert all(value == (0, 0) for value in flow.payouts.values())
    body = page(staff).content.decode()
    assert "not settled yet" in body and "not audited yet" in body


def test_payouts_by_state_and_kept_payments():
    play_round(DAY, 6, 4)
    round_settle(DAY, now=morning(DAY, "08:05:00"))
    with time_machine.travel(morning(DAY, "09:00:00"), tick=False):
        packet_open(uid=1, handler=Channel())
        packet_open(uid=2, handler=Channel({"result_code": "WAIT_USER_CONFIRM", "confirm": {"package": "p"}}))
        with pytest.raises(PayoutFailed):
            packet_open(uid=3, handler=Channel({"result_code": "FAIL"}))
    late = order_for(9, local(DAY, "23:00:00"))
    pay(late, local("2026-11-27", "00:30:00"), paid_at=local("2026-11-27", "00:10:00"))  # after entry closed
    flow = money_flow(Round.objects.get())
    parts = {p.uid: p for p in Participation.objects.all()}
    amount = {uid: parts[uid].order_money + parts[uid].red_money for uid in parts}
    assert flow.payouts == {
        "paid": (1, amount[1]),
        "awaiting": (1, amount[2]),
        "pending": (0, 0),
        "owed": (1, amount[4]),
        "failed": (1, amount[3]),
    }
    assert flow.kept == {"refunding": (1, 100), "refunded": (0, 0), "review": (0, 0)}


def test_checkins_per_minute_and_payments_per_hour():
    for uid, paid_at in ((1, "00:10:00"), (2, "09:59:59"), (3, "10:00:00"), (4, "23:59:00")):
        join(uid, DAY, paid_at)
    clock(1, DAY, "05:00:00")
    clock(2, DAY, "05:00:59")
    clock(3, DAY, "07:59:59")
    the_round = Round.objects.get()
    minutes = dashboard.checkins_per_minute(the_round)
    assert len(minutes) == 180 and minutes[0] == 2 and minutes[179] == 1 and sum(minutes) == 3
    hours = dashboard.payments_per_hour(the_round)
    assert len(hours) == 24 and hours[0] == 1 and hours[9] == 1 and hours[10] == 1 and hours[23] == 1


def test_the_queries_do_not_grow_with_the_round(staff):
    def count(payers: int, day: date) -> int:
        play_round(day, payers, payers // 2, first_uid=1000 * day.day)
        round_settle(day, now=morning(day, "08:05:00"))
        with CaptureQueriesContext(connection) as queries:
            assert page(staff, day.isoformat()).status_code == 200
        return len(queries)

    assert count(4, date(2026, 11, 10)) == count(24, date(2026, 11, 20))


def test_the_round_list_and_page_link_to_the_dashboard(staff):
    play_round(DAY, 3, 2)
    url = reverse("admin:clock_app_round_dashboard_day", args=["2026-11-26"])
    assert url == "/admin/clock_app/round/dashboard/2026-11-26/"
    assert url in staff.get(reverse("admin:clock_app_round_changelist")).content.decode()
    the_round = Round.objects.get()
    assert url in staff.get(reverse("admin:clock_app_round_change", args=[the_round.pk])).content.decode()


def test_the_links_lead_to_the_rows_they_count(staff):
    play_round(DAY, 6, 4)
    round_settle(DAY, now=morning(DAY, "08:05:00"))
    with time_machine.travel(morning(DAY, "09:00:00"), tick=False):
        packet_open(uid=1, handler=Channel())
    reminders_send("owed", now=morning(DAY, "12:00:00"), handler=Recorder(refuse={2}))
    response = page(staff, "2026-11-26")
    context = response.context
    for row in context["payouts"]:
        listed = staff.get(row["url"])
        assert listed.status_code == 200 and listed.context["cl"].result_count == row["n"], row
    assert staff.get(context["links"]["participants"]).context["cl"].result_count == 6
    assert staff.get(context["links"]["winners"]).context["cl"].result_count == 4
    (owed,) = [row for row in context["reminder_rows"] if row["total"]]
    assert {s["value"]: s["n"] for s in owed["statuses"]} == {"sent": 2, "refused": 1}
    for status in owed["statuses"]:
        assert staff.get(status["url"]).context["cl"].result_count == status["n"]
    for name, url in context["links"].items():
        assert staff.get(url).status_code == (405 if name == "audit" else 200), url  # audit: a POST button


def test_charts_are_svg_with_text_alternatives_and_no_script(staff):
    play_round(DAY, 4, 2)
    round_settle(DAY, now=morning(DAY, "08:05:00"))
    body = page(staff).content.decode()
    main = body[body.index('<div id="content-main"') :]
    main = main[: main.index("<!-- END Content -->")] if "<!-- END Content -->" in main else main
    assert "<script" not in main
    for chart in ("checkin-chart", "payment-chart", "people-chart", "pot-chart"):
        assert f'id="{chart}"' in main and f'aria-labelledby="{chart}-title {chart}-desc"' in main
    assert main.count("<svg") >= 5
    assert "06:00: 2 check-in(s)</title>" in main  # factories clock in at 06:00
    assert "<details><summary>The check-ins, minute by minute" in main
    assert '<td>06:00</td><td class="num">2</td>' in main


def test_svg_numbers_are_not_localized(staff, settings):
    settings.LANGUAGE_CODE = "de"
    settings.USE_THOUSAND_SEPARATOR = True
    play_round(DAY, 4, 2)
    body = staff.get(reverse("admin:clock_app_round_dashboard"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert not re.search(r'<rect [^>]*(x|y|width|height)="\d+,\d', body)


def test_the_audit_verdict_and_the_audit_now_button(staff):
    play_round(DAY, 4, 2)
    round_settle(DAY, now=morning(DAY, "08:05:00"))
    url = reverse("admin:clock_app_round_audit", args=["2026-11-26"])
    assert staff.get(url).status_code == 405
    response = staff.post(url)
    assert response.status_code == 302 and response.url.endswith("/dashboard/2026-11-26/")
    verdict = AuditVerdict.objects.get()
    assert verdict.ok and verdict.equation.startswith(audit_round(Round.objects.get()).equation.split(";")[0])
    Participation.objects.filter(uid=1).update(red_money=9)  # someone edits a packet behind the app's back
    staff.post(url)
    body = page(staff).content.decode()
    assert '<span class="bad">MISMATCH</span>' in body and "differs from the allocation of the seed" in body


def test_clock_audit_records_its_verdicts(staff):
    play_round(DAY, 4, 2)
    round_settle(DAY, now=morning(DAY, "08:05:00"))
    call_command("clock_audit", stdout=StringIO())
    assert AuditVerdict.objects.get().ok
    listed = staff.get(reverse("admin:clock_app_auditverdict_changelist"))
    assert listed.status_code == 200 and listed.context["cl"].result_count == 1


def test_reconciliation_card(staff, monkeypatch):
    play_round(DAY, 2, 1)
    assert "not run" in page(staff).content.decode()
    found = Reconciliation(ran_at=local(DAY, "23:00:00"), differences=2, summary="1 theirs-only, 1 amount")
    monkeypatch.setattr(dashboard, "reconciliation_status", lambda day: found)
    body = page(staff).content.decode()
    assert "2 difference(s)" in body and "1 theirs-only, 1 amount" in body


def test_only_who_may_view_rounds_sees_it(client):
    play_round(DAY, 2, 1)
    url = reverse("admin:clock_app_round_dashboard")
    assert client.get(url).status_code == 302  # not logged in: to the login page
    clerk = User.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(clerk)
    assert client.get(url).status_code == 403
    assert client.post(reverse("admin:clock_app_round_audit", args=["2026-11-26"])).status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_round"))
    assert client.get(url).status_code == 200


def test_no_round_and_unknown_days(staff):
    assert "No round yet" in page(staff).content.decode()
    assert page(staff, "2026-11-26").status_code == 404
    assert page(staff, "yesterday").status_code == 404


def test_the_latest_settled_round_is_the_default(staff):
    play_round(DAY, 3, 2)
    round_settle(DAY, now=morning(DAY, "08:05:00"))
    join(1, "2026-11-27", "10:00:00")
    assert page(staff).context["the_round"].clock_day == DAY
    assert Participation.objects.filter(clock_status=ClockStatus.CLOCKED_IN).count() == 2
