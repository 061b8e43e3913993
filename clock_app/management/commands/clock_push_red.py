"""``manage.py clock_push_red [--day D]``: pay every unpaid winner of a round and every pending refund."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import CommandError

from ... import calendar
from ...exceptions import ClockError
from ...money import yuan
from ...services.payouts import round_push
from ..base import ClockCommand, has_round, no_round, refusal
from ..days import add_day_option, parse_day_option


class Command(ClockCommand):
    help = (
        "Pay the winners of a round who did not open their packet, ask the channel about payouts sent "
        "without a final answer (pending, unknown, awaiting the user's confirmation), offer failed or "
        "cancelled ones again, and pay pending refunds. Prints what is still owed, pending and awaiting "
        "confirmation; exits non-zero while anything is owed, failed, pending or a refund is pending "
        "(a bill awaiting the user's confirmation is not an error), and for a --day with no round."
    )

    def add_arguments(self, parser):
        add_day_option(parser, "the round of two days ago, as the seed")

    def handle(self, *args, day=None, verbosity=1, **options):
        round_day = parse_day_option(day, calendar.today() - timedelta(days=2))
        if day is not None and not has_round(round_day):
            raise no_round(round_day)
        show_progress = verbosity >= 2 or self.stdout.isatty()
        try:
            report = round_push(round_day, progress=self.stdout.write if show_progress else None)
        except ClockError as error:
            raise refusal(error, round_day) from None
        owing = ", ".join(f"{state} {n} (¥{yuan(fen)})" for state, (n, fen) in sorted(report.owing.items()))
        summary = (
            f"round {round_day}: payouts {dict(report.outcomes) or 'none due'}; refunds "
            f"{dict(report.refunds) or 'none due'}; {report.unpaid} winner(s) unpaid"
            f"{f' — {owing}' if owing else ''}; {report.refunds_pending} refund(s) pending"
        )
        if not report.complete:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
