"""``manage.py clock_remind [--kind checkin|owed] [--day D]``: send the reminders that are due, once each."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ...exceptions import ClockError
from ...models import ReminderKind
from ...services.reminders import BATCH, reminders_send
from ..days import add_day_option, parse_day_option


class Command(BaseCommand):
    help = (
        "Send the reminders that are due through CLOCK['REMINDER_HANDLER']: 'checkin' (default) reminds the "
        "participants of the round whose window opens next who turned reminders on and have not clocked in, "
        "from CLOCK['REMIND_AT'] until the window closes; 'owed' reminds winners whose stake + packet waits on "
        "them (not opened, awaiting confirmation, cancelled), once a day until paid. Each reminder goes out once; "
        "failed ones are retried by the next run. Exits non-zero while a due reminder is not sent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--kind", choices=ReminderKind.values, default=ReminderKind.CHECKIN)
        add_day_option(parser, "checkin: the round whose window opens next; owed: every settled round")
        parser.add_argument("--batch-size", type=int, default=BATCH, help=f"Reminders per handler call ({BATCH}).")

    def handle(self, *args, kind, day=None, batch_size=BATCH, **options):
        try:
            report = reminders_send(kind, day=parse_day_option(day), batch_size=batch_size, progress=self.stdout.write)
        except ClockError as error:
            raise CommandError(f"{error.code}: {error.message}") from None
        scope = f"round {report.clock_day}" if report.clock_day else "every settled round"
        statuses = ", ".join(f"{status} {n}" for status, n in sorted(report.statuses.items())) or "none"
        if report.not_due:
            self.stdout.write(f"{kind} reminders, {scope}: nothing sent — {report.not_due} (so far: {statuses})")
            return
        sent = ", ".join(f"{status} {n}" for status, n in sorted(report.outcomes.items())) or "nothing due"
        summary = (
            f"{kind} reminders, {scope}, {report.remind_day}: queued {report.queued}, this run {sent}, "
            f"skipped {report.skipped} (no longer due); in all: {statuses}"
        )
        if not report.complete:
            raise CommandError(summary + " — run again to retry")
        self.stdout.write(self.style.SUCCESS(summary))
