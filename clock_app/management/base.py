"""What every ``clock_*`` command shares: a clear error instead of a traceback for what an operator gets
wrong (a database without the app's tables, a day with no round, a refusal of the services), and a quiet stop
when the reader of the output goes away (``clock_statement … | head``).

Messages of the commands are English, like Django's own; the services' refusals carry Chinese messages for
players, so :func:`refusal` says the same in English for the operator, keeping the stable ``code``.
"""

from __future__ import annotations

import os
import sys
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from .. import calendar
from ..conf import clock_settings
from ..exceptions import ClockError
from ..models import ClockOrder, OrderStatus, Round


class ClockCommand(BaseCommand):
    """Base of the app's commands. ``needs_tables = False`` for a command that reads no database."""

    needs_tables = True

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            if self.needs_tables:
                require_tables()
            result = super().execute(*args, **options)
            self.stdout.flush()  # a pipe closed early fails here, inside the try, not at the interpreter's exit
            return result
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly as other command-line tools do. Point stdout at
            # /dev/null so the interpreter's last flush does not complain about the pipe too.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise SystemExit(1) from None


def require_tables() -> None:
    """Fail with what to do when the database cannot be reached or has not been migrated."""
    name = connection.settings_dict.get("NAME")
    try:
        tables = connection.introspection.table_names()
    except DatabaseError as exc:
        raise CommandError(f"cannot reach the database {name}: {exc}".strip()) from None
    if Round._meta.db_table not in tables:
        raise CommandError(
            f"the database {name} has no clock_app tables: run `python manage.py migrate` first, or point the "
            "settings at the database that has them (the example project reads DATABASE_URL; its default is "
            "the demo's demo.sqlite3)"
        )


def has_round(day: date) -> bool:
    """Whether anything happened on ``day``: a round, or a payment kept apart on a day without one."""
    return (
        Round.objects.filter(clock_day=day).exists()
        or ClockOrder.objects.filter(clock_day=day, order_status=OrderStatus.PAID).exists()
    )


def no_round(day: date) -> CommandError:
    return CommandError(f"no round on {day}")


def refusal(error: ClockError, day: date) -> CommandError:
    """A service's refusal for round ``day``, in English for the operator, with its stable code."""
    the_round = Round.objects.filter(clock_day=day).first()
    zone = clock_settings.time_zone.key
    if error.code == "round_not_found":
        return no_round(day)
    if error.code == "round_not_closed" and the_round is not None:
        opens = calendar.red_open_at(day, the_round).astimezone(clock_settings.time_zone)
        return CommandError(
            f"round {day}: round_not_closed: it is settled from {opens:%Y-%m-%d %H:%M} ({zone}), once its check-in "
            "window has closed"
        )
    if error.code == "round_books_mismatch":
        return CommandError(
            f"round {day}: round_books_mismatch: its totals disagree with its participation rows, so nothing was "
            f"settled or paid; run `python manage.py clock_audit --day {day}`"
        )
    return CommandError(f"round {day}: {error.code}")
