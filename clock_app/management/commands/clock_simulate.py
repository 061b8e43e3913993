"""``manage.py clock_simulate --users N --days K [--success-rate R] [--seed S]``: play whole rounds."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from ... import calendar
from ...money import yuan
from ...simulation import Simulation
from ..days import parse_day_option


class Command(BaseCommand):
    help = (
        "Play K whole rounds with N simulated players on the simulation's own clock — signed sandbox "
        "payments (some duplicated, some late), check-ins, settlement, opening packets, the push job with "
        "a channel that refuses some transfers — then print every round and the audit."
    )

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=1000)
        parser.add_argument("--days", type=int, default=3)
        parser.add_argument("--success-rate", type=float, default=0.7, help="Share of players who get up.")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the simulated players' choices.")
        parser.add_argument("--start", help="First round, YYYY-MM-DD (default: so the last round ended yesterday).")

    def handle(self, *args, users, days, success_rate, seed, start=None, **options):
        if users < 1 or days < 1:
            raise CommandError("--users and --days must be at least 1")
        if not 0 <= success_rate <= 1:
            raise CommandError("--success-rate must be between 0 and 1")
        first = parse_day_option(start, calendar.today() - timedelta(days=days + 1))
        self.stdout.write(f"Simulating {days} round(s) from {first} with {users} players (seed {seed}) …")
        report = Simulation(
            users=users, days=days, success_rate=success_rate, seed=seed, start=first, progress=self.stdout.write
        ).run()

        header = (
            "round",
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
        self.stdout.write("(money in yuan)")
        self.stdout.write("")
        self.stdout.write("what happened: " + ", ".join(f"{name} {n}" for name, n in report.events.items()))
        if not report.audit_ok:
            for problem in report.audit_problems:
                self.stdout.write(f"  - {problem}")
            raise CommandError("audit: FAILED")
        self.stdout.write(self.style.SUCCESS(f"audit: ok ({len(report.rounds)} rounds)"))
