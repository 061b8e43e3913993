"""A settled round's statement, streamed from the database (JSON lines, CSV or a dict for the API).

The header is the round's stored settlement record; the lines are the winners' *stored* ``red_money`` in
pseudonym order. So a packet changed behind the app's back shows up everywhere: the statement no longer
hashes to ``statement_hash`` (``clock_audit``), and the packet no longer matches the allocation recomputed
from the seed (``clock_verify``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from typing import Any

from . import statement
from .models import Round
from .rules import RoundRules
from .winners import Winners


def stored_totals(the_round: Round, winners: Winners) -> statement.Totals:
    return statement.Totals(
        payers=the_round.user_num,
        stakes=the_round.clock_money,
        winners=len(winners),
        winner_stakes=winners.stake_total,
        forfeited=the_round.clock_money - winners.stake_total,
        service_fee=the_round.service_fee,
        rollover_in=the_round.rollover_in,
        bonus=the_round.bonus_money,
        rollover_out=the_round.rollover_out,
    )


def statement_header(the_round: Round, winners: Winners) -> dict[str, Any]:
    return statement.header(
        clock_day=the_round.clock_day.isoformat(),
        rules=RoundRules.of(the_round),
        seed_hash=the_round.seed_hash,
        seed=the_round.split_seed,
        committed=the_round.seed_committed,
        totals=stored_totals(the_round, winners),
    )


def statement_chunks(the_round: Round) -> Iterator[bytes]:
    """The canonical JSON-lines bytes of a settled round's statement, a line at a time."""
    winners = Winners.load(the_round.clock_day, the_round.split_seed)
    return statement.encode(statement_header(the_round, winners), winners.lines())


def statement_csv(the_round: Round) -> Iterator[str]:
    """The same statement for spreadsheets: ``# key: value`` header lines, then ``pseudonym,stake,packet``."""
    winners = Winners.load(the_round.clock_day, the_round.split_seed)
    head = statement_header(the_round, winners)
    yield f"# clock_app statement of round {head['clock_day']} ({statement.FORMAT})\n"
    for name in ("seed_hash", "seed", "committed"):
        yield f"# {name}: {head[name]}\n"
    for name, value in {**head["rules"], **head["totals"]}.items():
        yield f"# {name}: {value}\n"
    yield "pseudonym,stake,packet\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for item in winners.lines():
        writer.writerow((item["pseudonym"], item["stake"], item["packet"]))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def statement_dict(day: date) -> dict[str, Any] | None:
    """The statement as one dict (the facade/API). Before settlement: the rules and the commitment only."""
    the_round = Round.objects.filter(clock_day=day).first()
    if the_round is None:
        return None
    if not the_round.is_settled:
        return {
            "format": statement.FORMAT,
            "clock_day": day.isoformat(),
            "settled": False,
            "rules": RoundRules.of(the_round).as_public(),
            "seed_hash": the_round.seed_hash,
            "seed": None,
            "totals": {"payers": the_round.user_num, "stakes": the_round.clock_money},
            "packets": [],
        }
    winners = Winners.load(day, the_round.split_seed)
    return {
        **statement_header(the_round, winners),
        "settled": True,
        "statement_hash": the_round.statement_hash,
        "packets": list(winners.lines()),
    }
