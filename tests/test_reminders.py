"""Reminders: exactly once per player and round, failures retried, refusals final, only while due."""

from collections import Counter
from datetime import date
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction

from clock_app.exceptions import InvalidInput
from clock_app.models import ClockStatus, Participation, RedStatus, Reminder, ReminderKind, ReminderStatus
from clock_app.reminders import CONTEXT_FIELDS
from clock_app.services.payouts import packet_open
from clock_app.services.reminders import checkin_round, reminders_send, round_reminders
from clock_app.services.settlement import round_settle

from .conftest import local
from .factories import Channel, clock, play_round
from .reminders import Recorder, crowd, morning

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)


def statuses(**filters) -> Counter:
    return Counter(Reminder.objects.filter(**filters).values_list("status", flat=True))


def test_a_thousand_players_300_opted_in_50_clocked_in_get_exactly_250_once():
    crowd(DAY, 1000, opted_in=300, clocked_in=50)
    handler = Recorder()
    report = reminders_send("checkin", day=DAY, now=morning(DAY, "05:40:00"), handler=handler)
    assert report.queued == 250
    assert report.outcomes == {"sent": 250}
    assert sorted(handler.delivered) == list(range(51, 301))  # opted in, not clocked in
    assert handler.batches == [250]

    again = reminders_send("checkin", day=DAY, now=morning(DAY, "05:50:00"), handler=handler)
    assert again.queued == 0 and not again.outcomes
    assert len(handler.delivered) == 250  # twice run: 250 in all
    assert statuses(clock_day=DAY) == {"sent": 250}
    assert again.complete


def test_a_handler_failing_ten_percent_ends_with_250_after_a_retry_run():
    crowd(DAY, 1000, opted_in=300, clocked_in=50)
    flaky = Recorder(fail_rate=0.1, seed=7)
    first = reminders_send("checkin", day=DAY, now=morning(DAY), handler=flaky, batch_size=100)
    failed = first.outcomes["failed"]
    assert 10 <= failed <= 45 and first.outcomes["sent"] == 250 - failed
    assert not first.complete
    assert flaky.batches == [100, 100, 50]

    retry = reminders_send("checkin", day=DAY, now=morning(DAY, "05:05:00"), handler=Recorder())
    assert retry.outcomes == {"sent": failed}  # only the failed ones, the sent ones never again
    assert statuses(clock_day=DAY) == {"sent": 250}
    assert retry.complete
    assert Reminder.objects.filter(attempts=2).count() == failed


def test_refused_is_final_and_never_retried():
    crowd(DAY, 20, opted_in=10, clocked_in=0)
    first = reminders_send("checkin", day=DAY, now=morning(DAY), handler=Recorder(refuse={3, 4}))
    assert first.outcomes == {"sent": 8, "refused": 2}
    assert first.complete  # a refusal is an answer, not something left to do
    handler = Recorder()
    assert reminders_send("checkin", day=DAY, now=morning(DAY, "05:00:00"), handler=handler).outcomes == {}
    assert handler.received == []
    assert Reminder.objects.get(uid=3).result == "43101 user refused"


@pytest.mark.parametrize(
    "answer",
    [
        RuntimeError("connection reset"),
        None,
        "sent",  # not a mapping of results
        {},  # no result for anyone
        {"whatever": "sent"},
    ],
    ids=["raises", "none", "string", "empty", "foreign-keys"],
)
def test_anything_but_a_result_is_a_failure_retried_later(answer):
    crowd(DAY, 5, opted_in=5, clocked_in=0)

    def broken(reminders):
        if isinstance(answer, Exception):
            raise answer
        return answer

    report = reminders_send("checkin", day=DAY, now=morning(DAY), handler=broken)
    assert report.outcomes == {"failed": 5}
    assert statuses() == {"failed": 5}
    assert reminders_send("checkin", day=DAY, now=morning(DAY, "05:01:00"), handler=Recorder()).outcomes == {"sent": 5}


