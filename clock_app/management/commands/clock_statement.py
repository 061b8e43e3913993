"""``manage.py clock_statement --day D [--format json|csv] [--output FILE]``: export a round's statement."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from ...exports import statement_chunks, statement_csv, statement_dict
from ...models import Round
from ..days import add_day_option, parse_day_option


class Command(BaseCommand):
    help = (
        "Export a settled round's statement: JSON lines (canonical; what statement_hash covers and "
        "clock_verify checks) or CSV. Streams, so a million winners need no more memory than ten."
    )

    def add_arguments(self, parser):
        add_day_option(parser, "required", required=True)
        parser.add_argument("--format", choices=("json", "csv"), default="json")
        parser.add_argument("--output", "-o", help="File to write (default: standard output).")

    def handle(self, *args, day, format, output=None, **options):
        round_day = parse_day_option(day)
        the_round = Round.objects.filter(clock_day=round_day).first()
        if the_round is None:
            raise CommandError(f"round {round_day}: no such round")
        if not the_round.is_settled:
            # Before settlement only the rules and the commitment are public.
            text = json.dumps(statement_dict(round_day), ensure_ascii=False, sort_keys=True) + "\n"
            if output:
                with open(output, "w", encoding="utf-8") as target:
                    target.write(text)
            else:
                self.stdout.write(text, ending="")
            self.stderr.write(f"round {round_day} is not settled yet: its seed stays secret until then")
            return
        if format == "json":
            chunks = statement_chunks(the_round)
            if output:
                with open(output, "wb") as target:
                    target.writelines(chunks)
            else:
                for chunk in chunks:  # canonical JSON is ASCII: the text written is the hashed bytes
                    self.stdout.write(chunk.decode("ascii"), ending="")
        else:
            lines = statement_csv(the_round)
            if output:
                with open(output, "w", encoding="utf-8", newline="") as target:
                    target.writelines(lines)
            else:
                for text in lines:
                    self.stdout.write(text, ending="")
        if output:
            self.stderr.write(
                f"round {round_day}: statement written to {output} (statement_hash {the_round.statement_hash})"
            )
