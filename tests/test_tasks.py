"""Celery tasks: run eagerly here, and once through a real worker against Redis (CI)."""

import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings

from clock_app import calendar
from clock_app.models import Participation, RedStatus, Round
from clock_app.schedules import beat_schedule
from clock_app.tasks import audit_task, push_round_task, settle_round_task
from example_project.celery import app

from .conftest import require
from .factories import play_round

HANDLER = {"PAYOUT_HANDLER": "tests.handlers.succeed"}


@pytest.fixture
def eager():
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = os.environ.get("REDIS_URL", "") == ""


def a_past_round(payers: int, clockers: int) -> date:
    """A round three days back on the real clock, so the tasks (which use the real now) may settle it."""
    day = calendar.today() - timedelta(days=3)
    play_round(day, payers, clockers)
    return day


@pytest.mark.django_db
@override_settings(CLOCK=HANDLER)
def test_settle_push_audit_eagerly(eager):
    day = a_past_round(10, 7)
    first = settle_round_task.delay(day.isoformat()).get()
    assert first["settled"] and not first["already_settled"]
    assert settle_round_task.delay(day.isoformat()).get()["already_settled"]
    assert push_round_task.delay(day.isoformat(), chunk_size=3).get() == {"clock_day": day.isoformat(), "chunks": 3}
    assert Participation.objects.filter(clock_day=day, red_status=RedStatus.PAID).count() == 7
    assert audit_task.delay().get() == {"ok": True, "rounds": 1, "failed": {}}


@pytest.mark.django_db
def test_settle_task_without_a_round(eager):
    assert settle_round_task.delay("2020-01-01").get()["settled"] is False


@pytest.mark.django_db
@override_settings(CLOCK={"RED_OPEN": "08:15"})
def test_beat_schedule_is_in_the_games_time_zone():
    schedule = beat_schedule()
    settle = schedule["clock_app.settle-due"]
    assert settle["task"] == "clock_app.settle_due"
    assert settle["schedule"].minute == set(range(0, 60, 5))  # every round at its own frozen red_open
    assert str(settle["schedule"].now().tzinfo) == "Asia/Shanghai"
    assert schedule["clock_app.push-two-days-ago"]["task"] == "clock_app.push_round"


@pytest.fixture
def redis_url():
    url = os.environ.get("REDIS_URL", "")
    require(bool(url), "needs Redis as the Celery broker (set REDIS_URL=redis://…)")
    return url


def test_tasks_through_a_real_worker(postgres, redis_url):
    day = a_past_round(6, 4)
    settings_dict = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/"
            f"{settings_dict['NAME']}"
        ),
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CLOCK_PAYOUT_HANDLER": "tests.handlers.succeed",
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "example_project",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )
    app.conf.task_always_eager = False
    try:
        settled = settle_round_task.apply_async((day.isoformat(),)).get(timeout=60)
        assert settled["settled"] is True
        assert Round.objects.get(clock_day=day).settled_at is not None
        push_round_task.apply_async((day.isoformat(), 2)).get(timeout=60)
        deadline = time.monotonic() + 60
        while Participation.objects.filter(clock_day=day, red_status=RedStatus.PAID).count() < 4:
            assert time.monotonic() < deadline, "the worker did not pay the round in 60 s"
            time.sleep(0.2)
        assert audit_task.apply_async().get(timeout=60)["ok"] is True
    finally:
        worker.terminate()
        worker.wait(timeout=30)
