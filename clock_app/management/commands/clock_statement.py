"""``manage.py clock_statement [--day D] [--format json|csv] [--output FILE]``: export a round's statement."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.management.base import CommandError

from ... import calendar
from ...conf import clock_settings
from ...exports import statement_chunks, statement_csv
from ...models import Round
from ..base import ClockCommand, no_round
from ..days import add_day_option, parse_day_option


class Command(ClockCommand):
    help = (
        "Export a settled round's statement: JSON lines (canonical: what statement_hash covers and clock_verify "
        "checks) or CSV (for spreadsheets). Streams, so a million winners need no more memory than ten. Exits "
        "non-zero for a day with no round, or a round not settled yet (its statement exists from 08:05 the "
        "next morning; until then only its commitment, seed_hash, is public)."
    )

    def add_arguments(self, parser):
        add_day_option(parser, "the latest settled round")
        parser.add_argument(
            "--format",
            choices=("json", "csv"),
            default="json",
            help="json: the canonical JSON-lines file (default); csv: the same numbers for spreadsheets, "
            "not verifiable by clock_verify.",
        )
        parser.add_argument("--output", "-o", metavar="FILE", help="File to write (default: standard output).")

    def handle(self, *args, day=None, format="json", output=None, **options):
        the_round = self._round(parse_day_option(day))
        if format == "json":
            chunks = statement_chunks(the_round)
            if output:
                self._write(output, chunks, "wb")
            else:
                for chunk in chunks:  # canonical JSON is ASCII: the text written is the hashed bytes
                    self.stdout.write(chunk.decode("ascii"), ending="")
        else:
            lines = statement_csv(the_round)
            if output:
                self._write(output, lines, "w", encoding="utf-8", newline="")
            else:
                for text in lines:
                    self.stdout.write(text, ending="")
        if output and format == "json":
            self.stderr.write(
                f"round {the_round.clock_day}: statement written to {output} "
                f"(its SHA-256 is the published statement_hash {the_round.statement_hash})"
            )
        elif output:
            self.stderr.write(
                f"round {the_round.clock_day}: CSV written to {output}. The CSV is for reading; what is published "
                f"and verifiable (clock_verify) is the JSON-lines statement, statement_hash {the_round.statement_hash}"
            )

    @staticmethod
    def _round(day) -> Round:
        if day is None:
            latest = Round.objects.filter(settled_at__isnull=False).order_by("-clock_day").first()
            if latest is None:
                raise CommandError("no settled round yet: a round's statement exists once it is settled")
            return latest
        the_round = Round.objects.filter(clock_day=day).first()
        if the_round is None:
            raise no_round(day)
        if not the_round.is_settled:
            opens = calendar.red_open_at(day, the_round).astimezone(clock_settings.time_zone)
            raise CommandError(
                f"round {day} is not settled yet: its statement exists from {opens:%Y-%m-%d %H:%M} "
                f"({clock_settings.time_zone.key}); until then only its commitment is public, "
                f"seed_hash {the_round.seed_hash}"
            )
        return the_round

    @staticmethod
    def _write(path: str, parts: Iterable[Any], mode: str, **kwargs: Any) -> None:
        try:
            with open(path, mode, **kwargs) as target:
                target.writelines(parts)
        except OSError as exc:  # no such directory, no permission, disk full
            raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