def test_unknown_statuses_and_odd_results_are_failures():
    crowd(DAY, 3, opted_in=3, clocked_in=0)

    def odd(reminders):
        first, second, third = (r.id for r in reminders)
        return {first: "delivered?", second: {"status": "sent", "detail": b"bytes"}, third: 42}

    report = reminders_send("checkin", day=DAY, now=morning(DAY), handler=odd)
    assert report.outcomes == {"failed": 2, "sent": 1}
    assert "unknown status" in Reminder.objects.get(uid=1).result


def test_a_hanging_handler_times_out_and_the_batch_is_retried(settings):
    settings.CLOCK = {**settings.CLOCK, "REMIND_TIMEOUT": 0.2}
    crowd(DAY, 4, opted_in=4, clocked_in=0)
    import threading

    release = threading.Event()

    def hangs(reminders):
        release.wait(5)
        return {r.id: "sent" for r in reminders}

    try:
        report = reminders_send("checkin", day=DAY, now=morning(DAY), handler=hangs)
    finally:
        release.set()
    assert report.outcomes == {"failed": 4}
    assert "CallTimedOut" in Reminder.objects.first().result


def test_nothing_goes_out_before_remind_at_or_after_the_window():
    crowd(DAY, 10, opted_in=10, clocked_in=0)
    handler = Recorder()
    early = reminders_send("checkin", day=DAY, now=morning(DAY, "04:49:59"), handler=handler)
    assert "go out from 2026-11-27 04:50" in early.not_due
    late = reminders_send("checkin", day=DAY, now=morning(DAY, "08:00:00"), handler=handler)
    assert "closed" in late.not_due
    assert handler.received == [] and not Reminder.objects.exists()


def test_the_round_whose_window_opens_next():
    crowd(DAY, 1, opted_in=1, clocked_in=0)
    assert checkin_round(local(DAY, "20:00:00")) == DAY
    assert checkin_round(morning(DAY, "04:50:00")) == DAY
    assert checkin_round(morning(DAY, "07:59:59")) == DAY
    assert checkin_round(morning(DAY, "08:00:00")) == date(2026, 11, 27)


def test_a_run_the_evening_before_does_not_use_up_the_reminder():
    crowd(DAY, 3, opted_in=3, clocked_in=0)
    assert reminders_send("checkin", now=local(DAY, "21:00:00"), handler=Recorder()).not_due
    assert reminders_send("checkin", now=morning(DAY), handler=Recorder()).outcomes == {"sent": 3}


def test_a_player_who_clocks_in_before_the_retry_is_not_reminded_again():
    crowd(DAY, 4, opted_in=4, clocked_in=0)
    reminders_send("checkin", day=DAY, now=morning(DAY), handler=lambda rs: {r.id: "failed" for r in rs})
    clock(1, DAY, "05:01:00")
    report = reminders_send("checkin", day=DAY, now=morning(DAY, "05:15:00"), handler=Recorder())
    assert report.skipped == 1 and report.outcomes == {"sent": 3}
    assert Reminder.objects.get(uid=1).status == ReminderStatus.SKIPPED


def test_progress_in_batches():
    crowd(DAY, 12, opted_in=12, clocked_in=0)
    lines: list[str] = []
    reminders_send("checkin", day=DAY, now=morning(DAY), handler=Recorder(), batch_size=5, progress=lines.append)
    assert lines == [
        "checkin reminders, batch 1: 5 claimed — sent 5 (5/12)",
        "checkin reminders, batch 2: 5 claimed — sent 5 (10/12)",
        "checkin reminders, batch 3: 2 claimed — sent 2 (12/12)",
    ]


