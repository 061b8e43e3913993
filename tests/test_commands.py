"""The management commands: defaults, output, exit status."""

from datetime import date
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from clock_app.models import Participation, RedStatus, Round

from .conftest import local
from .factories import play_round

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 26)


def run(*args, at=("2026-11-27", "08:05:00")):
    out = StringIO()
    with time_machine.travel(local(*at), tick=False):
        call_command(*args, stdout=out)
    return out.getvalue()


def test_init_red_defaults_to_yesterdays_round_and_is_idempotent():
    play_round(DAY, 10, 7)
    out = run("clock_init_red")
    assert "round 2026-11-26 settled: 7/10 clocked in" in out and "fee ¥0.15" in out
    assert Round.objects.get().settled_at is not None
    assert "already settled" in run("clock_init_red", at=("2026-11-27", "09:00:00"))


def test_init_red_with_day_and_progress():
    play_round(DAY, 3, 2)
    out = run("clock_init_red", "--day", "2026-11-26", "--verbosity", "2", at=("2026-11-29", "10:00:00"))
    assert "2/2 winners' packets written" in out


def test_init_red_nothing_to_do():
    assert "nothing to settle" in run("clock_init_red")


@pytest.mark.parametrize("bad", ["26/11/2026", "tomorrow"])
def test_bad_day_is_a_command_error(bad):
    with pytest.raises(CommandError, match="--day"):
        run("clock_init_red", "--day", bad)


def test_init_red_too_early_is_a_command_error():
    play_round(DAY, 3, 2)
    with pytest.raises(CommandError, match="round_not_closed"):
        run("clock_init_red", "--day", "2026-11-26", at=("2026-11-27", "07:00:00"))


@override_settings(CLOCK={"PAYOUT_HANDLER": "tests.handlers.succeed"})
def test_push_red_defaults_to_two_days_ago_and_settles_if_needed():
    play_round(DAY, 5, 3)
    out = run("clock_push_red", at=("2026-11-28", "00:30:00"))
    assert "0 winner(s) unpaid" in out
    assert Participation.objects.filter(red_status=RedStatus.PAID).count() == 3


def test_audit_prints_the_equation_and_passes():
    play_round(DAY, 10, 7)
    run("clock_init_red")
    out = run("clock_audit", "--day", "2026-11-26")
    assert "stakes 1000 + rollover_in 0 = winners' stakes 700 + packets 285 + fee 15 + rollover_out 0" in out
    assert "audit: ok (1 round(s))" in out
