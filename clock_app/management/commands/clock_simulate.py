"""``manage.py clock_simulate``: play simulated players through a round and print what happened."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ... import calendar
from ...money import yuan
from ...simulation import simulate_signups


class Command(BaseCommand):
    help = "Simulate players signing up and paying for today's round, then print the round's totals."

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=50)
        parser.add_argument("--seed", type=int, default=0, help="Random seed of the simulated players.")
        parser.add_argument("--day", help="Round to play (YYYY-MM-DD); default: today's.")

    def handle(self, *args, users: int, seed: int, day: str | None, **options):
        if users < 1:
            raise CommandError("--users must be at least 1")
        try:
            round_day = calendar.parse_day(day) if day else calendar.payment_round()
        except ValueError as exc:
            raise CommandError(f"--day: {exc}") from None
        self.stdout.write(f"Round {round_day}: {users} players order and pay the stake …")
        report = simulate_signups(round_day, users, seed=seed, progress=self.stdout.write)
        self.stdout.write(f"  payers            {report.payers}")
        self.stdout.write(f"  pool (clock_money) ¥{yuan(report.pool)}  ({report.pool} fen)")
        self.stdout.write(f"  ledger stakes     ¥{yuan(report.stakes_in_ledger)}  ({report.stakes_in_ledger} fen)")
        if report.pool != report.stakes_in_ledger:
            raise CommandError("the pool and the ledger disagree")
        self.stdout.write(self.style.SUCCESS("ledger: ok (pool == sum of stake rows)"))
