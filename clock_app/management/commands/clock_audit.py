"""``manage.py clock_audit [--day D]``: re-derive the money invariants; exit non-zero on any mismatch."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ...audit import audit, audit_players
from ...services.audits import audit_record
from ..days import add_day_option, parse_day_option


class Command(BaseCommand):
    help = "Re-derive DESIGN §2 from the tables for one round or all, print the equation, fail on any mismatch."

    def add_arguments(self, parser):
        add_day_option(parser, "every round")

    def handle(self, *args, day=None, **options):
        reports = audit(parse_day_option(day))
        audit_record(reports)  # the admin's round dashboard shows the last verdict of each round
        failed = [r for r in reports if not r.ok]
        for report in reports:
            mark = self.style.SUCCESS("ok") if report.ok else self.style.ERROR("MISMATCH")
            self.stdout.write(f"round {report.clock_day}: {report.equation}  {mark}")
            for problem in report.problems:
                self.stdout.write(f"    - {problem}")
        players = audit_players(parse_day_option(day))
        mark = self.style.SUCCESS("ok") if players.ok else self.style.ERROR("MISMATCH")
        self.stdout.write(f"players: {players.checked} checked against their rows  {mark}")
        for problem in players.problems:
            self.stdout.write(f"    - {problem}")
        if failed or not players.ok:
            named = [f"round(s) {', '.join(str(r.clock_day) for r in failed)}"] if failed else []
            named += ["player totals"] if not players.ok else []
            raise CommandError("audit failed for " + " and ".join(named))
        self.stdout.write(self.style.SUCCESS(f"audit: ok ({len(reports)} round(s))"))
