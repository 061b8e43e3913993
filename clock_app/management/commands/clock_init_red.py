"""``manage.py clock_init_red [--day D]``: settle a round (default: yesterday's, run at 08:05)."""

from __future__ import annotations

from ... import calendar
from ...exceptions import ClockError
from ...models import Round
from ...money import yuan
from ...services.settlement import round_settle
from ..base import ClockCommand, no_round, refusal
from ..days import add_day_option, parse_day_option


class Command(ClockCommand):
    help = (
        "Settle a round once its packets open (RED_OPEN, 08:05 the next morning): split the forfeited stakes, "
        "less the service fee, into red packets for those who clocked in, and store the statement's hash. "
        "Settling a settled round changes nothing. Exits non-zero for a --day with no round or a round not "
        "closed yet."
    )

    def add_arguments(self, parser):
        add_day_option(parser, "yesterday's round")

    def handle(self, *args, day=None, verbosity=1, **options):
        round_day = parse_day_option(day, calendar.checkin_round())
        if not Round.objects.filter(clock_day=round_day).exists():
            if day is not None:  # a day asked for by name that has no round: a typo in a crontab, say
                raise no_round(round_day)
            self.stdout.write(f"no round on {round_day} (nobody took part yesterday): nothing to settle")
            return
        show_progress = verbosity >= 2 or self.stdout.isatty()

        def progress(done: int, total: int) -> None:
            if show_progress:
                self.stdout.write(f"  round {round_day}: {done}/{total} winners' packets written")

        try:
            result = round_settle(round_day, progress=progress)
        except ClockError as error:
            raise refusal(error, round_day) from None
        if result.already_settled:
            self.stdout.write(
                f"round {round_day}: already settled, nothing changed (statement {result.statement_hash})"
            )
            return
        t = result.totals
        self.stdout.write(
            self.style.SUCCESS(
                f"round {round_day} settled: {t.winners}/{t.payers} clocked in; forfeited ¥{yuan(t.forfeited)}, "
                f"fee ¥{yuan(t.service_fee)}, rollover in ¥{yuan(t.rollover_in)}, bonus ¥{yuan(t.bonus)} "
                f"(packets ¥{yuan(t.packets)}), "
                f"rollover out ¥{yuan(t.rollover_out)}; statement {result.statement_hash}"
            )
        )
