"""A settled round's statement, streamed from the database (JSON lines, CSV or a dict for the API).

The header is the round's stored settlement record; the lines are the winners' *stored* ``red_money`` in
pseudonym order, read with one ``ORDER BY`` the database computes and a server-side cursor: memory stays flat
whatever the number of winners. So a packet changed behind the app's back shows up everywhere: the statement no longer
hashes to ``statement_hash`` (``clock_audit``), and the packet no longer matches the allocation recomputed
from the seed (``clock_verify``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from typing import Any

from django.db.models import Count, Sum

from . import statement
from .cache import cached, key
from .models import ClockStatus, Participation, Round
from .rules import RoundRules
from .winners import CHUNK, winners_in_order

STATEMENT_PAGE = 100  # packets per page of the JSON statement (the .jsonl file has them all)
MAX_STATEMENT_PAGE = 1000


def stored_totals(the_round: Round, winners: int, winner_stakes: int) -> statement.Totals:
    """The settlement record as stored on the round's row, with the winners counted from their rows."""
    return statement.Totals(
        payers=the_round.user_num,
        stakes=the_round.clock_money,
        winners=winners,
        winner_stakes=winner_stakes,
        forfeited=the_round.clock_money - winner_stakes,
        service_fee=the_round.service_fee,
        rollover_in=the_round.rollover_in,
        bonus=the_round.bonus_money,
        rollover_out=the_round.rollover_out,
    )


def statement_header(the_round: Round) -> dict[str, Any]:
    counted = Participation.objects.filter(
        clock_day=the_round.clock_day, clock_status=ClockStatus.CLOCKED_IN
    ).aggregate(n=Count("id"), stakes=Sum("order_money"))
    return statement.header(
        clock_day=the_round.clock_day.isoformat(),
        rules=RoundRules.of(the_round),
        seed_hash=the_round.seed_hash,
        seed=the_round.split_seed,
        committed=the_round.seed_committed,
        totals=stored_totals(the_round, counted["n"], counted["stakes"] or 0),
        version=the_round.statement_version,
    )


def statement_lines(the_round: Round) -> Iterator[tuple[str, int, int]]:
    """The winners' ``(pseudonym, stake, packet)`` in pseudonym order, sorted by the database and streamed."""
    rows = winners_in_order(the_round).values_list("public_name", "order_money", "red_money")
    return rows.iterator(chunk_size=CHUNK)


def statement_chunks(the_round: Round) -> Iterator[bytes]:
    """The canonical JSON-lines bytes of a settled round's statement, a line at a time."""
    return statement.encode(statement_header(the_round), statement_lines(the_round))


def statement_csv(the_round: Round) -> Iterator[str]:
    """The same statement for spreadsheets: ``# key: value`` header lines, then ``pseudonym,stake,packet``."""
    head = statement_header(the_round)
    yield f"# clock_app statement of round {head['clock_day']} ({head['format']})\n"
    for name in ("seed_hash", "seed", "committed"):
        yield f"# {name}: {head[name]}\n"
    for name, value in {**head["rules"], **head["totals"]}.items():
        yield f"# {name}: {value}\n"
    yield "pseudonym,stake,packet\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in statement_lines(the_round):
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def statement_dict(day: date, *, page: int = 0, limit: int = STATEMENT_PAGE) -> dict[str, Any] | None:
    """The statement as one dict (the facade/API), its packets one page at a time: an anonymous request must
    not make the server build a million-line answer (the whole file streams from the ``.jsonl`` endpoint and
    ``clock_statement``). Before settlement: the rules and the commitment only."""
    the_round = Round.objects.filter(clock_day=day).first()
    if the_round is None:
        return None
    if not the_round.is_settled:
        return {
            "format": statement.FORMATS[the_round.statement_version],
            "clock_day": day.isoformat(),
            "settled": False,
            "rules": RoundRules.of(the_round).as_public(),
            "seed_hash": the_round.seed_hash,
            "seed": None,
            "totals": {"payers": the_round.user_num, "stakes": the_round.clock_money},
            "packets": [],
        }

    def build() -> dict[str, Any]:
        head = statement_header(the_round)
        start = page * limit
        rows = winners_in_order(the_round).values_list("public_name", "order_money", "red_money")
        return {
            **head,
            "settled": True,
            "statement_hash": the_round.statement_hash,
            "packets": [statement.line(*row) for row in rows[start : start + limit]],
            "page": page,
            "limit": limit,
            "next_page": page + 1 if start + limit < head["totals"]["winners"] else None,
        }

    # A settled round's statement never changes: each page is built once an hour at most.
    return cached(key("statement", day.isoformat(), the_round.statement_hash[:16], page, limit), 3600, build)
