"""``manage.py clock_simulate --users N --days K [--success-rate R] [--seed S] [--start D]``: play whole rounds."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import CommandError
from django.utils import timezone

from ... import calendar
from ...models import Round
from ...money import yuan
from ...simulation import Simulation
from ..base import ClockCommand
from ..days import parse_day_option


class Command(ClockCommand):
    help = (
        "Play K rounds with N simulated players on the simulation's own clock — signed sandbox payments (some "
        "duplicated, some late), check-ins, settlement, opening packets, the push job with a channel that "
        "refuses some transfers — then print every round and the audit. The clock never passes now: by default "
        "the last round is today's, so the game is live where the simulation stops (yesterday's round settled "
        "after 08:05, today's taking stakes). It plays on days that have no round yet: on a database that "
        "already has rounds from --start on, it refuses (make demo starts from a new database)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=1000, help="Simulated players, uids 1…N (default 1000).")
        parser.add_argument("--days", type=int, default=3, help="Rounds to play, one a day (default 3).")
        parser.add_argument(
            "--success-rate", type=float, default=0.7, help="Share of players who get up, 0–1 (default 0.7)."
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of the simulated players' choices (default 0).")
        parser.add_argument(
            "--start",
            metavar="YYYY-MM-DD",
            help="First round (default: so that the last round is today's). Not after today.",
        )

    def handle(self, *args, users, days, success_rate, seed, start=None, **options):
        if users < 1 or days < 1:
            raise CommandError("--users and --days must be at least 1")
        if not 0 <= success_rate <= 1:
            raise CommandError("--success-rate must be between 0 and 1")
        today = calendar.today()
        first = parse_day_option(start, today - timedelta(days=days - 1))
        if first > today:
            raise CommandError(f"--start {first} is after today ({today}): the simulation never plays the future")
        last = first + timedelta(days=days - 1)
        taken = Round.objects.filter(clock_day__gte=first, clock_day__lte=last).order_by("clock_day")
        days_taken = list(taken.values_list("clock_day", flat=True))
        if days_taken:
            raise CommandError(
                f"this database already has round(s) from {days_taken[0]} to {days_taken[-1]}, and the simulation "
                f"plays only days without a round: nothing was changed. Start from a new database (`make demo` "
                f"does), or choose --start and --days to end before {days_taken[0]}."
            )
        self.stdout.write(f"Simulating {days} round(s) from {first} with {users} players (seed {seed}) …")
        report = Simulation(
            users=users,
            days=days,
            success_rate=success_rate,
            seed=seed,
            start=first,
            progress=self.stdout.write,
            until=timezone.now(),
        ).run()

        header = (
            "round",
            "state",
            "payers",
            "winners",
            "pool",
            "fee",
            "bonus",
            "biggest",
            "roll in",
            "roll out",
            "refunds",
            "unpaid",
        )
        rows = [
            (
                str(r.clock_day),
                r.state,
                str(r.payers),
                str(r.winners),
                yuan(r.pool),
                yuan(r.service_fee),
                yuan(r.bonus),
                yuan(r.biggest_packet),
                yuan(r.rollover_in),
                yuan(r.rollover_out),
                str(r.refunds),
                str(r.unpaid),
            )
            for r in report.rounds
        ]
        widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
        self.stdout.write("")
        for line in (header, tuple("-" * w for w in widths), *rows):
            self.stdout.write("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))
        self.stdout.write(
            "(money in yuan; unpaid: winners not paid yet — packets not opened, or refused by the channel and "
            "offered again by the next push)"
        )
        self.stdout.write("")
        self.stdout.write("what happened: " + ", ".join(f"{name} {n}" for name, n in report.events.items()))
        self.stdout.write(f"The simulation's clock stopped at {calendar.local_now():%Y-%m-%d %H:%M} (now).")
        if not report.audit_ok:
            for problem in report.audit_problems:
                self.stdout.write(f"  - {problem}")
            raise CommandError("audit: FAILED")
        self.stdout.write(self.style.SUCCESS(f"audit: ok ({len(report.rounds)} rounds)"))