def test_the_message_carries_what_a_template_needs():
    crowd(DAY, 2, opted_in=1, clocked_in=0)
    handler = Recorder()
    reminders_send("checkin", day=DAY, now=morning(DAY), handler=handler)
    (message,) = handler.received
    assert message.openid == "open-1" and message.kind == "checkin" and message.remind_day == date(2026, 11, 27)
    assert tuple(message.context) == CONTEXT_FIELDS["checkin"]
    assert dict(message.context) == {
        "uid": "1",
        "nickname": "player1",
        "clock_day": "2026-11-26",
        "checkin_date": "2026-11-27",
        "window_start": "05:00",
        "window_end": "08:00",
        "players": "2",
        "pool_yuan": "2.00",
        "stake_yuan": "1.00",
    }


def test_exactly_once_is_a_database_constraint():
    crowd(DAY, 1, opted_in=1, clocked_in=0)
    reminders_send("checkin", day=DAY, now=morning(DAY), handler=Recorder())
    part = Participation.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Reminder.objects.create(
            uid=1, clock_day=DAY, kind=ReminderKind.CHECKIN, remind_day=date(2026, 11, 28), participation=part
        )


def test_bad_input_changes_nothing():
    with pytest.raises(InvalidInput) as kind:
        reminders_send("sms", handler=Recorder())
    assert kind.value.code == "kind_invalid"
    with pytest.raises(InvalidInput) as size:
        reminders_send("checkin", batch_size=0, handler=Recorder())
    assert size.value.code == "batch_size_invalid"
    assert not Reminder.objects.exists()


# --- owed packets ---------------------------------------------------------------------------------------------


def owed_round() -> None:
    """Round DAY settled with 4 winners of 6 payers; nobody opened their packet yet."""
    play_round(DAY, 6, 4)
    round_settle(DAY, now=morning(DAY, "08:05:00"))


def test_owed_winners_are_reminded_once_a_day_until_paid():
    owed_round()
    handler = Recorder()
    noon = morning(DAY, "12:00:00")
    assert reminders_send("owed", now=noon, handler=handler).outcomes == {"sent": 4}
    assert reminders_send("owed", now=morning(DAY, "13:00:00"), handler=handler).outcomes == {}  # once a day
    message = handler.received[0]
    assert message.context["state"] == "待领取"
    assert set(message.context) == set(CONTEXT_FIELDS["owed"])  # what a WeChat template may name
    part = Participation.objects.get(uid=message.uid, clock_day=DAY)
    assert (
        message.context["amount_yuan"]
        == f"{(part.order_money + part.red_money) // 100}.{(part.order_money + part.red_money) % 100:02d}"
    )

    with time_machine.travel(morning(DAY, "14:00:00"), tick=False):
        packet_open(uid=1, handler=Channel())  # paid
        packet_open(uid=2, handler=Channel({"result_code": "WAIT_USER_CONFIRM", "confirm": {"package": "p"}}))
    next_day = local("2026-11-28", "12:00:00")
    report = reminders_send("owed", now=next_day, handler=handler)
    assert report.outcomes == {"sent": 3}  # uid 1 was paid
    assert handler.received[-3].uid == 2 and handler.received[-3].context["state"] == "待确认收款"
    assert statuses(kind="owed") == {"sent": 7}
    assert round_reminders(DAY) == {"owed": {"sent": 7}}


def test_a_winner_paid_before_the_retry_is_skipped():
    owed_round()
    noon = morning(DAY, "12:00:00")
    reminders_send("owed", now=noon, handler=lambda rs: {r.id: "failed" for r in rs})
    with time_machine.travel(morning(DAY, "12:30:00"), tick=False):
        packet_open(uid=1, handler=Channel())
    report = reminders_send("owed", now=morning(DAY, "13:00:00"), handler=Recorder())
    assert report.skipped == 1 and report.outcomes == {"sent": 3}


def test_no_owed_reminders_for_an_unsettled_round_or_a_loser():
    play_round(DAY, 6, 4)
    assert reminders_send("owed", now=morning(DAY, "07:00:00"), handler=Recorder()).queued == 0
    round_settle(DAY, now=morning(DAY, "08:05:00"))
    handler = Recorder()
    reminders_send("owed", day=DAY, now=morning(DAY, "12:00:00"), handler=handler)
    assert sorted(m.uid for m in handler.received) == [1, 2, 3, 4]
    assert not Participation.objects.filter(uid__in=[5, 6], clock_status=ClockStatus.CLOCKED_IN).exists()
    assert RedStatus.PAID not in Participation.objects.values_list("red_status", flat=True)


