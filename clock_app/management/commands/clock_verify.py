"""``manage.py clock_verify FILE``: re-check a round's statement from the file alone — no database.

The same check runs without Django: ``python -m clock_app.statement FILE``.
"""

from __future__ import annotations

import sys

from django.core.management.base import CommandError

from ...statement import verify
from ..base import ClockCommand


class Command(ClockCommand):
    help = (
        "Verify a statement exported by clock_statement (JSON lines) without the database: the seed matches its "
        "commitment, every packet is the one the seed allocates, and the books balance to the fen (money in "
        "fen, as in the file). Exits non-zero when it does not verify or is not a statement."
    )
    requires_system_checks: list[str] = []
    needs_tables = False

    def add_arguments(self, parser):
        parser.add_argument("file", help="Statement file (JSON lines), or - for standard input.")
        parser.add_argument("--expect-hash", metavar="HASH", help="The published statement_hash the file must have.")

    def handle(self, *args, file, expect_hash=None, **options):
        try:
            if file == "-":
                result = verify(sys.stdin)
            else:
                with open(file, encoding="ascii") as source:
                    result = verify(source)
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from None
        if expect_hash and result.statement_hash != expect_hash:
            result.problems.append(f"the file hashes to {result.statement_hash}, not the published {expect_hash}")
        t = result.totals
        if t:
            self.stdout.write(
                f"round {result.clock_day} (fen): stakes {t['stakes']} + rollover_in {t['rollover_in']} = winners' "
                f"stakes {t['winner_stakes']} + packets {t['bonus'] - t['rollover_out']} + fee {t['service_fee']} "
                f"+ rollover_out {t['rollover_out']}; statement_hash {result.statement_hash}"
            )
        for warning in result.warnings:
            self.stdout.write(self.style.WARNING(f"    ! {warning}"))
        if result.problems:
            for problem in result.problems:
                self.stdout.write(f"    - {problem}")
            raise CommandError(f"{file} does NOT verify" + (f" (round {result.clock_day})" if result.clock_day else ""))
        self.stdout.write(self.style.SUCCESS(f"statement of round {result.clock_day}: verified"))
