"""``manage.py clock_audit [--day D]``: re-derive the money invariants; exit non-zero on any mismatch."""

from __future__ import annotations

from django.core.management.base import CommandError

from ...audit import audit, audit_players
from ...services.audits import audit_record
from ..base import ClockCommand, no_round
from ..days import add_day_option, parse_day_option


class Command(ClockCommand):
    help = (
        "Re-derive every stored money figure from the rows that justify it, for one round or all: each round's "
        "books (stakes + rollover in = winners' stakes + packets + fee + rollover out), every order, packet and "
        "refund against its ledger row, the packets against the committed seed, the statement against its hash, "
        "and every player's totals. Prints the equation per round (money in fen, as stored); exits non-zero on "
        "any mismatch, and for a --day with no round."
    )

    def add_arguments(self, parser):
        add_day_option(parser, "every round")

    def handle(self, *args, day=None, **options):
        round_day = parse_day_option(day)
        reports = audit(round_day)
        if round_day is not None and not reports:
            raise no_round(round_day)
        audit_record(reports)  # the admin's round dashboard shows the last verdict of each round
        failed = [r for r in reports if not r.ok]
        self.stdout.write("money in fen (100 fen = ¥1.00), as stored")
        for report in reports:
            mark = self.style.SUCCESS("ok") if report.ok else self.style.ERROR("MISMATCH")
            self.stdout.write(f"round {report.clock_day}: {report.equation}  {mark}")
            for problem in report.problems:
                self.stdout.write(f"    - {problem}")
        players = audit_players(round_day)
        mark = self.style.SUCCESS("ok") if players.ok else self.style.ERROR("MISMATCH")
        self.stdout.write(f"players: {players.checked} checked against their rows  {mark}")
        for problem in players.problems:
            self.stdout.write(f"    - {problem}")
        if failed or not players.ok:
            named = [f"round(s) {', '.join(str(r.clock_day) for r in failed)}"] if failed else []
            named += ["player totals"] if not players.ok else []
            raise CommandError("audit failed for " + " and ".join(named))
        self.stdout.write(self.style.SUCCESS(f"audit: ok ({len(reports)} round(s))"))