# --- the command ----------------------------------------------------------------------------------------------


def test_command_sends_in_batches_and_says_what_it_did(settings):
    settings.CLOCK = {**settings.CLOCK, "REMINDER_HANDLER": "tests.handlers.remind_all"}
    crowd(DAY, 30, opted_in=12, clocked_in=2)
    out = StringIO()
    with time_machine.travel(morning(DAY, "04:55:00"), tick=False):
        call_command("clock_remind", "--batch-size", "4", stdout=out)
    text = out.getvalue()
    assert "checkin reminders, batch 3: 2 claimed — sent 2 (10/10)" in text
    assert "queued 10, this run sent 10" in text and "in all: sent 10" in text


def test_command_fails_while_a_reminder_is_not_sent(settings):
    settings.CLOCK = {**settings.CLOCK, "REMINDER_HANDLER": "tests.handlers.remind_none"}
    crowd(DAY, 3, opted_in=3, clocked_in=0)
    with time_machine.travel(morning(DAY), tick=False), pytest.raises(CommandError, match="failed 3"):
        call_command("clock_remind", "--day", "2026-11-26", stdout=StringIO())


def test_command_too_early_sends_nothing_and_succeeds(settings):
    crowd(DAY, 3, opted_in=3, clocked_in=0)
    out = StringIO()
    with time_machine.travel(local(DAY, "22:00:00"), tick=False):
        call_command("clock_remind", stdout=out)
    assert "nothing sent — check-in reminders of round 2026-11-26 go out from 2026-11-27 04:50" in out.getvalue()


def test_command_refuses_a_bad_day():
    with pytest.raises(CommandError, match="--day must be a date"):
        call_command("clock_remind", "--day", "tomorrow")


# --- Celery ---------------------------------------------------------------------------------------------------


def test_the_remind_task_does_what_the_command_does(settings):
    from clock_app.tasks import remind_task

    settings.CLOCK = {**settings.CLOCK, "REMINDER_HANDLER": "tests.handlers.remind_all"}
    crowd(DAY, 5, opted_in=3, clocked_in=0)
    with time_machine.travel(morning(DAY, "04:51:00"), tick=False):
        first = remind_task.apply(kwargs={"kind": "checkin"}).get()
        redelivered = remind_task.apply(kwargs={"kind": "checkin", "day": "2026-11-26"}).get()
    assert first == {
        "kind": "checkin",
        "clock_day": "2026-11-26",
        "not_due": "",
        "outcomes": {"sent": 3},
        "statuses": {"sent": 3},
    }
    assert redelivered["outcomes"] == {} and redelivered["statuses"] == {"sent": 3}


def test_the_reminder_beat_is_opt_in_and_in_the_games_time_zone(settings):
    from clock_app.schedules import beat_schedule

    assert not any("remind" in name for name in beat_schedule())
    settings.CLOCK = {**settings.CLOCK, "REMIND_AT": "05:15"}
    schedule = beat_schedule(reminders=True, owed_at="12:30")
    checkin = schedule["clock_app.remind-checkin"]
    assert checkin["task"] == "clock_app.remind" and checkin["kwargs"] == {"kind": "checkin"}
    assert checkin["schedule"].hour == {5} and checkin["schedule"].minute == {15}
    assert schedule["clock_app.remind-checkin-retry"]["schedule"].hour == {5, 6, 7, 8}
    owed = schedule["clock_app.remind-owed"]["schedule"]
    assert owed.hour == set(range(12, 21)) and owed.minute == {30}
    assert str(checkin["schedule"].nowfun().tzinfo) == "Asia/Shanghai"
