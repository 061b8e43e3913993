"""The README's worked example is true (so a re-implementer can trust it)."""

import hashlib
from datetime import date
from decimal import Decimal

from clock_app.randomness import SeededRandom, pseudonym, pseudonym_v1, seed_commitment
from clock_app.rules import RoundRules
from clock_app.statement import settle_numbers

SEED = "650cb459f95efd8c4c65800175f814b118dd87fdccde8cbe386f594da99a2a80"


def test_worked_example():
    assert hashlib.sha256(b"worked example").hexdigest() == SEED
    assert seed_commitment(SEED) == "2bf4caaa5ffab2533e4aa16e086d10e4234bb4657474ed47ba2e03728fdb2d7a"
    assert SeededRandom(SEED).below(37) == 21
    rules = RoundRules.from_public(
        {
            "participate_money": 100,
            "clock_start": "05:00:00",
            "clock_end": "08:00:00",
            "red_open": "08:05:00",
            "service_ratio": "0.05",
            "lucky_num": 2,
            "lucky_proportion": "0.20",
            "max_packet": 9800,
            "no_winner_policy": "rollover",
        }
    )
    assert rules.lucky_proportion == Decimal("0.20")
    totals, packets = settle_numbers(
        payers=5, stakes=500, winner_stakes=300, winners=3, rollover_in=0, rules=rules, seed=SEED
    )
    assert (totals.forfeited, totals.service_fee, totals.bonus, totals.rollover_out) == (200, 10, 190, 0)
    assert packets == [16, 22, 152]
    # Format 2: each pseudonym is fixed at payment from the order number and the channel's transaction id.
    names = {
        uid: pseudonym(
            SEED, date(2026, 11, 26), f"TTC2026112600000000{uid:02d}", f"42000000012026112600000000{uid:02d}"
        )
        for uid in (1, 2, 3)
    }
    order = sorted(names, key=names.__getitem__)
    assert order == [2, 1, 3]
    assert [names[uid][:8] for uid in order] == ["62ebd385", "db82260f", "f58d517d"]
    # Format 1 (rounds opened before format 2) named winners by uid: still computed for their statements.
    assert [pseudonym_v1(SEED, date(2026, 11, 26), uid)[:8] for uid in order] == ["0367731c", "4a5648ad", "e8148046"]
