"""An opt-in Celery beat schedule in the game's time zone: settle every round that is due (every five
minutes: each round at its own frozen ``red_open``, whatever ``CLOCK["RED_OPEN"]`` says today), push the round
of two days ago shortly after midnight, audit every round in the small hours — and, if asked
(``reminders=True``), send the check-in reminders at ``CLOCK["REMIND_AT"]`` and the owed-packet reminders
at ``owed_at``.

Opt in from your Celery app (see ``example_project/celery.py``)::

    app.conf.beat_schedule.update(clock_app.schedules.beat_schedule())

The crontabs compute "now" in ``CLOCK["TIME_ZONE"]``, so 08:05 means 08:05 in Asia/Shanghai whatever
``CELERY_TIMEZONE`` or the server's clock say.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from celery.schedules import crontab

from .conf import clock_settings


def _game_now() -> datetime:
    return datetime.now(clock_settings.time_zone)


def reminder_schedule(owed_at: str = "12:00") -> dict[str, dict[str, Any]]:
    """Check-in reminders at ``REMIND_AT``, then every 15 minutes until the window's last hour (each run
    sends only what has not gone out: the retries of failed sends); owed-packet reminders at ``owed_at``,
    then hourly until 20:00 (one a day per winner and round, so the later runs only retry)."""
    remind_at, clock_end = clock_settings.remind_at, clock_settings.clock_end
    owed_hour, owed_minute = (int(x) for x in owed_at.split(":"))
    retry_hours = f"{remind_at.hour}-{clock_end.hour}" if clock_end.hour > remind_at.hour else str(remind_at.hour)
    return {
        "clock_app.remind-checkin": {
            "task": "clock_app.remind",
            "kwargs": {"kind": "checkin"},
            "schedule": crontab(hour=remind_at.hour, minute=remind_at.minute, nowfun=_game_now),
        },
        "clock_app.remind-checkin-retry": {
            "task": "clock_app.remind",
            "kwargs": {"kind": "checkin"},
            "schedule": crontab(hour=retry_hours, minute="*/15", nowfun=_game_now),
        },
        "clock_app.remind-owed": {
            "task": "clock_app.remind",
            "kwargs": {"kind": "owed"},
            "schedule": crontab(hour=f"{owed_hour}-{max(owed_hour, 20)}", minute=owed_minute, nowfun=_game_now),
        },
    }


def beat_schedule(
    push_at: str = "00:30",
    audit_at: str = "04:00",
    *,
    reminders: bool = False,
    owed_at: str = "12:00",
    reconcile_at: str | None = None,
) -> dict[str, dict[str, Any]]:
    """The schedule; opt-in parts: ``reminders`` (see :func:`reminder_schedule`) and ``reconcile_at``
    ("HH:MM": reconcile yesterday's bill — after the channel publishes it, WeChat and Alipay from about 10:00
    the next day, so "10:30")."""
    push_hour, push_minute = (int(x) for x in push_at.split(":"))
    audit_hour, audit_minute = (int(x) for x in audit_at.split(":"))
    schedule = {
        **(reminder_schedule(owed_at) if reminders else {}),
        "clock_app.settle-due": {
            "task": "clock_app.settle_due",
            "schedule": crontab(minute="*/5", nowfun=_game_now),
        },
        # Lost notifications: yesterday's waiting orders, once its entry closed and again before 05:00.
        "clock_app.sweep-payments-after-midnight": {
            "task": "clock_app.sweep_payments",
            "schedule": crontab(hour=0, minute=5, nowfun=_game_now),
        },
        "clock_app.sweep-payments-before-the-window": {
            "task": "clock_app.sweep_payments",
            "schedule": crontab(hour=4, minute=30, nowfun=_game_now),
        },
        "clock_app.push-two-days-ago": {
            "task": "clock_app.push_round",
            "schedule": crontab(hour=push_hour, minute=push_minute, nowfun=_game_now),
        },
        "clock_app.audit": {
            "task": "clock_app.audit",
            "schedule": crontab(hour=audit_hour, minute=audit_minute, nowfun=_game_now),
        },
    }
    if reconcile_at:
        hour, minute = (int(x) for x in reconcile_at.split(":"))
        schedule["clock_app.reconcile-yesterday"] = {
            "task": "clock_app.reconcile",
            "schedule": crontab(hour=hour, minute=minute, nowfun=_game_now),
        }
    return schedule
