"""Reminder runs at the same time on PostgreSQL: two beats (or a beat and an operator) never send one twice."""

import time
from datetime import date

from clock_app.models import Reminder
from clock_app.services.reminders import reminders_send

from ..reminders import Recorder, crowd, morning
from .threads import run_together

DAY = date(2026, 11, 26)


class SlowRecorder(Recorder):
    """Takes a while per batch, so the runs overlap for real."""

    def __call__(self, reminders):
        time.sleep(0.05)
        return super().__call__(reminders)


def test_two_runs_at_once_send_each_reminder_once(postgres):
    crowd(DAY, 1000, opted_in=300, clocked_in=50)
    handler = SlowRecorder()

    def run():
        return reminders_send("checkin", day=DAY, now=morning(DAY), handler=handler, batch_size=20)

    first, second = run_together([run, run])
    assert not isinstance(first, Exception) and not isinstance(second, Exception), (first, second)
    assert len(handler.delivered) == 250
    assert len(set(handler.delivered)) == 250
    assert first.outcomes["sent"] + second.outcomes["sent"] == 250
    assert first.outcomes["sent"] and second.outcomes["sent"]  # both really worked, side by side
    assert Reminder.objects.filter(status="sent").count() == 250
    assert Reminder.objects.count() == 250


def test_four_runs_with_a_flaky_handler_then_a_retry(postgres):
    crowd(DAY, 400, opted_in=120, clocked_in=20)
    flaky = SlowRecorder(fail_rate=0.1, seed=3)
    run_together([lambda: reminders_send("checkin", day=DAY, now=morning(DAY), handler=flaky, batch_size=10)] * 4)
    assert len(flaky.delivered) == len(set(flaky.delivered))
    retry = Recorder()
    reminders_send("checkin", day=DAY, now=morning(DAY, "05:10:00"), handler=retry)
    assert sorted(flaky.delivered + retry.delivered) == list(range(21, 121))
