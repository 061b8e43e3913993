"""A settlement on a fixed seed gives the same statement, byte for byte, whatever the code's internals.

The rows are made by hand (fixed order numbers and pseudonyms; the public services draw random order
numbers), the rules and the seed are fixed, so the statement hash and the packets are a pure function of this
file. The literals were taken from the settlement code before its rewrite for speed (issue 15): any change
to the split, the winners' order, the packet write or the statement encoding that changes a single fen or
byte fails here. Both formats: 2 (pseudonyms stored at payment) and 1 (computed by the database from uid).
"""

import hashlib
from datetime import date, time
from decimal import Decimal

import pytest

from clock_app import calendar, statement
from clock_app.exports import statement_chunks
from clock_app.models import ClockStatus, Participation, Round
from clock_app.randomness import pseudonym, seed_commitment
from clock_app.services.settlement import round_settle

from ..conftest import local

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 14)
SEED = "5e77" * 16
STAKE = 100
WINNERS, LOSERS = 500, 137


def make_round(version: int) -> Round:
    """Round DAY with fixed rules and seed, 637 payers of whom 500 clocked in (losers spread among them)."""
    the_round = Round.objects.create(
        clock_day=DAY,
        participate_money=STAKE,
        clock_start=time(5),
        clock_end=time(8),
        red_open=time(8, 5),
        service_ratio=Decimal("0.05"),
        lucky_num=3,
        lucky_proportion=Decimal("0.2"),
        max_packet=600,  # below the lucky packets' average: the cap and its water-filling run too
        no_winner_policy="rollover",
        split_seed=SEED,
        seed_hash=seed_commitment(SEED),
        statement_version=version,
        user_num=WINNERS + LOSERS,
        clock_money=STAKE * (WINNERS + LOSERS),
    )
    paid_at, clocked_at = local(DAY, "10:00:00"), local("2026-03-15", "06:00:00")
    total = WINNERS + LOSERS
    rows = []
    for i in range(total):
        loser = (i + 1) * LOSERS // total > i * LOSERS // total
        order_no = f"B20260314{i:010d}"
        rows.append(
            Participation(
                uid=1000 + 7 * i,
                clock_day=DAY,
                order_no=order_no,
                order_money=STAKE,
                clock_status=ClockStatus.JOINED if loser else ClockStatus.CLOCKED_IN,
                clock_time=None if loser else clocked_at,
                payout_no=f"P20260314{i:010d}",
                pseudonym=pseudonym(SEED, DAY, order_no, f"wx-{order_no}"),
                create_time=paid_at,
                update_time=paid_at,
            )
        )
    Participation.objects.bulk_create(rows)
    return the_round


def packets_digest() -> str:
    """Who got what, independent of row ids: sha256 over ``uid:red_money`` lines in uid order."""
    rows = Participation.objects.filter(clock_day=DAY).order_by("uid").values_list("uid", "red_money")
    return hashlib.sha256("".join(f"{uid}:{money}\n" for uid, money in rows).encode()).hexdigest()


PINNED = {
    2: (
        "e8c2595af98170de3250dc9d891317af656402cbfcf12e2350bac46f2121fe44",
        "3914d373f25ff2c96bbf0357483fcedaddabf08c6d69b3b713891046dba05427",
    ),
    1: (
        "71eb5c2f081204aa9eca967bc28c71c12fc2c6ae9ea8b04ecb0068a8e3655fa0",
        "b871d391f6cce2559f639f66ac77b59f536cc907c722029f23478646ea243bfd",
    ),
}


@pytest.mark.parametrize("version", [2, 1])
def test_settlement_on_a_fixed_seed_gives_the_pinned_statement(version):
    the_round = make_round(version)
    result = round_settle(DAY, now=calendar.red_open_at(DAY, the_round))
    t = result.totals
    assert (t.payers, t.winners, t.forfeited, t.service_fee, t.bonus, t.rollover_out) == (
        637,
        500,
        13700,
        685,
        13015,
        0,
    )
    the_round.refresh_from_db()
    # The rows hold what the statement says: the statement rebuilt from the table hashes the same.
    assert statement.digest(statement_chunks(the_round)) == result.statement_hash == the_round.statement_hash
    assert result.statement_hash == PINNED[version][0]
    assert packets_digest() == PINNED[version][1]
    assert max(Participation.objects.values_list("red_money", flat=True)) == 600
