"""``manage.py clock_verify FILE``: re-check a round's statement from the file alone — no database.

The same check runs without Django: ``python -m clock_app.statement FILE``.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from ...statement import verify


class Command(BaseCommand):
    help = (
        "Verify a statement exported by clock_statement (JSON lines): the seed matches its commitment, "
        "every packet is the one the seed allocates, and the books balance to the fen."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("file", help="Statement file (JSON lines), or - for standard input.")
        parser.add_argument("--expect-hash", help="The published statement_hash the file must have.")

    def handle(self, *args, file, expect_hash=None, **options):
        try:
            if file == "-":
                result = verify(sys.stdin)
            else:
                with open(file, encoding="ascii") as source:
                    result = verify(source)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CommandError(f"cannot read the statement {file}: {exc}") from None
        if expect_hash and result.statement_hash != expect_hash:
            result.problems.append(f"the file hashes to {result.statement_hash}, not the published {expect_hash}")
        t = result.totals
        packets = t.get("bonus", 0) - t.get("rollover_out", 0)
        self.stdout.write(
            f"round {result.clock_day}: stakes {t.get('stakes')} + rollover_in {t.get('rollover_in')} = winners' "
            f"stakes {t.get('winner_stakes')} + packets {packets} + fee {t.get('service_fee')} + "
            f"rollover_out {t.get('rollover_out')}; statement_hash {result.statement_hash}"
        )
        for warning in result.warnings:
            self.stdout.write(self.style.WARNING(f"    ! {warning}"))
        if result.problems:
            for problem in result.problems:
                self.stdout.write(f"    - {problem}")
            raise CommandError(f"statement of round {result.clock_day} does NOT verify")
        self.stdout.write(self.style.SUCCESS(f"statement of round {result.clock_day}: verified"))
